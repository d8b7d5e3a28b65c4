from __future__ import annotations

from pathlib import Path

import pytest

from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services.store import JobRecord, JobStore


async def test_jobs_survive_reopening(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.sqlite3")
    await store.open()
    cfg = TrainingConfig(base_model="org/m", target_modules=["q_proj"], rank=4)
    await store.insert_job(
        JobRecord(
            id="abc",
            config=cfg,
            phase=JobPhase.PENDING,
            instance_name="lambda-gui-abc",
            instance_type="gpu_1x_a10",
        )
    )
    await store.update_job(
        "abc", phase=JobPhase.RUNNING, instance_id="i1", log_offset=42, billing="may_bill"
    )
    await store.set_setting("default_region", "us-east-1")
    await store.close()

    again = JobStore(tmp_path / "s.sqlite3")
    await again.open()
    job = await again.get_job("abc")
    assert (job.phase, job.instance_id, job.log_offset, job.billing) == (
        JobPhase.RUNNING,
        "i1",
        42,
        "may_bill",
    )
    assert job.config == cfg
    assert await again.get_setting("default_region") == "us-east-1"
    assert [j.id for j in await again.list_jobs()] == ["abc"]
    with pytest.raises(JobNotFoundError):
        await again.get_job("nope")
    with pytest.raises(ValueError):
        await again.update_job("abc", bogus=1)
    await again.close()
