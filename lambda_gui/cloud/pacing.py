"""Process-wide request pacing for Lambda's rate limits (about 1 request/s; launch 1 per 12 s).

A Pacer hands out send times ("slots") at least `min_interval` apart, and launch slots at least
`launch_interval` apart. Slots are reserved synchronously (no await between reading and
updating the schedule), so the pacer needs no asyncio lock and one instance can serve any
number of event loops in turn (the tests run one loop per test).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_MIN_INTERVAL = 1.0
# Lambda allows one launch per 12 s; the half second covers jitter between our send time and
# their arrival time, so a second launch is not answered 429 for arriving a hair early.
DEFAULT_LAUNCH_INTERVAL = 12.5
# A Retry-After beyond this is treated as this: a stuck GUI is worse than one more 429.
MAX_RETRY_AFTER = 300.0


class Pacer:
    """Spaces requests so the process stays under Lambda's rate limits."""

    def __init__(
        self,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        launch_interval: float = DEFAULT_LAUNCH_INTERVAL,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if min_interval < 0 or launch_interval < 0:
            raise ValueError("pacing intervals must not be negative")
        self.min_interval = min_interval
        self.launch_interval = launch_interval
        self._clock = clock
        self._sleep = sleep
        self._slots: list[float] = []  # sorted reserved send times
        self._next_launch = float("-inf")
        self._blocked_until = float("-inf")

    def _prune(self, now: float) -> None:
        # Slots older than one interval no longer constrain anything.
        keep_from = bisect.bisect_left(self._slots, now - self.min_interval)
        if keep_from:
            del self._slots[:keep_from]

    def _reserve(self, earliest: float) -> float:
        """The first time >= earliest that keeps min_interval from every reserved slot."""
        candidate = earliest
        for slot in self._slots:
            if slot + self.min_interval <= candidate:
                continue
            if candidate + self.min_interval <= slot:
                break
            candidate = slot + self.min_interval
        bisect.insort(self._slots, candidate)
        return candidate

    def _release(self, slot: float, launch: bool, previous_launch: float) -> None:
        """Give back a slot that was not used (cancelled, or moved by a Retry-After)."""
        index = bisect.bisect_left(self._slots, slot)
        if index < len(self._slots) and self._slots[index] == slot:
            del self._slots[index]
        if launch and self._next_launch == slot + self.launch_interval:
            self._next_launch = previous_launch

    async def wait_turn(self, *, launch: bool = False) -> None:
        """Wait until this request may be sent; a launch also keeps launch_interval."""
        while True:
            now = self._clock()
            self._prune(now)
            earliest = max(now, self._blocked_until)
            if launch:
                earliest = max(earliest, self._next_launch)
            slot = self._reserve(earliest)
            previous_launch = self._next_launch
            if launch:
                self._next_launch = slot + self.launch_interval
            if slot > now:
                try:
                    await self._sleep(slot - now)
                except BaseException:
                    self._release(slot, launch, previous_launch)
                    raise
            # A Retry-After that arrived while we slept moves this request too.
            if self._clock() >= self._blocked_until:
                return
            self._release(slot, launch, previous_launch)

    def defer(self, seconds: float) -> None:
        """Send nothing for `seconds` from now (a 429's Retry-After or a backoff)."""
        seconds = min(max(0.0, seconds), MAX_RETRY_AFTER)
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


_default_pacer = Pacer()


def default_pacer() -> Pacer:
    """The process-wide pacer every client shares unless it is given its own."""
    return _default_pacer
