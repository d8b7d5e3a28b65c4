"""The app is SIGKILLed at each step of a job and started again: every job is reattached or
settled, and no simulator instance is left billing that the app does not show."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.simulator import Simulator, SimulatorConfig
from tests.spec_validation import SpecValidator

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "/api/v1/instance-operations/launch"
BILLING = ("booting", "active", "unhealthy")


@pytest.fixture
async def slow_boot_sim(tmp_path: Path) -> AsyncIterator[Any]:
    """A simulator whose instances take 2 s to boot, so 'while booting' can be hit."""
    validator = SpecValidator()
    sim = Simulator(
        SimulatorConfig(
            root_dir=tmp_path / "sim",
            boot_seconds=2.0,
            terminate_seconds=0.2,
            terminated_linger_seconds=60.0,
            rate_limits=False,
            validate_response=validator,
            extra_env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
    )
    await sim.start()
    sim.key_path = sim.generate_key_pair("kill-test-key")
    try:
        yield sim
    finally:
        await sim.stop()
    assert not validator.violations, validator.violations


async def _spawn(mode: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.e2e.app_process",
        mode,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _events(proc: asyncio.subprocess.Process) -> AsyncIterator[dict[str, Any]]:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        try:
            yield json.loads(line)
        except ValueError:
            continue


Trigger = Callable[[dict[str, Any], Any], bool]


def _phase(name: str) -> Trigger:
    return lambda e, sim: e.get("event") == "phase" and e.get("phase") == name


def _launch_sent(e: dict[str, Any], sim: Any) -> bool:
    return any(r.method == "POST" and r.path == LAUNCH for r in sim.requests)


STEPS: list[tuple[str, Trigger]] = [
    ("before the launch request", lambda e, sim: e.get("event") == "about-to-launch"),
    ("launch sent, no reply yet", _launch_sent),
    ("while booting", _phase("booting")),
    ("during set-up", _phase("setting_up")),
    ("during training", lambda e, sim: e.get("event") == "log-events"),
    ("during the download", _phase("downloading")),
]


@pytest.mark.parametrize("step,trigger", STEPS, ids=[s for s, _ in STEPS])
async def test_kill_at_each_step_then_restart(
    step: str, trigger: Trigger, slow_boot_sim: Any, tiny_model: Path, tmp_path: Path
) -> None:
    sim = slow_boot_sim
    env = dict(os.environ) | {
        "XDG_DATA_HOME": str(tmp_path / "app-data"),
        "SIM_BASE_URL": sim.base_url,
        "SIM_API_KEY": sim.api_key,
        "SIM_KEY_PATH": str(sim.key_path),
        "TINY_MODEL": str(tiny_model),
        "PYTHONUNBUFFERED": "1",
    }
    if step == "before the launch request":
        env["PAUSE_BEFORE_LAUNCH"] = "1"
    if step == "launch sent, no reply yet":
        sim.faults.delay_next(1, 30.0, method="POST", path_prefix=LAUNCH)

    first = await _spawn("submit", env)
    killed = False

    async def watch() -> None:
        nonlocal killed
        async for event in _events(first):
            if trigger(event, sim):
                first.send_signal(signal.SIGKILL)
                killed = True
                return

    async def poll_launch() -> None:
        # The launch's reply is held, so the app prints nothing: watch the simulator instead.
        while not _launch_sent({}, sim):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        first.send_signal(signal.SIGKILL)

    if step == "launch sent, no reply yet":
        await asyncio.wait_for(poll_launch(), 120)
        killed = True
    else:
        await asyncio.wait_for(watch(), 180)
    await first.wait()
    assert killed and first.returncode == -signal.SIGKILL

    second = await _spawn("resume", env)
    done: dict[str, Any] = {}
    async for event in _events(second):
        if event.get("event") == "done":
            done = event
    await asyncio.wait_for(second.wait(), 300)
    assert done, "the restarted app did not settle its jobs"
    (job,) = done["jobs"]
    billing = [r for r in sim.account.instances.values() if r.status in BILLING]
    shown = set(done["orphans"])
    left = [r.name for r in billing if r.name not in shown]
    print(f"ROW | {step} | {job['phase']} | {job['billing']} | {job['error'] or ''} | {left}")
    assert job["billing"] in ("none", "terminated"), job
    assert job["phase"] in ("completed", "failed", "cancelled")
    assert not left, f"instances left billing that the app does not show: {left}"
    if step != "launch sent, no reply yet":
        assert job["phase"] == "completed", job
