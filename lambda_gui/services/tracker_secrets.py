"""Tracker secrets (HF_TOKEN, WANDB_API_KEY, ...) between a config, the keyring and the job.

A submitted config's secret values go to the keyring (credentials.CredentialStore) and only
their names are stored with the job (core/tracker_secrets.py); when the job starts on its
instance, the values are read back and sent over the SSH channel's stdin into the training
process's environment (remote/bundle.py START_COMMAND): never a file, a log or a command line.
"""

from __future__ import annotations

from typing import Protocol

from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.core.tracker_secrets import secret_values, without_secret_values


class SecretKeeper(Protocol):
    """Where tracker secrets are kept (CredentialStore is one)."""

    async def secret(self, name: str) -> str | None:
        """The value saved under a variable name, if any."""
        ...

    async def save_secret(self, name: str, value: str) -> bool:
        """Keep a value; False when it is kept for this session only."""
        ...


class SessionSecrets:
    """Secrets kept in memory for this process only (a library user who passes no keeper)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    async def secret(self, name: str) -> str | None:
        """The value given earlier in this session, if any."""
        return self._values.get(name)

    async def save_secret(self, name: str, value: str) -> bool:
        """Keep the value in memory; always False (nothing is saved)."""
        self._values[name] = value
        return False


async def stash_secrets(cfg: TrainingConfig, keeper: SecretKeeper) -> TrainingConfig:
    """Put the secret values typed in `cfg` into `keeper`; `cfg` with only their names."""
    for name, value in secret_values(cfg.tracker_env).items():
        await keeper.save_secret(name, value)
    return without_secret_values(cfg)


async def tracker_environment(cfg: TrainingConfig, keeper: SecretKeeper) -> dict[str, str]:
    """Every tracker variable the job runs with: settings, typed secrets and saved ones.

    ConfigError naming tracker_env when a saved secret is no longer there (another computer,
    a keyring that was reset, a session-only value after a restart)."""
    env = dict(cfg.tracker_env)
    missing = []
    for name in cfg.tracker_secrets:
        if env.get(name):
            continue
        value = await keeper.secret(name)
        if value:
            env[name] = value
        else:
            missing.append(name)
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            "tracker_env",
            f"The job needs {names}, which is not saved in this computer's keyring (a keyring "
            "that was reset, or one that keeps values for one session only). Type it in the "
            "wizard's Tracker settings, or remove it from the job.",
        )
    return env
