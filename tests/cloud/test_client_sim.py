"""The REST client against the running simulator (a real HTTP server, no mocks)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.pacing import Pacer, default_pacer
from lambda_gui.cloud.wire import LaunchRequest
from lambda_gui.core.errors import (
    AccountInactiveError,
    APIUnavailableError,
    InsufficientCapacityError,
    InvalidAPIKeyError,
    LaunchOutcomeUnknownError,
    ObjectNotFoundError,
    QuotaExceededError,
    RateLimitedError,
)
from lambda_gui.simulator import Simulator, SimulatorConfig

LAUNCH = "/instance-operations/launch"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T t"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def fast_pacer() -> Pacer:
    """Tests other than the pacing test keep the pacer's logic with tiny intervals."""
    return Pacer(min_interval=0.01, launch_interval=0.01)


def make_client(session: aiohttp.ClientSession, sim: Any, **kw: Any) -> LambdaCloudClient:
    options: dict[str, Any] = {
        "pacer": fast_pacer(),
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "backoff_base": 0.02,
        "launch_lookup_delay": 0.2,
    }
    options.update(kw)
    base_url = options.pop("base_url", sim.base_url)
    api_key = options.pop("api_key", sim.api_key)
    return LambdaCloudClient(session, base_url, api_key, **options)


@pytest.fixture
def client(session: aiohttp.ClientSession, sim: Any) -> LambdaCloudClient:
    return make_client(session, sim)


def calls(sim: Any, method: str, suffix: str) -> list[Any]:
    """The simulator's records of requests to one endpoint."""
    return [r for r in sim.requests if r.method == method and r.path.endswith(suffix)]


async def a_type_with_capacity(client: LambdaCloudClient) -> tuple[str, str]:
    """A (type, region) the simulator says has capacity."""
    types = await client.list_instance_types()
    for name, item in sorted(types.items()):
        if item.instance_type.gpus and item.regions_with_capacity_available:
            return name, item.regions_with_capacity_available[0].name
    raise AssertionError("the simulator offers no capacity at all")


async def launch_request(client: LambdaCloudClient, sim: Any, name: str) -> LaunchRequest:
    type_name, region = await a_type_with_capacity(client)
    return LaunchRequest(
        region_name=region,
        instance_type_name=type_name,
        ssh_key_names=(sim.test_key_name,),
        name=name,
    )


# --- pacing -------------------------------------------------------------------------------


async def test_default_pacer_keeps_requests_one_second_apart(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = LambdaCloudClient(session, sim.base_url, sim.api_key)
    assert client._pacer is default_pacer()
    start = time.monotonic()
    await asyncio.gather(*(client.list_instances() for _ in range(10)))
    stamps = sorted(r.t for r in calls(sim, "GET", "/instances") if r.t >= start)
    assert len(stamps) == 10
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps
    assert stamps[-1] - stamps[0] >= 8.9


# --- retries ------------------------------------------------------------------------------


async def test_429_is_waited_out_and_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(2, kind="429", path_prefix="/instances")
    assert isinstance(await client.list_instances(), list)
    assert [r.status for r in calls(sim, "GET", "/instances")] == [429, 429, 200]


async def test_429_is_retried_for_a_write_too(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="429", method="POST", path_prefix="/ssh-keys")
    key = await client.add_ssh_key("paced-key", PUBLIC_KEY)
    assert key.name == "paced-key"
    assert [r.status for r in calls(sim, "POST", "/ssh-keys")] == [429, 200]


async def test_429_that_persists_becomes_rate_limited_error(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, max_rate_limit_retries=2)
    sim.faults.fail_next(5, kind="429", path_prefix="/instance-types")
    with pytest.raises(RateLimitedError) as info:
        await client.list_instance_types()
    assert info.value.status == 429 and isinstance(info.value, ConnectionError)
    assert len(calls(sim, "GET", "/instance-types")) == 3


async def test_5xx_on_get_is_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(2, kind="500", method="GET", path_prefix="/instance-types")
    types = await client.list_instance_types()
    assert types
    assert [r.status for r in calls(sim, "GET", "/instance-types")] == [500, 500, 200]


async def test_5xx_that_persists_is_api_unavailable(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, max_get_retries=2)
    sim.faults.fail_next(5, kind="503", path_prefix="/ssh-keys")
    with pytest.raises(APIUnavailableError) as info:
        await client.list_ssh_keys()
    assert isinstance(info.value, ConnectionError)
    assert len(calls(sim, "GET", "/ssh-keys")) == 3


async def test_html_502_on_get_is_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="html", path_prefix="/instances")
    assert isinstance(await client.list_instances(), list)
    assert [r.status for r in calls(sim, "GET", "/instances")][-1] == 200
    assert len(calls(sim, "GET", "/instances")) == 2


