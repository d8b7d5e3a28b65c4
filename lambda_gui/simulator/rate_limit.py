"""Lambda's request pacing as token buckets: ~1 request/s with a small burst, 1 launch / 12 s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """A bucket that refills `rate` tokens per second up to `capacity`."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> bool:
        """Take one token if there is one."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def seconds_until_token(self) -> int:
        """Whole seconds until a token is available (for Retry-After), at least 1."""
        self._refill()
        missing = max(0.0, 1.0 - self._tokens)
        return max(1, math.ceil(missing / self.rate))


class RateLimiter:
    """The general bucket and the launch bucket; `check` says how long to wait, or 0."""

    def __init__(self, per_second: float, burst: int, launch_interval: float) -> None:
        self.general = TokenBucket(per_second, float(burst))
        self.launch = TokenBucket(1.0 / launch_interval, 1.0)

    def check(self, is_launch: bool) -> int:
        """0 if the request may proceed (tokens taken), else the Retry-After seconds."""
        if is_launch and not self.launch.try_take():
            return self.launch.seconds_until_token()
        if not self.general.try_take():
            return self.general.seconds_until_token()
        return 0
