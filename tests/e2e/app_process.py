"""A stand-in for the app in its own process, for the kill-and-restart tests: it connects,
optionally submits the demo job, prints every phase change as a JSON line, and waits until
every job is settled. Run: python -m tests.e2e.app_process submit|resume.

Environment: XDG_DATA_HOME (the app's data, shared by the runs), SIM_BASE_URL, SIM_API_KEY,
SIM_KEY_PATH, TINY_MODEL, and PAUSE_BEFORE_LAUNCH=1 to hold the first run's launch before it
is sent."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from lambda_gui import LambdaLabsConnector
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.services.events import JobLogEvents, JobPhaseChanged
from lambda_gui.services.job_runner import JobRunner
from tests.e2e.conftest import FAST, demo_config


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def hold_launches() -> None:
    original = JobRunner._launch

    async def paused(self: JobRunner, job: Any, resource: Any) -> bool:
        emit(event="about-to-launch", job=job.id)
        await asyncio.sleep(120)
        return await original(self, job, resource)

    JobRunner._launch = paused  # type: ignore[method-assign]


async def main(mode: str) -> None:
    if os.environ.get("PAUSE_BEFORE_LAUNCH") == "1" and mode == "submit":
        hold_launches()  # the first run only: the restarted app launches at once
    c = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), timing=FAST)

    def listen(event: object) -> None:
        if isinstance(event, JobPhaseChanged):
            emit(event="phase", job=event.job_id, phase=event.phase.value, message=event.message)
        elif isinstance(event, JobLogEvents):
            emit(event="log-events", job=event.job_id, count=len(event.events))

    c.events.subscribe(listen)
    await c.connect(
        {
            "api_key": os.environ["SIM_API_KEY"],
            "ssh_key_path": os.environ["SIM_KEY_PATH"],
            "base_url": os.environ["SIM_BASE_URL"],
        }
    )
    emit(event="connected")
    if mode == "submit":
        job_id = await c.submit_job(demo_config(Path(os.environ["TINY_MODEL"]), max_steps=30))
        emit(event="submitted", job=job_id)
    for _ in range(600):
        jobs = await c.list_jobs()
        if all(j.phase.is_terminal and not j.billing.may_bill for j in jobs):
            break
        await asyncio.sleep(0.5)
    emit(
        event="done",
        jobs=[
            {"id": j.id, "phase": j.phase.value, "billing": j.billing.value, "error": j.error}
            for j in await c.list_jobs()
        ],
        orphans=[o.name for o in await c.find_orphans()],
    )
    await c.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
