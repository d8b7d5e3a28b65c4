"""The price bar chart draws one bar per known price and none for missing ones."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QColor, QPalette

from lambda_gui.assets import load_json
from lambda_gui.core.models import Resource
from lambda_gui.core.price_compare import compare_prices, parse_price_data
from lambda_gui.gui.widgets.price_chart import PriceBarChart


def test_bars_skip_missing_values(qtbot: Any) -> None:
    chart = PriceBarChart()
    qtbot.addWidget(chart)
    chart.set_bars(["A10", "H100"], {"Lambda": [1.29, None], "Other": [2.0, 1.8]})
    assert chart.bar_count == 3
    ticks = chart.plot.getAxis("left")._tickLevels
    assert ticks == [[(1, "A10"), (0, "H100")]]  # first category on top
    assert len(chart.plot.legend.items) == 2
    chart.set_bars(["A10"], {"Lambda": [1.29]})
    assert chart.bar_count == 1 and len(chart._bars) == 1
    assert len(chart.plot.legend.items) == 1
    with pytest.raises(ValueError):
        chart.set_bars(["A10", "B200"], {"Lambda": [1.0]})


def test_price_rows_become_two_series(qtbot: Any) -> None:
    live = [Resource("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 30, 200, 1433, 1.29, True)]
    rows = compare_prices(live, parse_price_data(load_json("gpu-prices.json")))
    chart = PriceBarChart()
    qtbot.addWidget(chart)
    chart.set_price_rows(rows)
    expected = sum(r.lambda_price is not None for r in rows) + sum(
        r.cheapest_other_price is not None for r in rows
    )
    assert chart.bar_count == expected
    assert chart.plot.getAxis("bottom").labelText == "$ / GPU-hour"


def test_selection_band_and_palette(qtbot: Any) -> None:
    chart = PriceBarChart()
    qtbot.addWidget(chart)
    chart.set_bars(["A10", "H100", "B200"], {"Lambda": [1.29, 2.99, 4.99]})
    assert chart.categories == ["A10", "H100", "B200"] and chart.selected is None
    assert not chart._band.isVisible()
    chart.select(1)
    # Category 1 sits at y = 1 (count - 1 - index); the band covers exactly its group.
    assert chart.selected == 1 and chart._band.getRegion() == (0.5, 1.5)
    chart.select(0)
    assert chart._band.getRegion() == (1.5, 2.5)
    chart.select(7)
    assert chart.selected is None
    chart.select(2)
    chart.set_bars(["A10"], {"Lambda": [1.29]})  # new bars: the old mark goes
    assert chart.selected is None
    # The background follows the palette (a light window gets a light chart, not black).
    base = chart.palette().color(QPalette.ColorRole.Base)
    assert chart.plot_widget.backgroundBrush().color() == base
    dark = QPalette(chart.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#f0f0f0"))
    chart.setPalette(dark)
    assert chart.plot_widget.backgroundBrush().color() == QColor("#1e1e1e")
    assert chart.plot.getAxis("left").textPen().color() == QColor("#f0f0f0")


def test_crowded_labels_thin_out_but_keep_the_selected_one(qtbot: Any) -> None:
    chart = PriceBarChart()
    qtbot.addWidget(chart)
    names = [f"GPU {i}" for i in range(20)]
    chart.resize(400, 800)
    chart.show()
    chart.set_bars(names, {"Lambda": [1.0] * 20})
    chart.plot.getViewBox().resize(300, 700)
    assert chart.tick_step == 1
    assert len(chart.plot.getAxis("left")._tickLevels[0]) == 20
    chart.plot.getViewBox().resize(300, 120)  # a short window: no overlapping labels
    assert chart.tick_step > 1
    chart.select(7)
    shown = [name for _y, name in chart.plot.getAxis("left")._tickLevels[0]]
    assert len(shown) < 20 and "GPU 7" in shown and "GPU 0" in shown
