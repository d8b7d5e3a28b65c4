"""The red banners above the tabs: instances that may still be billing (with Retry terminate
and the Lambda dashboard), and orphaned lambda-gui-* instances (terminate one, or all).

Each banner is one line (what bills, how much an hour, the way out) with a Details toggle for
the rest, so that both together leave the tabs their room."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.errors import NotConnectedError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase
from lambda_gui.gui.async_slots import reported_slot, spawn
from lambda_gui.gui.dialogs.prompts import ask, question_box
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.models.job_row import plural
from lambda_gui.gui.style import BANNER_FRAME_STYLE
from lambda_gui.services.events import BillingWarning, JobPhaseChanged, Orphan
from lambda_gui.services.ports import MoneyWatch
from lambda_gui.services.store import JobRecord

DASHBOARD_URL = "https://cloud.lambda.ai/instances"
# Phases a job reaches only after its terminate was tried (a failed job is terminated after
# FAILED is recorded; its BillingWarning says how that went).
_SETTLED = (JobPhase.COMPLETED, JobPhase.CANCELLED)


@dataclass(frozen=True)
class BillingLine:
    """One instance that may be billing, as the banner shows it."""

    key: str
    name: str
    dollars_per_hour: float
    kept: bool = False  # a completed job's instance kept running by the user's setting
    retrying: bool = False

    def text(self) -> str:
        """The line in words."""
        head = f"{self.name} (${self.dollars_per_hour:,.2f}/h)"
        if self.kept:
            return (
                f"{head} kept running after its job completed (your setting); it bills until "
                "you terminate it: Jobs tab, Terminate instance…"
            )
        if self.retrying:
            return f"{head} may still be billing: terminating it, Lambda has not confirmed yet."
        return f"{head} may still be billing: Lambda has not confirmed it terminated."


def billing_lines(
    warnings: Sequence[BillingWarning], jobs: Sequence[JobRecord], auto_terminate: bool
) -> list[BillingLine]:
    """Unresolved warnings, then finished jobs whose instance may still bill."""
    lines: dict[str, BillingLine] = {}
    for w in warnings:
        lines[w.instance_id] = BillingLine(
            w.instance_id,
            w.instance_name,
            w.dollars_per_hour,
            retrying=w.retrying,
        )
    for job in jobs:
        key = job.instance_id or job.instance_name
        if key in lines or not job.phase.is_terminal or not job.billing.may_bill:
            continue
        kept = job.phase is JobPhase.COMPLETED and job.billing is Billing.BILLING
        kept = kept and not auto_terminate
        lines[key] = BillingLine(
            key,
            job.instance_name,
            job.price_cents_per_hour / 100,
            kept,
            retrying=job.billing is Billing.TERMINATING,
        )
    return list(lines.values())


def _banner_frame(frame: QFrame, name: str) -> None:
    frame.setObjectName(name)
    frame.setStyleSheet(BANNER_FRAME_STYLE.replace("#banner", f"#{name}"))


def _banner_layout(
    frame: QFrame, label: QLabel, buttons: Sequence[QWidget], details: QWidget
) -> None:
    """One line (the text, then its buttons) over the folded details."""
    head = QHBoxLayout()
    head.addWidget(label, 1)
    for button in buttons:
        head.addWidget(button)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(10, 3, 10, 3)
    layout.setSpacing(2)
    layout.addLayout(head)
    layout.addWidget(details)


class DetailsToggle(QPushButton):
    """A banner's Details / Hide details button; shows and hides `details`."""

    def __init__(self, details: QWidget, parent: QWidget) -> None:
        super().__init__("Details", parent)
        self.details = details
        self.setCheckable(True)
        self.setToolTip("Show or hide the banner's details")
        self.toggled.connect(self._on_toggled)
        details.hide()

    def _on_toggled(self, shown: bool) -> None:
        self.setText("Hide details" if shown else "Details")
        self.details.setVisible(shown)


