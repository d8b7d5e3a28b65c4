"""The instance-type catalog as a table: specs, price, and the regions with capacity now."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from lambda_gui.core.models import Resource
from lambda_gui.gui.models.roles import AVAILABLE_ROLE, FILTER_ROLE, SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.models.row_table import RowTableModel

ModelIndex = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Instance type",
    "GPU",
    "GPUs",
    "VRAM / GPU",
    "vCPUs",
    "RAM",
    "Disk",
    "$ / hour",
    "Capacity now",
)
NAME, GPU, COUNT, VRAM, VCPUS, RAM, DISK, PRICE, CAPACITY = range(len(COLUMNS))
_NUMERIC = frozenset({COUNT, VRAM, VCPUS, RAM, DISK, PRICE})

AVAILABLE_BACKGROUND = QColor(46, 160, 67, 60)
UNAVAILABLE_FOREGROUND = QColor(128, 128, 128)


def _gib(value: int) -> str:
    if value <= 0:
        return "—"
    return f"{value / 1024:.1f} TiB" if value >= 10240 else f"{value} GiB"


def _regions_text(resource: Resource) -> str:
    return ", ".join(r.name for r in resource.regions) if resource.regions else "none now"


class CatalogTableModel(RowTableModel[Resource]):
    """One row per Lambda instance type; capacity shows through colour and AVAILABLE_ROLE."""

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
            return QBrush(UNAVAILABLE_FOREGROUND)
        if role == Qt.ItemDataRole.BackgroundRole and column == CAPACITY and r.available:
            return QBrush(AVAILABLE_BACKGROUND)
        return None

    @staticmethod
    def _display(r: Resource, column: int) -> str:
        values = {
            NAME: r.name,
            GPU: r.gpu_type if r.gpu_count else "CPU only",
            COUNT: str(r.gpu_count),
            VRAM: _gib(r.vram_gb),
            VCPUS: str(r.vcpus),
            RAM: _gib(r.memory_gib),
            DISK: _gib(r.storage_gib),
            PRICE: f"${r.hourly_rate:,.2f}",
            CAPACITY: _regions_text(r),
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
