"""Step 2: the dataset: a file (read here for a preview) or a Hub dataset."""

from __future__ import annotations

import json

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from lambda_gui.core.dataset_format import is_hub_path
from lambda_gui.core.wizard import DatasetPreview, Step, Wizard
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage
from lambda_gui.services.dataset_preview import read_dataset_preview

PREVIEW_TABLE_ROWS = 5
CELL_CHARS = 120
READ_DELAY_MS = 400


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def layout_text(preview: DatasetPreview) -> str:
    """The detected layout in words, without the rows-checked count describe() adds."""
    if preview.format is None:
        return "unknown layout"
    return preview.format.describe().rsplit(" (", 1)[0]


class DatasetPage(StepPage):
    """Path with a file picker; the detected format, row count, first rows and training text."""

    def __init__(
        self, step: Step, wizard: Wizard, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(step, wizard, parent)
        self.reporter = reporter
        self.set_intro(
            "A JSONL, JSON or CSV file on this computer (uploaded with the job), or a Hub "
            "dataset written hf://org/name. Rows can be plain text, Alpaca "
            "(instruction/input/output) or chat messages."
        )
        self.reads = 0
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMaximumHeight(170)
        self.table.hide()
        self.samples = QPlainTextEdit(self)
        self.samples.setReadOnly(True)
        self.samples.setMaximumHeight(150)
        self.samples.hide()
        self.samples_label = QLabel("What training sees (first rows):", self)
        self.samples_label.hide()
        for widget in (self.status, self.table, self.samples_label, self.samples):
            self.body.addWidget(widget)
        self.body.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(READ_DELAY_MS)
        self._timer.timeout.connect(self.read_preview)

    def custom_fields(self) -> frozenset[str]:
        return frozenset({"dataset_path"})

    def add_editor(self, editor: FieldEditor, row_widget: QWidget | None = None) -> None:
        if not self.editors:
            self._build_path_row()
        super().add_editor(editor, row_widget)

    def _build_path_row(self) -> None:
        spec = next(s for s in self.step.fields if s.name == "dataset_path")
        editor = FieldEditor(spec, self)
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(editor.widget, 1)
        self.browse_button = QPushButton("Choose file…", row)
        line.addWidget(self.browse_button)
        self.browse_button.clicked.connect(self.choose_file)
        super().add_editor(editor, row)

    def load(self) -> None:
        super().load()
        self._show_preview(self.wizard.state.preview)
        path = str(self.wizard.get("dataset_path") or "")
        preview = self.wizard.state.preview
        if path and not is_hub_path(path) and (preview is None or preview.path != path):
            self._timer.start()

    def after_edit(self, name: str) -> None:
        if name == "dataset_path":
            self._show_preview(None)
            path = str(self.wizard.get("dataset_path") or "").strip()
            if path and not is_hub_path(path):
                self.status.setText("Reading…")
                self._timer.start()
            elif path:
                self.status.setText(
                    "Hub dataset: its rows are read on the instance when training starts. "
                    "Enter its row count below for time and cost estimates."
                )
        elif name in ("text_field", "dataset_format"):
            self._show_preview(self.wizard.state.preview)

    @reported_slot("Could not choose the dataset")
    async def choose_file(self) -> None:
        """Pick a dataset file."""
        chosen, _filter = await run_modal(
            lambda: QFileDialog.getOpenFileName(
                self, "Choose the dataset", "", "Datasets (*.jsonl *.json *.csv);;All files (*)"
            )
        )
        if chosen:
            self.editors["dataset_path"].set_value(chosen)
            self.wizard.set("dataset_path", chosen)
            await self.read_preview()

    @reported_slot("Could not read the dataset")
    async def read_preview(self) -> None:
        """Read the file's first rows and count them (in an executor)."""
        self._timer.stop()
        path = str(self.wizard.get("dataset_path") or "").strip()
        if not path or is_hub_path(path):
            return
        self.status.setText("Reading…")
        preview = await read_dataset_preview(
            path,
            text_field=self.wizard.get("text_field"),
            declared=self.wizard.get("dataset_format"),
        )
        self.reads += 1
        if str(self.wizard.get("dataset_path") or "").strip() != path:
            return  # the user typed on while it was read
        self.wizard.set_preview(preview)
        self._show_preview(preview)
        self.edited.emit()

    def _show_preview(self, preview: DatasetPreview | None) -> None:
        path = str(self.wizard.get("dataset_path") or "")
        if preview is None or preview.path != path:
            self.table.hide()
            self.samples.hide()
            self.samples_label.hide()
            self.status.setText("")
            return
        if preview.errors or preview.format is None:
            self.status.setText("")
            self.table.hide()
            self.samples.hide()
            self.samples_label.hide()
            return
        self.status.setText(
            f"<b>{preview.row_count:,} rows</b> · detected: {layout_text(preview)}"
            + (
                f" · about {preview.avg_tokens_per_row:,.0f} tokens per row"
                if preview.avg_tokens_per_row
                else ""
            )
        )
        rows = list(preview.rows[:PREVIEW_TABLE_ROWS])
        columns = list(dict.fromkeys(k for r in rows for k in r))
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(columns)
        for i, row in enumerate(rows):
            for j, key in enumerate(columns):
                self.table.setItem(i, j, QTableWidgetItem(_cell(row.get(key, ""))))
        self.table.resizeColumnsToContents()
        self.table.show()
        texts = preview.sample_texts(2)
        self.samples.setPlainText("\n\n――――\n\n".join(texts))
        self.samples.setVisible(bool(texts))
        self.samples_label.setVisible(bool(texts))
