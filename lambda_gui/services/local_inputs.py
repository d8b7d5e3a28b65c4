"""Checks of the files a job uploads (dataset, local model) before anything is launched."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from lambda_gui.core.dataset_format import (
    DatasetFormat,
    DatasetFormatError,
    Progress,
    is_hub_path,
    validate_file,
)
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services.local_model import model_files

# Progress is passed on when it moved by this fraction of the file (or the file is done), so
# a big file wakes the event loop a few hundred times, not once per piece read.
_PROGRESS_STEP = 1 / 200


class _Abandoned(Exception):
    """The check was cancelled: stops the worker thread at its next piece."""


async def check_local_inputs(
    cfg: TrainingConfig, progress: Progress | None = None
) -> DatasetFormat | None:
    """Raise ConfigError naming the field when the dataset or local model cannot be used.

    The dataset is read whole (streamed) in a worker thread; `progress(bytes read, file size)`
    is called on the event loop as it goes. Cancelling stops the worker too."""
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()
    last = -1

    def report(done: int, total: int) -> None:
        nonlocal last
        if cancelled.is_set():
            raise _Abandoned
        if progress is not None and (done >= total or done - last >= total * _PROGRESS_STEP):
            last = done
            loop.call_soon_threadsafe(progress, done, total)

    try:
        return await asyncio.to_thread(_check_sync, cfg, report)
    except asyncio.CancelledError:
        cancelled.set()
        raise


def _check_sync(cfg: TrainingConfig, progress: Progress | None = None) -> DatasetFormat | None:
    if cfg.model_source == "local":
        # The walk the upload will do: names, links, config.json and complete weights.
        model_files(cfg.base_model)
    if is_hub_path(cfg.dataset_path):
        return None
    path = Path(cfg.dataset_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            "dataset_path", f"{str(path)!r} does not exist. Choose a JSONL, JSON or CSV file."
        )
    try:
        return validate_file(
            path, text_field=cfg.text_field, declared=cfg.dataset_format, progress=progress
        )
    except DatasetFormatError as exc:
        raise ConfigError("dataset_path", f"{path.name}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(
            "dataset_path",
            f"{path.name} cannot be read ({exc.strerror or exc}). Check that the file is "
            "readable, or choose another.",
        ) from exc
