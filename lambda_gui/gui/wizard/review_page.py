"""Step 8: the whole job in words, the plan, any problem left, and the project name. The
training row's effective batch counts the chosen type's GPUs (one training process each), and
a row says whether the model is sharded over them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from lambda_gui.core.after_training_plan import sample_count
from lambda_gui.core.known_models import SIZE_SOURCE_TEXT
from lambda_gui.core.presets import PRESETS, matching_preset
from lambda_gui.core.wizard import Step, Wizard, gpu_count
from lambda_gui.gui.wizard.after_step import estimate_job, estimate_text, total_text
from lambda_gui.gui.wizard.compute_page import rough_duration
from lambda_gui.gui.wizard.dataset_page import layout_text
from lambda_gui.gui.wizard.field_editors import CHOICE_LABELS
from lambda_gui.gui.wizard.model_page import format_params
from lambda_gui.gui.wizard.step_page import StepPage

Rows = list[tuple[str, str]]


def _model_row(wizard: Wizard) -> str:
    d = wizard.draft
    text = f"{d.get('base_model')} ({CHOICE_LABELS.get(d.get('model_source', ''), '')})"
    size, source = wizard.state.params_b, wizard.state.size_source
    if size is not None and source is not None:
        text += f"; {format_params(size)} parameters ({SIZE_SOURCE_TEXT[source]})"
    return text


def _training_row(d: Mapping[str, Any], gpus: int) -> str:
    steps = d.get("max_steps")
    length = (
        f"{steps} steps"
        if isinstance(steps, int) and steps > 0
        else f"{d.get('num_epochs')} epochs"
    )
    batch, accumulation = d.get("batch_size"), d.get("gradient_accumulation_steps")
    if gpus > 1:
        effective = f"batch {batch} per GPU × {gpus} GPUs × {accumulation} accumulation"
    else:
        effective = f"batch {batch} × {accumulation} accumulation"
    if isinstance(batch, int) and isinstance(accumulation, int):
        effective += f" = {batch * gpus * accumulation:,} rows per step"
    preset = matching_preset(d)
    return (
        f"learning rate {d.get('learning_rate')}, {length}, {effective}, sequences up to "
        f"{d.get('max_seq_length')} tokens"
        + (f" (preset: {PRESETS[preset].title})" if preset else "")
    )


def sharding_text(sharding: object, gpus: int, name: str) -> str:
    """How the model sits on the chosen type's GPUs: sharded, or whole on each."""
    if sharding == "fsdp":
        if gpus > 1:
            return (
                f"FSDP: the model's weights are split over the {gpus} GPUs, each holding a "
                f"share, with {gpus} training processes"
            )
        return f"FSDP asked for, but {name} has one GPU: the job runs unsharded"
    if gpus > 1:
        return (
            f"none: data-parallel, each of the {gpus} GPUs holds the whole model (one training "
            "process per GPU)"
        )
    return "none: one GPU holds the whole model"


def review_rows(wizard: Wizard, auto_terminate: bool = True) -> Rows:
    """The draft as (what, value) rows."""
    d = wizard.draft
    preview = wizard.state.preview
    data = str(d.get("dataset_path") or "")
    if preview is not None and preview.path == data and preview.format is not None:
        dataset = f"{Path(data).name}: {preview.row_count:,} rows, {layout_text(preview)}"
    else:
        dataset = data
    name = d.get("resource_id")
    gpus = gpu_count(wizard.state)
    rows: Rows = [
        ("Model", _model_row(wizard)),
        ("Dataset", dataset),
        (
            "Method",
            f"{CHOICE_LABELS.get(d.get('algorithm', ''), d.get('algorithm'))}, "
            f"rank {d.get('rank')}, alpha {d.get('alpha')}, dropout {d.get('dropout')}, "
            f"on {', '.join(d.get('target_modules') or [])}",
        ),
        ("Training", _training_row(d, gpus)),
        ("Instance", f"{name} in {d.get('region') or 'any region with capacity'}"),
        ("Sharding", sharding_text(d.get("sharding"), gpus, str(name))),
    ]
    plan = wizard.plan()
    if plan is not None:
        rows.append(
            (
                "Training estimate",
                f"about {rough_duration(plan.total_seconds)} billed, about ${plan.cost:,.2f} "
                f"({plan.need_gib:.1f} of {plan.usable_gib:.1f} GiB"
                + (" per GPU, " if plan.gpu_count > 1 else ", ")
                + ("fits" if plan.fits else "DOES NOT FIT")
                + ")",
            )
        )
    rows += after_rows(wizard)
    rows += limits_rows(d)
    if auto_terminate:
        rows.append(
            (
                "When it ends",
                "the adapter is downloaded and checked, then the instance is terminated "
                "(change this in Settings).",
            )
        )
    else:
        rows.append(
            (
                "When it ends",
                "the adapter is downloaded and checked; the instance KEEPS RUNNING and billing "
                "until you terminate it (see Settings).",
            )
        )
    return rows


