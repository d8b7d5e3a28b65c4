"""The jobs list as a table; elapsed time, ETA and cost tick from a clock the owner drives."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette

from lambda_gui.core.models import JobPhase
from lambda_gui.gui.models.job_row import PHASE_LABELS, JobRow, format_clock
from lambda_gui.gui.models.roles import SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.models.row_table import RowTableModel
from lambda_gui.gui.style import readable

ModelIndex = QModelIndex | QPersistentModelIndex

__all__ = ["PHASE_LABELS", "JobsTableModel", "phase_colour"]

COLUMNS = (
    "Name",
    "Model",
    "Instance",
    "Status",
    "Step",
    "Loss",
    "Elapsed",
    "ETA",
    "$ so far",
    "Projected",
)
NAME, MODEL, INSTANCE, PHASE, STEP, LOSS, ELAPSED, ETA, COST, PROJECTED = range(len(COLUMNS))
HEADER_TIPS = (
    "The project name and the job id",
    "The base model",
    "The instance type (its region and rate in the tooltip)",
    "Where the job is; a finished job whose instance still bills says so",
    "Training steps done of the total",
    "The latest training loss",
    "Time since the job was submitted, until it ended (hours:minutes:seconds)",
    "Training time left, from the pace of the recent steps (hours:minutes:seconds)",
    "Dollars the instance has billed so far",
    "Dollars the job will have cost once its instance is terminated, from the time left "
    "and the hourly rate",
)
# The columns that change with the clock alone (kept next to each other for `tick`).
TICKING = (ELAPSED, ETA, COST, PROJECTED)
NUMERIC = (STEP, LOSS, ELAPSED, ETA, COST, PROJECTED)

# Phase text colours (GitHub's darker accents). The text carries the status; the colour only
# repeats it, and `phase_colour` moves it toward the palette's text where it would read below
# 4.5:1 on the rows' or the window's background (a dark palette).
_PHASE_COLOURS = {
    JobPhase.RUNNING: "#0550ae",
    JobPhase.SAMPLING: "#0550ae",
    JobPhase.EXPORTING: "#0550ae",
    JobPhase.DOWNLOADING: "#0550ae",
    JobPhase.COMPLETED: "#116329",
    JobPhase.FAILED: "#a40e26",
    JobPhase.CANCELLED: "#57606a",
}
# A job over while its instance still bills: the failure colour, whatever the phase.
_BILLING_AFTER_END = JobPhase.FAILED


def phase_colour(phase: JobPhase, billing_after_end: bool = False) -> QColor | None:
    """The text colour for a phase on the current palette (None: the palette's text)."""
    name = _PHASE_COLOURS.get(_BILLING_AFTER_END if billing_after_end else phase)
    if name is None:
        return None
    palette = QGuiApplication.palette()
    role = QPalette.ColorRole
    backgrounds = [palette.color(r) for r in (role.Base, role.AlternateBase, role.Window)]
    return readable(QColor(name), backgrounds, palette.color(role.Text))


class JobsTableModel(RowTableModel[JobRow]):
    """One row per job, keyed by job id; `tick()` refreshes the time and cost columns."""

    columns = COLUMNS
    header_tips = HEADER_TIPS

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
        """Tell views that time, ETA and cost changed on rows still ticking; returns how many."""
        changed = [i for i, r in enumerate(self._rows) if r.ticking]
        if changed:
            top, bottom = min(changed), max(changed)
            self.dataChanged.emit(
                self.index(top, TICKING[0]),
                self.index(bottom, TICKING[-1]),
                [Qt.ItemDataRole.DisplayRole],
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
            colour = phase_colour(r.phase, r.billing_after_end)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(r: JobRow, column: int, now: float) -> str:
        if column == NAME:
            return r.name
        if column == MODEL:
            return r.base_model
        if column == INSTANCE:
            return r.instance_type
        if column == PHASE:
            return r.status_text()
        if column == STEP:
            if r.step is None:
                return ""
            return f"{r.step} / {r.total_steps}" if r.total_steps else str(r.step)
        if column == LOSS:
            return f"{r.loss:.4g}" if r.loss is not None else ""
        if column == ELAPSED:
            return format_clock(r.elapsed_seconds(now))
        if column == ETA:
            eta = r.eta_seconds(now)
            return format_clock(eta) if eta is not None else ""
        if column == COST:
            return f"${r.cost_so_far(now):,.2f}"
        projected = r.projected_cost(now)
        if projected is not None:
            return f"${projected:,.2f}"
        return "open" if r.billing_after_end else "—"

    @staticmethod
    def _sort_key(r: JobRow, column: int, now: float) -> Any:
        eta = r.eta_seconds(now)
        projected = r.projected_cost(now)
        keys: dict[int, Any] = {
            NAME: r.name.lower(),
            MODEL: r.base_model.lower(),
            INSTANCE: r.instance_type,
            PHASE: list(JobPhase).index(r.phase),
            STEP: r.step if r.step is not None else -1,
            LOSS: r.loss if r.loss is not None else float("inf"),
            ELAPSED: r.elapsed_seconds(now),
            ETA: eta if eta is not None else -1.0,
            COST: r.cost_so_far(now),
            PROJECTED: projected if projected is not None else float("inf"),
        }
        return keys[column]

    def _tooltip(self, r: JobRow, column: int) -> str | None:
        rate = f"${r.hourly_rate:,.2f}/h"
        if column == PHASE:
            if r.message:
                return r.message
            if r.billing_after_end:
                return f"Its instance still bills {rate} until it is terminated."
            return None
        if column == COST:
            if r.billing:
                return f"Instance billing at {rate} until it is terminated."
            return "Not billing." if r.billing_started_at is None else "Billing ended."
        if column == PROJECTED:
            if r.billing_after_end:
                return f"Still billing {rate}: the total grows until the instance is terminated."
            if not r.billing:
                return "Not billing: this is what the job cost."
            if r.projected_cost(self._clock()) is None:
                return "Known once training reports its pace."
            return (
                f"So far, plus the training time left and about a minute to fetch the adapter, "
                f"at {rate}."
            )
        if column == NAME:
            return f"Job {r.job_id}"
        if column == MODEL:
            return r.base_model
        if column == INSTANCE:
            where = f" in {r.region}" if r.region else ""
            return f"{r.instance_type}{where} at {rate}"
        return None
