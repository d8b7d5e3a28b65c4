"""Live training curves: train and eval loss above, learning rate below, against the step.

Points go into growable numpy buffers and only mark the plot dirty; a timer redraws at most
~15 times a second, and only when something arrived (docs/architecture.md#conventions, rule 7,
and #library-facts: one setData per point costs ~5 ms, so per-point redraws would freeze the
GUI). Peak downsampling and clip-to-view keep a redraw of a million points near 20 ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike, NDArray
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

SERIES = ("loss", "eval_loss", "learning_rate")
REDRAW_HZ = 15.0


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
    """Train loss, eval loss and learning rate against the optimizer step."""

    def __init__(self, parent: QWidget | None = None, *, redraw_hz: float = REDRAW_HZ) -> None:
        super().__init__(parent)
        self._series = {name: GrowableSeries() for name in SERIES}
        self._dirty = False
        self.redraw_count = 0

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.loss_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        self.lr_plot: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.lr_plot.setXLink(self.loss_plot)
        self.loss_plot.setLabel("left", "loss")
        self.lr_plot.setLabel("left", "learning rate")
        self.lr_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-10, 10))
        for plot in (self.loss_plot, self.lr_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
        self._curves: dict[str, pg.PlotDataItem] = {
            "loss": self.loss_plot.plot(name="train loss", pen=pg.mkPen("#1f77b4", width=1.5)),
            "eval_loss": self.loss_plot.plot(
                name="eval loss",
                pen=pg.mkPen("#ff7f0e", width=1.5),
                symbol="o",
                symbolSize=5,
                symbolBrush="#ff7f0e",
            ),
            "learning_rate": self.lr_plot.plot(pen=pg.mkPen("#2ca02c", width=1.5)),
        }

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / redraw_hz)))
        self._timer.timeout.connect(self._on_timer)

    # feeding points

    def add_points(self, series: str, steps: ArrayLike, values: ArrayLike) -> None:
        """Append points to one series ("loss", "eval_loss", "learning_rate"); no redraw here."""
        if series not in self._series:
            raise KeyError(f"Unknown series '{series}'; use one of {', '.join(SERIES)}")
        self._series[series].extend(steps, values)
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
        self._mark_dirty()

    def add_metrics(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append trainer log records (dicts with "step"; values may be strings). Returns kept."""
        columns: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in SERIES}
        kept = 0
        for record in records:
            step = _number(record.get("step"))
            if step is None:
                continue
            kept += 1
            for name in SERIES:
                value = _number(record.get(name))
                if value is not None:
                    columns[name][0].append(step)
                    columns[name][1].append(value)
        for name, (xs, ys) in columns.items():
            if xs:
                self._series[name].extend(xs, ys)
        if kept:
            self._mark_dirty()
        return kept

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    # drawing

    def _on_timer(self) -> None:
        if self._dirty:
            self.redraw()
        else:
            self._timer.stop()

    def redraw(self) -> None:
        """Push the buffers to the curves now (the timer calls this; tests and benches may)."""
        for name, curve in self._curves.items():
            data = self._series[name]
            curve.setData(data.x, data.y)
        self._dirty = False
        self.redraw_count += 1

    def clear(self) -> None:
        """Forget every point and blank the plot."""
        for data in self._series.values():
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


def _number(value: Any) -> float | None:
    # transformers 5 prints the log dict's values as strings ('5.738'), older versions as floats.
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
