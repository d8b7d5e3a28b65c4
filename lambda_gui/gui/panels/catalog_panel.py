"""The Catalog tab: every Lambda instance type, sortable and filterable, with capacity now."""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
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
    """The live catalog; `resources_loaded` carries each fresh list to the other tabs, and
    `new_job_requested` the name of the type a new job should run on (the button, the row's
    context menu, double-click or Enter on a row)."""

    resources_loaded = Signal(object)  # list[Resource]
    new_job_requested = Signal(str)

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
        self.table.setWordWrap(False)  # a long region list elides; its tooltip has them all
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        self.new_job_button = QPushButton("New job on this type…", self)
        self.new_job_button.setToolTip(
            "Open the New job tab with the selected instance type chosen "
            "(or double-click a row, or press Enter on it)."
        )
        self.new_job_button.setEnabled(False)
        self.new_job_action = QAction("New job on this type…", self)
        self.new_job_action.triggered.connect(lambda _checked=False: self.request_new_job())
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
        below = QHBoxLayout()
        below.addWidget(self.summary, 1)
        below.addWidget(self.new_job_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(below)

        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.only_available.toggled.connect(self.proxy.set_only_available)
        # clicked(bool) would otherwise land in `force`.
        self.refresh_button.clicked.connect(lambda _checked=False: self.refresh(True))
        self.new_job_button.clicked.connect(lambda _checked=False: self.request_new_job())
        self.table.doubleClicked.connect(self._on_double_click)
        # Enter on the table does what double-click does (not `activated`: on platforms
        # that activate on a single click, selecting a row would leave the tab).
        enter = QAction(self.table)
        enter.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        enter.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        enter.triggered.connect(lambda _checked=False: self.request_new_job())
        self.table.addAction(enter)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_args: self.new_job_button.setEnabled(self.selected_type() is not None)
        )
        self.proxy.modelReset.connect(
            lambda: self.new_job_button.setEnabled(self.selected_type() is not None)
        )

    def selected_type(self) -> str | None:
        """The name of the GPU instance type selected in the table, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        resource = self.model.resource(self.proxy.mapToSource(rows[0]).row())
        return resource.name if resource.gpu_count > 0 else None

    def request_new_job(self, name: str | None = None) -> bool:
        """Ask for a new job on `name` (the selected type by default); False when none."""
        name = name or self.selected_type()
        if not name:
            return False
        self.new_job_requested.emit(name)
        return True

    def _on_double_click(self, index: QModelIndex) -> None:
        if index.isValid():
            self.table.selectRow(index.row())
            self.request_new_job()

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        """The menu of a row (None outside the rows): start a new job on its type."""
        if not index.isValid():
            return None
        self.table.selectRow(index.row())
        menu = QMenu(self)
        self.new_job_action.setEnabled(self.selected_type() is not None)
        menu.addAction(self.new_job_action)
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.context_menu(self.table.indexAt(pos))
        if menu is not None:
            menu.popup(self.table.viewport().mapToGlobal(pos))

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
            f"{len(gpu)} GPU instance types; {len(free)} with capacity in some region now. "
            "Prices are Lambda's on-demand prices per instance-hour; memory and disk are in "
            "GiB. Hover a cell for regions and per-GPU prices; double-click a type to start "
            "a job on it."
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
