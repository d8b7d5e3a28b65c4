"""Live training curves: train and eval loss above, learning rate below, against the step,
the epoch or the elapsed time.

Points go into growable numpy buffers and only mark the plot dirty; a timer redraws at most
~15 times a second, and only when something arrived (docs/architecture.md#conventions, rule 7,
and #library-facts: one setData per point costs ~5 ms, so per-point redraws would freeze the
GUI). Peak downsampling and clip-to-view keep a redraw of a million points near 20 ms.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Mapping
from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike, NDArray
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.run_compare import metric_number
from lambda_gui.gui.widgets.curve_math import Smoother, format_clock, format_rate, map_steps
from lambda_gui.gui.widgets.plot_axes import PlainAxis, RateAxis, XAxis
from lambda_gui.gui.widgets.plot_series import SERIES  # noqa: E402
from lambda_gui.gui.widgets.steady_view import SteadyViewBox

REDRAW_HZ = 15.0
PEAK_BINS_PER_PIXEL = 1.0
AXIS_Z = -200
# The views fit their data exactly once no point came for this long (ms).
SETTLE_MS = 1000
# Live points by this many before one redraw are a stream (the views keep headroom at once).
STREAM_POINTS = 1000
X_AXES = (("step", "Step"), ("epoch", "Epoch"), ("time", "Elapsed time"))
LEGEND = {"loss": "train loss", "eval_loss": "eval loss"}
MAX_SMOOTHING = 0.99
AXIS_WIDTH = 52  # both left axes alike, so the two plots line up
RAW_ALPHA = 70  # the unsmoothed loss behind the smoothed one
CROSSHAIR_ALPHA = 150
LEGEND_ALPHA = 200
# Series colours for a light and for a dark background (blue, orange, green).
LIGHT_COLOURS = {"loss": "#1f6feb", "eval_loss": "#d1570a", "learning_rate": "#1a7f37"}
DARK_COLOURS = {"loss": "#58a6ff", "eval_loss": "#ffa657", "learning_rate": "#56d364"}
_EMPTY: NDArray[np.float64] = np.empty(0, dtype=np.float64)


class GrowableSeries:
    """x/y float64 buffers that double their capacity as points are appended."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x: NDArray[np.float64] = np.empty(capacity, dtype=np.float64)
        self._y: NDArray[np.float64] = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, xs: ArrayLike, ys: ArrayLike) -> None:
        """Append points; xs and ys must have the same length."""
        x = np.asarray(xs, dtype=np.float64).ravel()
        y = np.asarray(ys, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} steps but {y.size} values")
        end = self._n + x.size
        if end > self._x.size:
            capacity = max(end, 2 * self._x.size)
            self._x = np.resize(self._x, capacity)
            self._y = np.resize(self._y, capacity)
        self._x[self._n : end] = x
        self._y[self._n : end] = y
        self._n = end

    @property
    def x(self) -> NDArray[np.float64]:
        """The steps so far (a view, valid until the next extend)."""
        return self._x[: self._n]

    @property
    def y(self) -> NDArray[np.float64]:
        """The values so far (a view, valid until the next extend)."""
        return self._y[: self._n]

    def clear(self) -> None:
        """Forget every point (the capacity stays)."""
        self._n = 0


