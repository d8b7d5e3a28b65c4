"""Tracker secrets between a config and the keyring (an in-memory keyring backend)."""

from __future__ import annotations

import pytest

from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.tracker_secrets import (
    SessionSecrets,
    stash_secrets,
    tracker_environment,
)
from tests.gui.conftest import MemoryKeyring


async def test_stash_then_read_back() -> None:
    keyring = MemoryKeyring()
    store = CredentialStore(backend=keyring)
    cfg = TrainingConfig(base_model="m", tracker_env={"HF_TOKEN": "hf_abc", "WANDB_PROJECT": "p"})
    kept = await stash_secrets(cfg, store)
    assert kept.tracker_env == {"WANDB_PROJECT": "p"} and kept.tracker_secrets == ["HF_TOKEN"]
    assert "hf_abc" in keyring.values.values()
    # After a restart: a new store over the same keyring finds it by name.
    env = await tracker_environment(kept, CredentialStore(backend=keyring))
    assert env == {"HF_TOKEN": "hf_abc", "WANDB_PROJECT": "p"}


async def test_a_secret_gone_from_the_keyring_is_a_field_error() -> None:
    cfg = TrainingConfig(base_model="m", tracker_secrets=["HF_TOKEN", "WANDB_API_KEY"])
    with pytest.raises(ConfigError, match="HF_TOKEN, WANDB_API_KEY") as caught:
        await tracker_environment(cfg, SessionSecrets())
    assert caught.value.field == "tracker_env"


async def test_session_secrets_keep_for_this_process_only() -> None:
    keeper = SessionSecrets()
    assert await keeper.save_secret("HF_TOKEN", "x") is False
    assert await keeper.secret("HF_TOKEN") == "x"
