"""When a job must be stopped for the user's limits: run time, budget, a diverging loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lambda_gui.core.models import PricingInfo


@dataclass(frozen=True)
class JobCost:
    """What one job has cost so far, by the billing terms."""

    seconds: float
    dollars: float


def job_cost(pricing: PricingInfo, billed_since: float | None, now: float) -> JobCost:
    """Cost of an instance that has billed since `billed_since` (None: not billing yet)."""
    if billed_since is None:
        return JobCost(0.0, 0.0)
    seconds = max(0.0, now - billed_since)
    return JobCost(seconds, pricing.cost_for(seconds))


def limit_reached(
    cost: JobCost, *, max_runtime_minutes: float | None, budget_usd: float | None
) -> str | None:
    """Why the job must stop now, or None."""
    if max_runtime_minutes is not None and cost.seconds >= max_runtime_minutes * 60:
        return (
            f"its run-time cap of {_minutes(max_runtime_minutes * 60)} was reached "
            f"(${cost.dollars:.2f} spent)"
        )
    if budget_usd is not None and cost.dollars >= budget_usd:
        return (
            f"its budget cap of ${budget_usd:.2f} was reached after "
            f"{_minutes(cost.seconds)} (${cost.dollars:.2f} spent)"
        )
    return None


def total_limit_reached(costs: list[JobCost], budget_usd: float | None) -> str | None:
    """Why all running jobs must stop for the cap over all of them, or None."""
    total = sum(c.dollars for c in costs)
    if budget_usd is not None and costs and total >= budget_usd:
        return f"the cap of ${budget_usd:.2f} over all running jobs was reached (${total:.2f})"
    return None


class LossGuard:
    """Spots a diverging training loss: one that is NaN or infinite, or that stays above
    `ratio` times its best (lowest so far) for `patience` readings in a row.

    The best starts at the first reading: a loss that jumps right away (a learning rate far
    too high) is divergence as much as one that climbs back up late in a run. Single spikes
    are noise and do not count; nor do rises of a loss that is already about zero: the best
    is taken as at least `floor`, so 0.001 -> 0.003 (three times a tiny best) is no
    divergence.

    A NaN only reaches the log when the trainer does not hide it: transformers' default
    `logging_nan_inf_filter` logs a NaN loss as the window's average, 0.0 once every step is
    NaN, which is why train.py turns that filter off.
    """

    def __init__(self, ratio: float = 2.0, patience: int = 3, floor: float = 0.01) -> None:
        self.ratio = ratio
        self.patience = max(1, patience)
        self.floor = floor
        self.best = math.inf
        self.rising = 0

    def feed(self, loss: float) -> str | None:
        """The reason to stop after this training loss, or None."""
        if not math.isfinite(loss):
            return f"the training loss became {loss} (diverged)"
        if loss < self.best:
            self.best = loss
            self.rising = 0
            return None
        if loss > max(self.best, self.floor) * self.ratio:
            self.rising += 1
            if self.rising >= self.patience:
                return (
                    f"the training loss rose to {loss:.4g}, over {self.ratio:g}x its best "
                    f"({self.best:.4g}), {self.rising} times in a row"
                )
        else:
            self.rising = 0
        return None


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"
