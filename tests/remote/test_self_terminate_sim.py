"""Self-termination on the simulator: a launch carries build_user_data(...) as its user_data,
the simulator runs it at boot, and the watchdog ends the instance through the simulator's API
(or does not) as the job and the heartbeat say."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path
from typing import Any

from lambda_gui.remote import self_terminate
from lambda_gui.remote.bundle import EXIT_CODE_FILE, job_dir
from lambda_gui.remote.self_terminate import HEARTBEAT_COMMAND, HEARTBEAT_FILE, build_user_data
from lambda_gui.simulator.processes import pids_of_instance
from tests.remote.key_exposure import key_exposures
from tests.remote.test_self_terminate_script import load_watchdog
from tests.simulator.helpers import connect, get_instance, launch, pid_alive, run, wait_status

GRACE_S = 2.0
POLL_S = 0.5
ENDED = ("terminating", "terminated")


async def launch_armed(
    sim: Any, job_id: str, *, max_runtime_s: float | None = None, grace_s: float = GRACE_S
) -> tuple[str, Path]:
    """Launch with the watchdog's user_data, wait until active and armed; (id, watchdog dir)."""
    user_data = build_user_data(
        api_key=sim.api_key,
        base_url=sim.base_url,
        instance_name=f"lambda-gui-{job_id}",
        job_id=job_id,
        max_runtime_s=max_runtime_s,
        grace_s=grace_s,
        poll_s=POLL_S,
    )
    instance_id = await launch(
        sim, sim.test_key_name, name=f"lambda-gui-{job_id}", user_data=user_data
    )
    await wait_status(sim, instance_id, "active")
    watchdog_dir = sim.instance_home(instance_id) / self_terminate.WATCHDOG_DIR
    log = watchdog_dir / self_terminate.WATCHDOG_LOG
    deadline = time.monotonic() + 10
    while not (log.exists() and "armed for" in log.read_text()):
        assert time.monotonic() < deadline, "the watchdog never armed"
        await asyncio.sleep(0.05)
    return instance_id, watchdog_dir


def armed_at(watchdog_dir: Path) -> float:
    return float(json.loads((watchdog_dir / self_terminate.CONFIG_FILE).read_text())["armed_at"])


def write_exit_code(sim: Any, instance_id: str, job_id: str) -> None:
    path = sim.instance_home(instance_id) / job_dir(job_id) / EXIT_CODE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("0\n")


async def wait_ended(sim: Any, instance_id: str, within: float) -> float:
    """Poll GET /instances/{id} until terminating or terminated; returns the wall time then."""
    deadline = time.monotonic() + within
    while True:
        status = (await get_instance(sim, instance_id))["status"]
        if status in ENDED:
            return time.time()
        assert time.monotonic() < deadline, f"still {status} after {within} s"
        await asyncio.sleep(0.1)


