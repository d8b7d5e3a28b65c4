"""`python -m lambda_gui.simulator`: the JSON line, working credentials, clean exit."""

from __future__ import annotations

import asyncio
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.plugins.simulator import SimulatorProcess, start_simulator_process
from tests.simulator.helpers import DEFAULT_REGION, DEFAULT_TYPE, bearer, connect, pid_alive, run


async def _api(proc: SimulatorProcess, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession(headers=bearer(proc.api_key)) as session,
        session.request(method, proc.base_url + path, json=body) as reply,
    ):
        assert reply.status == 200, await reply.text()
        return (await reply.json())["data"]


async def test_standalone_serves_launches_and_cleans_up_on_sigterm(
    sim_process: SimulatorProcess,
) -> None:
    key_path = Path(sim_process.ssh_key_path)
    root = key_path.parent.parent
    assert sim_process.base_url.startswith("http://127.0.0.1:")
    assert sim_process.base_url.endswith("/api/v1")
    assert stat.S_IMODE((await asyncio.to_thread(key_path.stat)).st_mode) == 0o600
    keys = await _api(sim_process, "GET", "/ssh-keys")
    body = {
        "region_name": DEFAULT_REGION,
        "instance_type_name": DEFAULT_TYPE,
        "ssh_key_names": [keys[0]["name"]],
    }
    instance_id = (await _api(sim_process, "POST", "/instance-operations/launch", body))[
        "instance_ids"
    ][0]
    for _ in range(200):
        data = await _api(sim_process, "GET", f"/instances/{instance_id}")
        if data["status"] == "active":
            break
        await asyncio.sleep(0.05)
    client = await asyncio.to_thread(connect, data["ssh_port"], key_path)
    _, out, _ = await asyncio.to_thread(
        run, client, "setsid nohup sleep 300 > /dev/null 2>&1 < /dev/null & echo $!"
    )
    client.close()
    pid = int(out)
    assert pid_alive(pid) and root.is_dir()

    assert await asyncio.to_thread(sim_process.stop) == 0
    # The kill is sent before the simulator exits; under load the process (and its reaping
    # by init) can take a moment longer.
    for _ in range(100):
        if not pid_alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not pid_alive(pid)
    assert not root.exists()


def test_ctrl_c_exits_cleanly_and_removes_files() -> None:
    running = start_simulator_process()
    root = Path(running.ssh_key_path).parent.parent
    assert root.is_dir()
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(20) == 0
    running.stderr.close()
    assert not root.exists()


def test_human_output_and_port_option() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_gui.simulator", "--boot-seconds", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("Lambda Cloud simulator at http://127.0.0.1:")
        assert process.stdout.readline().startswith("API key:      secret_")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_busy_port_is_a_readable_error() -> None:
    running = start_simulator_process()
    try:
        port = running.base_url.split(":")[2].split("/")[0]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "lambda_gui.simulator", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1 and "simulator:" in result.stderr
        assert time.monotonic() - started < 30
    finally:
        running.stop()
