"""Grouped bars: Lambda's live price beside the cheapest other provider's, per GPU model.

The groups come in the order given (the pricing table's sort order), the selected one is
marked by a band behind it, and the chart takes its colours from the window's palette.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lambda_gui.core.price_compare import PriceRow

# Bars at >= 3:1 against a light background (non-text contrast).
COLOURS = ("#7c3aed", "#6b7280", "#b45309", "#047857")
GROUP_WIDTH = 0.8


class PriceBarChart(QWidget):
    """A horizontal bar chart of prices: one group per category, one bar per series."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(self)
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, alpha=0.2)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self._legend = self.plot.addLegend(offset=(-10, 10))
        self._bars: list[pg.BarGraphItem] = []
        self.bar_count = 0
        self.categories: list[str] = []
        self.selected: int | None = None
        self.tick_step = 1
        self._line_height = QFontMetrics(self.font()).height()
        self._band = pg.LinearRegionItem(
            values=(0, 0), orientation="horizontal", movable=False, pen=pg.mkPen(None)
        )
        self._band.setZValue(-10)
        self._band.hide()
        self.plot.addItem(self._band, ignoreBounds=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.apply_palette()
        self.plot.getViewBox().sigResized.connect(lambda _box: self._update_ticks())

    def apply_palette(self) -> None:
        """Background, axes and legend text from the window's palette (light or dark)."""
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        highlight = QColor(palette.color(QPalette.ColorRole.Highlight))
        highlight.setAlpha(60)
        self.plot_widget.setBackground(base)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        self._legend.setLabelTextColor(text)
        self._band.setBrush(pg.mkBrush(highlight))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.apply_palette()
        super().changeEvent(event)

    def _update_ticks(self) -> None:
        """Name every group that has room for its label (every other, ... when crowded),
        and always the selected one."""
        count = len(self.categories)
        height = self.plot.getViewBox().height()
        step = 1
        if self.isVisible() and height > 0:  # before layout there is no height to go by
            step = max(1, math.ceil(self._line_height * (count + 0.2) / height))
        shown = [
            (count - 1 - j, c)
            for j, c in enumerate(self.categories)
            if j % step == 0 or j == self.selected
        ]
        self.plot.getAxis("left").setTicks([shown])
        self.tick_step = step

    def select(self, category: int | None) -> None:
        """Mark one group (by its index in the categories) with a band; None clears it."""
        count = len(self.categories)
        if category is None or not 0 <= category < count:
            self.selected = None
            self._band.hide()
            self._update_ticks()
            return
        self.selected = category
        y = count - 1 - category
        self._band.setRegion((y - 0.5, y + 0.5))
        self._band.show()
        self._update_ticks()

    def set_bars(
        self,
        categories: Sequence[str],
        series: Mapping[str, Sequence[float | None]],
        *,
        unit: str = "$ / GPU-hour",
    ) -> None:
        """Draw one group per category; a None value leaves that bar out."""
        for item in self._bars:
            self.plot.removeItem(item)
        self._legend.clear()
        self._bars = []
        self.bar_count = 0
        self.categories = list(categories)
        self.select(None)
        # Horizontal bars: GPU names on the left axis stay readable however many there are.
        count = len(categories)
        thickness = GROUP_WIDTH / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            if len(values) != count:
                raise ValueError(f"series '{name}' has {len(values)} values for {count}")
            # Category 0 and, within a group, series 0 go on top, so positions count down.
            offset = GROUP_WIDTH / 2 - thickness * (i + 0.5)
            points = [(count - 1 - j + offset, v) for j, v in enumerate(values) if v is not None]
            item = pg.BarGraphItem(
                x0=0,
                y=[y for y, _ in points],
                width=[v for _, v in points],
                height=thickness * 0.95,
                brush=COLOURS[i % len(COLOURS)],
                pen=pg.mkPen(None),
                name=name,  # the plot's legend picks named items up
            )
            self.plot.addItem(item)
            self._bars.append(item)
            self.bar_count += len(points)
        left = self.plot.getAxis("left")
        metrics = QFontMetrics(
            left.font() if left.style["tickFont"] is None else left.style["tickFont"]
        )
        self._line_height = metrics.height()
        left.setWidth(max([metrics.horizontalAdvance(c) for c in categories], default=0) + 16)
        self._update_ticks()
        self.plot.setLabel("bottom", unit)
        self.plot.setYRange(-0.6, max(0, count - 1) + 0.6, padding=0)
        # Room on the right for the legend, over the bars' empty ends.
        top = max((v for values in series.values() for v in values if v is not None), default=1)
        self.plot.setXRange(0, top * 1.45, padding=0)

    def set_price_rows(self, rows: Sequence[PriceRow]) -> None:
        """Lambda now beside the cheapest other provider, for each row of the comparison."""
        per_gpu = rows[0].per_gpu if rows else True
        self.set_bars(
            [r.gpu_model for r in rows],
            {
                "Lambda (live)": [r.lambda_price for r in rows],
                "Cheapest other": [r.cheapest_other_price for r in rows],
            },
            unit="$ / GPU-hour" if per_gpu else "$ / hour",
        )
