"""Injected failures: the next N matching requests fail, are delayed, or lose their reply."""

from __future__ import annotations

from dataclasses import dataclass

API_PREFIX = "/api/v1"

#: Failure kinds fail_next understands. "500", "503", "429", "html" (a proxy's 502 page),
#: "reset" (connection closed, no reply), "provider-400" (a provider/* error sent with HTTP 400)
#: and "404-no-envelope" (a JSON 404 without Lambda's error envelope, as a proxy or a wrong base
#: path answers) happen before the request is handled; "truncated" handles the request, then
#: cuts the reply short; "insufficient-capacity" answers a launch with the spec's 400 even
#: though the region lists capacity.
FAULT_KINDS = (
    "500",
    "503",
    "429",
    "html",
    "reset",
    "provider-400",
    "404-no-envelope",
    "truncated",
    "insufficient-capacity",
)


@dataclass
class _Rule:
    remaining: int
    method: str | None
    path_prefix: str | None
    kind: str = ""
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path_prefix is None:
            return True
        if self.path_prefix.startswith(API_PREFIX + "/") or self.path_prefix.startswith("/_"):
            return path.startswith(self.path_prefix)
        return path.startswith(API_PREFIX + self.path_prefix)


class FaultInjector:
    """Queues of pending faults, consumed by the request pipeline in order of arrival."""

    def __init__(self) -> None:
        self._failures: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._dropped_launch_replies = 0
        self._emptied_launch_replies = 0

    def fail_next(
        self,
        n: int = 1,
        kind: str = "500",
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Fail the next n requests matching method and path prefix (relative to /api/v1 or
        absolute) with the given kind (see FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if n < 1:
            raise ValueError("n must be at least 1")
        self._failures.append(_Rule(n, method, path_prefix, kind=kind))

    def delay_next(
        self,
        n: int,
        seconds: float,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Hold the replies of the next n matching requests for `seconds` (the request is
        handled first, so a client that gives up meanwhile still changed the state)."""
        if n < 1 or seconds < 0:
            raise ValueError("n must be at least 1 and seconds not negative")
        self._delays.append(_Rule(n, method, path_prefix, seconds=seconds))

    def drop_next_launch_reply(self, n: int = 1) -> None:
        """The next n launches create their instance, then close the connection unanswered."""
        if n < 1:
            raise ValueError("n must be at least 1")
        self._dropped_launch_replies += n

    def empty_next_launch_reply(self, n: int = 1) -> None:
        """The next n launches create their instance, then answer with no instance id."""
        if n < 1:
            raise ValueError("n must be at least 1")
        self._emptied_launch_replies += n

    def take_launch_empty(self, method: str, path: str) -> bool:
        """Whether this (launch) request's reply is to name no instance, consuming one."""
        if self._emptied_launch_replies > 0 and _is_launch(method, path):
            self._emptied_launch_replies -= 1
            return True
        return False

    def clear(self) -> None:
        """Forget every pending fault."""
        self._failures.clear()
        self._delays.clear()
        self._dropped_launch_replies = 0
        self._emptied_launch_replies = 0

    @property
    def pending(self) -> int:
        """How many injected events are still waiting to happen."""
        return (
            sum(r.remaining for r in self._failures)
            + sum(r.remaining for r in self._delays)
            + self._dropped_launch_replies
            + self._emptied_launch_replies
        )

    def take_failure(self, method: str, path: str) -> str | None:
        """The failure kind for this request, consuming one, or None."""
        for rule in self._failures:
            if rule.kind == "insufficient-capacity" and not _is_launch(method, path):
                continue
            if rule.matches(method, path):
                rule.remaining -= 1
                self._prune()
                return rule.kind
        return None

    def take_delay(self, method: str, path: str) -> float:
        """Seconds to hold this request's reply, consuming one delay, or 0."""
        for rule in self._delays:
            if rule.matches(method, path):
                rule.remaining -= 1
                self._prune()
                return rule.seconds
        return 0.0

    def take_launch_drop(self, method: str, path: str) -> bool:
        """Whether this (launch) request's reply is to be dropped, consuming one."""
        if self._dropped_launch_replies > 0 and _is_launch(method, path):
            self._dropped_launch_replies -= 1
            return True
        return False

    def _prune(self) -> None:
        self._failures = [r for r in self._failures if r.remaining > 0]
        self._delays = [r for r in self._delays if r.remaining > 0]


def _is_launch(method: str, path: str) -> bool:
    return method.upper() == "POST" and path == API_PREFIX + "/instance-operations/launch"
