"""One input widget per wizard field (core.wizard.FieldSpec), reading and writing draft values.

Numbers are typed as text, so a half-typed or wrong value is shown as an error on the field
(and blocks Next) instead of being silently clamped by a spin box.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QWidget

from lambda_gui.core.wizard import WIZARD_KEYS, FieldSpec
from lambda_gui.gui.wizard.tracker_editor import TrackerEnvWidget

CHOICE_LABELS = {
    "huggingface": "Hugging Face Hub",
    "local": "Local folder",
    "lora": "LoRA",
    "qlora": "QLoRA (4-bit base)",
    "dora": "DoRA",
    "rslora": "rsLoRA (rank-stabilised)",
    "none": "None",
    "int8": "8-bit",
    "int4": "4-bit",
    "": "Detect",
}


class FieldEditor(QObject):
    """A widget for one field; `changed` fires on every edit by the user."""

    changed = Signal()

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        super().__init__(parent)
        self.spec = spec
        self._saved: tuple[str, ...] = ()
        self.widget: QWidget = self._make(parent)
        self.widget.setObjectName(f"field_{spec.name}")
        if spec.help:
            self.widget.setToolTip(spec.help)

    @property
    def name(self) -> str:
        """The draft key."""
        return self.spec.name

    def _make(self, parent: QWidget) -> QWidget:
        kind = self.spec.kind
        if kind == "bool":
            box = QCheckBox(parent)
            box.toggled.connect(lambda _on: self.changed.emit())
            return box
        if kind == "choice":
            combo = QComboBox(parent)
            self.set_choices(self.spec.choices, combo)
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
            return combo
        if kind == "dict":
            env = TrackerEnvWidget(parent)
            env.changed.connect(self.changed.emit)
            return env
        line = QLineEdit(parent)
        if self.spec.help:
            line.setPlaceholderText(self.spec.help)
        line.textChanged.connect(lambda _t: self.changed.emit())
        return line

    def set_choices(self, choices: tuple[str, ...], combo: QComboBox | None = None) -> None:
        """Replace a choice field's options (value kept when still offered)."""
        box = combo if combo is not None else self.widget
        assert isinstance(box, QComboBox)
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        for choice in choices:
            box.addItem(CHOICE_LABELS.get(choice, choice), choice)
        at = box.findData(current)
        box.setCurrentIndex(at if at >= 0 else 0)
        box.blockSignals(False)

    def value(self) -> Any:
        """The value typed in; ValueError with a short message when it cannot be read."""
        w, kind = self.widget, self.spec.kind
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            data = w.currentData()
            return "" if data is None else data
        if isinstance(w, TrackerEnvWidget):
            return w.value()
        assert isinstance(w, QLineEdit)
        text = w.text().strip()
        if kind == "list":
            return [part for part in text.replace(",", " ").split() if part]
        if kind in ("int", "float"):
            if not text:
                if self.name in WIZARD_KEYS or self.spec.optional:
                    return None
                raise ValueError("Enter a number.")
            try:
                return int(text) if kind == "int" else float(text)
            except ValueError:
                whole = "a whole number" if kind == "int" else "a number (e.g. 0.0002 or 2e-4)"
                raise ValueError(f"Enter {whole}.") from None
        return text

    def set_context(self, draft: Mapping[str, Any]) -> None:
        """What a field shows beside its own value: the secrets saved in the keyring."""
        saved = draft.get("tracker_secrets")
        self._saved = tuple(saved) if isinstance(saved, list) else ()

    def set_value(self, value: Any) -> None:
        """Show a draft value (no `changed` signal)."""
        w = self.widget
        w.blockSignals(True)
        try:
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                at = w.findData("" if value is None else value)
                if at < 0 and value not in (None, ""):
                    w.addItem(str(value), value)
                    at = w.count() - 1
                w.setCurrentIndex(max(0, at))
            elif isinstance(w, TrackerEnvWidget):
                w.set_value(value if isinstance(value, dict) else {}, self._saved)
            elif isinstance(w, QLineEdit):
                w.setText(_text(value))
        finally:
            w.blockSignals(False)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
