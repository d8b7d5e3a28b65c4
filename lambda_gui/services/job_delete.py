"""Deleting a finished job from this computer: its row in the job store and its folder.

Only local files go; nothing on Lambda Cloud is asked or changed. A job is deleted only once
it is over and nothing of it may bill: a job whose instance may still cost money stays listed,
so the banners, the quit prompt and the cloud watch keep seeing it."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Protocol

from lambda_gui.core.errors import LambdaGUIError
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.store import JobRecord


class JobRows(Protocol):
    """The job store calls a deletion needs."""

    async def get_job(self, job_id: str) -> JobRecord:
        """The stored job (JobNotFoundError when there is none)."""
        ...

    async def delete_job(self, job_id: str) -> bool:
        """Remove the job's row; False when there was none."""
        ...


@dataclass(frozen=True)
class JobFolder:
    """A job's folder on this computer and the bytes its files hold (0 when it is missing)."""

    path: Path
    bytes: int


@dataclass(frozen=True)
class DeletedJob:
    """What a deletion removed: the job's folder and the bytes it held."""

    path: Path
    bytes: int


class JobNotDeletableError(LambdaGUIError, RuntimeError):
    """The job may still bill or is not over: it is kept."""


def not_deletable(job: JobRecord) -> str | None:
    """Why `job` cannot be deleted now, in words; None when it can."""
    if job.billing.may_bill:
        return (
            f"Its instance may still be billing ({job.billing.label}): terminate it, or wait "
            "until Lambda confirms it gone, before deleting the job."
        )
    if not job.phase.is_terminal:
        return "The job is not over yet: cancel it, or wait until it ends, before deleting it."
    return None


def job_folder_path(paths: AppPaths, job_id: str) -> Path:
    """The job's folder (AppPaths.job_dir without creating it); ValueError for an id that is
    not one plain folder name."""
    if job_id in ("", ".", "..") or PurePath(job_id).name != job_id:
        raise ValueError(f"{job_id!r} is not a job id")
    return paths.root / "jobs" / job_id


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder`, a link counted as itself (0 when missing)."""
    total = 0
    for root, dirs, files in os.walk(folder):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in (*files, *links):
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # gone meanwhile
    return total


async def job_folder(store: JobRows, paths: AppPaths, job_id: str) -> JobFolder:
    """The folder a deletion of `job_id` would remove, and its size (JobNotFoundError if the
    store does not know the job)."""
    await store.get_job(job_id)
    folder = job_folder_path(paths, job_id)
    return JobFolder(folder, await asyncio.to_thread(folder_bytes, folder))


async def delete_job(store: JobRows, paths: AppPaths, job_id: str) -> DeletedJob:
    """Delete a finished job's row and folder; JobNotDeletableError (nothing deleted) while it
    may bill or is not over."""
    job = await store.get_job(job_id)
    why = not_deletable(job)
    if why is not None:
        raise JobNotDeletableError(f"Job {job_id} was not deleted. {why}")
    folder = job_folder_path(paths, job_id)
    size = await asyncio.to_thread(folder_bytes, folder)
    # The row goes first: once it is gone nothing reads or re-creates the folder for the job.
    await store.delete_job(job_id)
    try:
        await asyncio.to_thread(_remove_tree, folder)
    except OSError as exc:
        raise JobNotDeletableError(
            f"Job {job_id} is no longer listed, but its folder {folder} could not be removed "
            f"({exc.strerror or exc}).",
            suggestion="Delete that folder by hand; nothing in it is used any more.",
        ) from exc
    return DeletedJob(folder, size)


def _remove_tree(folder: Path) -> None:
    """Remove `folder` and everything in it (links removed, never followed)."""
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
