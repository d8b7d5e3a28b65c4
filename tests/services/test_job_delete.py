"""Deleting a finished job (services/job_delete.py): its store row and its folder go, nothing
else; a job that may still bill or is not over is refused with nothing deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services.job_delete import (
    DeletedJob,
    JobNotDeletableError,
    delete_job,
    folder_bytes,
    job_folder,
    job_folder_path,
    not_deletable,
)
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.store import JobRecord, JobStore


def record(
    job_id: str = "0123456789ab",
    phase: JobPhase = JobPhase.COMPLETED,
    billing: Billing = Billing.TERMINATED,
) -> JobRecord:
    return JobRecord(
        id=job_id,
        config=TrainingConfig(base_model="tiny", project_name="demo"),
        phase=phase,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=129,
        billing=billing,
    )


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    return AppPaths(tmp_path / "data")


@pytest.fixture
async def store(paths: AppPaths) -> AsyncIterator[JobStore]:
    s = JobStore(paths.store)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def _fill(folder: Path) -> int:
    (folder / "sub").mkdir(parents=True)
    (folder / "train.log").write_bytes(b"x" * 1000)
    (folder / "adapter.tar.gz").write_bytes(b"y" * 2345)
    (folder / "sub" / "samples.json").write_bytes(b"{}")
    return 1000 + 2345 + 2


async def test_a_finished_job_loses_its_row_and_folder_and_nothing_else(
    store: JobStore, paths: AppPaths, tmp_path: Path
) -> None:
    keep = record("aaaaaaaaaaaa")
    gone = record()
    for job in (keep, gone):
        await store.insert_job(job)
    folder = paths.job_dir(gone.id)
    size = _fill(folder)
    other = paths.job_dir(keep.id) / "train.log"
    other.write_text("kept")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"z" * 50)
    (folder / "link").symlink_to(outside)  # removed as a link, its target untouched

    measured = await job_folder(store, paths, gone.id)
    assert measured.path == folder and measured.bytes == size + len(str(outside))

    deleted = await delete_job(store, paths, gone.id)
    assert deleted == DeletedJob(folder, size + len(str(outside)))
    assert not folder.exists()
    assert outside.read_bytes() == b"z" * 50
    with pytest.raises(JobNotFoundError):
        await store.get_job(gone.id)
    assert [j.id for j in await store.list_jobs()] == [keep.id]
    assert other.read_text() == "kept"


@pytest.mark.parametrize("billing", [b for b in Billing if b.may_bill], ids=lambda b: str(b.value))
async def test_a_job_that_may_bill_is_refused_and_kept(
    store: JobStore, paths: AppPaths, billing: Billing
) -> None:
    job = record(billing=billing)
    await store.insert_job(job)
    size = _fill(paths.job_dir(job.id))
    reason = not_deletable(job)
    assert reason is not None and "billing" in reason
    with pytest.raises(JobNotDeletableError, match="may still be billing"):
        await delete_job(store, paths, job.id)
    assert (await store.get_job(job.id)).billing is billing
    assert folder_bytes(paths.job_dir(job.id)) == size


@pytest.mark.parametrize("phase", [p for p in JobPhase if not p.is_terminal], ids=str)
async def test_a_job_that_is_not_over_is_refused(
    store: JobStore, paths: AppPaths, phase: JobPhase
) -> None:
    job = record(phase=phase, billing=Billing.NONE)
    await store.insert_job(job)
    with pytest.raises(JobNotDeletableError, match="not over"):
        await delete_job(store, paths, job.id)
    assert (await store.get_job(job.id)).phase is phase


@pytest.mark.parametrize("phase", [JobPhase.FAILED, JobPhase.CANCELLED, JobPhase.COMPLETED])
@pytest.mark.parametrize("billing", [Billing.NONE, Billing.TERMINATED])
def test_every_finished_job_that_bills_no_more_may_go(phase: JobPhase, billing: Billing) -> None:
    assert not_deletable(record(phase=phase, billing=billing)) is None


async def test_a_job_without_a_folder_is_deleted_and_no_folder_is_made(
    store: JobStore, paths: AppPaths
) -> None:
    job = record(phase=JobPhase.FAILED, billing=Billing.NONE)
    await store.insert_job(job)
    folder = job_folder_path(paths, job.id)
    assert (await job_folder(store, paths, job.id)).bytes == 0
    assert not folder.exists()
    assert await delete_job(store, paths, job.id) == DeletedJob(folder, 0)
    assert not folder.exists()
    assert await store.list_jobs() == []


async def test_an_unknown_job_is_not_found(store: JobStore, paths: AppPaths) -> None:
    with pytest.raises(JobNotFoundError):
        await delete_job(store, paths, "0123456789ab")
    with pytest.raises(JobNotFoundError):
        await job_folder(store, paths, "0123456789ab")


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/etc"])
def test_a_job_id_must_be_one_folder_name(paths: AppPaths, bad: str) -> None:
    with pytest.raises(ValueError):
        job_folder_path(paths, bad)
