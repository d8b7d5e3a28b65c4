"""Typed events from the services to whoever listens (the GUI's bridge, the headless runner)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase

if TYPE_CHECKING:
    from lambda_gui.core.log_reader import ShownLine
    from lambda_gui.core.logparse import LogEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPhaseChanged:
    """A job moved to a new phase; `message` says why in words a user understands."""

    job_id: str
    phase: JobPhase
    message: str = ""


@dataclass(frozen=True)
class BillingChanged:
    """A job's billing state moved (the lifecycle recorded it); `why` is the reason's words."""

    job_id: str
    old: Billing
    new: Billing
    why: str = ""


@dataclass(frozen=True)
class JobLogLines:
    """New complete log lines of a job; `offset` is the byte offset after the last one.

    `lines` is read-only: a tuple, a list, or a flood's `SpanLines` (services/log_span.py),
    which reads its text from the local log only when read line by line. `shown`, when
    given, is what the log view shows of the last len(shown) lines, read off the GUI thread
    (core/log_reader.py); the lines before those the view would not keep."""

    job_id: str
    lines: Sequence[str]
    offset: int
    shown: tuple[ShownLine, ...] | None = None
    #: The byte offset where the first line begins, when known (the follower's offsets).
    start: int | None = None


@dataclass(frozen=True)
class JobLogEvents:
    """Parsed events (metrics, progress, status, errors) from a job's log, in order.

    Consecutive LGUI_METRIC lines come as one MetricRun (their values as columns);
    `core.logparse.expand_runs(events)` gives them as single MetricEvents."""

    job_id: str
    events: tuple[LogEvent, ...]


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes done of an artifact download."""

    job_id: str
    done: int
    total: int


@dataclass(frozen=True)
class BillingWarning:
    """An instance may still be billing and the app could not yet confirm it terminated."""

    instance_id: str
    instance_name: str
    dollars_per_hour: float
    message: str
    resolved: bool = False
    retrying: bool = False  # the app keeps asking Lambda to terminate it


@dataclass(frozen=True)
class Orphan:
    """A billing lambda-gui instance that no job here owns."""

    instance_id: str
    name: str
    status: str
    instance_type: str
    region: str
    dollars_per_hour: float


@dataclass(frozen=True)
class OrphansFound:
    """The latest orphan sweep's result (empty when there are none)."""

    orphans: tuple[Orphan, ...]


@dataclass(frozen=True)
class TaskFailed:
    """A background task ended in an error; `message` is what to show the user."""

    task_name: str
    message: str


Event = (
    JobPhaseChanged
    | BillingChanged
    | JobLogLines
    | JobLogEvents
    | DownloadProgress
    | BillingWarning
    | OrphansFound
    | TaskFailed
)
Listener = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out; listeners must be quick (the GUI bridge only emits a signal)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: Event) -> None:
        """Deliver an event to every listener; one listener's failure does not stop the rest."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", type(event).__name__)
