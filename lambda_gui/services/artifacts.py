"""The adapter a completed job brought back: served as bytes, or copied where the user wants
it through a `.part` file, checked against the instance's sha256, then renamed into place."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from lambda_gui.core.errors import (
    ArtifactMissingError,
    ChecksumMismatchError,
    JobNotFinishedError,
)
from lambda_gui.core.models import JobPhase
from lambda_gui.services.store import JobRecord

Progress = Callable[[int, int], None]
_CHUNK = 1024 * 1024


def require_adapter(job: JobRecord) -> Path:
    """The verified local adapter of a completed job, or the seed's error for why not."""
    if job.phase is not JobPhase.COMPLETED:
        state = job.phase.value.replace("_", " ")
        why = f" ({job.error})" if job.error else ""
        raise JobNotFinishedError(
            f"Job {job.id} is {state}{why}; its adapter exists only once it has completed.",
            suggestion="Wait for the job to complete (get_job_status), or submit it again.",
        )
    if not job.adapter_path:
        raise ArtifactMissingError(f"Job {job.id} completed but recorded no adapter file.")
    return Path(job.adapter_path)


async def read_adapter(job: JobRecord) -> bytes:
    """The bytes of a completed job's adapter.tar.gz, checked against its sha256."""
    path = require_adapter(job)
    data = await asyncio.to_thread(_read_existing, path, job.id)
    expected = await asyncio.to_thread(_expected_digest, path)
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ChecksumMismatchError(
            f"The saved adapter of job {job.id} no longer matches its checksum (changed on disk)."
        )
    return data


async def copy_adapter(job: JobRecord, dest: Path, progress: Progress | None) -> Path:
    """Copy a completed job's adapter to `dest` via `<dest>.part`, verified, then renamed."""
    source = require_adapter(job)
    return await asyncio.to_thread(_copy_verified, source, dest, job.id, progress)


def _read_existing(path: Path, job_id: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactMissingError(
            f"The adapter of job {job_id} is missing from {path}.",
            suggestion="It was deleted or moved; the instance is gone, so train it again.",
        ) from exc


def _expected_digest(path: Path) -> str | None:
    side = path.with_name(path.name + ".sha256")
    try:
        text = side.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return None
    return text[0].lower() if text else None


def _copy_verified(source: Path, dest: Path, job_id: str, progress: Progress | None) -> Path:
    if not source.is_file():
        raise ArtifactMissingError(f"The adapter of job {job_id} is missing from {source}.")
    expected = _expected_digest(source)
    total = source.stat().st_size
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    done = 0
    with source.open("rb") as src, part.open("wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        out.flush()
        os.fsync(out.fileno())
    if expected and digest.hexdigest() != expected:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"The copy of job {job_id}'s adapter does not match its sha256; nothing was saved."
        )
    os.replace(part, dest)
    return dest
