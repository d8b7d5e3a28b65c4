"""Compare runs: several jobs' train and eval loss on one plot, against the step, the tokens
seen or the dollars spent, above a table of their hyperparameters with the differences flagged.

The numbers come from `core/run_compare.py`; this window reads the jobs and their metrics
through the services (awaited, never from disk) and draws them once per load or axis change.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.run_compare import (
    DOLLARS,
    STEP,
    TOKENS,
    X_AXES,
    HyperRow,
    RunCurves,
    RunFacts,
    hyperparameter_table,
    run_curves,
    run_facts,
)
from lambda_gui.gui.async_slots import spawn
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.models.row_table import RowTableModel
from lambda_gui.gui.widgets.plot_axes import PlainAxis
from lambda_gui.services.costing import job_cost
from lambda_gui.services.ports import JobReader
from lambda_gui.services.store import JobRecord

ModelIndex = QModelIndex | QPersistentModelIndex

# One colour per run: Okabe and Ito's colour-blind-safe set, and lighter kin for a dark
# background. Runs past the eighth reuse them; their eval markers still differ.
LIGHT_RUN_COLOURS = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#b07800",
    "#56b4e9",
    "#5c5c5c",
    "#8c564b",
)
DARK_RUN_COLOURS = (
    "#56b4e9",
    "#ff8c42",
    "#3ddc97",
    "#f0a6ca",
    "#f0e442",
    "#9ecae1",
    "#c7c7c7",
    "#d4a373",
)
EVAL_SYMBOLS = ("o", "t", "s", "d", "star", "t1", "p", "h")
LINE_WIDTH = 1.6
LEGEND_ALPHA = 200
DIFF_ALPHA = 48  # the differing rows' tint: the palette's highlight, faint
DIFF_MARK = "≠"
AXIS_TITLES = {STEP: "step", TOKENS: "tokens seen", DOLLARS: "dollars spent (US$)"}
STYLE_HINT = "Solid lines: train loss · dashed lines with markers: eval loss"


@dataclass(frozen=True)
class LoadedRun:
    """One job as compared: its record, its metrics so far and what places them on the axes."""

    record: JobRecord
    metrics: list[dict[str, Any]]
    facts: RunFacts

    @property
    def name(self) -> str:
        """How the legend and the table name the run."""
        return f"{self.record.config.project_name} ({self.record.id})"


def loaded_run(record: JobRecord, metrics: list[dict[str, Any]]) -> LoadedRun:
    """A job's record and metrics, with the facts the tokens and dollars axes need."""
    return LoadedRun(
        record,
        metrics,
        run_facts(
            record.config,
            instance_type=record.instance_type,
            price_cents_per_hour=record.price_cents_per_hour,
            launch_sent_at=record.launch_sent_at,
            started_at=record.started_at,
            ended_at=record.ended_at if record.phase.is_terminal else None,
        ),
    )


def run_colours(palette: QPalette) -> tuple[str, ...]:
    """The runs' colours for this palette's background, light or dark."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return DARK_RUN_COLOURS if dark else LIGHT_RUN_COLOURS


def format_tokens(value: float) -> str:
    """A token count short enough for an axis: "0", "950", "12k", "3.5M", "1.2B"."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def format_dollars(value: float, spacing: float) -> str:
    """Dollars with as many decimals as the tick spacing needs (at least cents)."""
    decimals = 2
    if spacing > 0 and math.isfinite(spacing):
        decimals = min(6, max(2, math.ceil(-math.log10(spacing))))
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


