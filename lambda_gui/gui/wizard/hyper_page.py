"""Step 4: the hyperparameters, with the effective batch size beside batch and accumulation:
rows per GPU x the chosen type's GPUs (one training process each) x accumulation steps."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from lambda_gui.core.wizard import Step, Wizard, gpu_count
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def effective_batch_text(wizard: Wizard) -> str:
    """Rows per optimizer step: batch per GPU x the chosen type's GPUs (one training process
    each) x accumulation."""
    batch = _whole(wizard.get("batch_size"))
    accumulation = _whole(wizard.get("gradient_accumulation_steps"))
    if batch is None or accumulation is None:
        return "Effective batch: set the batch size and accumulation first."
    name = wizard.get("resource_id")
    known = any(r.name == name for r in wizard.state.resources)
    gpus = gpu_count(wizard.state)
    if gpus > 1:
        how = "sharded with FSDP" if wizard.get("sharding") == "fsdp" else "data-parallel"
        return (
            f"Effective batch: {batch} per GPU × {gpus} GPUs × {accumulation} accumulation = "
            f"<b>{batch * gpus * accumulation:,} rows</b> per optimizer step ({gpus} training "
            f"processes on {name}, one per GPU, {how})."
        )
    return (
        f"Effective batch: {batch} × {accumulation} accumulation = "
        f"<b>{batch * accumulation:,} rows</b> per optimizer step"
        + (" (one GPU)." if known else ".")
    )


class HyperPage(StepPage):
    """How training runs; the effective batch size shown under gradient accumulation."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        self.effective_batch = QLabel()
        super().__init__(step, wizard, parent)
        self.set_intro(
            "How training runs. The method page's presets fill these in; change any of them."
        )

    def add_editor(self, editor: FieldEditor, row_widget: QWidget | None = None) -> None:
        if editor.name == "gradient_accumulation_steps" and row_widget is None:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(editor.widget)
            self.effective_batch.setParent(row)
            self.effective_batch.setObjectName("effective_batch")
            self.effective_batch.setWordWrap(True)
            line.addWidget(self.effective_batch, 1)
            row_widget = row
        super().add_editor(editor, row_widget)

    def load(self) -> None:
        super().load()
        self._show_batch()

    def enter(self) -> None:
        self.load()

    def after_edit(self, name: str) -> None:
        if name in ("batch_size", "gradient_accumulation_steps"):
            self._show_batch()
        # The wizard recomputes a default evaluation interval from the run's length: show it
        # at once (a value the user set is left alone by the wizard, so this shows it back).
        eval_editor = self.editors.get("eval_steps")
        if (
            eval_editor is not None
            and name != "eval_steps"
            and "eval_steps" not in self.parse_errors
        ):
            eval_editor.set_value(self.wizard.get("eval_steps"))

    def _show_batch(self) -> None:
        self.effective_batch.setText(effective_batch_text(self.wizard))
