"""The /api/v1 endpoints, each answering as Lambda's spec (v1.8.3) says."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from aiohttp import web

from lambda_gui.simulator import api_errors
from lambda_gui.simulator.api_errors import invalid_parameters
from lambda_gui.simulator.app_state import API_PREFIX, SIM
from lambda_gui.simulator.launch_request import (
    PUBLIC_REGION_CODES,
    parse_instance_ids,
    parse_launch_request,
)

_FILESYSTEM_NAME = re.compile(r"^[a-zA-Z]+[0-9a-zA-Z-]*$")


def ok(data: Any) -> web.Response:
    """The success envelope."""
    return web.Response(body=json.dumps({"data": data}).encode(), content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or the API's 400."""
    raw = await request.read()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_parameters("The request body is not valid JSON.") from exc


# --- instances -------------------------------------------------------------------------


async def list_instances(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return ok([i.to_json() for i in sim.account.visible_instances()])


async def get_instance(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    return ok(sim.account.lookup(request.match_info["id"]).to_json())


async def update_instance(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    record = sim.account.lookup(request.match_info["id"])
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_parameters("The request body must be a JSON object.")
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or len(name) > 64:
            raise invalid_parameters("'name' must be a string of 64 characters or fewer.")
        record.name = name
    return ok(record.to_json())


async def list_instance_types(request: web.Request) -> web.Response:
    return ok(request.app[SIM].account.instance_types_json())


async def launch(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    launch_request = parse_launch_request(await read_json(request))
    record = sim.account.admit_launch(launch_request, sim.instances_dir)
    sim.fleet.launch(record)
    return ok({"instance_ids": [record.id]})


async def restart(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    records = [sim.account.lookup(i) for i in parse_instance_ids(await read_json(request))]
    for record in records:
        if record.status in ("terminating", "terminated", "preempted"):
            raise api_errors.instance_not_found()
    for record in records:
        sim.fleet.restart(record)
    return ok({"restarted_instances": [r.to_json() for r in records]})


async def terminate(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    records = [sim.account.lookup(i) for i in parse_instance_ids(await read_json(request))]
    for record in records:
        sim.fleet.terminate(record)
    return ok({"terminated_instances": [r.to_json() for r in records]})


# --- SSH keys --------------------------------------------------------------------------


async def list_ssh_keys(request: web.Request) -> web.Response:
    return ok([k.to_json() for k in request.app[SIM].account.ssh_keys.values()])


async def add_ssh_key(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_parameters("The request body must be a JSON object.")
    record, private_key = request.app[SIM].account.add_ssh_key(
        body.get("name"), body.get("public_key")
    )
    data: dict[str, str] = record.to_json()
    if private_key is not None:
        data["private_key"] = private_key
    return ok(data)


async def delete_ssh_key(request: web.Request) -> web.Response:
    request.app[SIM].account.delete_ssh_key(request.match_info["id"])
    return ok({})


# --- file systems ----------------------------------------------------------------------


async def list_filesystems(request: web.Request) -> web.Response:
    account = request.app[SIM].account
    return ok([f.to_json(account.filesystem_in_use(f)) for f in account.filesystems.values()])


async def create_filesystem(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_parameters("The request body must be a JSON object.")
    name, region = body.get("name"), body.get("region")
    if not isinstance(name, str) or not 1 <= len(name) <= 60 or not _FILESYSTEM_NAME.match(name):
        raise invalid_parameters(
            "'name' must be 1-60 letters, digits or hyphens, starting with a letter."
        )
    if not isinstance(region, str) or region not in PUBLIC_REGION_CODES:
        raise invalid_parameters(f"'region' is not a valid region: {region!r}.")
    fs = request.app[SIM].account.create_filesystem(name, region)
    return ok(fs.to_json(False))


async def delete_filesystem(request: web.Request) -> web.Response:
    fs_id = request.match_info["id"]
    request.app[SIM].account.delete_filesystem(fs_id)
    return ok({"deleted_ids": [fs_id]})


# --- images, firewall ------------------------------------------------------------------


async def list_images(request: web.Request) -> web.Response:
    return ok(request.app[SIM].account.images)


async def list_firewall_rules(request: web.Request) -> web.Response:
    return ok(request.app[SIM].firewall_rules)


async def set_firewall_rules(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise invalid_parameters('The request body must be {"data": [rules...]}.')
    rules = [_checked_rule(rule) for rule in body["data"]]
    request.app[SIM].firewall_rules = rules
    return ok(rules)


def _checked_rule(rule: Any) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise invalid_parameters("Each firewall rule must be an object.")
    protocol = rule.get("protocol")
    if protocol not in ("tcp", "udp", "icmp", "all"):
        raise invalid_parameters(f"Invalid protocol {protocol!r}.")
    network, description = rule.get("source_network"), rule.get("description")
    try:
        ipaddress.IPv4Network(network, strict=False)
    except (ValueError, TypeError) as exc:
        raise invalid_parameters(f"Invalid source network {network!r}.") from exc
    if not isinstance(description, str) or len(description) > 128:
        raise invalid_parameters("'description' must be a string of 128 characters or fewer.")
    checked: dict[str, Any] = {
        "protocol": protocol,
        "source_network": network,
        "description": description,
    }
    ports = rule.get("port_range")
    if protocol == "icmp":
        if ports is not None:
            raise invalid_parameters("'port_range' is not allowed for icmp.")
    else:
        if (
            not isinstance(ports, list)
            or len(ports) != 2
            or not all(isinstance(p, int) and 1 <= p <= 65535 for p in ports)
            or ports[0] > ports[1]
        ):
            raise invalid_parameters("'port_range' must be [min, max] with ports 1-65535.")
        checked["port_range"] = list(ports)
    return checked


DEFAULT_FIREWALL_RULES: list[dict[str, Any]] = [
    {
        "protocol": "tcp",
        "port_range": [22, 22],
        "source_network": "0.0.0.0/0",
        "description": "Allow SSH from anywhere",
    }
]


def add_api_routes(app: web.Application) -> None:
    """Register every endpoint under /api/v1."""
    p = API_PREFIX
    app.router.add_get(f"{p}/instances", list_instances)
    app.router.add_get(f"{p}/instances/{{id}}", get_instance)
    app.router.add_post(f"{p}/instances/{{id}}", update_instance)
    app.router.add_get(f"{p}/instance-types", list_instance_types)
    app.router.add_post(f"{p}/instance-operations/launch", launch)
    app.router.add_post(f"{p}/instance-operations/restart", restart)
    app.router.add_post(f"{p}/instance-operations/terminate", terminate)
    app.router.add_get(f"{p}/ssh-keys", list_ssh_keys)
    app.router.add_post(f"{p}/ssh-keys", add_ssh_key)
    app.router.add_delete(f"{p}/ssh-keys/{{id}}", delete_ssh_key)
    app.router.add_get(f"{p}/file-systems", list_filesystems)
    app.router.add_post(f"{p}/filesystems", create_filesystem)
    app.router.add_delete(f"{p}/filesystems/{{id}}", delete_filesystem)
    app.router.add_get(f"{p}/images", list_images)
    app.router.add_get(f"{p}/firewall-rules", list_firewall_rules)
    app.router.add_put(f"{p}/firewall-rules", set_firewall_rules)
