"""The instance-type catalog as a table: specs, price, and the regions with capacity now.

Memory is in GiB throughout: Lambda's API gives RAM and disk as memory_gib and storage_gib,
and a GPU's "80 GB" is binary too (80 GiB of HBM), so one unit fits every column. The unit
stands in the header and the cells hold plain numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QGuiApplication

from lambda_gui.core.models import Resource
from lambda_gui.gui.models.roles import AVAILABLE_ROLE, FILTER_ROLE, SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.models.row_table import RowTableModel
from lambda_gui.gui.style import AVAILABLE_BACKGROUND, muted_text

ModelIndex = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Instance type",
    "GPU",
    "GPUs",
    "VRAM / GPU (GiB)",
    "vCPUs",
    "RAM (GiB)",
    "Disk (GiB)",
    "$ / hour",
    "Capacity now",
)
NAME, GPU, COUNT, VRAM, VCPUS, RAM, DISK, PRICE, CAPACITY = range(len(COLUMNS))
_NUMERIC = frozenset({COUNT, VRAM, VCPUS, RAM, DISK, PRICE})

# "(80 GB SXM5)": the memory part of Lambda's GPU description, shown in its own column.
_DESCRIPTION_MEMORY = re.compile(r"\s*\d+\s*GB\b\s*", re.IGNORECASE)


def _gib(value: int) -> str:
    return "—" if value <= 0 else f"{value:,}"


def gpu_label(resource: Resource) -> str:
    """The GPU without its memory size ("H100 (80 GB SXM5)" -> "H100 (SXM5)")."""
    if not resource.gpu_count:
        return "CPU only"
    text = _DESCRIPTION_MEMORY.sub(" ", resource.gpu_type).replace("( ", "(").replace(" )", ")")
    return " ".join(text.replace("()", "").split()) or resource.gpu_type


def capacity_text(resource: Resource) -> str:
    """Capacity in words, never by colour alone: "Yes: us-east-1, ..." or "No capacity now"."""
    if not resource.regions:
        return "No capacity now"
    return "Yes: " + ", ".join(r.name for r in resource.regions)


class CatalogTableModel(RowTableModel[Resource]):
    """One row per Lambda instance type; capacity shows in words ("Yes: regions" / "No
    capacity now"), a green cell and muted row text as extra cues, and AVAILABLE_ROLE."""

    columns = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)

    def set_resources(self, resources: Sequence[Resource]) -> None:
        """Replace the rows with a fresh catalog."""
        self.beginResetModel()
        self._rows = list(resources)
        self.endResetModel()

    def resource(self, row: int) -> Resource:
        """The Resource shown on `row`."""
        return self._rows[row]

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.row_at(index)
        if r is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, column)
        if role == SORT_ROLE:
            return self._sort_key(r, column)
        if role == VALUE_ROLE:
            return r
        if role == AVAILABLE_ROLE:
            return r.available
        if role == FILTER_ROLE:
            regions = " ".join(f"{g.name} {g.description}" for g in r.regions)
            return f"{r.name} {r.gpu_type} {r.description} {regions}".lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and not r.available:
            # Muted, yet at least 4.5:1 on the table's backgrounds in light and dark palettes.
            return QBrush(muted_text(QGuiApplication.palette()))
        if role == Qt.ItemDataRole.BackgroundRole and column == CAPACITY and r.available:
            return QBrush(QColor(AVAILABLE_BACKGROUND))
        if role == Qt.ItemDataRole.ForegroundRole and column == CAPACITY and r.available:
            return QBrush(QColor("#000000"))  # on the light green, whatever the palette
        return None

    @staticmethod
    def _display(r: Resource, column: int) -> str:
        values = {
            NAME: r.name,
            GPU: gpu_label(r),
            COUNT: str(r.gpu_count),
            VRAM: _gib(r.vram_gb),
            VCPUS: str(r.vcpus),
            RAM: _gib(r.memory_gib),
            DISK: _gib(r.storage_gib),
            PRICE: f"${r.hourly_rate:,.2f}",
            CAPACITY: capacity_text(r),
        }
        return values[column]

    @staticmethod
    def _sort_key(r: Resource, column: int) -> Any:
        keys: dict[int, Any] = {
            NAME: r.name.lower(),
            GPU: r.gpu_type.lower(),
            COUNT: r.gpu_count,
            VRAM: r.vram_gb,
            VCPUS: r.vcpus,
            RAM: r.memory_gib,
            DISK: r.storage_gib,
            PRICE: r.hourly_rate,
            CAPACITY: len(r.regions),
        }
        return keys[column]

    @staticmethod
    def _tooltip(r: Resource, column: int) -> str | None:
        if column == CAPACITY:
            if not r.regions:
                return "No region has capacity for this type right now."
            return "\n".join(
                f"{g.name}: {g.description}" if g.description else g.name for g in r.regions
            )
        if column == GPU and r.gpu_count:
            return f"Lambda's description: {r.gpu_type}" + (
                f"\n{r.description}" if r.description else ""
            )
        if column == VRAM and r.gpu_count > 1:
            return f"{r.total_vram_gb} GiB over {r.gpu_count} GPUs"
        if column == PRICE and r.gpu_count > 1:
            return f"${r.hourly_rate / r.gpu_count:,.2f} per GPU-hour"
        return r.description or None


class CatalogFilterProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; filters by words in the filter text and, optionally, capacity."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._terms: list[str] = []
        self._only_available = False
        self.setSortRole(SORT_ROLE)

    def set_filter_text(self, text: str) -> None:
        """Keep rows whose name, GPU, description or regions contain every word of `text`."""
        self._change_filter(lambda: setattr(self, "_terms", text.lower().split()))

    def set_only_available(self, only: bool) -> None:
        """Keep only types with capacity in some region now."""
        self._change_filter(lambda: setattr(self, "_only_available", only))

    def _change_filter(self, change: Callable[[], None]) -> None:
        # Qt 6.10 replaced invalidateRowsFilter() with begin/endFilterChange(); 6.8-6.9 lack it.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        if self._only_available and not model.data(index, AVAILABLE_ROLE):
            return False
        haystack = str(model.data(index, FILTER_ROLE) or "")
        return all(term in haystack for term in self._terms)
