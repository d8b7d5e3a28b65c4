"""Step 2: the dataset: a file (read here for a preview) or a Hub dataset.

The preview shows the detected layout and first rows, then the rows as training will see them
(services.dataset_preview renders them as train.py does) with a token-length histogram and the
rows the max sequence length cuts. The validation split is typed in percent of rows; it is on
by default when the dataset is large enough (core.validation_default).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QFontDatabase, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.dataset_format import is_hub_path
from lambda_gui.core.dataset_stats import TokenStats
from lambda_gui.core.validation_default import validation_note
from lambda_gui.core.wizard import DatasetPreview, FieldError, Step, Wizard
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.style import WARNING_STYLE
from lambda_gui.gui.wizard.field_editors import FieldEditor, FloatSpin
from lambda_gui.gui.wizard.step_page import StepPage
from lambda_gui.services.dataset_preview import (
    TextInputs,
    TrainingTexts,
    read_dataset_preview,
    read_training_texts,
)

PREVIEW_TABLE_ROWS = 5
CELL_CHARS = 120
READ_DELAY_MS = 400
SPLIT_LABEL = "Validation split (% of rows)"
MAX_SPLIT_PERCENT = 50.0
# Draft fields that change what training sees (besides the dataset itself).
TEXT_FIELDS = ("use_chat_template", "text_field", "dataset_format")


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def layout_text(preview: DatasetPreview) -> str:
    """The detected layout in words, without the rows-checked count describe() adds."""
    if preview.format is None:
        return "unknown layout"
    return preview.format.describe().rsplit(" (", 1)[0]


class PercentEditor(FieldEditor):
    """The validation split as a percentage of rows (the draft holds the fraction)."""

    def _make(self, parent: QWidget) -> QWidget:
        box = FloatSpin(parent)
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        box.setMaximumWidth(200)
        box.setRange(0.0, MAX_SPLIT_PERCENT)
        box.setDecimals(1)
        box.setSingleStep(1.0)
        box.setSuffix(" %")
        box.setSpecialValueText("0 % (off)")
        box.setAccessibleName(SPLIT_LABEL)
        box.valueChanged.connect(lambda _v: self.changed.emit())
        return box

    def value(self) -> Any:
        """The fraction of rows held out."""
        assert isinstance(self.widget, QDoubleSpinBox)
        return round(self.widget.value() / 100, 4)

    def set_value(self, value: Any) -> None:
        """Show a fraction as a percentage (no `changed` signal)."""
        box = self.widget
        assert isinstance(box, QDoubleSpinBox)
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
        percent = float(number) * 100
        box.blockSignals(True)
        # A loaded value out of range widens the box, so its error shows on the value it is.
        box.setRange(min(0.0, percent), max(MAX_SPLIT_PERCENT, percent))
        box.setValue(percent)
        box.blockSignals(False)


class TokenHistogram(QWidget):
    """Bars of rows per token-length range, with the max sequence length marked; drawn in the
    window's palette (light or dark). Its tooltip lists the bars in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stats: TokenStats | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(360, 96)

    def set_stats(self, stats: TokenStats | None) -> None:
        """Show these lengths (None: nothing)."""
        self.stats = stats
        self.setToolTip(self.describe())
        self.update()

    def describe(self) -> str:
        """The bars in words: one line per token range."""
        stats = self.stats
        if stats is None or not stats.bins:
            return ""
        lines = [f"{b.low:,}–{b.high - 1:,} tokens: {b.count:,} rows" for b in stats.bins]
        return "\n".join(lines)

    def paintEvent(self, event: QPaintEvent) -> None:
        stats = self.stats
        if stats is None or not stats.bins:
            return
        painter = QPainter(self)
        try:
            self._paint(painter, stats)
        finally:
            painter.end()

    def _paint(self, painter: QPainter, stats: TokenStats) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        bar = palette.color(QPalette.ColorRole.Highlight)
        metrics = self.fontMetrics()
        label_h = metrics.height()
        area = QRectF(0, 2, self.width(), self.height() - label_h - 4)
        bins = stats.bins
        top = max(b.count for b in bins) or 1
        span = bins[-1].high
        slot = area.width() / len(bins)
        for i, b in enumerate(bins):
            height = area.height() * b.count / top
            painter.fillRect(
                QRectF(area.left() + i * slot + 1, area.bottom() - height, slot - 2, height), bar
            )
        painter.setPen(text)
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        baseline = self.height() - 2
        painter.drawText(0, baseline - metrics.descent(), "0")
        right = f"{span:,} tokens"
        painter.drawText(
            int(area.right()) - metrics.horizontalAdvance(right),
            baseline - metrics.descent(),
            right,
        )
        limit = stats.max_seq_length
        if 0 < limit < span:
            x = area.left() + area.width() * limit / span
            pen = painter.pen()
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(int(x), int(area.top()), int(x), int(area.bottom()))
            note = f"max {limit:,}"
            width = metrics.horizontalAdvance(note)
            at = x + 4 if x + 4 + width <= area.right() else x - 4 - width
            # On the window's colour, not over a bar, so the label keeps its contrast.
            back = QRectF(at - 2, area.top(), width + 4, label_h)
            painter.fillRect(back, palette.color(QPalette.ColorRole.Window))
            painter.drawText(int(at), int(area.top()) + metrics.ascent(), note)


