"""The SSH side of an instance: a real asyncssh server on 127.0.0.1 that runs commands through
/bin/bash in the sandbox home and serves SFTP and SCP starting in that home."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncssh

log = logging.getLogger(__name__)

LOGIN_USER = "ubuntu"
_CHUNK = 256 * 1024


class SandboxSFTPServer(asyncssh.SFTPServer):
    """SFTP (and SCP) whose relative paths start in the sandbox home, as OpenSSH's start in the
    user's home. Absolute paths are the real paths, the same ones a shell command sees."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], home: bytes) -> None:
        super().__init__(chan)
        self._home = home

    def map_path(self, path: bytes) -> bytes:
        """Resolve a client path: relative ones against the sandbox home."""
        if path.startswith(b"/"):
            return path
        return posixpath.join(self._home, path) if path else self._home


class _Gatekeeper(asyncssh.SSHServer):
    """Lets in user "ubuntu" with the launch's key only, and keeps track of connections."""

    def __init__(self, owner: InstanceSSHServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == LOGIN_USER and key.public_data == self._owner.authorized_key.public_data


class InstanceSSHServer:
    """One instance's sshd: listening socket, live connections and the commands they started."""

    def __init__(
        self,
        home: Path,
        authorized_key: str,
        host_key: asyncssh.SSHKey,
        env: Mapping[str, str],
    ) -> None:
        self.home = home
        self.authorized_key = asyncssh.import_public_key(authorized_key)
        self.host_key = host_key
        self.env = dict(env)
        self.port = 0
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 (the same port as before after a restart); returns the port."""
        home = os.fsencode(self.home)
        self._acceptor = await asyncssh.listen(
            host="127.0.0.1",
            port=self.port,
            server_host_keys=[self.host_key],
            server_factory=lambda: _Gatekeeper(self),
            process_factory=self._run_session,
            sftp_factory=lambda chan: SandboxSFTPServer(chan, home),
            allow_scp=True,
            encoding=None,
            x509_trusted_certs=None,
            reuse_address=True,
            keepalive_interval=0,
            login_timeout=30,
        )
        self.port = self._acceptor.get_port()
        return self.port

    def drop_connections(self) -> None:
        """Cut every live SSH connection (the listener stays up, commands keep running)."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._acceptor is not None:
            self._acceptor.close()
            with contextlib.suppress(Exception):
                await self._acceptor.wait_closed()
            self._acceptor = None
        self.drop_connections()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)

    def _run_session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.ensure_future(self._exec(process))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _exec(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run an exec request (or a plain shell) through /bin/bash in the sandbox home."""
        if process.subsystem is not None:
            process.stderr.write(f"subsystem {process.subsystem} not supported\n".encode())
            process.exit(1)
            return
        argv = ["/bin/bash"] if process.command is None else ["/bin/bash", "-c", process.command]
        try:
            child = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.home,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            process.stderr.write(f"cannot run command: {exc}\n".encode())
            process.exit(127)
            return
        try:
            await self._pump(process, child)
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            raise

    async def _pump(
        self, process: asyncssh.SSHServerProcess[bytes], child: asyncio.subprocess.Process
    ) -> None:
        assert child.stdin and child.stdout and child.stderr
        feeder = asyncio.ensure_future(_feed_stdin(process.stdin, child.stdin))
        outputs = [
            asyncio.ensure_future(_drain_output(child.stdout, process.stdout)),
            asyncio.ensure_future(_drain_output(child.stderr, process.stderr)),
        ]
        returncode = await child.wait()
        await asyncio.gather(*outputs, return_exceptions=True)
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        if process.is_closing():
            return
        if returncode < 0:
            name = signal.Signals(-returncode).name.removeprefix("SIG")
            process.exit_with_signal(name)
        else:
            process.exit(returncode)


async def _feed_stdin(source: asyncssh.SSHReader[bytes], sink: asyncio.StreamWriter) -> None:
    """Client stdin -> command stdin, closing it at the client's EOF."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncssh.Error, BrokenPipeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            sink.close()


async def _drain_output(source: asyncio.StreamReader, sink: Any) -> None:
    """Command output -> the channel; if the client went away, stop reading (the command then
    gets SIGPIPE on its next write, as under OpenSSH)."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncssh.Error, BrokenPipeError):
        log.debug("SSH client went away while a command was writing")
    finally:
        transport = getattr(source, "_transport", None)
        if transport is not None:
            transport.close()
