"""Step 3: the fine-tuning method, with one-click presets for the hyperparameters."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from lambda_gui.core.presets import PRESETS, matching_preset
from lambda_gui.core.wizard import Step, Wizard
from lambda_gui.gui.wizard.step_page import StepPage


class MethodPage(StepPage):
    """LoRA / QLoRA / DoRA / rsLoRA, rank, alpha, dropout, target modules, and presets."""

    preset_applied = Signal(str)

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro(
            "LoRA trains small adapter matrices beside the frozen model; QLoRA does the same "
            "on a 4-bit base (less GPU memory, slower); DoRA and rsLoRA are LoRA variants. A "
            "preset sets these and the hyperparameters in one click."
        )
        row = QHBoxLayout()
        row.addWidget(QLabel("Presets:", self))
        self.preset_buttons: dict[str, QPushButton] = {}
        for key, preset in PRESETS.items():
            button = QPushButton(preset.title, self)
            button.setToolTip(preset.description)
            button.setObjectName(f"preset_{key}")
            button.clicked.connect(lambda _c=False, k=key: self.apply_preset(k))
            row.addWidget(button)
            self.preset_buttons[key] = button
        row.addStretch(1)
        self.preset_label = QLabel(self)
        self.preset_label.setWordWrap(True)
        self.body.insertLayout(2, row)
        self.body.insertWidget(3, self.preset_label)

    def apply_preset(self, key: str) -> None:
        """Set the preset's values in the draft and show them."""
        self.wizard.apply_preset(key)
        self.load()
        self.preset_applied.emit(key)
        self.edited.emit()

    def load(self) -> None:
        super().load()
        self._show_preset()

    def after_edit(self, name: str) -> None:
        self._show_preset()

    def _show_preset(self) -> None:
        key = matching_preset(self.wizard.draft)
        if key is None:
            self.preset_label.setText("Custom settings (no preset matches all of them).")
        else:
            preset = PRESETS[key]
            self.preset_label.setText(f"Preset in use: <b>{preset.title}</b>. {preset.description}")
