"""Step 7: the whole job in words, the plan, any problem left, and the project name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

from lambda_gui.core.presets import PRESETS, matching_preset
from lambda_gui.core.wizard import Step, Wizard
from lambda_gui.gui.models.job_row import format_duration
from lambda_gui.gui.wizard.dataset_page import layout_text
from lambda_gui.gui.wizard.field_editors import CHOICE_LABELS
from lambda_gui.gui.wizard.step_page import StepPage


def review_text(wizard: Wizard, auto_terminate: bool = True) -> str:
    """The draft as a short, readable summary."""
    d = wizard.draft
    preview = wizard.state.preview
    lines = [
        f"Model:       {d.get('base_model')} ({CHOICE_LABELS.get(d.get('model_source', ''), '')})",
    ]
    data = str(d.get("dataset_path") or "")
    if preview is not None and preview.path == data and preview.format is not None:
        lines.append(
            f"Dataset:     {Path(data).name}: {preview.row_count:,} rows, {layout_text(preview)}"
        )
    else:
        lines.append(f"Dataset:     {data}")
    preset = matching_preset(d)
    lines += [
        f"Method:      {CHOICE_LABELS.get(d.get('algorithm', ''), d.get('algorithm'))}, "
        f"rank {d.get('rank')}, alpha {d.get('alpha')}, dropout {d.get('dropout')}, "
        f"on {', '.join(d.get('target_modules') or [])}",
        f"Training:    learning rate {d.get('learning_rate')}, "
        + (
            f"{d.get('max_steps')} steps"
            if (d.get("max_steps") or -1) > 0
            else f"{d.get('num_epochs')} epochs"
        )
        + f", batch {d.get('batch_size')} x {d.get('gradient_accumulation_steps')}, "
        f"sequences up to {d.get('max_seq_length')} tokens"
        + (f" (preset: {PRESETS[preset].title})" if preset else ""),
        f"Instance:    {d.get('resource_id')} in {d.get('region') or 'any region with capacity'}",
    ]
    plan = wizard.plan()
    if plan is not None:
        lines.append(
            f"Estimate:    about {format_duration(plan.total_seconds)} billed, "
            f"about ${plan.cost:,.2f} ({plan.need_gib:.1f} of {plan.usable_gib:.1f} GiB, "
            + ("fits" if plan.fits else "DOES NOT FIT")
            + ")"
        )
    lines += limits_lines(d)
    if auto_terminate:
        lines.append(
            "When it ends: the adapter is downloaded and checked, then the instance is "
            "terminated (change this in Settings)."
        )
    else:
        lines.append(
            "When it ends: the adapter is downloaded and checked; the instance KEEPS RUNNING "
            "and billing until you terminate it (see Settings)."
        )
    return "\n".join(lines)


def limits_lines(d: Mapping[str, Any]) -> list[str]:
    """The limits and safety settings, one line each."""
    runtime, budget = d.get("max_runtime_minutes"), d.get("budget_usd")
    caps = []
    if runtime:
        caps.append(f"run time up to {format_duration(float(runtime) * 60)}")
    if budget:
        caps.append(f"budget up to ${float(budget):,.2f}")
    lines = [f"Limits:      {', '.join(caps) if caps else 'none (no run-time or budget cap)'}"]
    if d.get("stop_on_divergence"):
        lines.append(
            f"Divergence:  stop when the loss reaches {d.get('divergence_ratio')}x its best"
        )
    else:
        lines.append("Divergence:  not watched (training runs on whatever the loss does)")
    if d.get("self_terminate"):
        lines.append(
            "Self-termination: ON — the instance terminates itself after "
            f"{d.get('self_terminate_grace_minutes')} min without word from this app. Your "
            "API key is copied onto the instance: use a key you can revoke."
        )
    else:
        lines.append("Self-termination: off (the API key stays on this computer)")
    return lines


class ReviewPage(StepPage):
    """The summary, the project name and output folder, and every error left anywhere."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro("Check the job, then press Launch. Nothing is billed before that.")
        self.auto_terminate = True
        self.summary = QPlainTextEdit(self)
        self.summary.setReadOnly(True)
        self.summary.setMinimumHeight(190)
        self.body.insertWidget(2, QLabel("The job:", self))
        self.body.insertWidget(3, self.summary)
        self.body.addStretch(1)

    def load(self) -> None:
        super().load()
        self.summary.setPlainText(review_text(self.wizard, self.auto_terminate))

    def enter(self) -> None:
        self.load()

    def after_edit(self, name: str) -> None:
        self.summary.setPlainText(review_text(self.wizard, self.auto_terminate))