class DatasetPage(StepPage):
    """Path with a file picker; the detected format, row count, first rows, what training
    sees, the token lengths, and the validation split."""

    def __init__(
        self, step: Step, wizard: Wizard, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        self.reporter = reporter
        super().__init__(step, wizard, parent)
        self.set_intro(
            "A JSONL, JSON or CSV file on this computer (uploaded with the job), or a Hub "
            "dataset written hf://org/name. Rows can be plain text, Alpaca "
            "(instruction/input/output) or chat messages."
        )
        self.reads = 0
        self.renders = 0
        self.texts: TrainingTexts | None = None
        self._texts_key: tuple[object, ...] | None = None
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMaximumHeight(170)
        self.table.hide()
        self.samples_label = QLabel("<b>What training sees</b> (first rows):", self)
        self.how_label = QLabel(self)
        self.how_label.setWordWrap(True)
        # A label, not a text box: it grows with the rows and the page scrolls, so there is
        # never a scroll bar inside the page's own.
        self.samples = QLabel(self)
        self.samples.setObjectName("training_samples")
        self.samples.setTextFormat(Qt.TextFormat.PlainText)
        self.samples.setWordWrap(True)
        self.samples.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.samples.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.samples.setFrameShape(QFrame.Shape.StyledPanel)
        self.samples.setMargin(6)
        self.problem_label = QLabel(self)
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(WARNING_STYLE)
        self.lengths_label = QLabel(self)
        self.lengths_label.setWordWrap(True)
        self.histogram = TokenHistogram(self)
        self.cut_label = QLabel(self)
        self.cut_label.setWordWrap(True)
        self.text_widgets: tuple[QWidget, ...] = (
            self.samples_label,
            self.how_label,
            self.samples,
            self.problem_label,
            self.lengths_label,
            self.histogram,
            self.cut_label,
        )
        for widget in (self.status, self.table, *self.text_widgets):
            self.body.addWidget(widget)
        self._hide_texts()
        self.body.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(READ_DELAY_MS)
        self._timer.timeout.connect(self.read_preview)

    def custom_fields(self) -> frozenset[str]:
        return frozenset({"dataset_path", "validation_split"})

    def add_editor(self, editor: FieldEditor, row_widget: QWidget | None = None) -> None:
        if not self.editors:
            self._build_path_row()
        super().add_editor(editor, row_widget)
        if editor.name == "use_chat_template":
            self._build_split_row()

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

    def _build_split_row(self) -> None:
        spec = next(s for s in self.step.fields if s.name == "validation_split")
        editor = PercentEditor(dataclasses.replace(spec, label=SPLIT_LABEL), self)
        row = QWidget(self)
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        line = QHBoxLayout()
        line.addWidget(editor.widget)
        line.addStretch(1)
        column.addLayout(line)
        self.validation_note = QLabel(row)
        self.validation_note.setWordWrap(True)
        self.validation_note.setObjectName("validation_note")
        column.addWidget(self.validation_note)
        super().add_editor(editor, row)

    def load(self) -> None:
        super().load()
        self._show_preview(self.wizard.state.preview)
        path = str(self.wizard.get("dataset_path") or "")
        preview = self.wizard.state.preview
        if path and not is_hub_path(path) and (preview is None or preview.path != path):
            self._timer.start()
        self._show_validation()

    def enter(self) -> None:
        """Coming back: the model or the max sequence length may have changed."""
        self._show_validation()
        self.refresh_texts()

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
        if name in TEXT_FIELDS:
            self.refresh_texts()
        self._show_validation()

    def show_errors(self, errors: Iterable[FieldError]) -> None:
        """As StepPage, with the split's range said in percent (the field's unit)."""
        shown = [
            FieldError(e.field, f"Enter 0 to {MAX_SPLIT_PERCENT:g} % of rows.", e.warning)
            if e.field == "validation_split" and "fraction" in e.message
            else e
            for e in errors
        ]
        super().show_errors(shown)

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
        """Read the file's first rows and count them (in an executor), then render them."""
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
        self._show_validation()
        self.edited.emit()
        await self.refresh_texts()

    @reported_slot("Could not render the training text")
    async def refresh_texts(self) -> None:
        """Render the rows as training will and count their tokens (in an executor)."""
        preview = self._current_preview()
        if preview is None:
            self._texts_key = None
            self._hide_texts()
            return
        inputs = self._text_inputs()
        key = (id(preview.rows), preview.path, preview.format, inputs)
        if key == self._texts_key:
            return
        self._texts_key = key
        texts = await read_training_texts(preview, inputs)
        if self._texts_key != key:
            return  # the inputs changed while it ran: a newer render follows
        self.renders += 1
        self._show_texts(texts)
        stats = texts.stats
        if stats is not None and stats.lengths and not stats.estimated:
            # The planner's tokens per row (it caps them at the max length), counted exactly.
            counted = dataclasses.replace(preview, avg_tokens_per_row=stats.mean)
            self.wizard.set_preview(counted)
            self.edited.emit()

    def _current_preview(self) -> DatasetPreview | None:
        preview = self.wizard.state.preview
        path = str(self.wizard.get("dataset_path") or "").strip()
        if preview is None or preview.path != path or preview.errors or preview.format is None:
            return None
        return preview

    def _text_inputs(self) -> TextInputs:
        seq = self.wizard.get("max_seq_length")
        return TextInputs(
            use_chat_template=bool(self.wizard.get("use_chat_template")),
            model_source=str(self.wizard.get("model_source") or ""),
            base_model=str(self.wizard.get("base_model") or ""),
            max_seq_length=seq if isinstance(seq, int) and not isinstance(seq, bool) else 0,
        )

    def _show_validation(self) -> None:
        editor = self.editors.get("validation_split")
        if editor is not None and "validation_split" not in self.parse_errors:
            editor.set_value(self.wizard.get("validation_split"))
        note = validation_note(
            self.wizard.state.draft, self.wizard.state.chosen, self.wizard.preview_rows()
        )
        path = str(self.wizard.get("dataset_path") or "").strip()
        self.validation_note.setText(note if path else "")
        self.validation_note.setVisible(bool(note and path))

    def _hide_texts(self) -> None:
        self.texts = None
        self.histogram.set_stats(None)
        for widget in self.text_widgets:
            widget.hide()

    def _show_texts(self, texts: TrainingTexts) -> None:
        self.texts = texts
        self.how_label.setText(texts.how)
        self.samples.setText("\n\n――――\n\n".join(texts.samples[:3]))
        shown: tuple[QWidget, ...] = (self.samples_label, self.how_label, self.samples)
        for widget in shown:
            widget.setVisible(bool(texts.samples))
        self.problem_label.setText(texts.problem or "")
        self.problem_label.setVisible(bool(texts.problem))
        stats = texts.stats
        has_stats = stats is not None and bool(stats.lengths)
        self.histogram.set_stats(stats if has_stats else None)
        self.lengths_label.setText(stats.summary() if stats is not None else "")
        cut = stats.cut_summary() if stats is not None else ""
        self.cut_label.setText(cut)
        self.cut_label.setStyleSheet(WARNING_STYLE if stats and stats.over_max else "")
        counted: tuple[QWidget, ...] = (self.lengths_label, self.histogram, self.cut_label)
        for widget in counted:
            widget.setVisible(has_stats)

    def _show_preview(self, preview: DatasetPreview | None) -> None:
        path = str(self.wizard.get("dataset_path") or "")
        if preview is None or preview.path != path or preview.errors or preview.format is None:
            self.table.hide()
            self._hide_texts()
            self._texts_key = None
            self.status.setText("")
            return
        self.status.setText(f"<b>{preview.row_count:,} rows</b> · detected: {layout_text(preview)}")
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
