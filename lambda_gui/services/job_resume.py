"""Resume a stopped job: a new job, on a new instance, that continues from the old one's last
checkpoint (weights, optimizer, scheduler and RNG state) with the same settings, so its step
numbers go on where the old job's stopped (docs/after-training.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

from lambda_gui.core.errors import ArtifactMissingError, ChecksumMismatchError, JobNotFinishedError
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services.store import JobRecord

# What a stopped job brought back from its instance (job_remote.py saves it under this name).
CHECKPOINT_FILE = "checkpoint.tar.gz"
_RESUMABLE = (JobPhase.CANCELLED, JobPhase.FAILED)


def checkpoint_path(job_dir: Path) -> Path:
    """Where a stopped job's last checkpoint is kept locally."""
    return job_dir / CHECKPOINT_FILE


def can_resume(job: JobRecord, job_dir: Path) -> bool:
    """True when `resume_config` would accept the job (for a Resume button)."""
    return job.phase in _RESUMABLE and checkpoint_path(job_dir).is_file()


async def resume_config(job: JobRecord, job_dir: Path) -> TrainingConfig:
    """The config of the job that continues `job`, once its checkpoint is checked."""
    if job.phase not in _RESUMABLE:
        raise JobNotFinishedError(
            f"Job {job.id} is {job.phase.value.replace('_', ' ')}: only a cancelled, capped or "
            "failed job is resumed.",
            suggestion="A completed job is done; clone it to train further with new settings.",
        )
    archive = checkpoint_path(job_dir)
    if not await asyncio.to_thread(archive.is_file):
        raise ArtifactMissingError(
            f"Job {job.id} brought back no checkpoint: it stopped before its first save, or "
            "its instance was gone before the app could copy one.",
            suggestion="Set 'Save a checkpoint every N steps' in the wizard and start it again.",
        )
    await asyncio.to_thread(_verify, archive, job.id)
    return dataclasses.replace(job.config, resume_of=job.id)


def _verify(archive: Path, job_id: str) -> None:
    side = archive.with_name(archive.name + ".sha256")
    try:
        expected = side.read_text(encoding="utf-8").split()[0].lower()
    except (FileNotFoundError, IndexError):
        raise ArtifactMissingError(
            f"The checkpoint of job {job_id} has no checksum file ({side.name}).",
            suggestion="It was not brought back completely; the job cannot be resumed.",
        ) from None
    digest = hashlib.sha256()
    with archive.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ChecksumMismatchError(
            f"The checkpoint of job {job_id} no longer matches its checksum (changed on disk); "
            "it cannot be resumed."
        )