async def test_html_502_that_persists_is_a_clear_error(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, max_get_retries=2)
    sim.faults.fail_next(5, kind="html", path_prefix="/instances")
    with pytest.raises(APIUnavailableError) as info:
        await client.list_instances()
    text = str(info.value)
    assert "HTML page" in text and "try again in a minute" in text
    assert "<" not in text
    assert len(calls(sim, "GET", "/instances")) == 3


async def test_truncated_reply_on_get_is_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="truncated", path_prefix="/instance-types")
    assert await client.list_instance_types()
    assert len(calls(sim, "GET", "/instance-types")) == 2


async def test_reset_connection_on_get_is_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="reset", path_prefix="/ssh-keys")
    assert await client.list_ssh_keys()
    assert len(calls(sim, "GET", "/ssh-keys")) == 2


async def test_read_timeout_is_retried(session: aiohttp.ClientSession, sim: Any) -> None:
    client = make_client(session, sim, read_timeout=0.4)
    sim.faults.delay_next(1, 1.5, path_prefix="/file-systems")
    started = time.monotonic()
    assert isinstance(await client.list_file_systems(), list)
    assert time.monotonic() - started < 1.5  # gave up on the slow reply, did not wait it out
    assert len(calls(sim, "GET", "/file-systems")) == 2


async def test_5xx_on_a_write_is_not_resent(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="500", method="POST", path_prefix="/ssh-keys")
    with pytest.raises(APIUnavailableError):
        await client.add_ssh_key("once-only", PUBLIC_KEY)
    assert len(calls(sim, "POST", "/ssh-keys")) == 1
    assert "once-only" not in [k.name for k in await client.list_ssh_keys()]


async def test_terminate_is_idempotent_so_5xx_is_retried(
    client: LambdaCloudClient, sim: Any
) -> None:
    (instance_id,) = await client.launch(await launch_request(client, sim, "term-retry"))
    sim.faults.fail_next(1, kind="500", path_prefix="/instance-operations/terminate")
    (terminated,) = await client.terminate([instance_id])
    assert terminated.id == instance_id
    assert terminated.status in ("terminating", "terminated")
    assert [r.status for r in calls(sim, "POST", "/instance-operations/terminate")] == [500, 200]


# --- launch is never sent twice -------------------------------------------------------------


async def test_launch_with_dropped_reply_is_adopted_not_duplicated(
    client: LambdaCloudClient, sim: Any
) -> None:
    req = await launch_request(client, sim, "lambda-gui-dropped")
    sim.faults.drop_next_launch_reply()
    ids = await client.launch(req)
    assert len(ids) == 1
    named = [i for i in await client.list_instances() if i.name == "lambda-gui-dropped"]
    assert [i.id for i in named] == ids
    assert len(calls(sim, "POST", LAUNCH)) == 1


async def test_launch_timeout_is_adopted_not_duplicated(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, read_timeout=0.4)
    req = await launch_request(client, sim, "lambda-gui-slow")
    sim.faults.delay_next(1, 1.5, method="POST", path_prefix=LAUNCH)
    ids = await client.launch(req)
    assert len(ids) == 1
    named = [i for i in await client.list_instances() if i.name == "lambda-gui-slow"]
    assert [i.id for i in named] == ids
    assert len(calls(sim, "POST", LAUNCH)) == 1


