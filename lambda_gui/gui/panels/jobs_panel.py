"""The Jobs tab: every job this app knows, and the live view of the selected one."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.gui.async_slots import reported_slot
from lambda_gui.gui.bridge import EventBridge
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.models.jobs_table import JobsTableModel
from lambda_gui.gui.panels.job_detail import JobDetail
from lambda_gui.gui.panels.job_progress import LiveProgress, job_row
from lambda_gui.services.events import BillingChanged, JobLogEvents, JobPhaseChanged
from lambda_gui.services.ports import JobControl
from lambda_gui.services.store import JobRecord

TICK_MS = 1000


class JobsPanel(QWidget):
    """The jobs table above the selected job's live view."""

    def __init__(
        self,
        connector: JobControl,
        reporter: ErrorReporter,
        bridge: EventBridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.records: dict[str, JobRecord] = {}
        self.progress: dict[str, LiveProgress] = {}
        self.messages: dict[str, str] = {}

        self.model = JobsTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.empty_label = QLabel(
            "No jobs yet. Fill in the New job tab and press Launch; the job appears here with "
            "its live log, loss curve and cost.",
            self,
        )
        self.empty_label.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh", self)
        self.detail = JobDetail(connector, reporter, self)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.empty_label, 1)
        bar.addStretch(0)
        bar.addWidget(self.refresh_button)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.table, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.detail)
        split.setSizes([130, 640])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.refresh_button.clicked.connect(self.reload)
        bridge.phase_changed.connect(self.on_phase)
        bridge.billing_changed.connect(self.on_billing)
        bridge.log_events.connect(self._on_log_events)
        bridge.log_lines.connect(self.detail.on_log_lines)
        bridge.download_progress.connect(self.detail.on_remote_download)
        self.detail.history_read.connect(self._refresh_row)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    @reported_slot("Could not list the jobs")
    async def reload(self) -> None:
        """Read every job from the store."""
        jobs = await self.connector.list_jobs()
        self._set_jobs(jobs)

    def _set_jobs(self, jobs: list[JobRecord]) -> None:
        selected = self.detail.job_id
        self.records = {j.id: j for j in jobs}
        self.model.set_rows(
            [job_row(j, self._progress(j.id), self.messages.get(j.id, "")) for j in jobs]
        )
        self.empty_label.setVisible(not jobs)
        if selected and selected in self.records:
            self._select_row(selected)
        elif jobs and selected is None:
            self.select_job(jobs[0].id)

    def select_job(self, job_id: str) -> bool:
        """Select a job in the table and show it; False when it is not listed."""
        return self._select_row(job_id)

    def _select_row(self, job_id: str) -> bool:
        row = self.model.row_of(job_id)
        if row is None:
            return False
        self.table.selectRow(row)
        if self.detail.job_id != job_id:
            self._show(job_id)
        return True

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            job_id = self.model.job(current.row()).job_id
            if job_id != self.detail.job_id:
                self._show(job_id)

    def _show(self, job_id: str) -> None:
        record = self.records.get(job_id)
        if record is not None:
            self.detail.show_job(record, self._progress(job_id), self.messages.get(job_id, ""))

    def _progress(self, job_id: str) -> LiveProgress:
        return self.progress.setdefault(job_id, LiveProgress())

    @reported_slot("Could not update a job", object)
    async def on_phase(self, event: JobPhaseChanged) -> None:
        """A job changed phase: re-read its record (a new job reloads the list)."""
        self.messages[event.job_id] = event.message
        if event.job_id not in self.records:
            await self.reload()
            return
        await self._reread(event.job_id, event.message)

    @reported_slot("Could not update a job", object)
    async def on_billing(self, event: BillingChanged) -> None:
        """A job's billing state moved without a new phase (a terminate confirmed later):
        re-read its record so the billing line is current."""
        if event.job_id in self.records:
            await self._reread(event.job_id, self.messages.get(event.job_id, ""))

    async def _reread(self, job_id: str, message: str) -> None:
        record = await self.connector.get_job(job_id)
        self.records[record.id] = record
        self.model.upsert(job_row(record, self._progress(record.id), message))
        self.detail.update_record(record, message)

    def _on_log_events(self, event: JobLogEvents) -> None:
        progress = self._progress(event.job_id)
        if progress.feed(event.events):
            record = self.records.get(event.job_id)
            if record is not None:
                self.model.upsert(job_row(record, progress, self.messages.get(record.id, "")))
        self.detail.on_log_events(event)

    def _refresh_row(self, job_id: str) -> None:
        record = self.records.get(job_id)
        if record is not None:
            self.model.upsert(
                job_row(record, self._progress(job_id), self.messages.get(job_id, ""))
            )

    def _tick(self) -> None:
        self.model.tick()
        self.detail.tick()
