"""Grouped bars: Lambda's live price beside the cheapest other provider's, per GPU model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lambda_gui.core.price_compare import PriceRow

COLOURS = ("#7c3aed", "#9ca3af", "#f59e0b", "#10b981")
GROUP_WIDTH = 0.8


class PriceBarChart(QWidget):
    """A bar chart of prices: one group per category, one bar per series."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(self)
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot.showGrid(y=True, alpha=0.2)
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
        width = GROUP_WIDTH / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            if len(values) != len(categories):
                raise ValueError(f"series '{name}' has {len(values)} values for {len(categories)}")
            offset = -GROUP_WIDTH / 2 + width * (i + 0.5)
            points = [(j + offset, v) for j, v in enumerate(values) if v is not None]
            colour = COLOURS[i % len(COLOURS)]
            item = pg.BarGraphItem(
                x=[x for x, _ in points],
                height=[h for _, h in points],
                width=width * 0.95,
                brush=colour,
                pen=pg.mkPen(None),
                name=name,
            )
            self.plot.addItem(item)
            self._legend.addItem(item, name)
            self._bars.append(item)
            self.bar_count += len(points)
        self.plot.getAxis("bottom").setTicks([list(enumerate(categories))])
        self.plot.setLabel("left", unit)
        self.plot.setXRange(-0.6, max(0, len(categories) - 1) + 0.6, padding=0)
        self.plot.enableAutoRange(axis="y")

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