class CompareAxis(PlainAxis):
    """The comparison's x axis: steps as numbers, tokens as 12k / 3.5M, dollars as $0.25."""

    def __init__(self, orientation: str = "bottom", **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.mode = STEP

    def set_mode(self, mode: str) -> None:
        """Label ticks for "step", "tokens" or "dollars"."""
        if mode != self.mode:
            self.mode = mode
            self.picture = None
            self.update()

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if self.mode == TOKENS:
            return [format_tokens(v * scale) for v in values]
        if self.mode == DOLLARS:
            return [format_dollars(v * scale, spacing * scale) for v in values]
        result: list[str] = super().tickStrings(values, scale, spacing)
        return result


MARK, SETTING = 0, 1


class HyperparameterModel(RowTableModel[HyperRow]):
    """One row per setting, one column per run; a differing row is marked in words and a
    symbol (the first column), in bold, and faintly tinted."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: list[HyperRow] = []
        self._names: tuple[str, ...] = ()
        self._colours: tuple[str, ...] = ()
        self._tint = QColor(0, 0, 0, 0)
        self.only_differences = False

    def header_titles(self) -> tuple[str, ...]:
        """The marker column, the setting's name, then one column per run."""
        return ("Differs", "Setting", *self._names)

    def set_table(self, rows: Sequence[HyperRow], names: Sequence[str]) -> None:
        """Show these rows for runs named `names` (left to right)."""
        self.beginResetModel()
        self._all = list(rows)
        self._names = tuple(names)
        self._rows = self._visible()
        self.endResetModel()

    def set_only_differences(self, only: bool) -> None:
        """Show only the rows whose values differ (True) or every row."""
        self.beginResetModel()
        self.only_differences = only
        self._rows = self._visible()
        self.endResetModel()

    def set_colours(self, colours: Sequence[str], tint: QColor) -> None:
        """The runs' curve colours (shown beside their names) and the differing rows' tint."""
        self._colours = tuple(colours)
        self._tint = tint
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, self.columnCount() - 1)
            )
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, max(0, self.columnCount() - 1))

    def _visible(self) -> list[HyperRow]:
        return [r for r in self._all if r.differs] if self.only_differences else list(self._all)

    def rows(self) -> list[HyperRow]:
        """The rows shown, top to bottom."""
        return list(self._rows)

    def setting_count(self) -> int:
        """How many settings are compared (shown or not)."""
        return len(self._all)

    def differing(self) -> list[str]:
        """The fields flagged as differing (shown or not)."""
        return [r.field for r in self._all if r.differs]

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == MARK:
                return DIFF_MARK if row.differs else ""
            if column == SETTING:
                return row.label
            return row.values[column - 2] if column - 2 < len(row.values) else ""
        if role == Qt.ItemDataRole.AccessibleTextRole and column == MARK:
            return "differs" if row.differs else "same for every run"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == MARK or column == SETTING:
                return (
                    f"{row.label}: the runs differ here"
                    if row.differs
                    else f"{row.label}: the same for every run"
                )
            return None
        if role == Qt.ItemDataRole.FontRole and row.differs:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and row.differs:
            return QBrush(self._tint)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == MARK:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        run = section - 2
        if orientation == Qt.Orientation.Horizontal and 0 <= run < len(self._names):
            if role == Qt.ItemDataRole.DecorationRole and self._colours:
                return swatch(self._colours[run % len(self._colours)])
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{self._names[run]}: its curves are drawn in this colour"
        if orientation == Qt.Orientation.Horizontal and section == MARK:
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{DIFF_MARK} and bold: the runs do not all agree on this setting"
        return super().headerData(section, orientation, role)


