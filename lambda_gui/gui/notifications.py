"""Desktop notifications: a job completed, failed, waits for a decision (its adapter download
failed and its instance is kept), or an instance may still be billing.

They go through a system tray icon (the app's icon); clicking a message or the icon brings the
window up with that job selected. Where the desktop has no tray (offscreen, some Wayland
shells) nothing is shown, and `notices` still records what would have been."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QSystemTrayIcon

from lambda_gui.core.errors import LambdaGUIError
from lambda_gui.core.models import JobPhase
from lambda_gui.gui.app_identity import APP_NAME, app_icon
from lambda_gui.gui.async_slots import reported_slot
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.services.events import BillingWarning, JobPhaseChanged
from lambda_gui.services.ports import JobLister
from lambda_gui.services.store import JobRecord

COMPLETED, FAILED, DECISION, BILLING = "completed", "failed", "decision", "billing"
# How long a message stays up (ms; desktops may cap it), and how many notices are kept.
MESSAGE_MS = 15_000
MAX_NOTICES = 200
MAX_MESSAGE_CHARS = 300

_ICONS = {
    COMPLETED: QSystemTrayIcon.MessageIcon.Information,
    FAILED: QSystemTrayIcon.MessageIcon.Critical,
    DECISION: QSystemTrayIcon.MessageIcon.Warning,
    BILLING: QSystemTrayIcon.MessageIcon.Warning,
}


@dataclass(frozen=True)
class Notice:
    """One notification: its kind (completed, failed, decision, billing), its words, and the
    job it is about (None when no job here owns the instance)."""

    kind: str
    title: str
    message: str
    job_id: str | None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _name(record: JobRecord | None, job_id: str) -> str:
    return f"{record.config.project_name} ({job_id})" if record is not None else f"Job {job_id}"


def phase_notice(event: JobPhaseChanged, record: JobRecord | None) -> Notice | None:
    """The notice a phase change calls for, or None."""
    name = _name(record, event.job_id)
    project = record.config.project_name if record is not None else event.job_id
    if event.phase is JobPhase.COMPLETED:
        # Its instance is terminated after this (or kept by the setting: the banner says so).
        text = f"{name} finished; its adapter is saved on this computer."
        return Notice(COMPLETED, f"Job completed: {project}", text, event.job_id)
    if event.phase is JobPhase.FAILED:
        why = (record.error if record is not None else None) or event.message
        text = f"{name} failed: {why}" if why else f"{name} failed."
        return Notice(FAILED, f"Job failed: {project}", _short(text), event.job_id)
    from lambda_gui.gui.panels.job_progress import download_kept  # with the first notice

    if event.phase is JobPhase.DOWNLOADING and record is not None and download_kept(record):
        rate = record.price_cents_per_hour / 100
        return Notice(
            DECISION,
            f"Job needs a decision: {project}",
            f"The adapter download of {name} failed. Its instance is kept, billing "
            f"${rate:,.2f}/h: retry the download or terminate the instance.",
            event.job_id,
        )
    return None


class JobNotifier(QObject):
    """Turns job and billing events into desktop notifications (see the module's text)."""

    def __init__(
        self,
        connector: JobLister,
        reporter: ErrorReporter,
        on_activate: Callable[[str | None], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.on_activate = on_activate
        # Every notice, shown or (without a tray) not, oldest first; the last one shown.
        self.notices: list[Notice] = []
        self.last: Notice | None = None
        self._seen: set[tuple[str, ...]] = set()
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip(APP_NAME)
            self.tray.messageClicked.connect(self._on_message_clicked)
            self.tray.activated.connect(self._on_tray_activated)

    # -- events ---------------------------------------------------------------------------

    @reported_slot("Could not show a notification", object)
    async def on_phase(self, event: JobPhaseChanged) -> None:
        """A job moved: completed, failed or a kept download each notify once."""
        if event.phase not in (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.DOWNLOADING):
            return
        key = (event.phase.value, event.job_id)
        if event.phase is not JobPhase.DOWNLOADING:
            if key in self._seen:
                return
            self._seen.add(key)  # before the await: a repeated event arrives meanwhile
        record = await self._record(event.job_id)
        notice = phase_notice(event, record)
        if notice is None:
            return
        if notice.kind == DECISION and record is not None:
            # Once per failure: a retry that fails again is a new decision.
            failure = (*key, record.error or "", repr(record.updated_at))
            if failure in self._seen:
                return
            self._seen.add(failure)
        self.notify(notice)

    @reported_slot("Could not show a notification", object)
    async def on_billing_warning(self, event: BillingWarning) -> None:
        """An instance may still be billing: notify once until Lambda confirms it gone."""
        key = (BILLING, event.instance_name or event.instance_id)
        if event.resolved:
            self._seen.discard(key)
            return
        if event.retrying or key in self._seen:
            return  # the app is still asking Lambda; the final word notifies
        self._seen.add(key)
        job_id: str | None = None
        try:
            for job in await self.connector.list_jobs():
                if (event.instance_id and job.instance_id == event.instance_id) or (
                    event.instance_name and job.instance_name == event.instance_name
                ):
                    job_id = job.id
                    break
        except LambdaGUIError:
            pass  # the notice still names the instance
        self.notify(
            Notice(BILLING, "An instance may still be billing", _short(event.message), job_id)
        )

    async def _record(self, job_id: str) -> JobRecord | None:
        try:
            return await self.connector.get_job(job_id)
        except LambdaGUIError:
            return None  # deleted or unreadable: the notice names the id

    # -- showing and clicking -------------------------------------------------------------

    def notify(self, notice: Notice) -> None:
        """Show `notice` (when there is a tray) and record it."""
        self.notices.append(notice)
        del self.notices[:-MAX_NOTICES]
        self.last = notice
        if self.tray is None:
            return
        self.tray.show()  # shown from the first notice on, so a click on it still leads back
        self.tray.showMessage(notice.title, notice.message, _ICONS[notice.kind], MESSAGE_MS)

    def activate(self, notice: Notice | None = None) -> None:
        """Bring the window up at `notice`'s job (default: the last notice shown)."""
        chosen = notice if notice is not None else self.last
        self.on_activate(chosen.job_id if chosen is not None else None)

    def _on_message_clicked(self) -> None:
        self.activate()

    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.activate()

    def close(self) -> None:
        """Take the tray icon away (the window is closing for good)."""
        if self.tray is not None:
            self.tray.hide()