class LossPlotWidget(QWidget):
    """Train loss, eval loss and learning rate against the step, the epoch or elapsed time.

    Above the plots: the x axis choice, EMA smoothing of the train loss (the raw curve stays
    faint behind the smoothed one) and a readout with the values under the mouse (a vertical
    crosshair marks the place) or, when the mouse is elsewhere, the latest values. Colours
    follow the window's palette, light or dark. The legend lists only series holding points.
    """

    def __init__(self, parent: QWidget | None = None, *, redraw_hz: float = REDRAW_HZ) -> None:
        super().__init__(parent)
        self._series = {name: GrowableSeries() for name in SERIES}
        self._epochs = GrowableSeries(64)  # step -> epoch, from the metrics
        self._walls = GrowableSeries(64)  # step -> wall-clock seconds, from the metrics
        self._arrivals = GrowableSeries(64)  # step -> wall-clock seconds the points arrived at
        self._smoother = Smoother()
        self._shown: dict[
            str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
        ] = {}
        self._smoothed: NDArray[np.float64] | None = None
        self._mode = "step"
        self._legend_names: list[str] = []
        self._hover_x: float | None = None
        self._dirty = False
        self.redraw_count = 0
        self._x_label = "step"  # the bottom axis label shown
        self._planned_steps: float | None = None  # the job's planned steps, when known
        self._live_points = 0  # live points added since the last redraw (note_live)

        self.x_axis_combo = QComboBox(self)
        for key, label in X_AXES:
            self.x_axis_combo.addItem(label, key)
        self.x_axis_combo.setToolTip("What the curves are drawn against")
        x_label = QLabel("&X axis:", self)
        x_label.setBuddy(self.x_axis_combo)
        self.smoothing = QDoubleSpinBox(self)
        self.smoothing.setRange(0.0, MAX_SMOOTHING)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setDecimals(2)
        self.smoothing.setSpecialValueText("off")
        self.smoothing.setToolTip(
            "Exponential moving average of the train loss: 0 is off, 0.99 smooths most. "
            "The raw curve stays faint behind."
        )
        smooth_label = QLabel("S&moothing:", self)
        smooth_label.setBuddy(self.smoothing)
        self.readout = QLabel(self)
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumHeight(2 * self.readout.fontMetrics().lineSpacing())
        self.readout.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.x_axes = (XAxis(), XAxis())
        # Auto-ranges with headroom while points stream in: the axes repaint far less often.
        self.views = (SteadyViewBox(), SteadyViewBox(from_zero=True))
        self.loss_plot: pg.PlotItem = self.graphics.addPlot(
            row=0,
            col=0,
            viewBox=self.views[0],
            axisItems={"bottom": self.x_axes[0], "left": PlainAxis("left")},
        )
        self.lr_plot: pg.PlotItem = self.graphics.addPlot(
            row=1,
            col=0,
            viewBox=self.views[1],
            axisItems={"bottom": self.x_axes[1], "left": RateAxis("left")},
        )
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.lr_plot.setXLink(self.loss_plot)
        self.loss_plot.setLabel("left", "loss")
        self.lr_plot.setLabel("left", "LR")
        self.lr_plot.setLabel("bottom", "step")
        self.legend = self.loss_plot.addLegend(offset=(-10, 10))
        for plot in (self.loss_plot, self.lr_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            # An axis (labels and grid) is painted from a pixmap until its range changes:
            # while points stream in, the y axes rarely change and half the paint goes.
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                # Below the view box (pyqtgraph's z -100): its grid lines under the curves.
                axis.setZValue(AXIS_Z)
        # Peak downsampling to one bin a pixel column (its min and max): what a line of that
        # width can show, at a fifth of pyqtgraph's default vertices and paint time.
        dense = {"autoDownsampleFactor": PEAK_BINS_PER_PIXEL}
        self._curves: dict[str, pg.PlotDataItem] = {
            "loss_raw": self.loss_plot.plot(**dense),
            "loss": self.loss_plot.plot(**dense),
            "eval_loss": self.loss_plot.plot(symbol="o", symbolSize=5, **dense),
            "learning_rate": self.lr_plot.plot(**dense),
        }
        self._curves["loss_raw"].setZValue(-1)
        self.crosshair = (
            pg.InfiniteLine(angle=90, movable=False),
            pg.InfiniteLine(angle=90, movable=False),
        )
        for plot, line in zip((self.loss_plot, self.lr_plot), self.crosshair, strict=True):
            plot.addItem(line, ignoreBounds=True)
            line.hide()

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for widget in (x_label, self.x_axis_combo, smooth_label, self.smoothing):
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.readout)
        layout.addWidget(self.graphics, 1)

        self.x_axis_combo.currentIndexChanged.connect(self._on_x_axis_changed)
        self.smoothing.valueChanged.connect(lambda _value: self.redraw())
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.installEventFilter(self)
        self._apply_palette()
        self._update_axis_choices()
        self._show_readout()

        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / redraw_hz)))
        self._timer.timeout.connect(self._on_timer)
        # Once no point came for this long, the views fit the data exactly (steady_view.py).
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._settle)

    # feeding points

    def plan_steps(self, total: float | None) -> None:
        """The steps the job will run (its max_steps), when known: while points stream in,
        the step axis spans them all from the start (steady_view.py)."""
        self._planned_steps = float(total) if total and total > 0 else None

    def add_points(self, series: str, steps: ArrayLike, values: ArrayLike) -> None:
        """Append points to one series ("loss", "eval_loss", "learning_rate"); no redraw here."""
        if series not in self._series:
            raise KeyError(f"Unknown series '{series}'; use one of {', '.join(SERIES)}")
        self._series[series].extend(steps, values)
        self._note_arrival(steps)
        self._mark_dirty()

    def add_point(
        self,
        step: float,
        *,
        loss: float | None = None,
        eval_loss: float | None = None,
        learning_rate: float | None = None,
    ) -> None:
        """Append one step's values (any of them may be missing)."""
        for name, value in (
            ("loss", loss),
            ("eval_loss", eval_loss),
            ("learning_rate", learning_rate),
        ):
            if value is not None:
                self._series[name].extend((step,), (value,))
        self._note_arrival((step,))
        self._mark_dirty()

    def add_metrics(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append trainer log records (dicts with "step"; values may be strings; "epoch" and
        "time", when there, place the step on those axes). Returns how many were kept."""
        columns: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in SERIES}
        kept = 0
        for record in records:
            step = metric_number(record.get("step"))
            if step is None:
                continue
            kept += 1
            for name in SERIES:
                value = metric_number(record.get(name))
                if value is not None:
                    columns[name][0].append(step)
                    columns[name][1].append(value)
            self.add_clock(
                step,
                epoch=metric_number(record.get("epoch")),
                time=metric_number(record.get("time")),
            )
        for name, (xs, ys) in columns.items():
            if xs:
                self._series[name].extend(xs, ys)
        if kept:
            self._mark_dirty()
        return kept

    def add_clock(
        self, step: float, *, epoch: float | None = None, time: float | None = None
    ) -> None:
        """Where a step lies in epochs and in wall-clock seconds (a metric's "epoch", "time")."""
        for data, value in ((self._epochs, epoch), (self._walls, time)):
            if value is not None and np.isfinite(value):
                if len(data) and data.x[-1] == step:
                    data.y[-1] = value
                else:
                    data.extend((step,), (value,))
        if self.x_axis != "step":
            self._mark_dirty()

    def add_clocks(self, steps: ArrayLike, epochs: ArrayLike, times: ArrayLike) -> None:
        """add_clock for many steps in one go (NaN where a step has no epoch or time)."""
        at = np.asarray(steps, dtype=np.float64).ravel()
        for data, values in ((self._epochs, epochs), (self._walls, times)):
            v = np.asarray(values, dtype=np.float64).ravel()
            keep = np.isfinite(v)
            x, y = at[keep], v[keep]
            if not x.size:
                continue
            # A step given twice in a row keeps its last value, as add_clock does.
            last_of_run = np.append(x[1:] != x[:-1], True)
            x, y = x[last_of_run], y[last_of_run]
            if len(data) and data.x[-1] == x[0]:
                data.y[-1] = y[0]
                x, y = x[1:], y[1:]
            data.extend(x, y)
        if at.size and self.x_axis != "step":
            self._mark_dirty()

    def note_live(self, count: int) -> None:
        """`count` of the points just added arrived live (not a backfill of history): a
        thousand or more before one redraw are a stream from that redraw on (its views keep
        headroom, or span the planned steps: steady_view.py), not a range fitted first."""
        self._live_points += count

    def _note_arrival(self, steps: ArrayLike) -> None:
        # Elapsed time when the metrics carry no clock: when the points reached this window.
        last = np.asarray(steps, dtype=np.float64).ravel()
        if last.size and (not len(self._arrivals) or last[-1] > self._arrivals.x[-1]):
            self._arrivals.extend(last[-1:], (_time.time(),))

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    # what is shown

    @property
    def x_axis(self) -> str:
        """What the curves are drawn against: "step", "epoch" or "time" (elapsed)."""
        return str(self.x_axis_combo.currentData())

    def set_x_axis(self, key: str) -> None:
        """Draw against "step", "epoch" or "time" (elapsed)."""
        index = self.x_axis_combo.findData(key)
        if index < 0:
            raise KeyError(f"Unknown x axis '{key}'; use one of step, epoch, time")
        self.x_axis_combo.setCurrentIndex(index)

    def set_smoothing(self, alpha: float) -> None:
        """EMA weight for the train loss, 0 (off) to 0.99."""
        self.smoothing.setValue(alpha)

    def legend_labels(self) -> list[str]:
        """The legend's entries, top to bottom."""
        return [label.text for _sample, label in self.legend.items]

    def _on_x_axis_changed(self, _index: int) -> None:
        clock = self.x_axis == "time"
        for axis in self.x_axes:
            axis.set_clock(clock)
        self.redraw()
        self.loss_plot.enableAutoRange()
        self.lr_plot.enableAutoRange()

    def _update_axis_choices(self) -> None:
        model = self.x_axis_combo.model()
        if isinstance(model, QStandardItemModel):
            item = model.item(self.x_axis_combo.findData("epoch"))
            has = len(self._epochs) > 0
            item.setEnabled(has or self.x_axis == "epoch")
            item.setToolTip("" if has else "The metrics logged so far carry no epoch")

    # drawing

    def _on_timer(self) -> None:
        if self._dirty:
            self.redraw()
        else:
            self._timer.stop()

    def redraw(self) -> None:
        """Push the buffers to the curves now (the timer calls this; tests and benches may)."""
        mode, label = self._x_mode()
        self._mode = mode
        # Redrawn within SETTLE_MS of the last redraw, or with a thousand live points: points
        # are streaming in (a flood), and the views keep headroom; otherwise they fit the
        # points exactly. Told before the curves take their data, which may range the views
        # at once.
        streaming = self._settle_timer.isActive() or self._live_points >= STREAM_POINTS
        self._live_points = 0
        for view in self.views:
            view.plan_x(self._planned_steps if mode == "step" else None)
            if streaming:
                view.stream()
        alpha = self.smoothing.value()
        self._smoothed = None
        for name in SERIES:
            data = self._series[name]
            x = self._x_values(data.x, mode)
            self._shown[name] = (data.x, x, data.y)
            if name == "loss" and alpha > 0:
                raw = self._curves["loss_raw"]
                raw.setData(x, data.y)
                raw.show()
                self._smoothed = self._smoother.smooth(data.y, alpha)
                self._curves[name].setData(x, self._smoothed)
            else:
                self._curves[name].setData(x, data.y)
        if alpha <= 0:
            self._curves["loss_raw"].setData([], [])
            self._curves["loss_raw"].hide()
        if label != self._x_label:
            # Only when it changes: a new label re-lays the axis out and repaints it whole.
            self._x_label = label
            self.lr_plot.setLabel("bottom", label)
        self._sync_legend(alpha)
        self._update_axis_choices()
        self._show_readout()
        self._dirty = False
        self.redraw_count += 1
        self._settle_timer.start()

    def _settle(self) -> None:
        for view in self.views:
            view.settle()

    def _x_mode(self) -> tuple[str, str]:
        mode = self.x_axis
        if mode == "epoch" and len(self._epochs):
            return "epoch", "epoch"
        if mode == "time" and len(self._walls):
            return "time", "elapsed time"
        if mode == "time" and len(self._arrivals):
            return "arrival", "elapsed time (as received)"
        return "step", "step"

    def _x_values(self, steps: NDArray[np.float64], mode: str) -> NDArray[np.float64]:
        if mode == "epoch":
            return map_steps(steps, self._epochs.x, self._epochs.y)
        if mode in ("time", "arrival"):
            clock = self._walls if mode == "time" else self._arrivals
            return map_steps(steps, clock.x, clock.y) - float(np.min(clock.y))
        return steps

    def _sync_legend(self, alpha: float) -> None:
        wanted = [name for name in LEGEND if len(self._series[name])]
        labels = {**LEGEND, "loss": "train loss (smoothed)" if alpha > 0 else LEGEND["loss"]}
        if wanted == self._legend_names and self.legend_labels() == [labels[n] for n in wanted]:
            return
        self.legend.clear()
        for name in wanted:
            self.legend.addItem(self._curves[name], labels[name])
        self._legend_names = wanted

    def clear(self) -> None:
        """Forget every point (and the planned steps) and blank the plot."""
        self._planned_steps = None
        for data in (*self._series.values(), self._epochs, self._walls, self._arrivals):
            data.clear()
        self.redraw()

    @property
    def dirty(self) -> bool:
        """True when points arrived since the last redraw."""
        return self._dirty

    @property
    def point_count(self) -> int:
        """Points held over all series."""
        return sum(len(s) for s in self._series.values())

    def series_length(self, name: str) -> int:
        """Points held in one series."""
        return len(self._series[name])

    def series_data(self, name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Copies of one series' steps and values."""
        data = self._series[name]
        return data.x.copy(), data.y.copy()

    # crosshair and readout

    def show_values_at(self, x: float) -> str:
        """Put the crosshair at `x` (in the current axis' units) and show the values there."""
        self._hover_x = x
        for line in self.crosshair:
            line.setPos(x)
            line.show()
        return self._show_readout()

    def hide_crosshair(self) -> None:
        """Take the crosshair away; the readout shows the latest values again."""
        self._hover_x = None
        for line in self.crosshair:
            line.hide()
        self._show_readout()

    def _on_mouse_moved(self, pos: QPointF) -> None:
        for plot in (self.loss_plot, self.lr_plot):
            if plot.sceneBoundingRect().contains(pos):
                self.show_values_at(plot.vb.mapSceneToView(pos).x())
                return
        self.hide_crosshair()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.graphics and event.type() == QEvent.Type.Leave:
            self.hide_crosshair()
        return super().eventFilter(watched, event)

    def _show_readout(self) -> str:
        text = readout_text(self._shown, self._smoothed, self._mode, self._hover_x)
        self.readout.setText(text)
        return text

    # colours

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        colours = DARK_COLOURS if background.lightness() < 128 else LIGHT_COLOURS
        self.graphics.setBackground(background)
        for plot in (self.loss_plot, self.lr_plot):
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
                axis.set_backdrop(background)
        faint = QColor(colours["loss"])
        faint.setAlpha(RAW_ALPHA)
        self._curves["loss_raw"].setPen(pg.mkPen(faint, width=1))
        for name in SERIES:
            self._curves[name].setPen(pg.mkPen(colours[name], width=1.5))
        self._curves["eval_loss"].setSymbolBrush(colours["eval_loss"])
        self._curves["eval_loss"].setSymbolPen(colours["eval_loss"])
        line = QColor(text)
        line.setAlpha(CROSSHAIR_ALPHA)
        for item in self.crosshair:
            item.setPen(pg.mkPen(line, width=1, style=Qt.PenStyle.DashLine))
        legend_fill = QColor(background)
        legend_fill.setAlpha(LEGEND_ALPHA)
        self.legend.setBrush(legend_fill)
        self.legend.setLabelTextColor(text)


Shown = Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]


def readout_text(
    shown: Shown, smooth: NDArray[np.float64] | None, mode: str, at: float | None
) -> str:
    """The values at x = `at` (each series' nearest point), or the latest ones when None.

    `shown` maps a series to its (steps, x, values); `smooth` is the drawn train loss when
    smoothing is on; `mode` is the x axis ("step", "epoch", "time" or "arrival").
    """
    parts: list[str] = []
    head = ""
    for name, label, fmt in (
        ("loss", "loss", _short),
        ("eval_loss", "eval loss", _short),
        ("learning_rate", "LR", format_rate),
    ):
        steps, x, y = shown.get(name, (_EMPTY, _EMPTY, _EMPTY))
        if x.size == 0:
            continue
        index = x.size - 1 if at is None else _nearest(x, at)
        step = f"step {steps[index]:g}"
        if not head:
            head = step
            if mode == "epoch":
                head += f", epoch {x[index]:.2f}"
            elif mode in ("time", "arrival"):
                head += f", {format_clock(float(x[index]))} elapsed"
        text = f"{label} {fmt(float(y[index]))}"
        if name == "loss" and smooth is not None and smooth.size == y.size:
            text += f" (smoothed {_short(float(smooth[index]))})"
        if not head.startswith(step + ",") and head != step:
            text += f" ({step})"
        parts.append(text)
    if not parts:
        return "No metrics yet: the curves start with the first logged step."
    where = "Latest" if at is None else "Under the mouse"
    return f"{where}, {head}: " + " · ".join(parts)


def _nearest(x: NDArray[np.float64], at: float) -> int:
    index = int(np.searchsorted(x, at))
    if index <= 0:
        return 0
    if index >= x.size:
        return x.size - 1
    return index if abs(x[index] - at) < abs(at - x[index - 1]) else index - 1


def _short(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.4g}"