def swatch(colour: str, size: int = 12) -> QIcon:
    """A small square of a run's colour, for its column title."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


def fact_rows(runs: Sequence[LoadedRun], now: float) -> list[HyperRow]:
    """What the runs cost beside their settings: price per hour and dollars spent."""
    prices = tuple(f"${r.record.price_cents_per_hour / 100:,.2f}/h" for r in runs)
    spent = tuple(f"${job_cost(r.record, now).dollars:,.2f}" for r in runs)
    return [
        HyperRow("price_per_hour", "Price per hour", prices, len(set(prices)) > 1),
        HyperRow("spent", "Spent", spent, len(set(spent)) > 1),
    ]


class CompareRunsDialog(QDialog):
    """Several jobs' loss curves on one plot and their settings side by side."""

    def __init__(
        self,
        connector: JobReader,
        reporter: ErrorReporter,
        job_ids: Sequence[str],
        parent: QWidget | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.job_ids = list(dict.fromkeys(job_ids))
        self._clock = clock
        self.runs: list[LoadedRun] = []
        self.placed: dict[str, RunCurves] = {}
        self.curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._task: asyncio.Task[Any] | None = None
        self._reading: Coroutine[Any, Any, None] | None = None
        self._closed = False
        self.loaded = False
        self.setWindowTitle(f"Compare {len(self.job_ids)} runs")
        self.resize(1000, 760)

        self.x_axis_combo = QComboBox(self)
        for key, label in X_AXES:
            self.x_axis_combo.addItem(label, key)
        self.x_axis_combo.setToolTip(
            "What the curves are drawn against: the optimizer step, the tokens the run has "
            "seen, or the dollars its instance had cost by then"
        )
        x_label = QLabel("&X axis:", self)
        x_label.setBuddy(self.x_axis_combo)
        self.only_differences = QCheckBox("Only &differences", self)
        self.only_differences.setToolTip("List only the settings the runs do not agree on")
        self.reload_button = QPushButton("&Reload", self)
        self.reload_button.setToolTip("Read the jobs and their metrics again")
        self.status = QLabel("Reading the runs…", self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel(STYLE_HINT, self)

        self.x_axis = CompareAxis()
        self.plot_widget = pg.PlotWidget(
            self, axisItems={"bottom": self.x_axis, "left": PlainAxis("left")}
        )
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "loss")
        self.plot.setLabel("bottom", AXIS_TITLES[STEP])
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.legend = self.plot.addLegend(offset=(-10, 10))

        self.table_model = HyperparameterModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        controls = QHBoxLayout()
        for widget in (x_label, self.x_axis_combo, self.only_differences):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.reload_button)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.hint)
        top_layout.addWidget(self.plot_widget, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.table)
        split.setChildrenCollapsible(False)
        split.setSizes([460, 260])
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

        self.x_axis_combo.currentIndexChanged.connect(lambda _i: self.redraw())
        self.only_differences.toggled.connect(self.table_model.set_only_differences)
        self.reload_button.clicked.connect(self.start_loading)
        self._apply_palette()

    # -- loading ----------------------------------------------------------------------------

    def start_loading(self) -> asyncio.Task[Any]:
        """Read the jobs and their metrics (again), then draw; the task is cancelled on close."""
        self._cancel_reading()
        self.reload_button.setEnabled(False)
        self._reading = self._load()
        self._task = spawn(
            self._reading, "compare-runs", self.reporter, "Could not read the runs to compare"
        )
        return self._task

    async def _load(self) -> None:
        try:
            records = await asyncio.gather(*(self.connector.get_job(i) for i in self.job_ids))
            metrics = await asyncio.gather(*(self.connector.read_metrics(i) for i in self.job_ids))
        except Exception:
            if not self._closed:
                self.status.setText("The runs could not be read.")
            raise
        finally:
            if not self._closed:  # a closed window may be gone already
                self.reload_button.setEnabled(True)
        if self._closed:
            return
        self.set_runs([loaded_run(r, m) for r, m in zip(records, metrics, strict=True)])

    def set_runs(self, runs: Sequence[LoadedRun]) -> None:
        """Show these runs (their curves on the chosen axis, their settings)."""
        self.runs = list(runs)
        now = self._clock()
        rows = hyperparameter_table([r.record.config for r in self.runs]) + fact_rows(
            self.runs, now
        )
        self.table_model.set_table(rows, [r.name for r in self.runs])
        self._build_curves()
        self.redraw()
        self.loaded = True

    def _build_curves(self) -> None:
        self.plot.clear()  # the previous load's curves
        self.legend.clear()
        self.curves = {}
        colours = run_colours(self.palette())
        for i, run in enumerate(self.runs):
            colour = colours[i % len(colours)]
            train = self.plot.plot(name=None)
            evals = self.plot.plot(name=None, symbol=EVAL_SYMBOLS[i % len(EVAL_SYMBOLS)])
            evals.setSymbolSize(7)
            self._colour_curves(train, evals, colour)
            self.curves[run.record.id] = (train, evals)
        self._sync_legend()

    # -- drawing ----------------------------------------------------------------------------

    @property
    def axis(self) -> str:
        """What the curves are drawn against: "step", "tokens" or "dollars"."""
        return str(self.x_axis_combo.currentData())

    def set_x_axis(self, key: str) -> None:
        """Draw against "step", "tokens" or "dollars"."""
        index = self.x_axis_combo.findData(key)
        if index < 0:
            raise KeyError(f"Unknown x axis '{key}'; use one of {', '.join(k for k, _ in X_AXES)}")
        self.x_axis_combo.setCurrentIndex(index)

    def redraw(self) -> None:
        """Place every run's points on the chosen axis and draw them."""
        axis = self.axis
        now = self._clock()
        self.placed = {}
        for run in self.runs:
            result = run_curves(run.metrics, axis, run.facts, now)
            self.placed[run.record.id] = result
            train, evals = self.curves[run.record.id]
            train.setData(np.asarray(result.train.x), np.asarray(result.train.y))
            evals.setData(np.asarray(result.eval.x), np.asarray(result.eval.y))
        self.x_axis.set_mode(axis)
        self.plot.setLabel("bottom", self._axis_title(axis))
        self.status.setText(self._status_text(axis))
        self._sync_legend()
        self.plot.enableAutoRange()

    def _axis_title(self, axis: str) -> str:
        title = AXIS_TITLES[axis]
        inexact = [c for c in self.placed.values() if not c.exact]
        if axis == TOKENS and inexact:
            return f"{title} (upper bound where not logged)"
        if axis == DOLLARS and inexact:
            return f"{title} (partly estimated)"
        return title

    def _status_text(self, axis: str) -> str:
        differ = len(self.table_model.differing())
        total = self.table_model.setting_count()
        lines = [f"{len(self.runs)} runs · {differ} of {total} settings differ."]
        for run in self.runs:
            result = self.placed.get(run.record.id)
            if not len(run.metrics):
                lines.append(f"{run.name}: no metrics logged yet.")
            elif result is not None and result.note:
                verb = "not shown: " if not len(result.train) and not len(result.eval) else ""
                lines.append(f"{run.name}: {verb}{result.note}.")
        if axis == DOLLARS:
            lines.append(
                "Dollars: the hourly price times the time since the launch, pro rata "
                "(Lambda bills per started minute)."
            )
        return "\n".join(lines)

    def _sync_legend(self) -> None:
        self.legend.clear()
        for run in self.runs:
            train, evals = self.curves[run.record.id]
            result = self.placed.get(run.record.id)
            # The legend's sample is the solid train line, unless only eval points are shown.
            item = (
                evals
                if result is not None and not len(result.train) and len(result.eval)
                else train
            )
            self.legend.addItem(item, run.name)

    def legend_labels(self) -> list[str]:
        """The legend's entries, top to bottom."""
        return [label.text for _sample, label in self.legend.items]

    def curve_data(
        self, job_id: str, which: str = "train"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The x and y drawn for a run's "train" or "eval" loss."""
        train, evals = self.curves[job_id]
        item = train if which == "train" else evals
        x, y = item.getOriginalDataset()
        empty = np.empty(0, dtype=np.float64)
        return (
            empty if x is None else np.asarray(x, dtype=np.float64),
            empty if y is None else np.asarray(y, dtype=np.float64),
        )

    # -- colours ----------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802  (Qt's name)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.plot_widget.setBackground(background)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        fill = QColor(background)
        fill.setAlpha(LEGEND_ALPHA)
        self.legend.setBrush(fill)
        self.legend.setLabelTextColor(text)
        colours = run_colours(palette)
        for i, run in enumerate(self.runs):
            train, evals = self.curves[run.record.id]
            self._colour_curves(train, evals, colours[i % len(colours)])
        tint = QColor(palette.color(QPalette.ColorRole.Highlight))
        tint.setAlpha(DIFF_ALPHA)
        self.table_model.set_colours(colours, tint)

    @staticmethod
    def _colour_curves(train: pg.PlotDataItem, evals: pg.PlotDataItem, colour: str) -> None:
        train.setPen(pg.mkPen(colour, width=LINE_WIDTH))
        evals.setPen(pg.mkPen(colour, width=LINE_WIDTH, style=Qt.PenStyle.DashLine))
        evals.setSymbolBrush(colour)
        evals.setSymbolPen(colour)

    # -- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        self._stop_loading()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        """Closed by Escape or a button: stop reading first."""
        self._stop_loading()
        super().done(result)

    def _stop_loading(self) -> None:
        self._closed = True
        self._cancel_reading()

    def _cancel_reading(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        reading = self._reading
        if reading is not None and inspect.getcoroutinestate(reading) == inspect.CORO_CREATED:
            reading.close()  # cancelled before its first step: never to run
        self._reading = None