async def test_launch_with_truncated_reply_is_adopted(client: LambdaCloudClient, sim: Any) -> None:
    req = await launch_request(client, sim, "lambda-gui-cut")
    sim.faults.fail_next(1, kind="truncated", method="POST", path_prefix=LAUNCH)
    ids = await client.launch(req)
    assert len(ids) == 1
    assert len(calls(sim, "POST", LAUNCH)) == 1


async def test_launch_5xx_with_no_instance_is_outcome_unknown(
    client: LambdaCloudClient, sim: Any
) -> None:
    req = await launch_request(client, sim, "lambda-gui-never")
    sim.faults.fail_next(1, kind="500", method="POST", path_prefix=LAUNCH)
    with pytest.raises(LaunchOutcomeUnknownError) as info:
        await client.launch(req)
    assert "may or may not" in str(info.value) and "lambda-gui-never" in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert len(calls(sim, "POST", LAUNCH)) == 1
    assert not [i for i in await client.list_instances() if i.name == "lambda-gui-never"]


async def test_launch_429_is_resent_because_lambda_did_not_process_it(
    client: LambdaCloudClient, sim: Any
) -> None:
    req = await launch_request(client, sim, "lambda-gui-429")
    sim.faults.fail_next(1, kind="429", method="POST", path_prefix=LAUNCH)
    (instance_id,) = await client.launch(req)
    assert [r.status for r in calls(sim, "POST", LAUNCH)] == [429, 200]
    assert [i.id for i in await client.list_instances() if i.name == "lambda-gui-429"] == [
        instance_id
    ]


async def test_insufficient_capacity(client: LambdaCloudClient, sim: Any) -> None:
    type_name, region = await a_type_with_capacity(client)
    sim.set_capacity(type_name, region, 0)
    types = await client.list_instance_types()
    assert region not in [r.name for r in types[type_name].regions_with_capacity_available]
    req = LaunchRequest(
        region_name=region,
        instance_type_name=type_name,
        ssh_key_names=(sim.test_key_name,),
        name="lambda-gui-full",
    )
    with pytest.raises(InsufficientCapacityError) as info:
        await client.launch(req)
    assert isinstance(info.value, RuntimeError)
    assert info.value.code == "instance-operations/launch/insufficient-capacity"
    assert info.value.suggestion
    assert len(calls(sim, "POST", LAUNCH)) == 1


# --- errors, reachability -----------------------------------------------------------------


async def test_wrong_key_is_invalid_api_key_with_lambdas_message(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, api_key="wrong-key-123")
    with pytest.raises(InvalidAPIKeyError) as info:
        await client.list_instance_types()
    assert isinstance(info.value, ValueError)
    async with session.get(
        sim.base_url + "/instance-types", headers={"Authorization": "Bearer wrong-key-123"}
    ) as resp:
        reply = (await resp.json())["error"]
    assert info.value.code == reply["code"] == "global/invalid-api-key"
    assert reply["message"] in str(info.value)
    assert "wrong-key-123" not in str(info.value)
    assert len(calls(sim, "GET", "/instance-types")) == 2  # ours (not retried) and the probe


