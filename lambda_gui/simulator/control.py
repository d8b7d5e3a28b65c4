"""The simulator's own HTTP endpoints under /_sim/, so a test in another process can inject
the same faults the Python API does. They take the same API key as /api/v1."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from lambda_gui.simulator.app_state import SIM
from lambda_gui.simulator.pipeline import Handler, authorized

CONTROL_PREFIX = "/_sim"


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), content_type="application/json"
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body is not JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


@web.middleware
async def control_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API key required; ValueError/KeyError from the simulator become 400/404."""
    if not request.path.startswith(CONTROL_PREFIX + "/"):
        return await handler(request)
    if not authorized(request, request.app[SIM].api_key):
        return _reply({"error": "invalid API key"}, 401)
    try:
        return await handler(request)
    except KeyError as exc:
        return _reply({"error": str(exc)}, 404)
    except (ValueError, TypeError) as exc:
        return _reply({"error": str(exc)}, 400)


async def fail_next(request: web.Request) -> web.Response:
    b = await _body(request)
    request.app[SIM].faults.fail_next(
        int(b.get("n", 1)), str(b.get("kind", "500")), b.get("method"), b.get("path_prefix")
    )
    return _reply({})


async def delay_next(request: web.Request) -> web.Response:
    b = await _body(request)
    request.app[SIM].faults.delay_next(
        int(b.get("n", 1)), float(b["seconds"]), b.get("method"), b.get("path_prefix")
    )
    return _reply({})


async def drop_next_launch_reply(request: web.Request) -> web.Response:
    b = await _body(request)
    request.app[SIM].faults.drop_next_launch_reply(int(b.get("n", 1)))
    return _reply({})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SIM].faults.clear()
    return _reply({})


async def instance_info(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    iid = request.match_info["id"]
    return _reply(
        {
            "home": str(sim.instance_home(iid)),
            "ssh_port": sim.instance_ssh_port(iid),
            "host_key": sim.instance_host_key(iid),
        }
    )


async def instance_action(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    iid, action = request.match_info["id"], request.match_info["action"]
    if action == "drop-ssh":
        sim.drop_ssh_connections(iid)
    elif action == "preempt":
        sim.preempt(iid)
    elif action == "unhealthy":
        sim.set_unhealthy(iid, bool((await _body(request)).get("unhealthy", True)))
    else:
        raise KeyError(f"unknown action {action!r}")
    return _reply({})


async def capacity(request: web.Request) -> web.Response:
    b = await _body(request)
    request.app[SIM].set_capacity(str(b["instance_type_name"]), str(b["region"]), int(b["n"]))
    return _reply({})


async def account(request: web.Request) -> web.Response:
    b = await _body(request)
    sim = request.app[SIM]
    if "active" in b:
        sim.set_account_inactive(not bool(b["active"]))
    if "instance_quota" in b:
        quota = b["instance_quota"]
        sim.set_quota(None if quota is None else int(quota))
    return _reply({"active": sim.account.active, "instance_quota": sim.account.quota})


async def requests_log(request: web.Request) -> web.Response:
    return _reply([dataclasses.asdict(r) for r in request.app[SIM].requests])


def add_control_routes(app: web.Application) -> None:
    """Register the /_sim/ endpoints."""
    p = CONTROL_PREFIX
    app.router.add_post(f"{p}/faults/fail-next", fail_next)
    app.router.add_post(f"{p}/faults/delay-next", delay_next)
    app.router.add_post(f"{p}/faults/drop-next-launch-reply", drop_next_launch_reply)
    app.router.add_post(f"{p}/faults/clear", clear_faults)
    app.router.add_get(f"{p}/instances/{{id}}", instance_info)
    app.router.add_post(f"{p}/instances/{{id}}/{{action}}", instance_action)
    app.router.add_post(f"{p}/capacity", capacity)
    app.router.add_post(f"{p}/account", account)
    app.router.add_get(f"{p}/requests", requests_log)
