"""The price comparison table model, without a window."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush

from lambda_gui.assets import load_json
from lambda_gui.core.models import Region, Resource
from lambda_gui.core.price_compare import compare_prices, parse_price_data
from lambda_gui.gui.models.price_table import (
    CHEAPER,
    DEARER,
    GPU,
    LAMBDA,
    OTHER,
    SAVINGS,
    PriceCompareTableModel,
)
from lambda_gui.gui.models.roles import SORT_ROLE

LIVE = [
    Resource("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 30, 200, 1433, 1.29, True, (Region("r"),)),
    Resource("gpu_1x_a6000", "A6000 (48 GB)", 1, 48, 14, 100, 512, 1.09, False),
    Resource("gpu_1x_gh200", "GH200 (96 GB)", 1, 96, 64, 432, 4096, 2.29, True, (Region("r"),)),
]


def model_rows(**kw: Any) -> tuple[PriceCompareTableModel, dict[str, int]]:
    model = PriceCompareTableModel()
    model.set_rows(compare_prices(LIVE, parse_price_data(load_json("gpu-prices.json")), **kw))
    rows = {model.data(model.index(r, GPU)): r for r in range(model.rowCount())}
    return model, rows


def test_model_passes_qt_model_tester(qtmodeltester: Any) -> None:
    model, _ = model_rows()
    qtmodeltester.check(model)


def test_savings_column_is_honest_both_ways() -> None:
    model, rows = model_rows()
    # Bundled data: OCI's A10 is $2.00 against Lambda's $1.29 -> Lambda 36% cheaper.
    a10 = rows["A10"]
    assert model.data(model.index(a10, SAVINGS)) == "36% cheaper"
    assert model.data(model.index(a10, SAVINGS), Qt.ItemDataRole.ForegroundRole) == QBrush(CHEAPER)
    # Cudo's A6000 at $0.47 beats Lambda's $1.09: shown as dearer, in red.
    a6000 = rows["A6000"]
    assert model.data(model.index(a6000, SAVINGS)) == "132% dearer"
    assert model.data(model.index(a6000, SAVINGS), Qt.ItemDataRole.ForegroundRole) == QBrush(DEARER)
    assert model.data(model.index(a6000, LAMBDA)) == "$1.09 (no capacity)"
    # GPUs only one side sells show dashes, not invented numbers.
    assert model.data(model.index(rows["GH200"], OTHER)) == "—"
    assert model.data(model.index(rows["L4"], LAMBDA)) == "not offered"
    assert model.data(model.index(rows["L4"], SAVINGS)) == "—"


def test_tooltips_name_sources_and_dates() -> None:
    model, rows = model_rows()
    tip = model.data(model.index(rows["A6000"], OTHER), Qt.ItemDataRole.ToolTipRole)
    assert "cudo" in tip and "skypilot-org/skypilot-catalog" in tip and "date unknown" in tip


def test_header_follows_the_basis() -> None:
    model, _ = model_rows()
    assert "GPU-hour" in model.headerData(LAMBDA, Qt.Orientation.Horizontal)
    model, _ = model_rows(gpu_count=8)
    assert model.headerData(LAMBDA, Qt.Orientation.Horizontal) == "Lambda now ($ / hour)"


def test_sorting_by_savings_puts_missing_figures_last() -> None:
    model, _ = model_rows()
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.sort(SAVINGS, Qt.SortOrder.DescendingOrder)
    shown = [proxy.data(proxy.index(r, SAVINGS)) for r in range(proxy.rowCount())]
    assert shown[0] == "36% cheaper"
    first_dash = shown.index("—")
    assert all(s == "—" for s in shown[first_dash:])
