"""A wizard page: the inputs of one step (core.wizard.Step) and their inline errors."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from lambda_gui.core.wizard import STEPS, FieldError, Step, Wizard
from lambda_gui.gui.style import ERROR_STYLE, WARNING_STYLE
from lambda_gui.gui.wizard.after_step import AFTER_STEP
from lambda_gui.gui.wizard.field_editors import FieldEditor


def field_message(error: FieldError) -> str:
    """An error's message without the "field: " prefix ConfigError puts on it."""
    prefix = f"{error.field}: "
    return error.message[len(prefix) :] if error.message.startswith(prefix) else error.message


class StepPage(QWidget):
    """A form of one step's fields; `edited` fires whenever the draft changed."""

    edited = Signal()

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step = step
        self.wizard = wizard
        self.editors: dict[str, FieldEditor] = {}
        self.error_labels: dict[str, QLabel] = {}
        self.parse_errors: dict[str, str] = {}
        self.labels = {spec.name: spec.label for s in (*STEPS, AFTER_STEP) for spec in s.fields}

        self.heading = QLabel(f"<h3 style='margin:0'>{step.title}</h3>", self)
        self.intro = QLabel(self)
        self.intro.setWordWrap(True)
        self.intro.hide()
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.form.setVerticalSpacing(6)
        self.other_errors = QLabel(self)
        self.other_errors.setWordWrap(True)
        self.other_errors.setStyleSheet(ERROR_STYLE)
        self.other_errors.hide()
        self.body = QVBoxLayout(self)
        self.body.setSpacing(8)
        self.body.addWidget(self.heading)
        self.body.addWidget(self.intro)
        self.body.addLayout(self.form)
        self.body.addWidget(self.other_errors)
        for spec in step.fields:
            if spec.name in self.custom_fields():
                continue
            self.add_editor(FieldEditor(spec, self))

    def custom_fields(self) -> frozenset[str]:
        """Fields a subclass shows with its own widgets."""
        return frozenset()

    def finish_layout(self) -> None:
        """Keep the page's rows together at the top: without a stretch below them, a tall
        window spreads its spare height as gaps between heading, text and fields."""
        if not any(self.body.stretch(i) > 0 for i in range(self.body.count())):
            self.body.addStretch(1)

    def set_intro(self, text: str) -> None:
        """A sentence under the heading."""
        self.intro.setText(text)
        self.intro.setVisible(bool(text))

    def add_editor(self, editor: FieldEditor, row_widget: QWidget | None = None) -> None:
        """Add a field row: the editor (or a widget holding it) and its error line."""
        self.editors[editor.name] = editor
        holder = QWidget(self)
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(row_widget if row_widget is not None else editor.widget)
        error = QLabel(holder)
        error.setWordWrap(True)
        error.setObjectName(f"error_{editor.name}")
        error.hide()
        column.addWidget(error)
        self.error_labels[editor.name] = error
        self.form.addRow(editor.spec.label, holder)
        editor.changed.connect(lambda name=editor.name: self._on_edit(name))

    def bind(self, wizard: Wizard) -> None:
        """Show another wizard (a loaded config)."""
        self.wizard = wizard
        self.load()

    def load(self) -> None:
        """Show the draft's values."""
        self.parse_errors.clear()
        draft = self.wizard.draft
        for name, editor in self.editors.items():
            editor.set_context(draft)
            editor.set_value(self.wizard.get(name))

    def enter(self) -> None:
        """The page is about to show."""

    def _on_edit(self, name: str) -> None:
        try:
            value = self.editors[name].value()
        except ValueError as exc:
            self.parse_errors[name] = str(exc)
        else:
            self.parse_errors.pop(name, None)
            self.wizard.set(name, value)
            self.after_edit(name)
        self.edited.emit()

    def after_edit(self, name: str) -> None:
        """A subclass's reaction to a field set in the draft."""

    @property
    def input_ok(self) -> bool:
        """True when every field's text could be read."""
        return not self.parse_errors

    def show_errors(self, errors: Iterable[FieldError]) -> None:
        """Put each error under its field; others (from other steps) in one list."""
        by_field: dict[str, list[FieldError]] = {}
        others: list[str] = []
        for error in errors:
            if error.field in self.error_labels:
                by_field.setdefault(error.field, []).append(error)
            else:
                title = self.labels.get(error.field, error.field)
                others.append(f"{title}: {field_message(error)}")
        for name, label in self.error_labels.items():
            found = by_field.get(name, [])
            if name in self.parse_errors:
                found = [FieldError(name, self.parse_errors[name])]
            label.setText(" ".join(field_message(e) for e in found))
            warning_only = bool(found) and all(e.warning for e in found)
            label.setStyleSheet(WARNING_STYLE if warning_only else ERROR_STYLE)
            label.setVisible(bool(found))
        self.other_errors.setText("\n".join(others))
        self.other_errors.setVisible(bool(others))
