"""The client against hostile servers started here: a reply dripped a byte at a time, a body
that never ends, JSON nested 100,000 deep. Each call ends within its deadline, reads at most
the body cap, and fails with a typed error; a launch whose reply is lost this way is looked up
by name, never sent twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lambda_gui.cloud.client import MAX_BODY_BYTES, LambdaCloudClient
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.cloud.wire import LaunchRequest
from lambda_gui.core.errors import (
    APIUnavailableError,
    InvalidAPIKeyError,
    LambdaAPIError,
    ResponseTooLargeError,
    UnexpectedResponseError,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Routes = dict[tuple[str, str], Handler]
LAUNCH = "/instance-operations/launch"
DEEP = b"[" * 100_000 + b"]" * 100_000
# Bounds that keep these tests short even on the code they guard against: a drip stops after
# DRIP_SECONDS and a flood after FLOOD_LIMIT bytes, so a client without a deadline or a cap
# fails the test instead of hanging it.
DRIP_SECONDS = 8.0
FLOOD_LIMIT = 96 * 2**20


@dataclass
class Server:
    """A tiny API server: its base URL and what it saw."""

    base_url: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)
    flood_bytes: int = 0

    def count(self, method: str, path: str) -> int:
        """Requests seen for one endpoint."""
        return self.calls.count((method, path))


@asynccontextmanager
async def serve(
    routes: Routes | Callable[[Server], Routes],
) -> AsyncIterator[Server]:
    """Serve `routes` ((method, path under /api/v1) -> handler, or a function of the server
    giving them) on a free loopback port."""
    server = Server()
    table = routes(server) if callable(routes) else routes

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/api/v1")
        server.calls.append((request.method, path))
        handler = table.get((request.method, path))
        if handler is None:
            return web.json_response(
                {"error": {"code": "global/object-does-not-exist"}}, status=404
            )
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base_url = f"http://{host}:{port}/api/v1"
    try:
        yield server
    finally:
        await runner.cleanup()


async def drip(request: web.Request) -> web.StreamResponse:
    """A 200 whose body comes one byte every 0.1 s: never idle long enough for a read timeout."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    started = time.monotonic()
    try:
        while time.monotonic() - started < DRIP_SECONDS:
            await resp.write(b" ")
            await asyncio.sleep(0.1)
        await resp.write(b'{"data": []}')
    except (ConnectionError, RuntimeError):
        pass  # the client hung up: what a deadline does
    return resp


def flood(server: Server) -> Handler:
    """A 200 that streams zeros without end (FLOOD_LIMIT at most) and no Content-Length."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        chunk = b"0" * 2**20
        try:
            while server.flood_bytes < FLOOD_LIMIT:
                await resp.write(chunk)
                server.flood_bytes += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client closed the connection past its cap
        return resp

    return handler


def reply(status: int, body: bytes, **headers: str) -> Handler:
    """A fixed reply."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=status, body=body, headers={"Content-Type": "application/json", **headers}
        )

    return handler


def instances(*names: str) -> Handler:
    """GET /instances listing one active instance per name."""
    data = [
        {
            "id": f"id-{name}",
            "name": name,
            "status": "active",
            "region": {"name": "us-east-1"},
            "instance_type": {"name": "gpu_1x_a10", "price_cents_per_hour": 75},
        }
        for name in names
    ]
    return reply(200, json.dumps({"data": data}).encode())


def client_for(session: aiohttp.ClientSession, server: Server, **kw: Any) -> LambdaCloudClient:
    options: dict[str, Any] = {
        "pacer": Pacer(min_interval=0.0, launch_interval=0.0),
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "max_get_retries": 1,
        "backoff_base": 0.01,
        "launch_lookup_attempts": 1,
        "launch_lookup_delay": 0.0,
    }
    options.update(kw)
    return LambdaCloudClient(session, server.base_url, "secret_test", **options)