async def test_unknown_instance_is_not_found_and_not_retried(
    client: LambdaCloudClient, sim: Any
) -> None:
    with pytest.raises(ObjectNotFoundError):
        await client.get_instance("0" * 32)
    assert len(calls(sim, "GET", "/instances/" + "0" * 32)) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_unreachable_base_url_is_connection_error_within_the_timeout(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v1"
    client = make_client(session, sim, base_url=url, connect_timeout=1.0, max_get_retries=2)
    started = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        await client.list_instance_types()
    assert time.monotonic() - started < 3.0
    assert isinstance(info.value, APIUnavailableError)
    assert "Could not reach Lambda Cloud" in str(info.value)


async def test_server_that_never_answers_times_out(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = make_client(
            session,
            sim,
            base_url=f"http://127.0.0.1:{port}/api/v1",
            read_timeout=0.3,
            max_get_retries=1,
        )
        started = time.monotonic()
        with pytest.raises(APIUnavailableError, match="did not answer"):
            await client.list_instances()
        assert time.monotonic() - started < 2.0
    finally:
        server.close()


async def test_api_key_never_reaches_logs_or_errors(
    session: aiohttp.ClientSession, sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(session, sim, max_get_retries=1)
    sim.faults.fail_next(3, kind="500", path_prefix="/instances")
    with pytest.raises(APIUnavailableError) as info:
        await client.list_instances()
    assert sim.api_key not in caplog.text
    assert sim.api_key not in str(info.value)
    assert sim.api_key not in repr(client)


# --- every endpoint ------------------------------------------------------------------------


async def test_every_endpoint_round_trip(client: LambdaCloudClient, sim: Any) -> None:
    keys = await client.list_ssh_keys()
    assert sim.test_key_name in [k.name for k in keys]
    added = await client.add_ssh_key("uploaded", PUBLIC_KEY)
    assert added.public_key == PUBLIC_KEY
    generated = await client.generate_ssh_key("generated")
    assert "PRIVATE KEY" in generated.private_key and generated.public_key
    listed = await client.list_ssh_keys()
    assert {"uploaded", "generated"} <= {k.name for k in listed} and listed.skipped == ()

    file_systems = await client.list_file_systems()
    assert file_systems == [] and file_systems.skipped == ()

    (instance_id,) = await client.launch(await launch_request(client, sim, "lambda-gui-all"))
    inst = await client.get_instance(instance_id)
    assert inst.name == "lambda-gui-all" and inst.ssh_key_names == (sim.test_key_name,)
    for _ in range(100):
        if inst.status == "active":
            break
        await asyncio.sleep(0.1)
        inst = await client.get_instance(instance_id)
    assert inst.status == "active" and inst.ip and inst.ssh_port > 0
    (terminated,) = await client.terminate([instance_id])
    assert terminated.id == instance_id and not terminated.is_billing
    assert terminated.status in ("terminating", "terminated")
    assert await client.terminate([]) == []


async def test_account_inactive_is_not_retried(client: LambdaCloudClient, sim: Any) -> None:
    sim.set_account_inactive()
    with pytest.raises(AccountInactiveError) as info:
        await client.list_instances()
    assert info.value.code == "global/account-inactive" and info.value.suggestion
    assert len(calls(sim, "GET", "/instances")) == 1


async def test_quota_exceeded(client: LambdaCloudClient, sim: Any) -> None:
    req = await launch_request(client, sim, "lambda-gui-quota")
    sim.set_quota(0)
    with pytest.raises(QuotaExceededError):
        await client.launch(req)
    assert len(calls(sim, "POST", LAUNCH)) == 1


async def test_default_intervals_pass_lambdas_rate_limiter(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Against the simulator's own token buckets (1/s, 1 launch/12 s): no 429 at all."""
    limited = Simulator(
        SimulatorConfig(root_dir=tmp_path / "limited", rate_limits=True, boot_seconds=0.3)
    )
    await limited.start()
    try:
        key_name = "limited-key"
        limited.generate_key_pair(key_name)
        client = LambdaCloudClient(session, limited.base_url, limited.api_key, pacer=Pacer())
        type_name, region = await a_type_with_capacity(client)

        async def launch(name: str) -> list[str]:
            req = LaunchRequest(
                region_name=region,
                instance_type_name=type_name,
                ssh_key_names=(key_name,),
                name=name,
            )
            return await client.launch(req)

        launched = asyncio.gather(launch("lambda-gui-first"), launch("lambda-gui-second"))
        polls = asyncio.gather(*(client.list_instances() for _ in range(6)))
        (first, second), _ = await asyncio.gather(launched, polls)
        assert len(first) == 1 and len(second) == 1
        assert [r.status for r in limited.requests if r.status == 429] == []
        launches = sorted(r.t for r in calls(limited, "POST", LAUNCH))
        assert len(launches) == 2 and launches[1] - launches[0] >= 12.0
    finally:
        await limited.stop()
