from __future__ import annotations

from lambda_gui import JobStatus, PricingInfo, TrainingConfig
from lambda_gui.core.models import JobPhase


def test_phase_maps_to_seed_status() -> None:
    assert JobPhase.SETTING_UP.status is JobStatus.RUNNING
    assert JobPhase.QUEUED.status.value == "pending"
    assert JobPhase.CANCELLED.is_terminal and not JobPhase.RUNNING.is_terminal


def test_config_round_trips_and_ignores_unknown_keys() -> None:
    cfg = TrainingConfig(base_model="m", rank=8, target_modules=["q_proj"])
    data = cfg.to_dict() | {"from_the_future": 1}
    assert TrainingConfig.from_dict(data) == cfg


def test_cost_rounds_up_to_the_increment() -> None:
    p = PricingInfo("t", price_per_hour=3.6, billing_increment_seconds=60, minimum_charge_seconds=0)
    assert p.cost_for(61) == 2 * 60 / 3600 * 3.6
    assert p.cost_for(0) == 0
