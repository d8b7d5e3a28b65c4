"""The catalog table model and its filter proxy, without a window."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette

from lambda_gui.core.models import Region, Resource
from lambda_gui.gui.models.catalog_table import (
    CAPACITY,
    COLUMNS,
    DISK,
    GPU,
    NAME,
    PRICE,
    VRAM,
    CatalogFilterProxy,
    CatalogTableModel,
)
from lambda_gui.gui.models.roles import AVAILABLE_ROLE, SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.style import MIN_CONTRAST, contrast_ratio

DISPLAY = Qt.ItemDataRole.DisplayRole
RESOURCES = [
    Resource(
        "gpu_1x_h100_sxm5",
        "H100 (80 GB SXM5)",
        1,
        80,
        26,
        225,
        2867,
        4.29,
        True,
        (Region("us-west-1", "California"), Region("us-east-1", "Virginia")),
    ),
    Resource("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 30, 200, 1433, 1.29, False),
    Resource(
        "gpu_8x_a100",
        "A100 (40 GB SXM4)",
        8,
        40,
        124,
        1800,
        6144,
        15.92,
        True,
        (Region("us-east-1", "Virginia"),),
    ),
    Resource(
        "gpu_1x_rtx6000",
        "RTX 6000 (24 GB)",
        1,
        24,
        14,
        46,
        512,
        0.69,
        True,
        (Region("us-south-1", "Texas"),),
    ),
]


def column(model: Any, col: int, role: int = DISPLAY) -> list[Any]:
    return [model.data(model.index(r, col), role) for r in range(model.rowCount())]


def test_model_passes_qt_model_tester(qtmodeltester: Any) -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    qtmodeltester.check(model)


def test_cells_show_specs_price_and_capacity() -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    assert model.rowCount() == 4 and model.columnCount() == len(COLUMNS)
    row = [model.data(model.index(0, c)) for c in range(len(COLUMNS))]
    assert row == [
        "gpu_1x_h100_sxm5",
        "H100 (SXM5)",
        "1",
        "80",
        "26",
        "225",
        "2,867",
        "$4.29",
        "Yes: us-west-1, us-east-1",
    ]
    assert model.data(model.index(1, CAPACITY)) == "No capacity now"
    assert model.data(model.index(1, GPU)) == "A10 (PCIe)"
    assert model.data(model.index(3, GPU)) == "RTX 6000"
    assert "H100 (80 GB SXM5)" in model.data(model.index(0, GPU), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(2, PRICE), Qt.ItemDataRole.ToolTipRole) == "$1.99 per GPU-hour"
    assert model.data(model.index(2, VRAM), Qt.ItemDataRole.ToolTipRole) == "320 GiB over 8 GPUs"
    assert model.data(model.index(0, 0), VALUE_ROLE) is RESOURCES[0]
    assert model.headerData(PRICE, Qt.Orientation.Horizontal) == "$ / hour"


def test_one_memory_unit_in_the_headers() -> None:
    """GiB everywhere (Lambda gives memory_gib and storage_gib); never GB or TiB in a cell."""
    model = CatalogTableModel()
    big = Resource("gpu_8x_b200", "B200 (180 GB SXM6)", 8, 180, 208, 2900, 22528, 39.92, True)
    model.set_resources([*RESOURCES, big])
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))]
    assert [h for h in headers if "GiB" in h] == [
        "VRAM / GPU (GiB)",
        "RAM (GiB)",
        "Disk (GiB)",
    ]
    cells = [model.data(model.index(r, c)) for r in range(model.rowCount()) for c in range(8)]
    assert not [c for c in cells if "GB" in c or "GiB" in c or "TiB" in c]
    assert model.data(model.index(4, DISK)) == "22,528"


def test_capacity_at_a_glance() -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    assert column(model, NAME, AVAILABLE_ROLE) == [True, False, True, True]
    # Said in words, not by colour alone.
    assert [c.split(":")[0] for c in column(model, CAPACITY)] == [
        "Yes",
        "No capacity now",
        "Yes",
        "Yes",
    ]
    background = model.data(model.index(0, CAPACITY), Qt.ItemDataRole.BackgroundRole)
    assert isinstance(background, QBrush)
    assert model.data(model.index(1, CAPACITY), Qt.ItemDataRole.BackgroundRole) is None
    assert isinstance(model.data(model.index(1, NAME), Qt.ItemDataRole.ForegroundRole), QBrush)
    assert model.data(model.index(0, NAME), Qt.ItemDataRole.ForegroundRole) is None
    tooltip = model.data(model.index(0, CAPACITY), Qt.ItemDataRole.ToolTipRole)
    assert "us-west-1: California" in tooltip


def test_muted_rows_and_the_green_cell_keep_their_contrast() -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    palette = QGuiApplication.palette()
    muted = model.data(model.index(1, NAME), Qt.ItemDataRole.ForegroundRole).color()
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase):
        assert contrast_ratio(muted, palette.color(role)) >= MIN_CONTRAST
    # Muted all the same: lighter than the normal text.
    assert muted != palette.color(QPalette.ColorRole.Text)
    green = model.data(model.index(0, CAPACITY), Qt.ItemDataRole.BackgroundRole).color()
    text = model.data(model.index(0, CAPACITY), Qt.ItemDataRole.ForegroundRole).color()
    assert contrast_ratio(text, green) >= MIN_CONTRAST
    assert contrast_ratio(QColor("#808080"), QColor("#ffffff")) < MIN_CONTRAST  # the old grey


def test_proxy_sorts_numerically_not_as_text() -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    proxy = CatalogFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(PRICE, Qt.SortOrder.AscendingOrder)
    # As text "$15.92" would sort before "$4.29".
    assert column(proxy, PRICE) == ["$0.69", "$1.29", "$4.29", "$15.92"]
    proxy.sort(VRAM, Qt.SortOrder.DescendingOrder)
    assert column(proxy, VRAM)[0] == "80"
    assert column(proxy, PRICE, SORT_ROLE)[0] == 4.29


def test_proxy_filters_by_words_and_availability() -> None:
    model = CatalogTableModel()
    model.set_resources(RESOURCES)
    proxy = CatalogFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_filter_text("  a10 ")
    assert column(proxy, NAME) == ["gpu_1x_a10", "gpu_8x_a100"]
    proxy.set_only_available(True)
    assert column(proxy, NAME) == ["gpu_8x_a100"]
    proxy.set_filter_text("virginia")
    assert column(proxy, NAME) == ["gpu_1x_h100_sxm5", "gpu_8x_a100"]
    proxy.set_filter_text("virginia h100")
    assert column(proxy, NAME) == ["gpu_1x_h100_sxm5"]
    proxy.set_filter_text("")
    proxy.set_only_available(False)
    assert proxy.rowCount() == 4


def test_set_resources_replaces_rows_and_keeps_the_filter() -> None:
    model = CatalogTableModel()
    proxy = CatalogFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_only_available(True)
    model.set_resources(RESOURCES)
    assert proxy.rowCount() == 3
    model.set_resources(RESOURCES[:2])
    assert proxy.rowCount() == 1 and model.rowCount() == 2
