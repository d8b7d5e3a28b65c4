"""A completed job's samples side by side: prompt | base | tuned | reference.

Each cell wraps and its row grows to fit; a long answer is cut (with "…") so one sample cannot
fill the view, and its tooltip and Copy give the whole text."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.models import Sample
from lambda_gui.services.ports import SampleReader
from lambda_gui.services.samples import SamplesUnreadableError

PROMPT, BASE, TUNED, REFERENCE = range(4)
COLUMNS = ("Prompt", "Base model", "Tuned model", "Reference")
# What a cell shows at most; the tooltip and Copy have the rest.
MAX_CELL_CHARS = 600
MAX_CELL_LINES = 10
FULL_TEXT_ROLE = Qt.ItemDataRole.UserRole + 1

EMPTY_TEXT = (
    "No samples: this job generated none (turn them on in the wizard's After training step)"
)
WAITING_TEXT = (
    "Samples appear here once the job completes: each prompt answered by the base model and "
    "by the tuned one."
)
LOADING_TEXT = "Reading the samples…"
NO_JOB_TEXT = "No job selected."
UNREADABLE_PREFIX = "The samples could not be read: "

_Index = QModelIndex | QPersistentModelIndex


def elide(text: str, max_chars: int = MAX_CELL_CHARS, max_lines: int = MAX_CELL_LINES) -> str:
    """`text` cut to at most `max_lines` lines and `max_chars` characters, "…" marking a cut."""
    lines = text.splitlines()
    cut = len(lines) > max_lines
    shown = "\n".join(lines[:max_lines]) if cut else text
    if len(shown) > max_chars:
        shown, cut = shown[:max_chars], True
    return shown.rstrip() + "…" if cut else shown


def tooltip_html(text: str) -> str:
    """The whole text as a tooltip: rich text, so Qt wraps it, with its line breaks kept."""
    return f'<p style="white-space: pre-wrap;">{html.escape(text)}</p>'


class SamplesTableModel(QAbstractTableModel):
    """One row per sample; the reference column says "—" where a sample has none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._samples: list[Sample] = []

    def set_samples(self, samples: Sequence[Sample]) -> None:
        """Show these samples (in order)."""
        self.beginResetModel()
        self._samples = list(samples)
        self.endResetModel()

    def sample(self, row: int) -> Sample:
        """The sample in `row`."""
        return self._samples[row]

    @property
    def has_reference(self) -> bool:
        """True when some sample has a reference answer."""
        return any(s.reference is not None for s in self._samples)

    def full_text(self, row: int, column: int) -> str:
        """A cell's whole text ("" for a missing reference)."""
        s = self._samples[row]
        return (s.prompt, s.base, s.tuned, s.reference or "")[column]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._samples)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._samples):
            return None
        row, column = index.row(), index.column()
        text = self.full_text(row, column)
        missing = column == REFERENCE and self._samples[row].reference is None
        if role == Qt.ItemDataRole.DisplayRole:
            return "—" if missing else elide(text)
        if role == Qt.ItemDataRole.ToolTipRole:
            return None if missing else tooltip_html(text)
        if role == FULL_TEXT_ROLE:
            return text
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section] if 0 <= section < len(COLUMNS) else None
        return str(section + 1)


class SamplesView(QWidget):
    """A line saying what there is (or why not), above the table of samples."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._job_id: str | None = None
        self.status = QLabel(NO_JOB_TEXT, self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = SamplesTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setAccessibleName("Samples")
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        # Each row as tall as its wrapped text at the columns' current width: fitted again
        # (once per burst) whenever a column's width changes.
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.table.resizeRowsToContents)
        self.table.horizontalHeader().sectionResized.connect(self._fit_timer.start)
        self.model.modelReset.connect(self._fit_timer.start)
        self.copy_action = QAction("Copy", self.table)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.setToolTip("Copy the whole text of the selected cells")
        self.copy_action.triggered.connect(self.copy_selection)
        self.table.addAction(self.copy_action)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.table.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

    @property
    def count(self) -> int:
        """How many samples are shown."""
        return self.model.rowCount()

    def show_message(self, text: str) -> None:
        """No samples to show: say why (no job, not completed yet, ...)."""
        self._job_id = None
        self.model.set_samples([])
        self.table.hide()
        self.status.setText(text)

    def set_samples(self, samples: Sequence[Sample]) -> None:
        """Show these samples (the empty-state line when there are none)."""
        self.model.set_samples(samples)
        self.table.setColumnHidden(REFERENCE, not self.model.has_reference)
        self.table.setVisible(bool(samples))
        self.table.resizeRowsToContents()
        noun = "sample" if len(samples) == 1 else "samples"
        self.status.setText(
            f"{len(samples)} {noun}: each prompt answered by the base model and by the tuned "
            "one. Hover a cell for its whole text; Ctrl+C copies the selected cells."
            if samples
            else EMPTY_TEXT
        )

    def show_error(self, message: str) -> None:
        """samples.json could not be read."""
        self.model.set_samples([])
        self.table.hide()
        self.status.setText(UNREADABLE_PREFIX + message)

    async def load(self, source: SampleReader, job_id: str) -> bool:
        """Read the job's samples from `source` and show them; False when another load or
        message took the view's place meanwhile (nothing is shown then)."""
        self.show_message(LOADING_TEXT)
        self._job_id = job_id
        try:
            samples = await source.get_samples(job_id)
        except SamplesUnreadableError as exc:
            if self._job_id != job_id:
                return False
            self.show_error(str(exc))
            return True
        if self._job_id != job_id:
            return False
        self.set_samples(samples)
        return True

    def copy_selection(self) -> str:
        """Copy the selected cells' whole texts (tab between columns, a line per row)."""
        indexes = self.table.selectionModel().selectedIndexes() if self.count else []
        cells: dict[int, dict[int, str]] = {}
        for index in indexes:
            if not self.table.isColumnHidden(index.column()):
                text = self.model.full_text(index.row(), index.column())
                cells.setdefault(index.row(), {})[index.column()] = text
        text = "\n".join(
            "\t".join(columns[c] for c in sorted(columns))
            for _row, columns in sorted(cells.items())
        )
        if text:
            QGuiApplication.clipboard().setText(text)
        return text