def after_rows(wizard: Wizard) -> Rows:
    """The after-training steps chosen, each with its estimate; their total, and the whole
    job's when there are any."""
    cfg = wizard.state.config()
    estimate = estimate_job(wizard.state)
    by_key = {s.key: s for s in estimate.after.steps} if estimate is not None else {}

    def with_estimate(text: str, key: str) -> str:
        found = by_key.get(key)
        return f"{text} ({estimate_text(found, name_type=False)})" if found else text

    parts: list[str] = []
    answered = sample_count(cfg)
    if answered > 0:
        source = "typed" if cfg.sample_prompts else "from the dataset"
        parts.append(
            with_estimate(
                f"samples: {answered} prompts {source}, up to {cfg.sample_max_new_tokens} new "
                "tokens each, answered by the base and the tuned model",
                "samples",
            )
        )
    if cfg.merge is True:
        parts.append(with_estimate("merge into the base weights (16-bit safetensors)", "merge"))
    kinds = cfg.gguf if isinstance(cfg.gguf, list) else []
    for kind in kinds:
        parts.append(with_estimate(f"GGUF {kind}", f"gguf_{kind}"))
    if not parts:
        return [("After training", "nothing: only the adapter is downloaded")]
    rows: Rows = [("After training", "; ".join(parts))]
    if estimate is not None:
        rows.append(("After-training estimate", total_text(estimate.after)))
        rows.append(
            (
                "Total estimate",
                f"about {rough_duration(estimate.seconds)} billed, about "
                f"${estimate.cost:,.2f} (training and the steps after it)",
            )
        )
    return rows


def limits_rows(d: Mapping[str, Any]) -> Rows:
    """The limits and safety settings, one row each."""
    runtime, budget = d.get("max_runtime_minutes"), d.get("budget_usd")
    caps = []
    if runtime:
        caps.append(f"run time up to {rough_duration(float(runtime) * 60)}")
    if budget:
        caps.append(f"budget up to ${float(budget):,.2f}")
    rows: Rows = [("Limits", ", ".join(caps) if caps else "none (no run-time or budget cap)")]
    if d.get("stop_on_divergence"):
        rows.append(
            ("Divergence", f"stop when the loss reaches {d.get('divergence_ratio')}x its best")
        )
    else:
        rows.append(("Divergence", "not watched (training runs on whatever the loss does)"))
    if d.get("self_terminate"):
        rows.append(
            (
                "Self-termination",
                "ON — the instance terminates itself after "
                f"{d.get('self_terminate_grace_minutes')} min without word from this app. Your "
                "API key is copied onto the instance: use a key you can revoke.",
            )
        )
    else:
        rows.append(("Self-termination", "off (the API key stays on this computer)"))
    return rows


def rows_text(rows: Rows) -> str:
    """Rows as plain lines, "What: value" (what a copy of the summary holds)."""
    return "\n".join(f"{what}: {value}" for what, value in rows)


class ReviewPage(StepPage):
    """The summary, the project name, and every error left anywhere."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro("Check the job, then press Launch. Nothing is billed before that.")
        self.auto_terminate = True
        self.summary = QWidget(self)
        self.summary.setObjectName("review_summary")
        self.summary_form = QFormLayout(self.summary)
        self.summary_form.setContentsMargins(0, 0, 0, 0)
        self.summary_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.summary_form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.summary_form.setVerticalSpacing(4)
        self._rows: Rows = []
        self.body.insertWidget(2, QLabel("<b>The job</b>", self))
        self.body.insertWidget(3, self.summary)
        self.body.insertWidget(4, QLabel("<b>Names</b>", self))
        self.body.addStretch(1)

    def summary_text(self) -> str:
        """The summary as plain lines."""
        return rows_text(self._rows)

    def _show_summary(self) -> None:
        self._rows = review_rows(self.wizard, self.auto_terminate)
        form = self.summary_form
        while form.rowCount():
            form.removeRow(0)
        for what, value in self._rows:
            label = QLabel(value, self.summary)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{what}:", label)

    def load(self) -> None:
        super().load()
        self._show_summary()

    def enter(self) -> None:
        self.load()

    def after_edit(self, name: str) -> None:
        self._show_summary()
