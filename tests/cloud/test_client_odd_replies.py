"""The client against odd servers (the simulator's faults, or a small proxy in front of it
that rewrites replies): provider errors sent with a 4xx, 404s that are not Lambda's, replies of
the wrong shape, one unreadable item in a list. And tags, end to end."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.wire import LaunchRequest, Tag
from lambda_gui.core.errors import (
    APIUnavailableError,
    InvalidParametersError,
    LaunchOutcomeUnknownError,
    ObjectNotFoundError,
    ProviderUnavailableError,
    UnexpectedResponseError,
)
from tests.cloud.test_client_sim import LAUNCH, PUBLIC_KEY, calls, launch_request, make_client

Rewrite = Callable[[str, str, Any], Any]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def client(session: aiohttp.ClientSession, sim: Any) -> LambdaCloudClient:
    return make_client(session, sim)


@asynccontextmanager
async def rewriting_proxy(sim: Any, rewrite: Rewrite) -> AsyncIterator[str]:
    """A server in front of the simulator: passes every request on and lets `rewrite(method,
    path, payload)` change the JSON of each 200 reply. Yields its /api/v1 base URL."""
    root = sim.base_url.removesuffix("/api/v1")
    async with aiohttp.ClientSession() as upstream:

        async def forward(request: web.Request) -> web.Response:
            headers = {
                k: request.headers[k]
                for k in ("Authorization", "Content-Type")
                if k in request.headers
            }
            async with upstream.request(
                request.method, root + request.path_qs, data=await request.read(), headers=headers
            ) as reply:
                status, body, ctype = reply.status, await reply.read(), reply.content_type
            if status == 200:
                changed = rewrite(request.method, request.path, json.loads(body))
                body = json.dumps(changed).encode()
            return web.Response(status=status, body=body, content_type=ctype)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}/api/v1"
        finally:
            await runner.cleanup()


def on(method: str, suffix: str, change: Callable[[Any], Any]) -> Rewrite:
    """A rewrite that changes only the replies to `method` on paths ending in `suffix`."""

    def rewrite(m: str, path: str, payload: Any) -> Any:
        return change(payload) if m == method and path.endswith(suffix) else payload

    return rewrite


# --- one odd item never fails a list -------------------------------------------------------


async def test_an_unreadable_instance_is_skipped_and_reported_not_the_whole_list(
    session: aiohttp.ClientSession, sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(session, sim)
    (mine,) = await client.launch(await launch_request(client, sim, "lambda-gui-mine"))

    def add_other_tools_instances(payload: Any) -> Any:
        first = payload["data"][0]
        no_memory = copy.deepcopy(first)
        no_memory.update(id="other-1", name="other-tool-1", new_field={"x": 1})
        del no_memory["instance_type"]["specs"]["memory_gib"]
        no_status = copy.deepcopy(first)
        no_status.update(id="other-2", name="other-tool-2")
        del no_status["status"]
        payload["data"] += [no_memory, no_status]
        return payload

    caplog.set_level(logging.WARNING)
    async with rewriting_proxy(sim, on("GET", "/instances", add_other_tools_instances)) as url:
        proxied = make_client(session, sim, base_url=url)
        instances = await proxied.list_instances()
        assert [i.id for i in instances] == [mine, "other-1"]
        assert instances[1].instance_type.memory_gib == 0  # nothing reads it; kept
        (skipped,) = instances.skipped
        assert (skipped.id, skipped.name) == ("other-2", "other-tool-2")
        assert str(skipped) == (
            "instance 'other-tool-2' (id other-2) could not be read: "
            "instances[2] is missing 'status'"
        )
        assert "other-2" in caplog.text and "could not be read" in caplog.text
        found = await proxied.find_instances_by_name("lambda-gui-mine")
        assert [i.id for i in found] == [mine] and found.skipped == (skipped,)


async def test_an_odd_instance_type_is_skipped_not_the_catalog(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    def add_future_type(payload: Any) -> Any:
        payload["data"]["gpu_9x_future"] = {"instance_type": {"name": "gpu_9x_future"}}
        return payload

    async with rewriting_proxy(sim, on("GET", "/instance-types", add_future_type)) as url:
        types = await make_client(session, sim, base_url=url).list_instance_types()
    assert "gpu_1x_a10" in types and "gpu_9x_future" not in types
    (skipped,) = types.skipped
    assert (skipped.kind, skipped.name) == ("instance type", "gpu_9x_future")


# --- replies of the wrong shape --------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "reply", "detail"),
    [
        ("/ssh-keys", {"data": {"keys": []}}, "ssh_keys is dict, not a list"),
        ("/ssh-keys", {"items": []}, "the reply is missing 'data'"),
        ("/instance-types", {"data": []}, "instance types is list, not an object"),
    ],
)
async def test_a_reply_of_the_wrong_shape_is_unexpected_not_unavailable(
    session: aiohttp.ClientSession, sim: Any, suffix: str, reply: Any, detail: str
) -> None:
    async with rewriting_proxy(sim, on("GET", suffix, lambda _: reply)) as url:
        client = make_client(session, sim, base_url=url)
        call = client.list_ssh_keys if suffix == "/ssh-keys" else client.list_instance_types
        with pytest.raises(UnexpectedResponseError) as info:
            await call()
    # Not "Lambda unreachable": that would queue jobs offline and poll forever.
    assert not isinstance(info.value, (APIUnavailableError, ConnectionError))
    text = str(info.value)
    assert f"The reply of {url} to GET {suffix} is not what the Lambda Cloud API sends" in text
    assert detail in text and info.value.detail == detail
    assert "Check the API address in Settings" in text and "newer version" in text
    assert len(calls(sim, "GET", suffix)) == 1  # asking again will not change the answer


async def test_a_launch_success_of_the_wrong_shape_is_adopted_by_name(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim)
    req = await launch_request(client, sim, "lambda-gui-odd-reply")
    async with rewriting_proxy(sim, on("POST", LAUNCH, lambda _: {"data": {"ids": 1}})) as url:
        ids = await make_client(session, sim, base_url=url).launch(req)
    assert [i.id for i in await client.find_instances_by_name("lambda-gui-odd-reply")] == ids
    assert len(calls(sim, "POST", LAUNCH)) == 1


# --- provider/* errors are transient whatever their status ---------------------------------


async def test_provider_error_with_a_4xx_on_a_read_is_retried(
    client: LambdaCloudClient, sim: Any
) -> None:
    sim.faults.fail_next(2, kind="provider-400", path_prefix="/instances")
    assert isinstance(await client.list_instances(), list)
    assert [r.status for r in calls(sim, "GET", "/instances")] == [400, 400, 200]


async def test_provider_error_that_persists_is_provider_unavailable(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    client = make_client(session, sim, max_get_retries=2)
    sim.faults.fail_next(5, kind="provider-400", path_prefix="/ssh-keys")
    with pytest.raises(ProviderUnavailableError) as info:
        await client.list_ssh_keys()
    assert isinstance(info.value, APIUnavailableError) and isinstance(info.value, ConnectionError)
    assert info.value.code == "provider/internal-unavailable" and info.value.status == 400
    assert "check the values" not in str(info.value).lower()
    assert len(calls(sim, "GET", "/ssh-keys")) == 3


async def test_provider_error_on_a_write_is_not_resent(client: LambdaCloudClient, sim: Any) -> None:
    sim.faults.fail_next(1, kind="provider-400", method="POST", path_prefix="/ssh-keys")
    with pytest.raises(ProviderUnavailableError):
        await client.add_ssh_key("once-only", PUBLIC_KEY)
    assert len(calls(sim, "POST", "/ssh-keys")) == 1


async def test_provider_error_on_launch_is_never_resent(
    client: LambdaCloudClient, sim: Any
) -> None:
    req = await launch_request(client, sim, "lambda-gui-provider")
    before = len(calls(sim, "GET", "/instances"))
    sim.faults.fail_next(1, kind="provider-400", method="POST", path_prefix=LAUNCH)
    with pytest.raises(LaunchOutcomeUnknownError) as info:
        await client.launch(req)
    assert "Provider unavailable" in str(info.value)
    assert len(calls(sim, "POST", LAUNCH)) == 1
    # It looked for the instance by name instead of sending the launch again.
    assert len(calls(sim, "GET", "/instances")) > before


# --- a 404 that is not Lambda's never means "gone" -----------------------------------------


async def test_json_404_without_envelope_on_terminate_does_not_say_the_instance_is_gone(
    client: LambdaCloudClient, sim: Any
) -> None:
    (instance_id,) = await client.launch(await launch_request(client, sim, "lambda-gui-404"))
    sim.faults.fail_next(1, kind="404-no-envelope", path_prefix="/instance-operations/terminate")
    with pytest.raises(UnexpectedResponseError) as info:
        await client.terminate([instance_id])
    assert not isinstance(info.value, ObjectNotFoundError)
    text = str(info.value)
    assert f"The server at {sim.base_url} does not look like the Lambda Cloud API" in text
    assert "Check the API address (base URL) in Settings" in text
    assert len(calls(sim, "POST", "/instance-operations/terminate")) == 1
    assert (await client.get_instance(instance_id)).is_billing  # nothing was terminated


async def test_json_404_without_envelope_on_get_is_not_object_not_found(
    client: LambdaCloudClient, sim: Any
) -> None:
    sim.faults.fail_next(1, kind="404-no-envelope", path_prefix="/instances/")
    with pytest.raises(UnexpectedResponseError):
        await client.get_instance("0" * 32)
    # Lambda's own not-found (with its envelope) still is ObjectNotFoundError.
    with pytest.raises(ObjectNotFoundError):
        await client.get_instance("0" * 32)


async def test_wrong_base_path_is_unexpected_response_and_not_retried(
    session: aiohttp.ClientSession, sim: Any
) -> None:
    url = sim.base_url.removesuffix("/api/v1") + "/api/v2"
    client = make_client(session, sim, base_url=url)
    with pytest.raises(UnexpectedResponseError) as info:
        await client.list_instances()
    assert f"The server at {url} does not look like the Lambda Cloud API" in str(info.value)
    assert not isinstance(info.value, ConnectionError)


# --- tags ------------------------------------------------------------------------------------


async def test_launch_with_tags_then_find_instances_by_tag(
    client: LambdaCloudClient, sim: Any
) -> None:
    base = await launch_request(client, sim, "unused")

    async def launch(name: str, job: str) -> str:
        req = LaunchRequest(
            region_name=base.region_name,
            instance_type_name=base.instance_type_name,
            ssh_key_names=base.ssh_key_names,
            name=name,
            tags=(Tag("lambda-gui:app", "lambda-gui"), Tag("lambda-gui:job", job)),
        )
        (instance_id,) = await client.launch(req)
        return instance_id

    first = await launch("lambda-gui-job-42", "42")
    await launch("lambda-gui-job-43", "43")
    found = await client.find_instances_by_tag("lambda-gui:job", "42")
    assert [i.id for i in found] == [first] and found.skipped == ()
    assert found[0].tags == (Tag("lambda-gui:app", "lambda-gui"), Tag("lambda-gui:job", "42"))
    both = await client.find_instances_by_tag("lambda-gui:app", "lambda-gui")
    assert len(both) == 2
    assert await client.find_instances_by_tag("lambda-gui:job", "44") == []
    # A terminated (or terminating) instance is no longer found.
    await client.terminate([first])
    assert await client.find_instances_by_tag("lambda-gui:job", "42") == []


async def test_find_instances_by_tag_refuses_a_key_lambda_would_refuse(
    client: LambdaCloudClient, sim: Any
) -> None:
    with pytest.raises(InvalidParametersError, match="Tag key 'Job'"):
        await client.find_instances_by_tag("Job", "42")
    assert calls(sim, "GET", "/instances") == []
