"""The pipeline survives the network: SSH dropped while the log streams, and user text full
of shell metacharacters never reaching a shell."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gui import JobStatus, LambdaLabsConnector
from lambda_gui.core.models import JobPhase
from lambda_gui.remote import bundle as B
from lambda_gui.services.events import JobLogLines, JobPhaseChanged
from tests.e2e.conftest import demo_config

pytestmark = pytest.mark.slow


async def test_log_survives_ssh_drops_byte_identical(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    await connector.set_auto_terminate(False)
    running = asyncio.Event()
    chunks = 0

    def listen(event: object) -> None:
        nonlocal chunks
        if isinstance(event, JobPhaseChanged) and event.phase is JobPhase.RUNNING:
            running.set()
        if isinstance(event, JobLogLines):
            chunks += 1

    connector.events.subscribe(listen)
    job_id = await connector.submit_job(demo_config(tiny_model, max_steps=60, logging_steps=1))
    job = await connector.get_job(job_id)
    assert job.instance_id
    await asyncio.wait_for(running.wait(), 60)
    drops = 0
    while not (await connector.get_job(job_id)).phase.is_terminal and drops < 4:
        await asyncio.sleep(0.7)
        sim.drop_ssh_connections(job.instance_id)
        drops += 1
    async for _ in connector.stream_logs(job_id):
        pass
    assert await connector.get_job_status(job_id) is JobStatus.COMPLETED
    remote = sim.instance_home(job.instance_id) / B.job_dir(job_id) / B.LOG_FILE
    local = connector.paths.job_dir(job_id) / "train.log"
    assert drops >= 1 and chunks > 1
    assert local.read_bytes() == remote.read_bytes()
    assert await connector.cancel_job(job_id)  # terminates the instance left running


_TOKENS = list("$()`;|&<>'\"\\ *?{}[]!#~=%") + ["touch canary", "a", "$(", "`"]
# The project name is one line (validation says so); the other fields take newlines too.
_one_line = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=16).map("".join)
_nasty = st.lists(st.sampled_from([*_TOKENS, "\n"]), min_size=1, max_size=16).map("".join)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A secret with a newline is refused by validation (tests/core/test_config_validation.py).
@given(project=_one_line, output=_nasty, secret=_one_line, extra=_nasty)
async def test_shell_metacharacters_arrive_verbatim_and_run_nothing(
    sim: Any, tiny_model: Path, project: str, output: str, secret: str, extra: str
) -> None:
    from lambda_gui.cloud.pacing import Pacer
    from tests.e2e.conftest import FAST

    c = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), timing=FAST)
    await c.connect(
        {"api_key": sim.api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
    )
    try:
        await c.set_auto_terminate(False)
        cfg = demo_config(
            tiny_model,
            max_steps=2,
            project_name=project,
            output_dir=output,
            extra={"note": extra},
            report_to="tensorboard",
            tracker_env={"HF_TOKEN": secret},
        )
        job_id = await c.submit_job(cfg)
        async for _ in c.stream_logs(job_id):
            pass
        job = await c.get_job(job_id)
        assert job.instance_id
        home = sim.instance_home(job.instance_id)
        remote = json.loads((home / B.job_dir(job_id) / B.CONFIG_FILE).read_text())
        assert remote["project_name"] == project
        assert remote["output_dir"] == output
        assert remote["extra"] == {"note": extra}
        assert "HF_TOKEN" not in json.dumps(remote).replace('"HF_TOKEN"', "")
        assert not list(home.rglob("canary")), "a shell ran user-entered text"
        await c.cancel_job(job_id)
    finally:
        await c.disconnect()