class BillingBanner(QFrame):
    """Shown while any instance may still be billing without the app wanting it to."""

    changed = Signal()

    def __init__(
        self, connector: MoneyWatch, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.warnings: dict[str, BillingWarning] = {}
        self.jobs: list[JobRecord] = []
        self.auto_terminate = True
        self.lines: list[BillingLine] = []
        _banner_frame(self, "billing_banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details_button = DetailsToggle(self.details, self)
        self.retry_button = QPushButton("Retry terminate", self)
        self.retry_button.setToolTip("Ask Lambda again to terminate these instances")
        self.dashboard_button = QPushButton("Open Lambda dashboard", self)
        self.dashboard_button.setToolTip(DASHBOARD_URL)
        _banner_layout(
            self,
            self.label,
            (self.details_button, self.retry_button, self.dashboard_button),
            self.details,
        )
        self.retry_button.clicked.connect(self.retry)
        self.dashboard_button.clicked.connect(self.open_dashboard)
        self.hide()

    def text(self) -> str:
        """What the banner says, its details included."""
        return "\n".join(t for t in (self.label.text(), self.details.text()) if t)

    def on_billing(self, event: BillingWarning) -> None:
        """A terminate went wrong, is retried, or was confirmed."""
        if event.resolved:
            self.warnings.pop(event.instance_id, None)
        else:
            self.warnings[event.instance_id] = event
        self._render()
        self.refresh_soon()

    def on_phase(self, event: JobPhaseChanged) -> None:
        """A job settled: its instance may have been kept or not confirmed gone."""
        if event.phase in _SETTLED:
            self.refresh_soon()

    def refresh_soon(self) -> None:
        """Re-read the store's billing jobs in the background."""
        spawn(self.refresh(), "billing-banner", self.reporter, "Could not read the billing state")

    async def refresh(self) -> None:
        """Re-read the jobs that may be billing from the store."""
        try:
            self.jobs = await self.connector.billing_jobs()
            self.auto_terminate = await self.connector.auto_terminate()
        except NotConnectedError:
            self.jobs = []
        self._render()

    def _render(self) -> None:
        self.lines = billing_lines(list(self.warnings.values()), self.jobs, self.auto_terminate)
        if not self.lines:
            self.hide()
            self.changed.emit()
            return
        # One short line (it fits beside the buttons at 900 px); which instances and why
        # are one click away, and in the tooltip.
        total = sum(line.dollars_per_hour for line in self.lines)
        if len(self.lines) > 1:
            summary = (
                f"{plural(len(self.lines), 'instance')} may be billing ${total:,.2f}/h in all."
            )
        elif self.lines[0].kept:
            summary = f"An instance kept running after its job bills ${total:,.2f}/h."
        else:
            summary = f"An instance may still be billing ${total:,.2f}/h."
        details = "\n".join(line.text() for line in self.lines)
        self.label.setText(summary)
        self.label.setToolTip(details)
        self.details.setText(details)
        self.retry_button.setEnabled(any(not line.kept for line in self.lines))
        self.show()
        self.changed.emit()

    @reported_slot("Could not terminate the instances")
    async def retry(self) -> None:
        """Ask Lambda again to terminate every finished job's unconfirmed instance."""
        self.retry_button.setEnabled(False)
        self.retry_button.setText("Retrying…")
        try:
            await self.connector.retry_terminations()
            await self.refresh()
        finally:
            self.retry_button.setText("Retry terminate")
            self.retry_button.setEnabled(any(not line.kept for line in self.lines))

    def open_dashboard(self) -> bool:
        """Open Lambda's instances page in the browser."""
        return QDesktopServices.openUrl(QUrl(DASHBOARD_URL))


class OrphanBanner(QFrame):
    """Billing lambda-gui-* instances no job here owns: each with its cost and a Terminate
    button, and Terminate all…"""

    def __init__(
        self, connector: MoneyWatch, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.orphans: tuple[Orphan, ...] = ()
        self.buttons: dict[str, QPushButton] = {}
        self.row_labels: list[QLabel] = []
        self.confirm_box: QMessageBox | None = None
        self._terminating: set[str] = set()
        _banner_frame(self, "orphan_banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.details = QWidget(self)
        self.why = QLabel(
            "If lambda-gui runs on another computer with this Lambda account, they may be its "
            "jobs: terminate only what you know is yours.",
            self.details,
        )
        self.why.setWordWrap(True)
        self.details_button = DetailsToggle(self.details, self)
        self.all_button = QPushButton("Terminate all…", self)
        self.rows = QVBoxLayout()
        self.rows.setContentsMargins(12, 0, 0, 0)
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.why)
        details.addLayout(self.rows)
        _banner_layout(self, self.label, (self.details_button, self.all_button), self.details)
        self.all_button.clicked.connect(self.terminate_all)
        self.hide()

    def text(self) -> str:
        """The banner's words, every orphan's line included."""
        return "\n".join(
            [self.label.text(), self.why.text(), *(label.text() for label in self.row_labels)]
        )

    def set_orphans(self, orphans: Sequence[Orphan]) -> None:
        """Show these orphans (none: hide)."""
        self.orphans = tuple(orphans)
        while self.rows.count():
            item = self.rows.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.buttons = {}
        self.row_labels = []
        if not self.orphans:
            self.hide()
            return
        rate = sum(o.dollars_per_hour for o in self.orphans)
        if len(self.orphans) == 1:
            self.label.setText(
                f"{self.orphans[0].name} belongs to no job here and bills ${rate:,.2f}/h."
            )
        else:
            self.label.setText(
                f"{plural(len(self.orphans), 'instance')} named lambda-gui-* belong to no job "
                f"here and bill ${rate:,.2f}/h in all."
            )
        for orphan in self.orphans:
            self.rows.addWidget(self._row(orphan))
        self.show()

    def _row(self, orphan: Orphan) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(
            f"{orphan.name} — {orphan.instance_type} in {orphan.region} — "
            f"${orphan.dollars_per_hour:,.2f}/h — {orphan.status}",
            row,
        )
        button = QPushButton("Terminate", row)
        button.setObjectName(f"terminate_{orphan.instance_id}")
        button.setToolTip(f"Terminate {orphan.name} now; anything on it is lost")
        busy = orphan.instance_id in self._terminating
        button.setEnabled(not busy)
        if busy:
            button.setText("Terminating…")
        button.clicked.connect(lambda _c=False, i=orphan.instance_id: self.terminate_one(i))
        layout.addWidget(label, 1)
        layout.addWidget(button)
        self.buttons[orphan.instance_id] = button
        self.row_labels.append(label)
        return row

    @reported_slot("Could not terminate the instance", str)
    async def terminate_one(self, instance_id: str) -> None:
        """Terminate one orphan (one click: its row names it)."""
        await self._terminate([o for o in self.orphans if o.instance_id == instance_id])

    @reported_slot("Could not terminate the instances")
    async def terminate_all(self) -> None:
        """Ask, then terminate every orphan."""
        orphans = list(self.orphans)
        if not orphans:
            return
        box = question_box(
            self,
            "Terminate these instances?",
            "Terminate " + ", ".join(o.name for o in orphans) + "? Anything on them is lost.",
            "Terminate",
            "Keep them",
        )
        self.confirm_box = box
        if await ask(box):
            await self._terminate(orphans)

    async def _terminate(self, orphans: list[Orphan]) -> None:
        ids = {o.instance_id for o in orphans}
        self._terminating |= ids
        for instance_id in ids:
            button = self.buttons.get(instance_id)
            if button is not None:
                button.setEnabled(False)
                button.setText("Terminating…")
        failed: list[str] = []
        try:
            for orphan in orphans:
                if await self.connector.terminate_instance(orphan.instance_id):
                    self.orphans = tuple(o for o in self.orphans if o is not orphan)
                else:
                    failed.append(orphan.name)
        finally:
            self._terminating -= ids
            self.set_orphans(self.orphans)
        if failed:
            self.reporter.report(
                "Instances not confirmed gone",
                "Lambda did not confirm that these are terminating: " + ", ".join(failed) + ".",
                "Try again, or terminate them in the Lambda Cloud dashboard.",
            )
