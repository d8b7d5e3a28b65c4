"""Dialing with retries: waiting for a booting instance's SSH, and re-dialing after a drop."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from lambda_gui.core.errors import HostKeyMismatchError, SSHError
from lambda_gui.remote.ssh_session import SSHSession, connect
from lambda_gui.remote.ssh_target import SSHTarget, SSHTimeouts

log = logging.getLogger(__name__)


async def wait_for_ssh(
    target: SSHTarget,
    deadline_s: float,
    known_hosts_dir: Path | str,
    *,
    timeouts: SSHTimeouts | None = None,
    interval_s: float = 2.0,
    max_interval_s: float = 15.0,
) -> SSHSession:
    """Dial until banner and auth succeed (a booting instance refuses for a while).

    A changed host key is never retried. After `deadline_s` seconds the last failure is
    raised as SSHError.
    """
    timeouts = timeouts or SSHTimeouts()
    deadline = time.monotonic() + deadline_s
    delay = interval_s
    while True:
        try:
            return await connect(target, known_hosts_dir, timeouts=timeouts)
        except HostKeyMismatchError:
            raise
        except SSHError as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SSHError(
                    f"SSH on {target.describe()} did not become ready within {deadline_s:g} s. "
                    f"Last error: {exc.message}",
                    suggestion=exc.suggestion,
                ) from exc
            log.debug("SSH on %s not ready yet: %s", target.describe(), exc)
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, max_interval_s)


class ReconnectingSSH:
    """Hands out a live SSHSession, re-dialing with exponential backoff after a drop."""

    def __init__(
        self,
        target: SSHTarget,
        known_hosts_dir: Path | str,
        *,
        timeouts: SSHTimeouts | None = None,
        attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        session: SSHSession | None = None,
    ) -> None:
        self.target = target
        self.known_hosts_dir = known_hosts_dir
        self.timeouts = timeouts or SSHTimeouts()
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.dials = 0
        self._session = session
        self._lock = asyncio.Lock()

    @property
    def current(self) -> SSHSession | None:
        """The session handed out last, if it has not been reset."""
        return self._session

    async def session(self) -> SSHSession:
        """The current session if its transport is up, else a freshly dialed one."""
        async with self._lock:
            if self._session is not None and self._session.is_active():
                return self._session
            if self._session is not None:
                await self._session.close()
                self._session = None
            self._session = await self._dial()
            return self._session

    async def _dial(self) -> SSHSession:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                self.dials += 1
                return await connect(self.target, self.known_hosts_dir, timeouts=self.timeouts)
            except HostKeyMismatchError:
                raise
            except SSHError as exc:
                if attempt == self.attempts:
                    raise SSHError(
                        f"Could not reconnect to {self.target.describe()} after "
                        f"{self.attempts} attempts: {exc.message}",
                        suggestion=exc.suggestion,
                    ) from exc
                log.info("SSH reconnect %d to %s failed: %s", attempt, self.target.host, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        raise AssertionError("unreachable")

    async def reset(self) -> None:
        """Drop the current session (after an error) so the next `session()` re-dials."""
        async with self._lock:
            if self._session is not None:
                session, self._session = self._session, None
                session.drop()
                await session.close()

    async def close(self) -> None:
        """Close the current session, if any."""
        await self.reset()