def launch_request(name: str) -> LaunchRequest:
    return LaunchRequest(
        region_name="us-east-1",
        instance_type_name="gpu_1x_a10",
        ssh_key_names=("key",),
        name=name,
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# --- a total deadline ------------------------------------------------------------------------


async def test_a_dripping_reply_ends_at_the_calls_deadline(
    session: aiohttp.ClientSession,
) -> None:
    async with serve({("GET", "/instances"): drip}) as server:
        # Default deadline: connect + 2 x read timeout = 1.5 s; one retry on a read.
        client = client_for(session, server)
        started = time.monotonic()
        with pytest.raises(APIUnavailableError) as info:
            await client.list_instances()
        elapsed = time.monotonic() - started
    assert elapsed < 4.5, f"took {elapsed:.1f} s: the 1 byte/s drip was not cut off"
    assert "did not finish its reply to GET /instances within 1.5 s" in str(info.value)
    assert "Try again" in str(info.value)
    assert server.count("GET", "/instances") == 2  # a read is resent, like any lost reply


async def test_the_deadline_is_a_constructor_argument(session: aiohttp.ClientSession) -> None:
    async with serve({("GET", "/ssh-keys"): drip}) as server:
        client = client_for(session, server, total_timeout=0.4, max_get_retries=0)
        started = time.monotonic()
        with pytest.raises(APIUnavailableError, match="within 0.4 s"):
            await client.list_ssh_keys()
    assert time.monotonic() - started < 1.5


async def test_a_launch_that_hits_the_deadline_is_looked_up_by_name_not_resent(
    session: aiohttp.ClientSession,
) -> None:
    routes = {("POST", LAUNCH): drip, ("GET", "/instances"): instances("lambda-gui-drip")}
    async with serve(routes) as server:
        client = client_for(session, server, max_get_retries=3)
        ids = await client.launch(launch_request("lambda-gui-drip"))
    assert ids == ["id-lambda-gui-drip"]
    assert server.count("POST", LAUNCH) == 1
    assert server.count("GET", "/instances") == 1


# --- a body cap --------------------------------------------------------------------------------


async def test_an_endless_body_stops_at_the_cap_with_a_typed_error(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(lambda s: {("GET", "/instances"): flood(s)}) as server:
        client = client_for(session, server, read_timeout=5.0)
        with pytest.raises(ResponseTooLargeError) as info:
            await client.list_instances()
        await asyncio.sleep(0.2)  # let the server notice the closed connection
    err = info.value
    assert isinstance(err, UnexpectedResponseError) and not isinstance(err, ConnectionError)
    assert "too large" in str(err) and "16 MiB" in str(err)
    assert "Check the API address in Settings" in str(err)
    assert server.count("GET", "/instances") == 1  # the same flood would come again
    # The connection was closed near the cap, not drained to the end of the flood.
    assert server.flood_bytes < MAX_BODY_BYTES + 16 * 2**20


async def test_a_small_cap_and_an_announced_length_fail_before_reading(
    session: aiohttp.ClientSession,
) -> None:
    body = json.dumps({"data": ["x" * 4000]}).encode()
    async with serve({("GET", "/ssh-keys"): reply(200, body)}) as server:
        client = client_for(session, server, max_body_bytes=1024)
        with pytest.raises(ResponseTooLargeError, match=r"announced 3.92 KiB, more than the 1 KiB"):
            await client.list_ssh_keys()


async def test_a_launch_whose_reply_is_too_large_is_looked_up_by_name(
    session: aiohttp.ClientSession,
) -> None:
    def routes(server: Server) -> Routes:
        return {
            ("POST", LAUNCH): flood(server),
            ("GET", "/instances"): instances("lambda-gui-flood"),
        }

    async with serve(routes) as server:
        client = client_for(session, server, read_timeout=5.0, max_body_bytes=2**20)
        assert await client.launch(launch_request("lambda-gui-flood")) == ["id-lambda-gui-flood"]
    assert server.count("POST", LAUNCH) == 1


# --- bodies that cannot be decoded -----------------------------------------------------------


async def test_deeply_nested_json_is_a_typed_error_not_a_recursion_error(
    session: aiohttp.ClientSession,
) -> None:
    async with serve({("GET", "/instances"): reply(200, DEEP)}) as server:
        client = client_for(session, server)
        with pytest.raises(UnexpectedResponseError) as info:
            await client.list_instances()
    assert "nested too deeply" in str(info.value)
    assert not isinstance(info.value, ConnectionError)
    assert server.count("GET", "/instances") == 1  # asking again will not change it


@pytest.mark.parametrize(
    ("status", "cls"),
    [(500, APIUnavailableError), (401, InvalidAPIKeyError), (404, UnexpectedResponseError)],
)
async def test_deeply_nested_json_in_an_error_reply_is_typed_by_its_status(
    session: aiohttp.ClientSession, status: int, cls: type[LambdaAPIError]
) -> None:
    async with serve({("GET", "/instances"): reply(status, DEEP)}) as server:
        client = client_for(session, server, max_get_retries=0)
        with pytest.raises(cls) as info:
            await client.list_instances()
    assert "nested too deeply" in str(info.value)


async def test_a_launch_answered_with_deep_json_is_looked_up_by_name(
    session: aiohttp.ClientSession,
) -> None:
    routes = {("POST", LAUNCH): reply(200, DEEP), ("GET", "/instances"): instances("lambda-gui-d")}
    async with serve(routes) as server:
        client = client_for(session, server)
        assert await client.launch(launch_request("lambda-gui-d")) == ["id-lambda-gui-d"]
    assert server.count("POST", LAUNCH) == 1


async def test_a_body_that_is_not_utf8_is_a_typed_error(session: aiohttp.ClientSession) -> None:
    async with serve({("GET", "/ssh-keys"): reply(200, b"\xff\xfe{\x00")}) as server:
        client = client_for(session, server, max_get_retries=0)
        with pytest.raises(APIUnavailableError, match="not valid JSON"):
            await client.list_ssh_keys()
