"""One authenticated SSH connection to an instance: connect, exec, probe, upload.

paramiko is blocking, so every public method is async and runs its paramiko work in the SSH
thread pool; the `*_sync` helpers are for code already running in that pool (log tail,
transfers).
"""

from __future__ import annotations

import asyncio
import io
import shlex
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

import paramiko

from lambda_gui.core.errors import HostKeyMismatchError, SSHError, SSHKeyError
from lambda_gui.remote.keyfile import load_private_key
from lambda_gui.remote.known_hosts import PinnedHostKeys, PinOnFirstUsePolicy, known_hosts_path
from lambda_gui.remote.local_tree import TreeFile, walk_tree
from lambda_gui.remote.logtail import StopCondition, follow
from lambda_gui.remote.remote_path import check_rel_path
from lambda_gui.remote.ssh_shell import CommandResult
from lambda_gui.remote.ssh_target import READ_CHUNK, SSHTarget, SSHTimeouts
from lambda_gui.remote.ssh_threads import run_blocking
from lambda_gui.remote.ssh_transport import close_quietly, tuned_transport_factory

_UPLOAD_CHUNK = 1024 * 1024


def _dial(target: SSHTarget, timeouts: SSHTimeouts) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeouts.connect)
    except OSError as exc:
        raise SSHError(
            f"Could not reach {target.describe()}: {exc}.",
            suggestion="Check that the instance is running and that your network allows SSH.",
        ) from None
    # paramiko leaves Nagle on, which stalls 32 KiB reads by ~40 ms
    # (docs/architecture.md#library-facts).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def connect_sync(
    target: SSHTarget, known_hosts_dir: Path | str, timeouts: SSHTimeouts
) -> SSHSession:
    """Blocking connect; see `connect`."""
    try:
        key = load_private_key(target.key_path)
    except SSHKeyError as exc:
        # Callers of connect handle SSHError alone (retry loops, job errors).
        raise SSHError(exc.message, suggestion=exc.suggestion) from None
    pins = PinnedHostKeys(known_hosts_path(known_hosts_dir, target.instance_id), target.instance_id)
    client = paramiko.SSHClient()
    for hostname, entry in pins.load().items():
        for key_type, host_key in entry.items():
            client.get_host_keys().add(hostname, key_type, host_key)
    client.set_missing_host_key_policy(PinOnFirstUsePolicy(pins))
    sock = _dial(target, timeouts)
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.username,
            pkey=key,
            sock=sock,
            timeout=timeouts.handshake,
            banner_timeout=timeouts.banner,
            auth_timeout=timeouts.auth,
            channel_timeout=timeouts.channel_open,
            allow_agent=False,
            look_for_keys=False,
            transport_factory=tuned_transport_factory(timeouts),
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise pins.mismatch(exc.hostname, exc.key, exc.expected_key) from None
    except HostKeyMismatchError:
        client.close()
        raise
    except paramiko.AuthenticationException:
        client.close()
        raise SSHError(
            f"{target.describe()} refused the SSH key {target.key_path} "
            f"({key.get_name()} {key.fingerprint}).",
            suggestion=(
                "Check that this is the private key of the SSH key the instance was launched "
                f"with, and that the user name is {target.username!r}."
            ),
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        raise SSHError(
            f"SSH handshake with {target.describe()} failed: {exc or type(exc).__name__}.",
            suggestion="The instance may still be booting; try again in a minute.",
        ) from None
    transport = client.get_transport()
    if transport is None or not transport.is_authenticated():
        client.close()
        raise SSHError(f"SSH connection to {target.describe()} was not authenticated.")
    transport.set_keepalive(timeouts.keepalive)
    return SSHSession(client, target, timeouts)


async def connect(
    target: SSHTarget,
    known_hosts_dir: Path | str,
    *,
    timeouts: SSHTimeouts | None = None,
) -> SSHSession:
    """Open an authenticated, host-key-checked SSH session to `target`."""
    return await run_blocking(connect_sync, target, known_hosts_dir, timeouts or SSHTimeouts())


def _command_line(command: str | Sequence[str]) -> str:
    if isinstance(command, str):
        return command
    return shlex.join(command)


class SSHSession:
    """An authenticated connection; safe to use from several tasks at once."""

    def __init__(self, client: paramiko.SSHClient, target: SSHTarget, timeouts: SSHTimeouts):
        self.client = client
        self.target = target
        self.timeouts = timeouts
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    @property
    def transport(self) -> paramiko.Transport:
        """The underlying transport (raises SSHError once the connection is gone)."""
        transport = self.client.get_transport()
        if transport is None:
            raise SSHError(f"The SSH connection to {self.target.describe()} is closed.")
        return transport

    def is_active(self) -> bool:
        """True while the transport is up (a dead peer is only noticed on the next probe)."""
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def lost(self, what: str, exc: BaseException | None = None) -> SSHError:
        """The error for a connection that dropped while doing `what`."""
        detail = f": {exc}" if exc is not None and str(exc) else ""
        return SSHError(
            f"The SSH connection to {self.target.describe()} dropped while {what}{detail}.",
            suggestion="It is retried automatically; check your network if this persists.",
        )

    # --- exec --------------------------------------------------------------------------

    def open_exec_sync(self, command: str) -> paramiko.Channel:
        """Open a session channel running `command` (a fixed string chosen by our code)."""
        try:
            channel = self.transport.open_session(timeout=self.timeouts.channel_open)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.lost("opening a channel", exc) from None
        return channel

    def run_sync(
        self, command: str, timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Blocking `run`; for code already in the SSH thread pool."""
        limit = self.timeouts.command if timeout is None else timeout
        deadline = time.monotonic() + limit
        channel = self.open_exec_sync(command)
        try:
            if stdin is not None:
                channel.settimeout(max(0.001, deadline - time.monotonic()))
                channel.sendall(stdin)
            # End of input either way: no command of ours waits for the keyboard.
            channel.shutdown_write()
            stdout = _read_until_eof(channel, channel.recv, deadline)
            stderr = _read_until_eof(channel, channel.recv_stderr, deadline)
            while not channel.exit_status_ready():
                if time.monotonic() >= deadline:
                    raise TimeoutError
                channel.status_event.wait(min(0.1, max(0.001, deadline - time.monotonic())))
            exit_code = channel.recv_exit_status()
        except TimeoutError:
            raise SSHError(
                f"The remote command {command.split()[0]!r} on {self.target.describe()} "
                f"did not finish within {limit:g} s."
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.lost("running a command", exc) from None
        finally:
            close_quietly(channel)
        if not self.is_active() and exit_code == -1:
            raise self.lost("running a command")
        return CommandResult(exit_code, stdout, stderr)

    async def run(
        self,
        command: str | Sequence[str],
        *,
        # The deadline is enforced in the worker thread: asyncio.timeout cannot stop a thread.
        timeout: float | None = None,  # noqa: ASYNC109
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a fixed command (a string, or argv that is shell-quoted) and collect its output."""
        return await run_blocking(self.run_sync, _command_line(command), timeout, stdin)

    async def check(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        stdin: bytes | None = None,
    ) -> bytes:
        """Run a command that must exit 0 and return its stdout, else raise SSHError."""
        code, out, err = await self.run(command, timeout=timeout, stdin=stdin)
        if code != 0:
            text = err.decode(errors="replace").strip()[-500:]
            raise SSHError(
                f"The remote command {_command_line(command).split()[0]!r} failed "
                f"with exit code {code}: {text}"
            )
        return out

    async def probe(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Prove the connection is alive by running `true` within a deadline."""
        limit = self.timeouts.channel_open if timeout is None else timeout
        code, _, _ = await self.run("true", timeout=limit)
        if code != 0:
            raise SSHError(f"The liveness probe on {self.target.describe()} exited {code}.")

    # --- upload --------------------------------------------------------------------------

    def sftp_sync(self) -> paramiko.SFTPClient:
        """The session's SFTP client (opened once; its channel reads have a deadline)."""
        with self._sftp_lock:
            if self._sftp is None:
                try:
                    self._sftp = self.client.open_sftp()
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise self.lost("opening SFTP", exc) from None
                self._sftp.get_channel().settimeout(self.timeouts.read)  # type: ignore[union-attr]
            return self._sftp

    def _makedirs_sync(self, sftp: paramiko.SFTPClient, rel_dir: str) -> None:
        path = ""
        for part in rel_dir.split("/"):
            path = f"{path}/{part}" if path else part
            try:
                attrs = sftp.stat(path)
            except FileNotFoundError:
                sftp.mkdir(path)
                continue
            if not stat.S_ISDIR(attrs.st_mode or 0):
                raise SSHError(f"Remote path {path!r} exists and is not a directory.")

    def _put_fileobj_sync(self, fileobj: IO[bytes], rel_path: str, mode: int) -> None:
        rel_path = check_rel_path(rel_path)
        try:
            sftp = self.sftp_sync()
            parent = rel_path.rpartition("/")[0]
            if parent:
                self._makedirs_sync(sftp, parent)
            # Written under a temporary name and renamed, so a half-uploaded file never sits
            # at the real path after a dropped connection.
            partial = f"{rel_path}.part"
            with sftp.open(partial, "wb") as remote:
                # The mode is set while the file is still empty, so a secret (tracker.env)
                # is never readable by others, not even for a moment.
                remote.chmod(mode)
                remote.set_pipelined(True)
                sent = 0
                while chunk := fileobj.read(_UPLOAD_CHUNK):
                    remote.write(chunk)
                    sent += len(chunk)
            if sftp.stat(partial).st_size != sent:
                raise SSHError(f"Uploading {rel_path} was cut short; try again.")
            sftp.posix_rename(partial, rel_path)
        except SSHError:
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.lost(f"uploading {rel_path}", exc) from None

    async def put_bytes(self, rel_path: str, data: bytes, mode: int = 0o644) -> None:
        """Upload `data` to `rel_path` (relative to the login home), creating parent dirs."""
        await run_blocking(self._put_fileobj_sync, io.BytesIO(data), rel_path, mode)

    def _put_file_sync(self, local_path: Path, rel_path: str, mode: int | None) -> None:
        file_mode = mode if mode is not None else stat.S_IMODE(local_path.stat().st_mode)
        with local_path.open("rb") as fileobj:
            self._put_fileobj_sync(fileobj, rel_path, file_mode)

    async def put_file(
        self, local_path: Path | str, rel_path: str, mode: int | None = None
    ) -> None:
        """Upload a local file (its mode kept unless `mode` is given), creating parent dirs."""
        await run_blocking(self._put_file_sync, Path(local_path), rel_path, mode)

    def _put_files_sync(self, files: Sequence[TreeFile], rel_dir: str) -> None:
        rel_dir = check_rel_path(rel_dir)
        self._makedirs_sync(self.sftp_sync(), rel_dir)
        for item in files:
            parent = PurePosixPath(item.rel).parent.as_posix()
            if parent != ".":
                self._makedirs_sync(self.sftp_sync(), f"{rel_dir}/{parent}")
            with item.source.open("rb") as fileobj:
                self._put_fileobj_sync(fileobj, f"{rel_dir}/{item.rel}", item.mode)

    async def put_files(self, files: Sequence[TreeFile], rel_dir: str) -> None:
        """Upload the files of a walked folder (local_tree.walk_tree) under `rel_dir`."""
        await run_blocking(self._put_files_sync, list(files), rel_dir)

    async def put_tree(self, local_dir: Path | str, rel_dir: str) -> None:
        """Upload a local folder under `rel_dir` as local_tree.walk_tree walks it (symlinks
        followed, hidden entries skipped); TreeError before anything is sent if it cannot."""
        files = await asyncio.to_thread(walk_tree, Path(local_dir))
        await self.put_files(files, rel_dir)

    # --- streams -------------------------------------------------------------------------

    def follow(
        self,
        rel_path: str,
        offset: int = 0,
        *,
        stop: StopCondition[SSHSession] | None = None,
        poll_interval: float = 1.0,
    ) -> AsyncIterator[tuple[bytes, int]]:
        """Stream complete lines of a remote file from byte `offset`; see logtail.follow."""
        return follow(self, rel_path, offset, stop=stop, poll_interval=poll_interval)

    # --- shutdown ------------------------------------------------------------------------

    def close_sync(self) -> None:
        """Close SFTP and the connection (idempotent)."""
        with self._sftp_lock:
            if self._sftp is not None:
                self._sftp.close()
                self._sftp = None
        self.client.close()

    async def close(self) -> None:
        """Close the connection."""
        await run_blocking(self.close_sync)

    def drop(self) -> None:
        """Tear the connection down at once, from any thread (used on cancel and in tests)."""
        transport = self.client.get_transport()
        if transport is not None:
            transport.close()

    async def __aenter__(self) -> SSHSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _read_until_eof(
    channel: paramiko.Channel, read: Callable[[int], bytes], deadline: float
) -> bytes:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        channel.settimeout(remaining)
        chunk = read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
