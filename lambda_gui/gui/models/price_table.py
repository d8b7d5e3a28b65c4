"""The pricing comparison as a table: Lambda live beside the cheapest other provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from lambda_gui.core.price_compare import PriceRow, ProviderPrice, versus_text
from lambda_gui.gui.models.roles import AVAILABLE_ROLE, SORT_ROLE, VALUE_ROLE
from lambda_gui.gui.models.row_table import RowTableModel
from lambda_gui.gui.style import CHEAPER_COLOUR, DEARER_COLOUR

ModelIndex = QModelIndex | QPersistentModelIndex

GPU, VRAM, LAMBDA, LAMBDA_TYPE, OTHER, PROVIDER, SAVINGS, DATE, COUNT = range(9)
_NUMERIC = frozenset({VRAM, LAMBDA, OTHER, SAVINGS, COUNT})
CHEAPER = QColor(CHEAPER_COLOUR)
DEARER = QColor(DEARER_COLOUR)
# Sorting puts rows without a figure last in ascending order.
_MISSING = float("inf")


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _offer_line(p: ProviderPrice, per_gpu: bool) -> str:
    price = p.price_per_gpu_hour if per_gpu else p.price_per_hour
    unit = "/GPU-h" if per_gpu else "/h"
    line = f"{p.provider}: {_money(price)}{unit} ({p.gpu_count}x {p.instance_type}, {p.region})"
    return f"{line}\n    {p.source}, {p.date_label}" + (" [derived]" if p.derived else "")


class PriceCompareTableModel(RowTableModel[PriceRow]):
    """One row per GPU model; the comparison column says "23% cheaper" or "2.1x the price"
    (green or red as well, never colour alone)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._per_gpu = True

    def set_rows(self, rows: Sequence[PriceRow]) -> None:
        """Replace the rows (from core.price_compare.compare_prices)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._per_gpu = rows[0].per_gpu if rows else True
        self.endResetModel()

    def price_row(self, row: int) -> PriceRow:
        """The PriceRow shown on `row`."""
        return self._rows[row]

    def header_titles(self) -> tuple[str, ...]:
        """The column titles; the price unit follows the rows (per GPU-hour or per hour)."""
        unit = "$ / GPU-hour" if self._per_gpu else "$ / hour"
        names = {
            GPU: "GPU",
            VRAM: "VRAM",
            LAMBDA: f"Lambda now ({unit})",
            LAMBDA_TYPE: "Lambda type",
            OTHER: f"Cheapest other ({unit})",
            PROVIDER: "Provider",
            SAVINGS: "Lambda vs cheapest other",
            DATE: "Other's price date",
            COUNT: "Providers",
        }
        return tuple(names[column] for column in range(COUNT + 1))

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
            return r.lambda_best is not None and r.lambda_best.available
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column == SAVINGS:
            saving = r.savings_percent
            if saving is not None and round(saving) != 0:  # not "same price"
                return QBrush(CHEAPER if saving > 0 else DEARER)
        return None

    @staticmethod
    def _display(r: PriceRow, column: int) -> str:
        other = r.cheapest_other
        if column == GPU:
            return r.gpu_model
        if column == VRAM:
            return f"{r.vram_gib} GiB" if r.vram_gib else "—"
        if column == LAMBDA:
            if r.lambda_best is None:
                return "not offered"
            suffix = "" if r.lambda_best.available else " (no capacity)"
            return _money(r.lambda_price) + suffix
        if column == LAMBDA_TYPE:
            return r.lambda_best.instance_type if r.lambda_best else "—"
        if column == OTHER:
            return _money(r.cheapest_other_price)
        if column == PROVIDER:
            if other is None:
                return "—"
            return f"{other.provider} ({other.gpu_count}x)" if r.per_gpu else other.provider
        if column == SAVINGS:
            mine, theirs = r.lambda_price, r.cheapest_other_price
            if mine is None or theirs is None:
                return "—"
            return versus_text(mine, theirs) + (" (sizes differ)" if r.mixed_sizes else "")
        if column == DATE:
            return other.date_label if other else "—"
        return str(len(r.others))

    @staticmethod
    def _sort_key(r: PriceRow, column: int) -> Any:
        other = r.cheapest_other
        keys: dict[int, Any] = {
            GPU: r.gpu_model.lower(),
            VRAM: r.vram_gib or 0,
            LAMBDA: r.lambda_price if r.lambda_price is not None else _MISSING,
            LAMBDA_TYPE: r.lambda_best.instance_type if r.lambda_best else "~",
            OTHER: r.cheapest_other_price if r.cheapest_other_price is not None else _MISSING,
            PROVIDER: other.provider if other else "~",
            SAVINGS: r.savings_percent if r.savings_percent is not None else -_MISSING,
            DATE: (other.source_date or "") if other else "",
            COUNT: len(r.others),
        }
        return keys[column]

    def _tooltip(self, r: PriceRow, column: int) -> str | None:
        if column in (LAMBDA, LAMBDA_TYPE):
            lines = [
                f"{o.instance_type}: {_money(o.price_per_hour)}/h, "
                f"{_money(o.price_per_gpu_hour)}/GPU-h"
                + ("" if o.available else " (no capacity now)")
                for o in r.lambda_offers
            ]
            if r.lambda_catalog_price is not None:
                lines.append(f"Bundled (dated) Lambda price: {_money(r.lambda_catalog_price)}")
            return "\n".join(lines) or None
        if column in (OTHER, PROVIDER, DATE, COUNT, SAVINGS):
            lines = [_offer_line(p, r.per_gpu) for p in r.others]
            if r.mixed_sizes and r.lambda_best is not None:
                lines.insert(
                    0,
                    f"No other provider offers {r.lambda_best.gpu_count}x {r.gpu_model}: "
                    "this compares per-GPU prices of different instance sizes.\n",
                )
            elif r.per_gpu and r.compared_count is not None:
                lines.insert(0, f"Per GPU-hour, both at {r.compared_count}x {r.gpu_model}.\n")
            other = r.cheapest_other
            if other is not None and other.notes:
                lines.append(f"\n{other.provider}: {other.notes}")
            return "\n".join(lines) or None
        return None
