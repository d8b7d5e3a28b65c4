"""Checks of the files a job uploads (dataset, local model) before anything is launched."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lambda_gui.core.dataset_format import (
    DatasetFormat,
    DatasetFormatError,
    detect_format,
    is_hub_path,
    parse_rows,
)
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig

# Enough rows to catch a wrong layout without reading a huge file twice.
_PREVIEW_BYTES = 8 * 1024 * 1024


async def check_local_inputs(cfg: TrainingConfig) -> DatasetFormat | None:
    """Raise ConfigError naming the field when the dataset or local model cannot be used."""
    return await asyncio.to_thread(_check_sync, cfg)


def _check_sync(cfg: TrainingConfig) -> DatasetFormat | None:
    if cfg.model_source == "local":
        model = Path(cfg.base_model).expanduser()
        if not (model / "config.json").is_file():
            raise ConfigError(
                "base_model",
                f"{str(model)!r} is not a model folder (no config.json in it). Choose the "
                "folder save_pretrained wrote, or use a Hugging Face Hub id with model_source "
                "'huggingface'.",
            )
    if is_hub_path(cfg.dataset_path):
        return None
    path = Path(cfg.dataset_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            "dataset_path", f"{str(path)!r} does not exist. Choose a JSONL, JSON or CSV file."
        )
    with path.open("rb") as fh:
        head = fh.read(_PREVIEW_BYTES)
    complete = len(head) < _PREVIEW_BYTES
    text = head.decode("utf-8", errors="strict" if complete else "ignore")
    if not complete:
        # Only whole lines: the last one was probably cut by the read limit.
        text = text[: text.rfind("\n") + 1]
    try:
        rows = parse_rows(text, path.name, limit=None if complete else 2000)
        return detect_format(rows, text_field=cfg.text_field, declared=cfg.dataset_format)
    except (DatasetFormatError, UnicodeDecodeError) as exc:
        raise ConfigError("dataset_path", f"{path.name}: {exc}") from exc
