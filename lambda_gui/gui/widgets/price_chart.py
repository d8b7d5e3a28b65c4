"""Grouped bars: Lambda's live price beside the cheapest other provider's, per GPU model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lambda_gui.core.price_compare import PriceRow

COLOURS = ("#7c3aed", "#9ca3af", "#f59e0b", "#10b981")
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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

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
        left.setTicks([[(count - 1 - j, c) for j, c in enumerate(categories)]])
        metrics = QFontMetrics(
            left.font() if left.style["tickFont"] is None else left.style["tickFont"]
        )
        left.setWidth(max([metrics.horizontalAdvance(c) for c in categories], default=0) + 16)
        self.plot.setLabel("bottom", unit)
        self.plot.setYRange(-0.6, max(0, count - 1) + 0.6, padding=0)
        self.plot.enableAutoRange(axis="x")

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
