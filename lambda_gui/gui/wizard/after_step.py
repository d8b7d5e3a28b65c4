"""The wizard's "After training" step without Qt: its fields and checks, the estimates of the
draft's after-training steps (core.after_training_plan) and their wording.

The step goes between limits and review (add_after_step); the page is after_page.py, and the
review and the Launch button add its estimate to the training plan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from lambda_gui.core.after_training_plan import (
    AfterTrainingPlan,
    Machine,
    StepEstimate,
    plan_after_training,
    sample_count,
    space_warnings,
)
from lambda_gui.core.models import Resource
from lambda_gui.core.planner import JobSize, Plan, plan_job
from lambda_gui.core.wizard import FieldError, FieldSpec, Step, Wizard, WizardState

AFTER_KEY = "after"


def _resource(state: WizardState) -> Resource | None:
    name = state.draft.get("resource_id")
    return next((r for r in state.resources if r.name == name), None)


@dataclass(frozen=True)
class Sizing:
    """What the after-training estimates are computed from: the job and the chosen type."""

    job: JobSize
    resource: Resource
    machine: Machine


def sizing(state: WizardState) -> Sizing | None:
    """The job size and the chosen type with its price; None until both are known."""
    resource = _resource(state)
    job = state.job_size()
    if resource is None or job is None or state.pricing_of is None:
        return None
    return Sizing(job, resource, Machine.of(resource, state.pricing_of(resource)))


@dataclass(frozen=True)
class JobEstimate:
    """Training (the planner's plan) and the after-training steps, billed together."""

    plan: Plan
    after: AfterTrainingPlan
    seconds: float
    cost: float


def estimate_job(state: WizardState) -> JobEstimate | None:
    """The whole job's billed time and cost: the plan's, plus the after-training steps',
    billed as one run (per minute) at the chosen type's terms."""
    found = sizing(state)
    if found is None or state.pricing_of is None:
        return None
    pricing = state.pricing_of(found.resource)
    plan = plan_job(found.job, found.resource, pricing)
    after = plan_after_training(found.job, found.machine, state.config())
    seconds = plan.total_seconds + after.seconds
    return JobEstimate(plan, after, seconds, pricing.cost_for(seconds))


def _check_after(state: WizardState) -> list[FieldError]:
    """Warnings: prompts beyond the count, too little RAM or disk for the merge, and caps the
    after-training steps would run into."""
    errors: list[FieldError] = []
    cfg = state.config()
    prompts = cfg.sample_prompts if isinstance(cfg.sample_prompts, list) else []
    answered = sample_count(cfg)
    if 0 < answered < len(prompts):
        errors.append(
            FieldError(
                "sample_prompts",
                f"Only the first {answered} of the {len(prompts)} prompts are answered: raise "
                "the count of samples to answer them all.",
                warning=True,
            )
        )
    found = sizing(state)
    if found is None:
        return errors
    for message in space_warnings(found.job, found.resource, cfg):
        errors.append(FieldError("merge", message, warning=True))
    estimate = estimate_job(state)
    if estimate is not None:
        errors += _cap_warnings(state, estimate)
    return errors


def _cap_warnings(state: WizardState, estimate: JobEstimate) -> list[FieldError]:
    """Caps that training alone stays under but training and these steps do not."""
    plan = estimate.plan
    if not estimate.after.steps:
        return []
    errors: list[FieldError] = []
    budget = state.draft.get("budget_usd")
    if _positive(budget) and plan.cost <= budget < estimate.cost:
        errors.append(
            FieldError(
                "budget_usd",
                f"The budget cap (${budget:,.2f}) is below training and these steps together "
                f"(about ${estimate.cost:,.2f}): the job may be stopped before they finish. "
                "Raise the cap on the Limits step, or choose fewer steps.",
                warning=True,
            )
        )
    minutes = state.draft.get("max_runtime_minutes")
    if _positive(minutes) and plan.total_seconds <= minutes * 60 < estimate.seconds:
        errors.append(
            FieldError(
                "max_runtime_minutes",
                f"The run-time cap ({minutes:g} min) is below training and these steps "
                f"together (about {estimate.seconds / 60:.0f} min): the job may be stopped "
                "before they finish. Raise the cap on the Limits step, or choose fewer steps.",
                warning=True,
            )
        )
    return errors


def _positive(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


AFTER_STEP = Step(
    AFTER_KEY,
    "After training",
    (
        FieldSpec("samples", "Samples", "int"),
        FieldSpec("sample_max_new_tokens", "New tokens per answer", "int"),
        FieldSpec("sample_prompts", "Prompts", "list"),
        FieldSpec("merge", "Merge", "bool"),
        FieldSpec("gguf", "GGUF", "list"),
    ),
    _check_after,
)


def add_after_step(wizard: Wizard) -> Wizard:
    """`wizard` with the After training step before its review (once)."""
    steps = wizard.steps
    if all(s.key != AFTER_KEY for s in steps):
        wizard.steps = (*steps[:-1], AFTER_STEP, steps[-1])
    return wizard


# --- wording ----------------------------------------------------------------------------------


def short_duration(seconds: float) -> str:
    """A duration as after-training steps take them: "25 s", "12 min", "1 h 05 min"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min"


def money(dollars: float) -> str:
    """Dollars to the cent: "$0.03", and "under $0.01" rather than "$0.00"."""
    return "under $0.01" if dollars < 0.005 else f"${dollars:,.2f}"


def size_text(count: float) -> str:
    """Bytes in decimal units, as disks and links count them: "16.1 GB", "267 KB"."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            value = count / scale
            return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{int(count)} bytes"


def estimate_text(estimate: StepEstimate, name_type: bool = True) -> str:
    """One step's estimate: "≈ 40 s on gpu_1x_h100_pcie, $0.03; downloads 16.1 GB" (small
    downloads left out; the type's name only when `name_type`)."""
    where = f" on {estimate.resource_name}" if name_type else ""
    text = f"≈ {short_duration(estimate.seconds)}{where}, {money(estimate.dollars)}"
    if estimate.download_bytes >= 1e6:
        text += f"; downloads {size_text(estimate.download_bytes)}"
    return text


def total_text(after: AfterTrainingPlan) -> str:
    """The chosen steps together, in words."""
    if not after.steps:
        return "nothing after training: only the adapter is downloaded"
    cost = money(after.dollars)
    cost = cost if cost.startswith("under") else f"about {cost}"
    text = f"about {short_duration(after.seconds)} more billed, {cost}"
    if after.download_bytes >= 1e6:
        text += f"; downloads {size_text(after.download_bytes)}"
    return text


STEP_NAMES = {
    "samples": "samples",
    "merge": "merge",
    "gguf_f16": "GGUF f16",
    "gguf_q8_0": "GGUF q8_0",
}


def chosen_text(after: AfterTrainingPlan) -> str:
    """The chosen steps and their total ("samples, merge: about 20 min more billed, ..."),
    or that nothing follows training."""
    if not after.steps:
        return total_text(after)
    names = ", ".join(STEP_NAMES.get(s.key, s.title) for s in after.steps)
    return f"{names}: {total_text(after)}"
