"""The Pricing tab: Lambda's live prices beside other providers' dated prices, per GPU model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.assets import load_json
from lambda_gui.core.models import Resource
from lambda_gui.core.price_compare import (
    PriceData,
    PriceRow,
    compare_prices,
    data_age_text,
    parse_price_data,
)
from lambda_gui.gui.models.price_table import OTHER, SAVINGS, PriceCompareTableModel
from lambda_gui.gui.models.roles import SORT_ROLE
from lambda_gui.gui.widgets.lazy_widget import LazyWidget

if TYPE_CHECKING:
    from lambda_gui.gui.widgets.price_chart import PriceBarChart

# (label, gpu_count): None compares per GPU-hour over every size.
MODES: tuple[tuple[str, int | None], ...] = (
    ("Per GPU-hour (every instance size)", None),
    ("Per instance-hour, 1 GPU", 1),
    ("Per instance-hour, 8 GPUs", 8),
)


def source_lines(row: PriceRow) -> list[str]:
    """Every offer in a row with its price, source and date, in words."""
    unit = "/GPU-h" if row.per_gpu else "/h"
    lines = [f"{row.gpu_model}" + (f" ({row.vram_gib} GiB)" if row.vram_gib else "")]
    if row.lambda_best is not None:
        for offer in row.lambda_offers:
            price = offer.price_per_gpu_hour if row.per_gpu else offer.price_per_hour
            state = "capacity now" if offer.available else "no capacity now"
            lines.append(
                f"  Lambda {offer.instance_type}: ${price:,.2f}{unit}, live from Lambda's API ({state})"
            )
    else:
        lines.append("  Lambda: not offered now")
    if row.mixed_sizes and row.lambda_best is not None:
        lines.append(
            f"  No other provider offers {row.lambda_best.gpu_count}x {row.gpu_model}: the "
            "comparison mixes instance sizes."
        )
    if row.lambda_catalog_price is not None:
        lines.append(f"  Lambda in the bundled data: ${row.lambda_catalog_price:,.2f}{unit}")
    for p in row.others:
        price = p.price_per_gpu_hour if row.per_gpu else p.price_per_hour
        derived = " (derived)" if p.derived else ""
        lines.append(
            f"  {p.provider} {p.gpu_count}x {p.instance_type} in {p.region}: ${price:,.2f}{unit}"
            f"{derived}; source {p.source}; dated {p.date_label}"
        )
    return lines


def _price_chart(parent: QWidget) -> QWidget:
    from lambda_gui.gui.widgets.price_chart import PriceBarChart

    return PriceBarChart(parent)


class PricingPanel(QWidget):
    """The comparison table, a chart of it, and the sources of the selected row."""

    def __init__(self, parent: QWidget | None = None, data: PriceData | None = None) -> None:
        super().__init__(parent)
        self.data = data if data is not None else parse_price_data(load_json("gpu-prices.json"))
        self.resources: list[Resource] = []
        self.rows: list[PriceRow] = []
        self.charted: list[PriceRow] = []

        self.mode = QComboBox(self)
        for label, _count in MODES:
            self.mode.addItem(label)
        self.include_stale = QCheckBox("Include stale prices", self)
        self.include_stale.setChecked(False)
        self.include_stale.setToolTip(
            "Also compare with prices from an older catalog, which are probably out of date."
        )
        self.age = data_age_text(self.data, date.today())
        self.about = QLabel(self)
        self.about.setWordWrap(True)
        self.about.setText(
            "Lambda: live from its API. Others: bundled on-demand prices (cheapest region), "
            f"not live. {self.age} Select a row for every offer's source and date."
        )
        self.about.setToolTip(f"{self.data.method}\n\n{self.data.as_of_basis}")

        self.model = PriceCompareTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SAVINGS, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # The verdict right after the two prices, where a narrow window still shows it.
        header.moveSection(header.visualIndex(SAVINGS), header.visualIndex(OTHER) + 1)
        self.table.setWordWrap(False)

        # pyqtgraph loads when the Pricing tab is first shown.
        self.chart_slot = LazyWidget(
            _price_chart, self, on_built=lambda _chart: self._update_chart()
        )
        self.sources = QPlainTextEdit(self)
        self.sources.setReadOnly(True)
        self.sources.setPlaceholderText("Select a row to see every offer with its source and date.")

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Compare", self))
        bar.addWidget(self.mode)
        bar.addWidget(self.include_stale)
        bar.addStretch(1)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(self.chart_slot)
        lower.addWidget(self.sources)
        lower.setSizes([500, 500])
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([350, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.about)
        layout.addWidget(split, 1)

        self.mode.currentIndexChanged.connect(lambda _i: self.recompute())
        self.include_stale.toggled.connect(lambda _on: self.recompute())
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        # A new sort order reorders the chart like the table.
        self.proxy.layoutChanged.connect(self._update_chart)
        self.recompute()

    def set_resources(self, resources: Sequence[Resource]) -> None:
        """Lambda's live catalog changed."""
        self.resources = list(resources)
        self.recompute()

    def recompute(self) -> None:
        """Rebuild the rows for the chosen mode."""
        count = MODES[self.mode.currentIndex()][1]
        self.rows = compare_prices(
            self.resources,
            self.data,
            gpu_count=count,
            include_stale=self.include_stale.isChecked(),
        )
        self.model.set_rows(self.rows)
        self._update_chart()
        self.sources.setPlainText("")
        if self.proxy.rowCount():
            self.table.selectRow(0)

    def table_rows(self) -> list[PriceRow]:
        """The rows in the order the table shows them."""
        return [
            self.model.price_row(self.proxy.mapToSource(self.proxy.index(i, 0)).row())
            for i in range(self.proxy.rowCount())
        ]

    def selected_row(self) -> PriceRow | None:
        """The row selected in the table, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.price_row(self.proxy.mapToSource(rows[0]).row())

    def _update_chart(self) -> None:
        self.charted = [
            r for r in self.table_rows() if r.lambda_price is not None or r.cheapest_other_price
        ]
        if self.chart_slot.built:
            self.chart.set_price_rows(self.charted)
            self._mark_in_chart(self.selected_row())

    @property
    def chart(self) -> PriceBarChart:
        """The price chart (built, and pyqtgraph loaded, on first use)."""
        return cast("PriceBarChart", self.chart_slot.widget)

    def _mark_in_chart(self, row: PriceRow | None) -> None:
        if self.chart_slot.built:
            self.chart.select(self.charted.index(row) if row in self.charted else None)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        row = self.selected_row()
        self._mark_in_chart(row)
        if row is not None:
            self.sources.setPlainText("\n".join(source_lines(row)))