async def stays_active(sim: Any, instance_id: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert (await get_instance(sim, instance_id))["status"] == "active"
        await asyncio.sleep(0.2)


async def test_ended_job_and_silent_app_terminate_the_instance(sim: Any) -> None:
    instance_id, watchdog_dir = await launch_armed(sim, "job-ended")
    home = sim.instance_home(instance_id)
    key_file = watchdog_dir / self_terminate.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == sim.api_key
    # The key is in the 0600 file and nowhere else: not in a log, not in any argv or environ.
    assert key_exposures(home, sim.api_key, allowed=[key_file]) == []
    assert not (home / ".cloud-init" / "user-data").exists()
    watchdog_pid = int((watchdog_dir / self_terminate.WATCHDOG_PID).read_text())
    assert pid_alive(watchdog_pid)
    # The first two terminates fail (429, then 503); the watchdog backs off and tries again.
    terminate_path = "/instance-operations/terminate"
    sim.faults.fail_next(1, "429", method="POST", path_prefix=terminate_path)
    sim.faults.fail_next(1, "503", method="POST", path_prefix=terminate_path)

    write_exit_code(sim, instance_id, "job-ended")
    ended_at = await wait_ended(sim, instance_id, within=15)

    assert ended_at > armed_at(watchdog_dir) + GRACE_S, "terminated before the grace period"
    log = (watchdog_dir / self_terminate.WATCHDOG_LOG).read_text()
    assert f"terminating instance {instance_id}" in log
    assert "failed (429" in log and "failed (503 provider/internal-unavailable" in log
    assert sim.api_key not in log
    assert sim.api_key not in (home / "cloud-init-output.log").read_text()
    # Terminating powers the machine off: the watchdog (started from user_data) dies with it.
    deadline = time.monotonic() + 5
    while pid_alive(watchdog_pid) or pids_of_instance(instance_id):
        assert time.monotonic() < deadline, "the watchdog outlived its instance"
        await asyncio.sleep(0.05)


async def test_fresh_heartbeat_keeps_the_instance_until_the_app_falls_silent(sim: Any) -> None:
    grace = 3.0  # six beats per grace period: a busy machine does not fake a silence
    instance_id, watchdog_dir = await launch_armed(sim, "job-watched", grace_s=grace)
    home = sim.instance_home(instance_id)
    # The app's heartbeat is a fixed command over SSH; it writes the file the watchdog reads.
    client = await asyncio.to_thread(connect, sim.instance_ssh_port(instance_id), sim.test_key_path)
    try:
        status, _out, err = await asyncio.to_thread(run, client, HEARTBEAT_COMMAND)
    finally:
        client.close()
    assert status == 0, err
    heartbeat = home / HEARTBEAT_FILE
    assert abs(int(heartbeat.read_text()) - time.time()) < 5

    async def keep_beating() -> None:
        while True:
            heartbeat.touch()
            await asyncio.sleep(0.5)

    write_exit_code(sim, instance_id, "job-watched")
    beating = asyncio.create_task(keep_beating())
    try:
        await stays_active(sim, instance_id, grace + 2.5)
    finally:
        beating.cancel()
    silent_since = time.time()
    assert "heartbeat is fresh" in (watchdog_dir / self_terminate.WATCHDOG_LOG).read_text()

    ended_at = await wait_ended(sim, instance_id, within=grace + 6)
    assert ended_at - silent_since > grace - 1.0  # the last touch came up to 0.5 s earlier


async def test_run_time_cap_alone_terminates_a_silent_instance(sim: Any) -> None:
    cap = 3.5
    instance_id, watchdog_dir = await launch_armed(sim, "job-capped", max_runtime_s=cap, grace_s=1)
    start = armed_at(watchdog_dir)
    # Silent past the grace period, but the job has not ended and the cap has not passed.
    await asyncio.sleep(max(0.0, start + 2.0 - time.time()))
    await stays_active(sim, instance_id, max(0.0, start + cap - 0.3 - time.time()))

    ended_at = await wait_ended(sim, instance_id, within=8)
    assert ended_at > start + cap
    assert "run-time cap" in (watchdog_dir / self_terminate.WATCHDOG_LOG).read_text()


async def test_disarmed_watchdog_exits_and_leaves_the_instance(sim: Any) -> None:
    instance_id, watchdog_dir = await launch_armed(sim, "job-kept", grace_s=1)
    home = sim.instance_home(instance_id)
    disarm = home / self_terminate.DISARM_FILE
    disarm.parent.mkdir(parents=True, exist_ok=True)
    disarm.touch()
    write_exit_code(sim, instance_id, "job-kept")
    watchdog_pid = int((watchdog_dir / self_terminate.WATCHDOG_PID).read_text())
    deadline = time.monotonic() + 5
    while pid_alive(watchdog_pid):
        assert time.monotonic() < deadline, "the disarmed watchdog kept running"
        await asyncio.sleep(0.05)
    assert "disarmed" in (watchdog_dir / self_terminate.WATCHDOG_LOG).read_text()
    await stays_active(sim, instance_id, 1.5)


async def test_two_live_instances_with_its_name_are_left_alone(sim: Any) -> None:
    name = "lambda-gui-job-twice"
    first = await launch(sim, sim.test_key_name, name=name)
    second = await launch(sim, sim.test_key_name, name=name)
    await wait_status(sim, first, "active")
    await wait_status(sim, second, "active")
    wd = load_watchdog()
    config = wd.Config(sim.base_url, name, "job-twice", None, 1.0, 1.0, time.time())
    dog = wd.Watchdog(str(sim.instance_home(first) / ".lambda-gui-watchdog"), config, sim.api_key)
    try:
        await asyncio.to_thread(dog.terminate_self)
    except wd.ApiError as error:
        assert error.code == "ambiguous"
    else:
        raise AssertionError("terminate_self went ahead with two candidates")
    for instance_id in (first, second):
        assert (await get_instance(sim, instance_id))["status"] == "active"
    # A wrong key comes back as Lambda's error envelope, read into code and message.
    wrong = wd.Watchdog(dog.dir, config, "secret_wrong_00.00")
    try:
        await asyncio.to_thread(wrong.terminate_self)
    except wd.ApiError as error:
        assert (error.status, error.code) == (401, "global/invalid-api-key")
    else:
        raise AssertionError("a wrong key was accepted")
