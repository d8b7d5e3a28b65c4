"""What code that streams over SSH needs from a connection, as Protocols.

logtail works against these instead of SSHSession and ReconnectingSSH, so that ssh_session can
offer `follow` without the two modules importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, TypeVar

import paramiko

from lambda_gui.core.errors import SSHError
from lambda_gui.remote.ssh_target import SSHTimeouts


class CommandResult(NamedTuple):
    """What a remote command returned; unpacks as `(exit_code, stdout, stderr)`."""

    exit_code: int
    stdout: bytes
    stderr: bytes


class RemoteShell(Protocol):
    """An authenticated connection that runs commands (SSHSession is one)."""

    @property
    def timeouts(self) -> SSHTimeouts:
        """The connection's deadlines."""
        ...

    def is_active(self) -> bool:
        """True while the transport is up."""
        ...

    def lost(self, what: str, exc: BaseException | None = None) -> SSHError:
        """The error for a connection that dropped while doing `what`."""
        ...

    def open_exec_sync(self, command: str) -> paramiko.Channel:
        """Open a session channel running `command`; blocking."""
        ...

    def run_sync(
        self, command: str, timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Run a command and collect its output; blocking."""
        ...

    async def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a command and collect its output."""
        ...

    async def probe(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Prove the connection is alive."""
        ...


ShellT = TypeVar("ShellT", bound=RemoteShell)
ShellT_co = TypeVar("ShellT_co", bound=RemoteShell, covariant=True)


class ShellSource(Protocol[ShellT_co]):
    """Hands out a live connection and re-dials after a drop (ReconnectingSSH is one)."""

    async def session(self) -> ShellT_co:
        """A live connection."""
        ...

    async def reset(self) -> None:
        """Drop the current connection so the next `session()` dials again."""
        ...
