from __future__ import annotations

import pytest

from lambda_gui import JobStatus, PricingInfo, TrainingConfig
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import MAX_CONFIG_NESTING, JobPhase


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


# --- from_dict on what a hostile or broken file holds --------------------------------------


def _deep(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("data", [[1, 2], "text", None, 5])
def test_from_dict_of_something_else_than_a_mapping_is_a_config_error(data: object) -> None:
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_dict(data, source="job.json")  # type: ignore[arg-type]
    assert info.value.field == "config" and "job.json" in str(info.value)


def test_from_dict_without_a_base_model_names_the_field_and_file() -> None:
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_dict({"rank": 4}, source="/tmp/saved.json")
    assert info.value.field == "base_model" and "/tmp/saved.json" in str(info.value)


@pytest.mark.parametrize("depth", [MAX_CONFIG_NESTING + 1, 100_000])
def test_from_dict_refuses_deep_nesting_instead_of_a_recursion_error(depth: int) -> None:
    data = {"base_model": "m", "extra": {"x": _deep(depth)}}
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_dict(data, source="draft.json")
    assert info.value.field == "extra" and isinstance(info.value, ValueError)
    assert f"more than {MAX_CONFIG_NESTING} levels" in str(info.value)
    assert "draft.json" in str(info.value)


def test_from_dict_keeps_ordinary_nesting() -> None:
    cfg = TrainingConfig.from_dict({"base_model": "m", "extra": {"x": _deep(20)}})
    assert cfg.to_dict()["extra"] == {"x": _deep(20)}
