"""The one bridge from the services' typed events to Qt signals (docs/architecture.md#conventions,
rule 3).

Listeners on the EventBus may be called from an executor thread (download progress comes
from a copy thread); emitting a signal from there is safe, because Qt queues it to the
bridge's thread, where the GUI's slots run.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from lambda_gui.services.events import (
    BillingChanged,
    BillingWarning,
    DownloadProgress,
    Event,
    EventBus,
    JobLogEvents,
    JobLogLines,
    JobPhaseChanged,
    OrphansFound,
    TaskFailed,
)


class EventBridge(QObject):
    """Re-emits each service event as the signal of its type (and every one as `any_event`)."""

    phase_changed = Signal(object)  # JobPhaseChanged
    log_lines = Signal(object)  # JobLogLines
    log_events = Signal(object)  # JobLogEvents
    download_progress = Signal(object)  # DownloadProgress
    billing_changed = Signal(object)  # BillingChanged
    billing_warning = Signal(object)  # BillingWarning
    task_failed = Signal(object)  # TaskFailed
    orphans_found = Signal(object)  # OrphansFound
    any_event = Signal(object)  # every event, including kinds added later

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> None:
        """Listen to `bus` (and stop listening to any earlier one)."""
        self.detach()
        self._unsubscribe = bus.subscribe(self._on_event)

    def detach(self) -> None:
        """Stop listening."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:
        routes: dict[type, Callable[[object], None]] = {
            JobPhaseChanged: self.phase_changed.emit,
            JobLogLines: self.log_lines.emit,
            JobLogEvents: self.log_events.emit,
            DownloadProgress: self.download_progress.emit,
            BillingChanged: self.billing_changed.emit,
            BillingWarning: self.billing_warning.emit,
            TaskFailed: self.task_failed.emit,
            OrphansFound: self.orphans_found.emit,
        }
        emit = routes.get(type(event))
        if emit is not None:
            emit(event)
        self.any_event.emit(event)
