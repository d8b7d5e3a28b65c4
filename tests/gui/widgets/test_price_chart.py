"""The price bar chart draws one bar per known price and none for missing ones."""

from __future__ import annotations

from typing import Any

import pytest

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
