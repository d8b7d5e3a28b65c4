"""The jobs list as a table; elapsed time and cost tick from a clock the owner drives."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from lambda_gui.core.models import JobPhase
from lambda_gui.gui.models.job_row import JobRow, format_duration
from lambda_gui.gui.models.roles import SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.models.row_table import RowTableModel

ModelIndex = QModelIndex | QPersistentModelIndex

COLUMNS = ("Name", "Model", "Instance", "Phase", "Step", "Elapsed", "$ so far")
NAME, MODEL, INSTANCE, PHASE, STEP, ELAPSED, COST = range(len(COLUMNS))

PHASE_COLOURS = {
    JobPhase.RUNNING: QColor(9, 105, 218),
    JobPhase.DOWNLOADING: QColor(9, 105, 218),
    JobPhase.COMPLETED: QColor(26, 127, 55),
    JobPhase.FAILED: QColor(207, 34, 46),
    JobPhase.CANCELLED: QColor(128, 128, 128),
}
PHASE_LABELS = {
    JobPhase.QUEUED: "Queued",
    JobPhase.PENDING: "Pending",
    JobPhase.PROVISIONING: "Launching",
    JobPhase.BOOTING: "Booting",
    JobPhase.SETTING_UP: "Setting up",
    JobPhase.RUNNING: "Training",
    JobPhase.DOWNLOADING: "Downloading",
    JobPhase.COMPLETED: "Completed",
    JobPhase.FAILED: "Failed",
    JobPhase.CANCELLED: "Cancelled",
}


class JobsTableModel(RowTableModel[JobRow]):
    """One row per job, keyed by job id; `tick()` refreshes the time and cost columns."""

    columns = COLUMNS

    def __init__(
        self, parent: QObject | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self._clock = clock

    def set_rows(self, rows: Sequence[JobRow]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def upsert(self, row: JobRow) -> None:
        """Update the row with this job id, or append it."""
        at = self.row_of(row.job_id)
        if at is None:
            end = len(self._rows)
            self.beginInsertRows(QModelIndex(), end, end)
            self._rows.append(row)
            self.endInsertRows()
            return
        self._rows[at] = row
        self.dataChanged.emit(self.index(at, 0), self.index(at, len(COLUMNS) - 1))

    def remove(self, job_id: str) -> bool:
        """Drop a job's row; False when there was none."""
        at = self.row_of(job_id)
        if at is None:
            return False
        self.beginRemoveRows(QModelIndex(), at, at)
        del self._rows[at]
        self.endRemoveRows()
        return True

    def row_of(self, job_id: str) -> int | None:
        """The row showing `job_id`, if any."""
        return next((i for i, r in enumerate(self._rows) if r.job_id == job_id), None)

    def job(self, row: int) -> JobRow:
        """The JobRow on `row`."""
        return self._rows[row]

    def tick(self) -> int:
        """Tell views that elapsed and cost changed on rows still ticking; returns how many."""
        changed = [i for i, r in enumerate(self._rows) if r.ticking]
        if changed:
            top, bottom = min(changed), max(changed)
            self.dataChanged.emit(
                self.index(top, ELAPSED), self.index(bottom, COST), [Qt.ItemDataRole.DisplayRole]
            )
        return len(changed)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.row_at(index)
        if r is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, column, self._clock())
        if role == SORT_ROLE:
            return self._sort_key(r, column, self._clock())
        if role == VALUE_ROLE:
            return r
        if role == Qt.ItemDataRole.ForegroundRole and column == PHASE:
            colour = PHASE_COLOURS.get(r.phase)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (STEP, ELAPSED, COST):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(r: JobRow, column: int, now: float) -> str:
        if column == NAME:
            return r.name
        if column == MODEL:
            return r.base_model
        if column == INSTANCE:
            return f"{r.instance_type} ({r.region})" if r.region else r.instance_type
        if column == PHASE:
            return PHASE_LABELS[r.phase]
        if column == STEP:
            if r.step is None:
                return ""
            return f"{r.step} / {r.total_steps}" if r.total_steps else str(r.step)
        if column == ELAPSED:
            return format_duration(r.elapsed_seconds(now))
        return f"${r.cost_so_far(now):,.2f}"

    @staticmethod
    def _sort_key(r: JobRow, column: int, now: float) -> Any:
        keys: dict[int, Any] = {
            NAME: r.name.lower(),
            MODEL: r.base_model.lower(),
            INSTANCE: r.instance_type,
            PHASE: list(JobPhase).index(r.phase),
            STEP: r.step if r.step is not None else -1,
            ELAPSED: r.elapsed_seconds(now),
            COST: r.cost_so_far(now),
        }
        return keys[column]

    @staticmethod
    def _tooltip(r: JobRow, column: int) -> str | None:
        if column == PHASE and r.message:
            return r.message
        if column == COST:
            if r.billing:
                return f"Instance billing at ${r.hourly_rate:,.2f}/h until it is terminated."
            return "Not billing." if r.billing_started_at is None else "Billing ended."
        if column == NAME:
            return f"Job {r.job_id}"
        return None
