"""Plain-HTTP and paramiko helpers for the simulator's own tests (no project client)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import paramiko

from lambda_gui.simulator import Simulator
from lambda_gui.simulator.processes import process_alive

DEFAULT_TYPE = "gpu_1x_a10"
DEFAULT_REGION = "us-east-1"


def bearer(key: str) -> dict[str, str]:
    """Authorization header with a bearer key."""
    return {"Authorization": f"Bearer {key}"}


async def call(
    sim: Simulator,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request to sim.base_url + path; returns (status, parsed JSON or raw bytes)."""
    hdrs = bearer(sim.api_key) if headers is None else headers
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        hdrs = {**hdrs, "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.base_url + path, data=data, headers=hdrs) as reply,
    ):
        content = await reply.read()
        try:
            return reply.status, json.loads(content)
        except ValueError:
            return reply.status, content


async def launch(sim: Simulator, key_name: str, **fields: Any) -> str:
    """Launch one instance (defaults: gpu_1x_a10 in us-east-1); returns its id."""
    body = {
        "region_name": DEFAULT_REGION,
        "instance_type_name": DEFAULT_TYPE,
        "ssh_key_names": [key_name],
        **fields,
    }
    status, reply = await call(sim, "POST", "/instance-operations/launch", body)
    assert status == 200, reply
    ids: list[str] = reply["data"]["instance_ids"]
    assert len(ids) == 1
    return ids[0]


async def get_instance(sim: Simulator, instance_id: str) -> dict[str, Any]:
    """GET /instances/{id} data (asserts 200)."""
    status, reply = await call(sim, "GET", f"/instances/{instance_id}")
    assert status == 200, reply
    data: dict[str, Any] = reply["data"]
    return data


async def wait_status(
    sim: Simulator, instance_id: str, status: str, within: float = 10.0
) -> dict[str, Any]:
    """Poll GET /instances/{id} until it reports `status`."""
    deadline = time.monotonic() + within
    while True:
        data = await get_instance(sim, instance_id)
        if data["status"] == status:
            return data
        assert time.monotonic() < deadline, f"still {data['status']}, wanted {status}"
        await asyncio.sleep(0.05)


async def launch_active(sim: Any, **fields: Any) -> tuple[str, dict[str, Any]]:
    """Launch with the fixture's key and wait until active."""
    instance_id = await launch(sim, sim.test_key_name, **fields)
    return instance_id, await wait_status(sim, instance_id, "active")


def connect(port: int, key_path: Path | str, user: str = "ubuntu") -> paramiko.SSHClient:
    """A paramiko login (blocking: call it through asyncio.to_thread)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username=user,
        key_filename=str(key_path),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        auth_timeout=10,
    )
    return client


def run(client: paramiko.SSHClient, command: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Exec a command; returns (exit status, stdout, stderr). Blocking."""
    channel = client.get_transport().open_session()  # type: ignore[union-attr]
    channel.exec_command(command)
    if stdin:
        channel.sendall(stdin)
    channel.shutdown_write()
    out = channel.makefile("rb").read()
    err = channel.makefile_stderr("rb").read()
    status = channel.recv_exit_status()
    channel.close()
    return status, out, err


#: Whether a process exists and is not a zombie.
pid_alive = process_alive
