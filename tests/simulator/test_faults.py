"""Injected faults, rate limits, the request log and the /_sim/ control endpoints."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lambda_gui.simulator import Simulator, SimulatorConfig
from tests.simulator.helpers import (
    DEFAULT_REGION,
    DEFAULT_TYPE,
    bearer,
    call,
    get_instance,
    launch,
    wait_status,
)
from tests.spec_validation import SpecValidator

LAUNCH = "/instance-operations/launch"


def launch_body(sim: Any) -> dict[str, Any]:
    return {
        "region_name": DEFAULT_REGION,
        "instance_type_name": DEFAULT_TYPE,
        "ssh_key_names": [sim.test_key_name],
    }


async def test_fail_next_500_then_normal(sim: Any) -> None:
    sim.faults.fail_next(2, kind="500")
    for _ in range(2):
        status, reply = await call(sim, "GET", "/instances")
        assert status == 500 and reply["error"]["code"] == "global/internal-error"
    assert (await call(sim, "GET", "/instances"))[0] == 200
    assert [r.fault for r in sim.requests] == ["500", "500", None]


async def test_fail_next_filters_by_method_and_path(sim: Any) -> None:
    sim.faults.fail_next(1, kind="503", method="POST", path_prefix="/ssh-keys")
    assert (await call(sim, "GET", "/ssh-keys"))[0] == 200
    assert (await call(sim, "GET", "/instances"))[0] == 200
    status, reply = await call(sim, "POST", "/ssh-keys", {"name": "k"})
    assert status == 503 and reply["error"]["code"] == "provider/internal-unavailable"
    assert sim.faults.pending == 0


async def test_fail_next_429_has_retry_after_and_bodies_alternate(sim: Any) -> None:
    sim.faults.fail_next(2, kind="429", path_prefix="/instances")
    bodies = []
    async with aiohttp.ClientSession(headers=bearer(sim.api_key)) as session:
        for _ in range(2):
            async with session.get(sim.base_url + "/instances") as reply:
                assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
                bodies.append((reply.content_type, await reply.text()))
    assert bodies[0][0] == "application/json" and "error" in bodies[0][1]
    assert bodies[1][0] == "text/plain"


async def test_provider_error_with_a_400(sim: Any) -> None:
    sim.faults.fail_next(1, kind="provider-400", path_prefix="/instances")
    status, reply = await call(sim, "GET", "/instances")
    assert status == 400 and reply["error"]["code"] == "provider/internal-unavailable"
    assert reply["error"]["message"] and reply["error"]["suggestion"]


async def test_json_404_without_lambdas_envelope(sim: Any) -> None:
    sim.faults.fail_next(1, kind="404-no-envelope", method="POST")
    status, reply = await call(sim, "POST", "/instance-operations/terminate", {})
    assert status == 404 and reply == {"detail": "Not Found"}
    assert sim.requests[-1].fault == "404-no-envelope"


async def test_html_502_page(sim: Any) -> None:
    sim.faults.fail_next(1, kind="html")
    status, body = await call(sim, "GET", "/images")
    assert status == 502 and isinstance(body, bytes) and b"<html>" in body


async def test_reset_closes_connection_without_reply(sim: Any) -> None:
    sim.faults.fail_next(1, kind="reset", method="POST", path_prefix="/ssh-keys")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(sim, "POST", "/ssh-keys", {"name": "never"})
    assert (await call(sim, "GET", "/ssh-keys"))[1]["data"][0]["name"] == sim.test_key_name
    assert sim.requests[0].status == 0 and sim.requests[0].fault == "reset"


async def test_truncated_reply_after_handling(sim: Any) -> None:
    sim.faults.fail_next(1, kind="truncated", method="POST", path_prefix=LAUNCH)
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(sim, "POST", LAUNCH, launch_body(sim))
    listed = (await call(sim, "GET", "/instances"))[1]["data"]
    assert len(listed) == 1, "the launch was handled; only its reply was cut"


async def test_dropped_launch_reply_still_creates_instance(sim: Any) -> None:
    sim.faults.drop_next_launch_reply()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(sim, "POST", LAUNCH, {**launch_body(sim), "name": "lost-reply"})
    listed = (await call(sim, "GET", "/instances"))[1]["data"]
    assert [i["name"] for i in listed] == ["lost-reply"]
    assert sim.requests[0].fault == "dropped-reply" and sim.requests[0].status == 0


async def test_failed_launch_does_not_consume_a_drop(sim: Any) -> None:
    sim.faults.drop_next_launch_reply()
    status, _ = await call(sim, "POST", LAUNCH, {**launch_body(sim), "ssh_key_names": []})
    assert status == 400
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(sim, "POST", LAUNCH, launch_body(sim))


async def test_delay_holds_reply_but_request_is_handled(sim: Any) -> None:
    sim.faults.delay_next(1, 0.6, method="POST", path_prefix=LAUNCH)
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession(headers=bearer(sim.api_key), timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(sim.base_url + LAUNCH, json=launch_body(sim))
    await asyncio.sleep(0.1)
    assert len((await call(sim, "GET", "/instances"))[1]["data"]) == 1
    started = time.monotonic()
    await call(sim, "GET", "/instances")
    assert time.monotonic() - started < 0.5


async def test_insufficient_capacity_fault_although_region_lists_capacity(sim: Any) -> None:
    sim.faults.fail_next(1, kind="insufficient-capacity")
    assert (await call(sim, "GET", "/instance-types"))[0] == 200, "only launches match"
    status, reply = await call(sim, "POST", LAUNCH, launch_body(sim))
    assert status == 400
    assert reply["error"]["code"] == "instance-operations/launch/insufficient-capacity"
    await launch(sim, sim.test_key_name)


def test_unknown_fault_kind_rejected() -> None:
    sim = Simulator(SimulatorConfig(root_dir=Path("/nonexistent-never-created")))
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.faults.fail_next(1, kind="teapot")


async def test_request_log_records_time_method_path_status(sim: Any) -> None:
    before = time.monotonic()
    await call(sim, "GET", "/instances/abc")
    await call(sim, "GET", "/instance-types", headers={})
    records = sim.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/api/v1/instances/abc", 404),
        ("GET", "/api/v1/instance-types", 401),
    ]
    assert before <= records[0].t <= records[1].t <= time.monotonic()


async def test_rate_limits_general_and_launch(tmp_path: Path) -> None:
    validator = SpecValidator()
    config = SimulatorConfig(root_dir=tmp_path, rate_limits=True, validate_response=validator)
    async with Simulator(config) as sim:
        sim.generate_key_pair("k")
        statuses = [(await call(sim, "GET", "/instances"))[0] for _ in range(config.rate_burst + 2)]
        assert statuses[: config.rate_burst] == [200] * config.rate_burst
        assert statuses[config.rate_burst :] == [429, 429]
        await asyncio.sleep(1.05)
        assert (await call(sim, "GET", "/instances"))[0] == 200
        await asyncio.sleep(2.1)
        body = {
            "region_name": DEFAULT_REGION,
            "instance_type_name": DEFAULT_TYPE,
            "ssh_key_names": ["k"],
        }
        assert (await call(sim, "POST", LAUNCH, body))[0] == 200
        status, _ = await call(sim, "POST", LAUNCH, body)
        assert status == 429
        assert sim.requests[-1].fault == "rate-limit"
    assert validator.violations == [] and validator.checked > 0


async def test_control_endpoints_inject_the_same_faults(sim: Any) -> None:
    headers = bearer(sim.api_key)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def control(path: str, body: Any = None) -> Any:
            async with session.post(sim.control_url + path, json=body or {}) as reply:
                assert reply.status == 200, await reply.text()
                return await reply.json()

        await control("/faults/fail-next", {"n": 1, "kind": "500", "path_prefix": "/images"})
        assert (await call(sim, "GET", "/images"))[0] == 500
        await control(
            "/capacity", {"instance_type_name": DEFAULT_TYPE, "region": DEFAULT_REGION, "n": 0}
        )
        status, _ = await call(sim, "POST", LAUNCH, launch_body(sim))
        assert status == 400
        await control(
            "/capacity", {"instance_type_name": DEFAULT_TYPE, "region": DEFAULT_REGION, "n": 2}
        )
        await control("/faults/drop-next-launch-reply", {"n": 1})
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(sim, "POST", LAUNCH, launch_body(sim))
        instance_id = (await call(sim, "GET", "/instances"))[1]["data"][0]["id"]
        await wait_status(sim, instance_id, "active")
        await control(f"/instances/{instance_id}/unhealthy", {"unhealthy": True})
        assert (await get_instance(sim, instance_id))["status"] == "unhealthy"
        async with session.get(f"{sim.control_url}/instances/{instance_id}") as reply:
            info = await reply.json()
        assert info["home"] == str(sim.instance_home(instance_id))
        await control(f"/instances/{instance_id}/preempt")
        assert (await get_instance(sim, instance_id))["status"] == "preempted"
        assert await control("/account", {"active": False}) == {
            "active": False,
            "instance_quota": None,
        }
        assert (await call(sim, "GET", "/instances"))[0] == 403
        await control("/account", {"active": True})
        async with session.get(sim.control_url + "/requests") as reply:
            log = await reply.json()
        assert log[0]["status"] == 500 and log[0]["fault"] == "500"
        async with session.post(
            sim.control_url + "/faults/fail-next", json={"kind": "nope"}
        ) as reply:
            assert reply.status == 400
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(sim.control_url + "/faults/clear") as reply,
    ):
        assert reply.status == 401
