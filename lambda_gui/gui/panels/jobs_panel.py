"""The Jobs tab: every job this app knows, the live view of the selected one, and Compare…
over several selected jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from lambda_gui.gui.models.jobs_table import MODEL, NAME, JobsTableModel
from lambda_gui.gui.panels.job_detail import JobDetail
from lambda_gui.gui.panels.job_progress import LiveProgress, job_row
from lambda_gui.services.events import BillingChanged, JobLogEvents, JobPhaseChanged
from lambda_gui.services.ports import JobControl
from lambda_gui.services.store import JobRecord

if TYPE_CHECKING:
    from lambda_gui.gui.panels.compare_runs import CompareRunsDialog

TICK_MS = 1000
# Rows the table always has room for, however tall the banners above it and the job below.
MIN_VISIBLE_ROWS = 4
# A long model id is cut (with "…"; the tooltip has it whole) rather than crowd the name out.
MODEL_COLUMN_MAX_PX = 220


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
        # Several rows at once (Ctrl/Shift+click) for Compare…; the current row is the one shown.
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        # Compact rows (a line of text and a little air), as in a file list.
        rows = self.table.verticalHeader()
        row_height = self.table.fontMetrics().height() + 8
        rows.setMinimumSectionSize(row_height)
        rows.setDefaultSectionSize(row_height)
        self.table.setWordWrap(False)
        # Each column as wide as its contents (the model's up to a cap); the name takes what
        # is left.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(MODEL, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.model.modelReset.connect(self._fit_model_column)
        self.model.rowsInserted.connect(self._fit_model_column)
        self.model.dataChanged.connect(self._on_rows_changed)
        self.table.setMinimumHeight(self._rows_height(MIN_VISIBLE_ROWS))
        self.empty_label = QLabel(
            "No jobs yet. Fill in the New job tab and press Launch; the job appears here with "
            "its live log, loss curve and cost.",
            self,
        )
        self.empty_label.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip("Read every job again from this computer's job store")
        self.compare_button = QPushButton("Compare…", self)
        self.compare_dialog: CompareRunsDialog | None = None
        self.detail = JobDetail(connector, reporter, self)
        # Beside the selected job's title, so the table keeps the room of a toolbar line.
        self.detail.head.addWidget(self.compare_button)
        self.detail.head.addWidget(self.refresh_button)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.empty_label)
        top_layout.addWidget(self.table, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.detail)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(1, 1)
        split.setSizes([self.table.minimumHeight(), 640])
        self.split = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.selectionModel().selectionChanged.connect(self._update_compare)
        self.model.modelReset.connect(self._update_compare)
        self.refresh_button.clicked.connect(self.reload)
        self.compare_button.clicked.connect(self.open_compare)
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
        self._update_compare()

    def _fit_model_column(self) -> None:
        self.table.resizeColumnToContents(MODEL)
        if self.table.columnWidth(MODEL) > MODEL_COLUMN_MAX_PX:
            self.table.setColumnWidth(MODEL, MODEL_COLUMN_MAX_PX)

    def _on_rows_changed(self, top_left: QModelIndex, _bottom_right: QModelIndex) -> None:
        if top_left.column() <= MODEL:  # not the clock's tick, which leaves the model alone
            self._fit_model_column()

    def _rows_height(self, rows: int) -> int:
        """Pixels the table needs to show `rows` rows under its header, with no scroll bar."""
        row = self.table.verticalHeader().defaultSectionSize()
        header = self.table.horizontalHeader().sizeHint().height()
        frame = 2 * self.table.frameWidth()
        scroll = self.table.horizontalScrollBar().sizeHint().height()
        return header + rows * row + frame + scroll

    @reported_slot("Could not list the jobs")
    async def reload(self) -> None:
        """Read every job from the store."""
        jobs = await self.connector.list_jobs()
        self._set_jobs(jobs)

    def _set_jobs(self, jobs: list[JobRecord]) -> None:
        selected = self.detail.job_id
        chosen = self.selected_job_ids()
        self.records = {j.id: j for j in jobs}
        self.model.set_rows(
            [job_row(j, self._progress(j.id), self.messages.get(j.id, "")) for j in jobs]
        )
        self.empty_label.setVisible(not jobs)
        if selected and selected in self.records:
            self._select_row(selected)
            self._reselect(chosen, selected)  # the reset dropped a multi-selection
        elif jobs and selected is None:
            self.select_job(jobs[0].id)

    def _reselect(self, job_ids: list[str], current: str) -> None:
        """Select the rows of `job_ids` again after the model was reset (the current row
        stays `current`'s)."""
        rows = [r for r in (self.model.row_of(j) for j in job_ids) if r is not None]
        if len(rows) < 2:
            return
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, last))
        flags = QItemSelectionModel.SelectionFlag
        self.table.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)
        at = self.model.row_of(current)
        if at is not None:
            self.table.selectionModel().setCurrentIndex(self.model.index(at, 0), flags.NoUpdate)

    def selected_job_ids(self) -> list[str]:
        """The jobs whose rows are selected, top to bottom."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.job(r).job_id for r in rows if r < self.model.rowCount()]

    def _update_compare(self) -> None:
        count = len(self.selected_job_ids())
        self.compare_button.setEnabled(count >= 2)
        self.compare_button.setToolTip(
            f"Overlay the loss curves of the {count} selected jobs against step, tokens seen "
            "or dollars spent, and list their settings with the differences marked"
            if count >= 2
            else "Select two or more jobs (Ctrl+click or Shift+click) to compare their runs"
        )

    def open_compare(self) -> CompareRunsDialog | None:
        """Open a comparison of the selected jobs (two or more); None when fewer are selected."""
        job_ids = self.selected_job_ids()
        if len(job_ids) < 2:
            return None
        # pyqtgraph loads with the first comparison, not with the window.
        from lambda_gui.gui.panels.compare_runs import CompareRunsDialog

        dialog = CompareRunsDialog(self.connector, self.reporter, job_ids, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _obj=None, d=dialog: self._forget_compare(d))
        self.compare_dialog = dialog
        dialog.show()
        dialog.start_loading()
        return dialog

    def _forget_compare(self, dialog: CompareRunsDialog) -> None:
        if self.compare_dialog is dialog:
            self.compare_dialog = None

    def select_job(self, job_id: str) -> bool:
        """Select a job in the table and show it; False when it is not listed."""
        return self._select_row(job_id)

    def _select_row(self, job_id: str) -> bool:
        row = self.model.row_of(job_id)
        if row is None:
            return False
        # This row alone, whatever keys are held (selectRow would follow Ctrl and Shift).
        flags = QItemSelectionModel.SelectionFlag
        self.table.selectionModel().setCurrentIndex(
            self.model.index(row, 0), flags.ClearAndSelect | flags.Rows
        )
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
