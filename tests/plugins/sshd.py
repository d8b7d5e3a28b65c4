"""pytest fixture `sshd`: a real OpenSSH server on 127.0.0.1, one per test.

It runs as the current user (root in CI), so its home is the user's real home: each test gets
a fresh `lambda-gui-test-<random>/` directory there (`sshd.rel_dir`), removed afterwards.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lambda_gui.remote.ssh_target import SSHTarget

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "lambda-gui-test", "-f", str(path)],
        check=True,
    )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    head, _, tail = raw.rpartition(b")")
    fields = tail.split()
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    return head.partition(b"(")[2].decode("utf-8", "replace"), int(fields[1])


@dataclass
class SSHDServer:
    """A running sshd and the client key it accepts."""

    dir: Path
    host: str
    port: int
    username: str
    key_path: Path
    home: Path
    rel_dir: str
    host_key_path: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def workdir(self) -> Path:
        """The test's directory on the "remote" (local) file system."""
        return self.home / self.rel_dir

    def target(self, instance_id: str = "i-sshd-test") -> SSHTarget:
        """An SSHTarget for this server."""
        from lambda_gui.remote.ssh_target import SSHTarget

        return SSHTarget(
            host=self.host,
            port=self.port,
            username=self.username,
            key_path=self.key_path,
            instance_id=instance_id,
        )

    def start(self) -> None:
        """Start sshd and wait until it accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sshd exited at start-up:\n{self.log_path.read_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"sshd did not start listening:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """Stop sshd and every connection it serves."""
        self.drop_connections()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self, *, new_host_key: bool = False) -> None:
        """Restart on the same port, optionally with a freshly generated host key."""
        self.stop()
        if new_host_key:
            _keygen(self.host_key_path)
        self.start()

    def connection_pids(self) -> list[int]:
        """The sshd processes serving open connections (descendants of the listener)."""
        if self.process is None:
            return []
        listener = self.process.pid
        parents: dict[int, tuple[str, int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                info = _proc_stat(int(entry))
                if info is not None:
                    parents[int(entry)] = info
        found: list[int] = []
        for pid, (comm, _) in parents.items():
            if comm != "sshd" or pid == listener:
                continue
            cursor = pid
            while cursor in parents and cursor > 1:
                cursor = parents[cursor][1]
                if cursor == listener:
                    found.append(pid)
                    break
        return found

    def drop_connections(self) -> int:
        """Kill the server side of every open connection, as a network drop would."""
        pids = self.connection_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def _write_config(server: SSHDServer, authorized_keys: Path) -> None:
    server.config_path.write_text(
        "\n".join(
            [
                f"ListenAddress {server.host}",
                f"Port {server.port}",
                f"HostKey {server.host_key_path}",
                f"PidFile {server.dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized_keys}",
                "StrictModes no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UseDNS no",
                "MaxStartups 100",
                "MaxSessions 100",
                "Subsystem sftp internal-sftp",
                # Nothing in a test may reach a model hub.
                "SetEnv HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1",
                "",
            ]
        )
    )


@contextmanager
def running_sshd(base: Path) -> Iterator[SSHDServer]:
    """Start an sshd with fresh keys under `base` (also used by bench/); stop it on exit."""
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} not found: install openssh-server (apt-get install openssh-server)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    client_key = base / "client_key"
    host_key = base / "host_key"
    _keygen(client_key)
    _keygen(host_key)
    authorized = base / "authorized_keys"
    shutil.copy(f"{client_key}.pub", authorized)
    home = Path(os.path.expanduser("~"))
    rel_dir = f"lambda-gui-test-{secrets.token_hex(6)}"
    (home / rel_dir).mkdir(mode=0o700)
    server = SSHDServer(
        dir=base,
        host="127.0.0.1",
        port=_free_port(),
        username=getpass.getuser(),
        key_path=client_key,
        home=home,
        rel_dir=rel_dir,
        host_key_path=host_key,
        config_path=base / "sshd_config",
        log_path=base / "sshd.log",
    )
    try:
        _write_config(server, authorized)
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home / rel_dir, ignore_errors=True)


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHDServer]:
    """A running OpenSSH server on 127.0.0.1 that accepts `sshd.key_path` for the current user."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
