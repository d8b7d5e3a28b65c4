"""Hyperparameter presets are valid TrainingConfig values and apply without side effects."""

from __future__ import annotations

import dataclasses

import pytest

from lambda_gui.core.config_validation import config_errors
from lambda_gui.core.models import TrainingConfig
from lambda_gui.core.presets import PRESETS, apply_preset, matching_preset, preset_values

FIELDS = {f.name for f in dataclasses.fields(TrainingConfig)}


@pytest.mark.parametrize("key", list(PRESETS))
def test_presets_set_only_real_fields_and_validate(key: str) -> None:
    values = preset_values(key)
    assert set(values) <= FIELDS
    cfg = TrainingConfig(base_model="Qwen/Qwen2.5-0.5B", dataset_path="data.jsonl", **values)
    assert config_errors(cfg) == []


def test_presets_grow_from_quick_to_quality() -> None:
    quick, balanced, quality = (preset_values(k) for k in ("quick_test", "balanced", "quality"))
    assert quick["max_steps"] > 0 and balanced["max_steps"] == quality["max_steps"] == -1
    assert quick["rank"] < balanced["rank"] < quality["rank"]
    assert quick["max_seq_length"] < balanced["max_seq_length"] < quality["max_seq_length"]


def test_apply_keeps_other_fields_and_copies_lists() -> None:
    draft = {"base_model": "m", "rank": 4, "dataset_path": "d.jsonl"}
    applied = apply_preset(draft, "balanced")
    assert applied["base_model"] == "m" and applied["rank"] == 16
    assert draft["rank"] == 4
    applied["target_modules"].append("extra")
    assert "extra" not in preset_values("balanced")["target_modules"]
    assert matching_preset(apply_preset(draft, "quality")) == "quality"
    assert matching_preset(draft) is None


def test_unknown_preset_says_which_exist() -> None:
    with pytest.raises(KeyError, match="quick_test"):
        preset_values("fast")
