"""The Catalog tab: every Lambda instance type, sortable and filterable, with capacity now."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.models import Resource
from lambda_gui.gui.async_slots import reported_slot
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.models.catalog_table import PRICE, CatalogFilterProxy, CatalogTableModel
from lambda_gui.services.ports import CatalogSource

# Lambda allows about one request a second; a refresh button held down must not spend that.
REFRESH_COOLDOWN_MS = 5000


class CatalogPanel(QWidget):
    """The live catalog; `resources_loaded` carries each fresh list to the other tabs."""

    resources_loaded = Signal(object)  # list[Resource]

    def __init__(
        self, connector: CatalogSource, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.resources: list[Resource] = []
        self._loading = False
        self._cooling = False

        self.model = CatalogTableModel(self)
        self.proxy = CatalogFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by type, GPU or region (e.g. h100 us-east)")
        self.filter_edit.setClearButtonEnabled(True)
        self.only_available = QCheckBox("Only types with capacity now", self)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.updated_label = QLabel("Not loaded yet", self)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip(
            "Ask Lambda again for prices and capacity (at most every few seconds)."
        )

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(PRICE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.summary = QLabel(self)
        self.summary.setWordWrap(True)

        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.only_available)
        bar.addStretch(0)
        bar.addWidget(self.busy)
        bar.addWidget(self.updated_label)
        bar.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)

        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.only_available.toggled.connect(self.proxy.set_only_available)
        # clicked(bool) would otherwise land in `force`.
        self.refresh_button.clicked.connect(lambda _checked=False: self.refresh(True))

    @property
    def loading(self) -> bool:
        """True while a request is out."""
        return self._loading

    @reported_slot("Could not load Lambda's instance types")
    async def refresh(self, force: bool = True) -> None:
        """Fetch the catalog (the cached one unless `force`) and show it."""
        if self._loading:
            return
        before = self.updated_label.text()
        self._set_loading(True)
        try:
            resources = await self.connector.list_resources(refresh=force)
        except BaseException:
            self.updated_label.setText(before if self.resources else "Could not load")
            raise
        finally:
            self._set_loading(False)
            self._start_cooldown()
        self.show_resources(resources)

    def show_resources(self, resources: list[Resource]) -> None:
        """Display a catalog and pass it on."""
        self.resources = list(resources)
        self.model.set_resources(self.resources)
        fetched = self.connector.catalog_fetched_at or time.time()
        self.updated_label.setText("Updated " + time.strftime("%H:%M:%S", time.localtime(fetched)))
        gpu = [r for r in self.resources if r.gpu_count > 0]
        free = [r for r in gpu if r.available]
        self.summary.setText(
            f"{len(gpu)} GPU instance types; {len(free)} with capacity in some region now "
            "(green). Prices are Lambda's on-demand prices per instance-hour; hover a cell "
            "for regions and per-GPU prices."
        )
        self.resources_loaded.emit(self.resources)

    def _set_loading(self, on: bool) -> None:
        self._loading = on
        self.busy.setVisible(on)
        if on:
            self.updated_label.setText("Loading…")
        self._update_button()

    def _start_cooldown(self) -> None:
        self._cooling = True
        self._update_button()
        QTimer.singleShot(REFRESH_COOLDOWN_MS, self._end_cooldown)

    def _end_cooldown(self) -> None:
        self._cooling = False
        self._update_button()

    def _update_button(self) -> None:
        self.refresh_button.setEnabled(not (self._loading or self._cooling))
