"""Which tracker settings are secrets, and configs written with their names only."""

from __future__ import annotations

import json

import pytest

from lambda_gui.core.config_validation import validate_config
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.core.tracker_secrets import (
    KNOWN_SECRETS,
    is_secret_name,
    secret_names,
    without_secret_values,
)
from lambda_gui.core.wizard import config_to_json
from tests.core.test_config_validation import good


@pytest.mark.parametrize("name", [*KNOWN_SECRETS, "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["WANDB_PROJECT", "WANDB_ENTITY", "MLFLOW_TRACKING_URI", "HF_HOME", "WANDB_KEYWORD"]
)
def test_plain_settings(name: str) -> None:
    assert not is_secret_name(name)


def test_a_config_as_written_keeps_names_not_values() -> None:
    cfg = TrainingConfig(
        base_model="m",
        report_to="wandb",
        tracker_env={"WANDB_API_KEY": "k-123", "WANDB_PROJECT": "p", "HF_TOKEN": ""},
        tracker_secrets=["DATABRICKS_TOKEN"],
    )
    kept = without_secret_values(cfg)
    assert kept.tracker_env == {"WANDB_PROJECT": "p"}
    assert kept.tracker_secrets == ["DATABRICKS_TOKEN", "WANDB_API_KEY"]
    assert secret_names(cfg) == ["DATABRICKS_TOKEN", "WANDB_API_KEY"]
    text = config_to_json(cfg)
    assert "k-123" not in text
    assert json.loads(text)["config"]["tracker_secrets"] == ["DATABRICKS_TOKEN", "WANDB_API_KEY"]


def test_a_required_secret_may_be_kept_in_the_keyring() -> None:
    validate_config(good(report_to="wandb", tracker_secrets=["WANDB_API_KEY"]))
    with pytest.raises(ConfigError, match="needs WANDB_API_KEY"):
        validate_config(good(report_to="wandb"))
    with pytest.raises(ConfigError, match="not a secret's name"):
        validate_config(good(tracker_secrets=["WANDB_PROJECT"]))
    with pytest.raises(ConfigError, match="not a tracker or Hub setting"):
        validate_config(good(tracker_secrets=["PATH_KEY"]))
