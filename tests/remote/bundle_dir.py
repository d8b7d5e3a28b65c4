"""A job's folder as an instance has it, from the bundle the app would upload."""

from __future__ import annotations

from pathlib import Path

from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote.bundle import build_bundle


def write_bundle(
    directory: Path,
    cfg: TrainingConfig,
    *,
    job_id: str = "j",
    gpu_count: int = 1,
    dataset_name: str | None = "train.jsonl",
) -> Path:
    """Write the bundle's files (with their modes) into `directory`; returns it."""
    for item in build_bundle(cfg, job_id, gpu_count=gpu_count, dataset_name=dataset_name).files:
        (directory / item.path).write_bytes(item.data)
        (directory / item.path).chmod(item.mode)
    return directory
