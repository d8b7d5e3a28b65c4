"""Resume on the simulator with the tiny model: a job stopped half-way continues from its last
checkpoint on a new instance, its steps go on, and it ends where an uninterrupted run ends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import LambdaLabsConnector
from lambda_gui.core.errors import ArtifactMissingError, JobNotFinishedError
from lambda_gui.core.logparse import MetricEvent, expand_runs
from lambda_gui.core.models import JobPhase
from lambda_gui.services.events import JobLogEvents
from tests.e2e.conftest import demo_config

pytestmark = pytest.mark.slow

STEPS = 40
SAVE_EVERY = 10


def _losses(connector: LambdaLabsConnector, job_id: str) -> dict[int, float]:
    path = connector.paths.job_dir(job_id) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {int(r["step"]): float(r["loss"]) for r in rows if r.get("loss") is not None}


async def _finish(connector: LambdaLabsConnector, job_id: str) -> None:
    async for _ in connector.stream_logs(job_id):
        pass


async def test_a_job_stopped_half_way_resumes_and_ends_like_an_uninterrupted_one(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    cfg = demo_config(tiny_model, max_steps=STEPS, save_steps=SAVE_EVERY, samples=0, seed=11)

    # The reference: the same job, uninterrupted.
    whole = await connector.submit_job(cfg)
    await _finish(connector, whole)
    assert (await connector.get_job(whole)).phase is JobPhase.COMPLETED
    with pytest.raises(JobNotFinishedError):
        await connector.resume_job(whole)

    # Stopped (as a cap stops it) once it is past its first checkpoint.
    stopped = await connector.submit_job(cfg)
    cancelling: list[asyncio.Task[bool]] = []

    def stop_after_first_save(event: object) -> None:
        if cancelling or not isinstance(event, JobLogEvents) or event.job_id != stopped:
            return
        steps = [e.step for e in expand_runs(event.events) if isinstance(e, MetricEvent) and e.step]
        if steps and max(steps) > SAVE_EVERY:
            cancelling.append(asyncio.ensure_future(connector.cancel_job(stopped)))

    connector.events.subscribe(stop_after_first_save)
    await _finish(connector, stopped)
    assert cancelling and await cancelling[0]
    job = await connector.get_job(stopped)
    assert job.phase is JobPhase.CANCELLED, job.error
    stopped_steps = _losses(connector, stopped)
    assert max(stopped_steps) < STEPS, "the job was stopped before its end"

    resumed = await connector.resume_job(stopped)
    assert (await connector.get_job(resumed)).config.resume_of == stopped
    await _finish(connector, resumed)
    job = await connector.get_job(resumed)
    assert job.phase is JobPhase.COMPLETED, job.error

    # Its steps continue the old axis from the checkpoint, and it ends where the whole run
    # ended: same data order, optimizer, scheduler and RNG state.
    resumed_steps = _losses(connector, resumed)
    reference = _losses(connector, whole)
    checkpoint = min(resumed_steps) - cfg.logging_steps
    assert checkpoint % SAVE_EVERY == 0 and 0 < checkpoint <= max(stopped_steps), sorted(
        resumed_steps
    )
    assert max(resumed_steps) == STEPS
    tail = sorted(resumed_steps)[-5:]
    final = sum(resumed_steps[s] for s in tail) / len(tail)
    expected = sum(reference[s] for s in tail) / len(tail)
    print(
        f"checkpoint {checkpoint}; loss over steps {tail[0]}-{tail[-1]}: resumed {final:.4f}, "
        f"uninterrupted {expected:.4f}; per step "
        + ", ".join(
            f"{s}: {resumed_steps[s]:.3f}/{reference[s]:.3f}" for s in sorted(resumed_steps)
        )
    )
    assert final == pytest.approx(expected, rel=0.05)


async def test_a_job_without_a_checkpoint_says_why_it_cannot_resume(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    job_id = await connector.submit_job(demo_config(tiny_model, samples=0))
    await connector.cancel_job(job_id)
    assert (await connector.get_job(job_id)).phase is JobPhase.CANCELLED
    with pytest.raises(ArtifactMissingError, match="no checkpoint"):
        await connector.resume_job(job_id)
