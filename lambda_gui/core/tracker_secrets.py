"""Which tracker settings are secrets, and a config with their values taken out (pure).

A TrainingConfig's ``tracker_env`` maps variable names to values for the tracker and the Hub
(WANDB_PROJECT=..., HF_TOKEN=...). Values whose names mark them as secrets (a KEY, TOKEN,
SECRET or PASSWORD word in the name) never go to disk: the services keep them in the OS keyring
and the stored or saved config lists only their names in ``tracker_secrets``
(services/tracker_secrets.py). Other settings (a project name, a tracking URI) stay in the
config as typed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from lambda_gui.core.models import TrainingConfig

# Words of a variable name that make its value a secret: WANDB_API_KEY, HF_TOKEN,
# AWS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_PASSWORD, DATABRICKS_TOKEN, AWS_SESSION_TOKEN.
SECRET_WORDS = frozenset({"KEY", "TOKEN", "SECRET", "PASSWORD", "PASS", "CREDENTIALS", "PAT"})
# Offered in the wizard's masked fields; others can be typed.
KNOWN_SECRETS = (
    "HF_TOKEN",
    "WANDB_API_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
)


def is_secret_name(name: str) -> bool:
    """True for a variable whose value is a secret (by the words in its name)."""
    return any(word in SECRET_WORDS for word in name.upper().split("_"))


def secret_values(env: Mapping[str, str]) -> dict[str, str]:
    """The secrets typed in `env` (names with a non-empty value)."""
    return {k: v for k, v in env.items() if is_secret_name(k) and v}


def plain_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The settings in `env` that are not secrets."""
    return {k: v for k, v in env.items() if not is_secret_name(k)}


def without_secret_values(cfg: TrainingConfig) -> TrainingConfig:
    """`cfg` as it may be written down: secret values out of ``tracker_env``, their names in
    ``tracker_secrets`` (where the names already listed stay)."""
    return dataclasses.replace(
        cfg, tracker_env=plain_settings(cfg.tracker_env), tracker_secrets=secret_names(cfg)
    )


def secret_names(cfg: TrainingConfig) -> list[str]:
    """Every secret the job needs: typed now or kept in the keyring."""
    return sorted(set(cfg.tracker_secrets) | set(secret_values(cfg.tracker_env)))
