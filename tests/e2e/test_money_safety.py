"""Limits, billing warnings, self-termination, the offline queue and the orphan sweep, on the
simulator: nothing is left billing without the app knowing and showing it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import JobStatus, LambdaLabsConnector
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase
from lambda_gui.services.events import BillingWarning, JobPhaseChanged, OrphansFound
from lambda_gui.services.instance_control import Timing
from tests.e2e.conftest import FAST, demo_config
from tests.remote.key_exposure import key_exposures

pytestmark = pytest.mark.slow
TERMINATE = "/api/v1/instance-operations/terminate"


class FastClock:
    """Wall time running `factor` times faster from the moment it is made."""

    def __init__(self, factor: float) -> None:
        self.start = time.time()
        self.factor = factor

    def __call__(self) -> float:
        return self.start + (time.time() - self.start) * self.factor


async def _connector(sim: Any, **kw: Any) -> LambdaLabsConnector:
    kw.setdefault("timing", FAST)
    c = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), **kw)
    await c.connect(
        {"api_key": sim.api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
    )
    return c


async def _wait_phase(c: LambdaLabsConnector, job_id: str, *phases: JobPhase) -> None:
    for _ in range(600):
        if (await c.get_job(job_id)).phase in phases:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {phases}")


@pytest.mark.parametrize("cap", ["runtime", "budget"])
async def test_caps_stop_the_job_and_terminate(sim: Any, tiny_model: Path, cap: str) -> None:
    # 600x: one real second is ten billed minutes.
    timing = Timing(**{**FAST.__dict__, "limits_poll_s": 0.2})
    c = await _connector(sim, timing=timing, clock=FastClock(600))
    try:
        limits = {"max_runtime_minutes": 30.0} if cap == "runtime" else {"budget_usd": 2.0}
        job_id = await c.submit_job(demo_config(tiny_model, max_steps=100_000, **limits))
        await _wait_phase(c, job_id, JobPhase.CANCELLED, JobPhase.FAILED, JobPhase.COMPLETED)
        job = await c.get_job(job_id)
        assert job.phase is JobPhase.CANCELLED, job.error
        assert job.error and ("run-time cap" if cap == "runtime" else "budget cap") in job.error
        assert job.billing is Billing.TERMINATED
        assert sim.instance_status(job.instance_id) in ("terminating", "terminated", None)
    finally:
        await c.disconnect()


async def test_a_failing_terminate_keeps_the_billing_warning_up(sim: Any, tiny_model: Path) -> None:
    c = await _connector(sim)
    warnings: list[BillingWarning] = []

    def listen(event: object) -> None:
        if isinstance(event, BillingWarning):
            warnings.append(event)
        if isinstance(event, JobPhaseChanged) and event.phase is JobPhase.DOWNLOADING:
            # From here on Lambda refuses every terminate.
            sim.faults.fail_next(1000, kind="500", method="POST", path_prefix=TERMINATE)

    c.events.subscribe(listen)
    try:
        job_id = await c.submit_job(demo_config(tiny_model, max_steps=10))
        await _wait_phase(c, job_id, JobPhase.COMPLETED, JobPhase.FAILED)
        job = await c.get_job(job_id)
        assert job.billing is Billing.TERMINATING
        assert sim.instance_status(job.instance_id) == "active"
        assert warnings and not warnings[-1].resolved
        assert "may still be billing" in warnings[-1].message
        assert [j.id for j in await c.billing_jobs()] == [job_id]

        sim.faults.clear()
        await c.retry_terminations()
        assert (await c.get_job(job_id)).billing is Billing.TERMINATED
        assert warnings[-1].resolved
    finally:
        await c.disconnect()


async def test_self_termination_when_the_app_goes_silent(sim: Any, tiny_model: Path) -> None:
    c = await _connector(sim)
    await c.set_auto_terminate(False)
    job_id = await c.submit_job(
        demo_config(tiny_model, max_steps=10, self_terminate=True, self_terminate_grace_minutes=0.1)
    )
    await _wait_phase(c, job_id, JobPhase.COMPLETED, JobPhase.FAILED)
    job = await c.get_job(job_id)
    assert job.phase is JobPhase.COMPLETED and job.billing is Billing.BILLING
    await c.disconnect()  # the app goes silent: no more heartbeats
    for _ in range(300):
        if sim.instance_status(job.instance_id) in ("terminating", "terminated", None):
            break
        await asyncio.sleep(0.1)
    assert sim.instance_status(job.instance_id) in ("terminating", "terminated", None)


async def test_without_the_opt_in_the_key_never_reaches_the_instance(
    sim: Any, tiny_model: Path
) -> None:
    c = await _connector(sim)
    try:
        await c.set_auto_terminate(False)
        job_id = await c.submit_job(demo_config(tiny_model, max_steps=10))
        await _wait_phase(c, job_id, JobPhase.COMPLETED, JobPhase.FAILED)
        job = await c.get_job(job_id)
        assert job.instance_id and sim.instance_status(job.instance_id) == "active"
        assert key_exposures(sim.instance_home(job.instance_id), sim.api_key) == []
        assert await c.cancel_job(job_id) is True
    finally:
        await c.disconnect()


async def test_a_job_submitted_while_lambda_is_down_launches_once_when_back(
    sim: Any, tiny_model: Path
) -> None:
    timing = Timing(**{**FAST.__dict__, "queue_retry_s": 0.3})
    c = await _connector(sim, timing=timing)
    try:
        sim.faults.fail_next(100_000, kind="reset")
        job_id = await c.submit_job(demo_config(tiny_model, max_steps=10))
        assert (await c.get_job(job_id)).phase is JobPhase.QUEUED
        await asyncio.sleep(1.5)  # a few queue retries against the dead API
        assert (await c.get_job(job_id)).phase is JobPhase.QUEUED
        sim.faults.clear()
        lines = [line async for line in c.stream_logs(job_id)]
        assert await c.get_job_status(job_id) is JobStatus.COMPLETED, lines[-20:]
        launches = [r for r in sim.requests if r.path.endswith("/launch") and r.status == 200]
        assert len(launches) == 1
    finally:
        await c.disconnect()


async def test_orphans_are_found_shown_and_terminated(sim: Any, tiny_model: Path) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {sim.api_key}"}
    body = {
        "region_name": "us-east-1",
        "instance_type_name": "gpu_1x_a10",
        "ssh_key_names": [sim.test_key_name],
        "name": "lambda-gui-0123456789ab",
    }
    sim.set_capacity("gpu_1x_a10", "us-east-1", 5)
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{sim.base_url}/instance-operations/launch", json=body, headers=headers
        ) as r:
            orphan_id = (await r.json())["data"]["instance_ids"][0]
    found: list[OrphansFound] = []
    timing = Timing(**{**FAST.__dict__, "sweep_s": 0.3})
    c = await _connector(sim, timing=timing)
    c.events.subscribe(lambda e: found.append(e) if isinstance(e, OrphansFound) else None)
    try:
        (orphan,) = await c.find_orphans()
        assert orphan.instance_id == orphan_id and orphan.dollars_per_hour > 0
        await asyncio.sleep(0.5)
        assert found and found[-1].orphans[0].instance_id == orphan_id
        # A failed list never reads as "no orphans".
        sim.faults.fail_next(100, kind="500", method="GET", path_prefix="/api/v1/instances")
        with pytest.raises(ConnectionError):
            await c.find_orphans()
        sim.faults.clear()
        assert await c.terminate_instance(orphan_id)
        assert await c.find_orphans() == []
    finally:
        await c.disconnect()


async def test_diverging_loss_stops_the_job_when_asked(sim: Any, tiny_model: Path) -> None:
    c = await _connector(sim)
    phases: list[JobPhase] = []
    c.events.subscribe(lambda e: phases.append(e.phase) if isinstance(e, JobPhaseChanged) else None)
    try:
        # The tiny model's logits come from its frozen (tied) embeddings through a norm, so
        # its loss cannot blow up to NaN; LoRA on q/v alone at lr 0.9 does not even rise (7.68
        # -> 8.47 at most, then it learns). On every linear layer the same rate throws it up
        # at once: 7.68, 11.65, 10.35, ~9.8, ~14.5, ~14, ~13 (the later steps vary a little
        # with the CPU thread count): well over 1.2x its best for three readings in a row.
        # max_steps keeps it training long after that, so only the guard can end it.
        cfg = demo_config(
            tiny_model,
            max_steps=100_000,
            learning_rate=0.9,
            target_modules=["all-linear"],
            stop_on_divergence=True,
            divergence_ratio=1.2,
            logging_steps=1,
        )
        job_id = await c.submit_job(cfg)
        await _wait_phase(c, job_id, JobPhase.CANCELLED, JobPhase.COMPLETED, JobPhase.FAILED)
        job = await c.get_job(job_id)
        assert job.phase is JobPhase.CANCELLED, (job.phase, job.error)
        assert job.error and "training loss rose" in job.error, job.error
        assert job.billing is Billing.TERMINATED
        assert JobPhase.RUNNING in phases
    finally:
        await c.disconnect()
