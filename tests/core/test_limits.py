from __future__ import annotations

import math

from lambda_gui.core.limits import (
    JobCost,
    LossGuard,
    job_cost,
    limit_reached,
    total_limit_reached,
)
from lambda_gui.core.models import PricingInfo

PRICE = PricingInfo("gpu_1x_a10", 1.29, billing_increment_seconds=60, minimum_charge_seconds=0)


def test_cost_counts_whole_minutes_from_the_launch() -> None:
    assert job_cost(PRICE, None, 100.0) == JobCost(0.0, 0.0)
    cost = job_cost(PRICE, 1000.0, 1000.0 + 61)
    assert cost.seconds == 61 and math.isclose(cost.dollars, 2 * 1.29 / 60)


def test_run_time_and_budget_caps() -> None:
    assert limit_reached(JobCost(59 * 60, 1.0), max_runtime_minutes=60, budget_usd=None) is None
    why = limit_reached(JobCost(60 * 60, 1.29), max_runtime_minutes=60, budget_usd=None)
    assert why is not None and "run-time cap of 60 min" in why
    why = limit_reached(JobCost(600, 5.0), max_runtime_minutes=None, budget_usd=5.0)
    assert why is not None and "budget cap of $5.00" in why
    assert limit_reached(JobCost(600, 4.99), max_runtime_minutes=None, budget_usd=5.0) is None
    assert total_limit_reached([JobCost(1, 3.0), JobCost(1, 2.5)], 5.0) is not None
    assert total_limit_reached([JobCost(1, 3.0)], 5.0) is None
    assert total_limit_reached([JobCost(1, 3.0)], None) is None


def test_loss_guard_stops_on_nan_and_on_a_sustained_rise() -> None:
    guard = LossGuard(ratio=2.0, patience=3)
    assert [guard.feed(x) for x in (3.0, 2.0, 1.0, 1.5, 2.5)] == [None] * 5
    assert guard.rising == 1
    assert guard.feed(2.2) is None and guard.rising == 2
    assert "rose" in (guard.feed(2.3) or "")  # the third in a row over 2x the best
    assert "nan" in (LossGuard().feed(float("nan")) or "")
    noisy = LossGuard(ratio=2.0, patience=3)
    for x in (1.0, 2.5, 1.2, 2.5, 1.1, 2.5):
        assert noisy.feed(x) is None
