"""One input widget per wizard field (core.wizard.FieldSpec), reading and writing draft values.

Counts and fractions with a natural range are spin boxes (SPIN_RANGES). Their range starts one
step below the valid values (rank 0, a divergence ratio of 1), so a wrong value still shows as
an error on its field, and a loaded value outside the range widens it rather than being
clamped out of sight. Values a spin box cannot hold are typed as text: the learning rate
(2e-4), the model's size, and the caps that may be left empty; a half-typed or wrong value
there is an error on the field (and blocks Next).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from lambda_gui.core import config_validation as limits
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


_INT_MAX = 2**31 - 1  # what a QSpinBox holds


@dataclass(frozen=True)
class SpinRange:
    """A spin box's bounds, arrow step and decimals; `special` is shown at the minimum."""

    low: float
    high: float
    step: float = 1
    decimals: int = 0
    special: str = ""
    suffix: str = ""


SPIN_RANGES: dict[str, SpinRange] = {
    "rank": SpinRange(0, limits.MAX_RANK, 8),
    "alpha": SpinRange(0, limits.MAX_ALPHA, 8),
    "dropout": SpinRange(0, 0.99, 0.01, 3),
    "num_epochs": SpinRange(0, limits.MAX_EPOCHS, 0.5, 2),
    "max_steps": SpinRange(-1, limits.MAX_STEPS, 10, special="off (use epochs)"),
    "batch_size": SpinRange(0, limits.MAX_BATCH_SIZE),
    "gradient_accumulation_steps": SpinRange(0, limits.MAX_GRADIENT_ACCUMULATION),
    "max_seq_length": SpinRange(limits.MIN_SEQ_LENGTH - 1, limits.MAX_SEQ_LENGTH, 256),
    "warmup_ratio": SpinRange(0, 0.99, 0.01, 3),
    "weight_decay": SpinRange(0, limits.MAX_WEIGHT_DECAY, 0.01, 3),
    "logging_steps": SpinRange(0, limits.MAX_STEPS, 5),
    "eval_steps": SpinRange(0, limits.MAX_STEPS, 10, special="never"),
    "save_steps": SpinRange(0, limits.MAX_STEPS, 50, special="at the end only"),
    "seed": SpinRange(0, min(limits.MAX_SEED, _INT_MAX)),
    "divergence_ratio": SpinRange(1, limits.MAX_DIVERGENCE_RATIO, 0.5, 2, suffix=" ×"),
    "self_terminate_grace_minutes": SpinRange(0, limits.MAX_GRACE_MINUTES, 5, 1, suffix=" min"),
    "sample_max_new_tokens": SpinRange(0, limits.MAX_SAMPLE_TOKENS, 16, suffix=" tokens"),
}


class _WheelOnFocus:
    """Spin boxes take the mouse wheel only when focused, so scrolling the page past one does
    not change its value."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        assert isinstance(self, QAbstractSpinBox)
        if self.hasFocus():
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class IntSpin(_WheelOnFocus, QSpinBox):
    """A whole-number field."""


class FloatSpin(_WheelOnFocus, QDoubleSpinBox):
    """A decimal field."""


def _spin(spec: FieldSpec, bounds: SpinRange, parent: QWidget) -> QAbstractSpinBox:
    box: QSpinBox | QDoubleSpinBox
    if spec.kind == "int":
        box = IntSpin(parent)
        box.setRange(int(bounds.low), int(bounds.high))
        box.setSingleStep(int(bounds.step))
    else:
        box = FloatSpin(parent)
        box.setDecimals(bounds.decimals)
        box.setRange(bounds.low, bounds.high)
        box.setSingleStep(bounds.step)
    box.setSpecialValueText(bounds.special)
    box.setSuffix(bounds.suffix)
    box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    box.setKeyboardTracking(True)
    box.setMaximumWidth(200)
    return box


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
        bounds = SPIN_RANGES.get(self.spec.name)
        if bounds is not None and kind in ("int", "float"):
            spin = _spin(self.spec, bounds, parent)
            spin.valueChanged.connect(lambda _v: self.changed.emit())  # type: ignore[attr-defined]
            return spin
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
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
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
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                show_number(w, value)
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


def show_number(box: QSpinBox | QDoubleSpinBox, value: Any) -> None:
    """Show a draft number, widening the range for a loaded value outside it (its field's
    error says what is wrong with it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return  # not a number: the step marks the field
    if isinstance(box, QSpinBox):
        shown = int(max(-_INT_MAX, min(_INT_MAX, value)))
        box.setRange(min(box.minimum(), shown), max(box.maximum(), shown))
        box.setValue(shown)
    else:
        number = float(max(-1e15, min(1e15, value)))
        box.setRange(min(box.minimum(), number), max(box.maximum(), number))
        box.setValue(number)
