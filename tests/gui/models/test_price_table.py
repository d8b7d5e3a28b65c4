"""The price comparison table model, without a window."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush

from lambda_gui.assets import load_json
from lambda_gui.core.models import Region, Resource
from lambda_gui.core.price_compare import compare_prices, parse_price_data, versus_text
from lambda_gui.gui.models.price_table import (
    CHEAPER,
    DEARER,
    GPU,
    LAMBDA,
    OTHER,
    PROVIDER,
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
    # Cudo's A6000 at $0.47 beats Lambda's $1.09: 2.3 times the price (not "132% dearer"),
    # in red as well.
    a6000 = rows["A6000"]
    assert model.data(model.index(a6000, SAVINGS)) == "2.3x the price"
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


def test_the_comparison_reads_sensibly_both_ways() -> None:
    assert versus_text(1.0, 1.3) == "23% cheaper"
    assert versus_text(1.12, 1.0) == "12% dearer"
    assert versus_text(2.1, 1.0) == "2.1x the price"
    assert versus_text(1.001, 1.0) == "same price"
    model, _ = model_rows()
    assert model.headerData(SAVINGS, Qt.Orientation.Horizontal) == "Lambda vs cheapest other"


def _h100_data() -> Any:
    def offer(provider: str, count: int, price: float) -> dict[str, Any]:
        return {
            "provider": provider,
            "gpu_model": "H100 SXM",
            "gpu_count": count,
            "vram_gib_per_gpu": 80,
            "price_usd_per_hour": price,
            "source": "catalog.csv",
            "source_date": "2026-06-03",
            "source_date_kind": "lower_bound",
        }

    return parse_price_data(
        {
            "schema": "gpu-prices/1",
            "rows": [offer("single", 1, 2.0), offer("eight", 8, 28.0)],
        }
    )


def test_per_gpu_mode_compares_like_with_like() -> None:
    h100_8x = Resource(
        "gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 8, 80, 208, 1800, 22528, 23.92, True
    )
    h100_1x = Resource("gpu_1x_h100_sxm5", "H100 (80 GB SXM5)", 1, 80, 26, 225, 2867, 3.29, True)
    model = PriceCompareTableModel()
    row = compare_prices([h100_8x, h100_1x], _h100_data())[0]
    # Lambda's cheapest GPU-hour is the 8x type ($2.99): it meets the other 8-GPU offer ($3.50
    # per GPU), not the cheaper single-GPU one ($2.00).
    assert row.lambda_best is not None and row.lambda_best.gpu_count == 8
    assert row.cheapest_other is not None and row.cheapest_other.provider == "eight"
    assert row.compared_count == 8 and not row.mixed_sizes
    model.set_rows([row])
    assert model.data(model.index(0, PROVIDER)) == "eight (8x)"
    assert model.data(model.index(0, SAVINGS)) == "15% cheaper"
    tip = model.data(model.index(0, SAVINGS), Qt.ItemDataRole.ToolTipRole)
    assert "both at 8x H100 SXM" in tip


def test_per_gpu_mode_says_when_it_mixes_sizes() -> None:
    h100_2x = Resource("gpu_2x_h100_sxm5", "H100 (80 GB SXM5)", 2, 80, 52, 450, 5734, 5.98, True)
    row = compare_prices([h100_2x], _h100_data())[0]
    # Nobody else offers 2 GPUs: every size is used, and the row says so.
    assert row.mixed_sizes and row.compared_count is None
    assert row.cheapest_other is not None and row.cheapest_other.provider == "single"
    model = PriceCompareTableModel()
    model.set_rows([row])
    assert model.data(model.index(0, SAVINGS)) == "50% dearer (sizes differ)"
    tip = model.data(model.index(0, SAVINGS), Qt.ItemDataRole.ToolTipRole)
    assert "different instance sizes" in tip
