"""Host keys pinned per instance: the first connection pins, a changed key is refused."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

import paramiko

from lambda_gui.core.errors import HostKeyMismatchError

_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_write_lock = threading.Lock()


def known_hosts_path(known_hosts_dir: Path | str, instance_id: str) -> Path:
    """The known_hosts file that holds the pinned key of one instance."""
    if not _INSTANCE_ID.match(instance_id):
        raise ValueError(f"instance id {instance_id!r} cannot name a known_hosts file")
    return Path(known_hosts_dir) / f"{instance_id}.known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint, e.g. `SHA256:abc...`."""
    return str(key.fingerprint)


class PinnedHostKeys:
    """The keys pinned for one instance, stored as an OpenSSH known_hosts file.

    The file belongs to one instance id, so every key in it is that instance's key whatever
    host name it was recorded under: a new address with an unknown key is a mismatch too.
    """

    def __init__(self, path: Path, instance_id: str) -> None:
        self.path = path
        self.instance_id = instance_id

    def load(self) -> paramiko.HostKeys:
        """The pinned keys (empty before the first connection)."""
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def verify_or_pin(self, hostname: str, key: paramiko.PKey) -> None:
        """Accept a key already pinned for this instance, pin it if none is, else refuse it."""
        with _write_lock:
            keys = self.load()
            pinned = [k for entry in keys.values() for k in entry.values()]
            if any(k == key for k in pinned):
                return
            if pinned:
                raise self.mismatch(hostname, key, pinned[0])
            keys.add(hostname, key.get_name(), key)
            self._save(keys)

    def mismatch(
        self, hostname: str, offered: paramiko.PKey, pinned: paramiko.PKey
    ) -> HostKeyMismatchError:
        """The error for a host key that differs from the pinned one."""
        return HostKeyMismatchError(
            f"The SSH host key of instance {self.instance_id} ({hostname}) changed: "
            f"it offered {offered.get_name()} {fingerprint(offered)}, but "
            f"{pinned.get_name()} {fingerprint(pinned)} was pinned at the first connection. "
            "The connection was refused because someone may be intercepting it.",
            suggestion=(
                "If the instance was really replaced, delete "
                f"{self.path} and connect again; otherwise do not connect."
            ),
        )

    def _save(self, keys: paramiko.HostKeys) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts-", dir=self.path.parent)
        os.close(fd)
        try:
            keys.save(tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class PinOnFirstUsePolicy(paramiko.MissingHostKeyPolicy):
    """paramiko policy: pin an unknown host's key unless the instance already has another."""

    def __init__(self, pins: PinnedHostKeys) -> None:
        self.pins = pins

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        """Called by SSHClient when `hostname` has no entry in the instance's file."""
        self.pins.verify_or_pin(hostname, key)
