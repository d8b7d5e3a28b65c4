"""Where and how to reach an instance over SSH: the target, the deadlines, the transport tuning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Transport tuning measured in docs/architecture.md#library-facts: a large window and packet
# size matter 4-7x on a link with 50 ms round trips, and aes128-gcm is the fastest cipher both
# ends share.
WINDOW_SIZE = 64 * 1024 * 1024
MAX_PACKET_SIZE = 256 * 1024
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SSHTarget:
    """One instance's SSH endpoint; `instance_id` names its pinned host-key file."""

    host: str
    key_path: Path | str
    instance_id: str
    port: int = 22
    username: str = "ubuntu"

    def describe(self) -> str:
        """`user@host:port` for messages."""
        return f"{self.username}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SSHTimeouts:
    """Deadlines (seconds) for every step of an SSH conversation."""

    connect: float = 10.0
    banner: float = 15.0
    handshake: float = 20.0
    auth: float = 20.0
    channel_open: float = 15.0
    command: float = 60.0
    # A channel that yields no byte for this long while we expect some is treated as dead.
    read: float = 60.0
    keepalive: int = 15
    # How often a quiet log stream checks that the connection is still alive.
    idle_probe: float = 20.0
