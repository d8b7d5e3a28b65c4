"""Jobs on the simulator through random faults, checked after every step (hypothesis stateful):
lost launch replies, 429/5xx bursts, SSH drops, the app stopped and started again on the same
data dir, terminates refused for a while, a full disk during the download.

After every step: at most one instance per job was ever launched; billing is `terminated` only
where Lambda says the instance is terminating or gone; every instance of ours that bills belongs
to a job the app shows as possibly billing. At the end (faults cleared): every job reached a
terminal phase whose reason is true, and no adapter that training produced was lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lambda_gui import LambdaLabsConnector
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.job_state import Billing, Phase
from lambda_gui.services.instance_control import Timing
from lambda_gui.services.job_context import job_id_of
from lambda_gui.services.paths import AppPaths
from lambda_gui.simulator import Simulator, SimulatorConfig
from lambda_gui.simulator.tiny_model import build_tiny_model
from tests.e2e.conftest import FAST, demo_config

pytestmark = pytest.mark.slow

# About 10 s an example on a 2-core machine; LGUI_STATEFUL_EXAMPLES raises it for a long soak.
EXAMPLES = int(os.environ.get("LGUI_STATEFUL_EXAMPLES", "12"))
STEPS = 8
TERMINATE = "/instance-operations/terminate"
BILLING_STATUSES = ("booting", "active", "unhealthy")
TIMING = Timing(**{**FAST.__dict__, "launch_lookup_s": 2.0, "queue_retry_s": 0.5, "sweep_s": 1.0})
_Usage = namedtuple("_Usage", "total used free")
_MODEL: list[Path] = []


def _tiny_model() -> Path:
    if not _MODEL:
        _MODEL.append(build_tiny_model(Path(tempfile.mkdtemp(prefix="stateful-model-")) / "m"))
    return _MODEL[0]


class JobLifecycleMachine(RuleBasedStateMachine):
    """One simulator, one app data dir, a connector that may be stopped and started again."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="stateful-"))
        self.sim = Simulator(
            SimulatorConfig(
                root_dir=self.dir / "sim",
                boot_seconds=0.3,
                terminate_seconds=0.2,
                terminated_linger_seconds=30.0,
                rate_limits=False,
                extra_env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            )
        )
        self.run(self.sim.start())
        self.key_path = self.sim.generate_key_pair("stateful-key")
        self.launched: list[Any] = []
        admit = self.sim.account.admit_launch

        def recording_admit(*args: Any, **kwargs: Any) -> Any:
            record = admit(*args, **kwargs)
            self.launched.append(record)
            return record

        self.sim.account.admit_launch = recording_admit  # type: ignore[method-assign]
        self.disk_full = False
        real_usage = shutil.disk_usage
        self._real_usage = real_usage
        shutil.disk_usage = self._disk_usage  # type: ignore[assignment]
        self.job_ids: list[str] = []
        self.connector: LambdaLabsConnector | None = None
        self.run(self._connect())

    # -- plumbing -------------------------------------------------------------------------

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _disk_usage(self, path: Any) -> Any:
        if self.disk_full:
            return _Usage(10**9, 10**9, 4096)
        return self._real_usage(path)

    async def _connect(self) -> None:
        c = LambdaLabsConnector(
            paths=AppPaths(self.dir / "app"),
            pacer=Pacer(min_interval=0.0, launch_interval=0.0),
            timing=TIMING,
        )
        await c.connect(
            {
                "api_key": self.sim.api_key,
                "ssh_key_path": str(self.key_path),
                "base_url": self.sim.base_url,
            }
        )
        self.connector = c

    def _c(self) -> LambdaLabsConnector:
        assert self.connector is not None
        return self.connector

    def _live(self) -> list[Any]:
        return [r for r in self.launched if r.status in BILLING_STATUSES]

    # -- rules ----------------------------------------------------------------------------

    @initialize(lost_reply=st.booleans(), burst=st.sampled_from(["", "429", "500", "503"]))
    def first_job(self, lost_reply: bool, burst: str) -> None:
        self.submit(lost_reply, burst)

    @precondition(lambda self: len(self.job_ids) < 2)
    @rule(lost_reply=st.booleans(), burst=st.sampled_from(["", "429", "500", "503"]))
    def submit(self, lost_reply: bool, burst: str) -> None:
        if lost_reply:
            event("a launch reply was lost")
            self.sim.faults.drop_next_launch_reply()
        if burst:
            self.sim.faults.fail_next(2, kind=burst, method="GET", path_prefix="/instances")
        try:
            job_id = self.run(self._c().submit_job(demo_config(_tiny_model(), max_steps=4)))
        except (RuntimeError, ConnectionError, ValueError):
            return  # refused: nothing may have been left behind (checked by the invariants)
        self.job_ids.append(job_id)

    @rule(kind=st.sampled_from(["429", "500", "503"]), n=st.integers(1, 4))
    def api_burst(self, kind: str, n: int) -> None:
        self.sim.faults.fail_next(n, kind=kind)

    @rule()
    def ssh_drop(self) -> None:
        event("SSH connections dropped")
        for record in self._live():
            if record.status == "active":
                self.sim.drop_ssh_connections(record.id)

    @rule(n=st.integers(1, 6))
    def refuse_terminates(self, n: int) -> None:
        event("terminates refused")
        self.sim.faults.fail_next(n, kind="500", method="POST", path_prefix=TERMINATE)

    @rule(full=st.booleans())
    def disk(self, full: bool) -> None:
        event(f"disk full: {full}")
        self.disk_full = full

    @rule()
    def restart_app(self) -> None:
        event("app stopped and started again")
        self.run(self._c().disconnect())
        self.connector = None
        self.run(self._connect())

    @rule(seconds=st.sampled_from([0.5, 2.0, 5.0]))
    def let_time_pass(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    # -- after every step ---------------------------------------------------------------------

    @invariant()
    def at_most_one_instance_per_job(self) -> None:
        per_job: dict[str | None, int] = {}
        for record in self.launched:
            per_job[_job_of(record)] = per_job.get(_job_of(record), 0) + 1
        assert all(n == 1 for n in per_job.values()), per_job

    @invariant()
    def terminated_only_when_lambda_says_so(self) -> None:
        if self.connector is None:
            return
        for job in self.run(self._c().list_jobs()):
            if job.billing is Billing.TERMINATED:
                assert job.instance_id is not None
                assert self.sim.instance_status(job.instance_id) in (
                    "terminating",
                    "terminated",
                    "preempted",
                    None,
                ), (job.id, self.sim.instance_status(job.instance_id))

    @invariant()
    def every_billing_instance_is_shown(self) -> None:
        if self.connector is None:
            return
        jobs = {j.id: j for j in self.run(self._c().list_jobs())}
        for record in self._live():
            job = jobs.get(_job_of(record) or "")
            assert job is not None and job.billing.may_bill, (record.name, job)

    # -- the end --------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            self.sim.faults.clear()
            self.disk_full = False
            if self.connector is not None:
                self.run(self._settle())
        finally:
            shutil.disk_usage = self._real_usage  # type: ignore[assignment]
            if self.connector is not None:
                self.run(self._c().disconnect())
            self.run(self.sim.stop())
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    async def _settle(self) -> None:
        c = self._c()
        for _ in range(900):
            jobs = await c.list_jobs()
            for job in jobs:
                if job.phase is Phase.DOWNLOADING and job.error:
                    event("a download failed and kept its instance")
                    await c.retry_download(job.id)
            if all(j.phase.is_terminal and not j.billing.may_bill for j in jobs):
                break
            if all(j.phase.is_terminal for j in jobs):
                await c.retry_terminations()
            await asyncio.sleep(0.2)
        jobs = {j.id: j for j in await c.list_jobs()}
        assert set(self.job_ids) <= set(jobs)
        for job in jobs.values():
            event(f"job ended {job.phase.value}")
            assert job.phase.is_terminal, (job.id, job.phase, job.error)
            assert not job.billing.may_bill, (job.id, job.billing, job.error)
            mine = [r for r in self.launched if _job_of(r) == job.id]
            produced = any(_adapter_made(r, job.id) for r in mine)
            if job.phase is Phase.COMPLETED:
                assert job.adapter_path and Path(job.adapter_path).is_file()
            else:
                assert job.error, job.id
                assert not produced, f"job {job.id} lost the adapter training made: {job.error}"
            if job.phase is Phase.FAILED and "did not go through" in (job.error or ""):
                assert not mine, f"job {job.id} says never launched, but {mine[0].id} was"
        assert not self._live(), [r.name for r in self._live()]


def _job_of(record: Any) -> str | None:
    from lambda_gui.cloud.wire import decode_instance

    return job_id_of(decode_instance(record.to_json()))


def _adapter_made(record: Any, job_id: str) -> bool:
    return (record.home / "lambda-gui" / "jobs" / job_id / "adapter.tar.gz.sha256").is_file()


JobLifecycleMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
test_job_lifecycle_under_faults = JobLifecycleMachine.TestCase
