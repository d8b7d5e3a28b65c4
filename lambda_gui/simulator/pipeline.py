"""What every request goes through before and after its handler: the request log, injected
faults, rate limits, the API key, the account check, response validation and delays."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from lambda_gui.simulator import api_errors
from lambda_gui.simulator.api_errors import ApiError
from lambda_gui.simulator.app_state import API_PREFIX, SIM
from lambda_gui.simulator.records import RequestRecord

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Faults answered before the request reaches its handler.
_EARLY_FAULTS = ("500", "503", "429", "html", "reset", "provider-400", "404-no-envelope")

_BAD_GATEWAY_PAGE = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
"""


def api_key_of(header: str) -> str | None:
    """The API key in an Authorization header: Bearer <key>, or Basic with the key as user
    (base64 of "key:") or the bare key, as the spec's security schemes allow."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value
    user = decoded.split(":", 1)[0]
    return user or None


def authorized(request: web.Request, api_key: str) -> bool:
    """Whether the request carries the API key in a form Lambda accepts."""
    given = api_key_of(request.headers.get("Authorization", ""))
    if given is None:
        return False
    if hmac.compare_digest(given.encode(), api_key.encode()):
        return True
    # "Authorization: Basic <api_key>" (the key itself, not base64) happens to decode as base64
    # for some keys; accept the raw form too.
    raw = request.headers.get("Authorization", "").strip().partition(" ")[2].strip()
    return hmac.compare_digest(raw.encode(), api_key.encode())


def too_many_requests(retry_after: int, as_json: bool) -> web.Response:
    """A 429 with Retry-After; the body is the error envelope or, as a proxy in front of an
    API sends it, plain text."""
    headers = {"Retry-After": str(retry_after)}
    if as_json:
        body = {
            "error": {
                "code": "global/too-many-requests",
                "message": "Too many requests.",
                "suggestion": f"Wait {retry_after} s before sending more requests.",
            }
        }
        return web.Response(
            status=429,
            body=json.dumps(body).encode(),
            content_type="application/json",
            headers=headers,
        )
    return web.Response(
        status=429, text="429 Too Many Requests\n", content_type="text/plain", headers=headers
    )


def _early_fault_reply(kind: str, json_429: bool) -> web.StreamResponse | None:
    if kind == "500":
        return api_errors.internal_error().response()
    if kind in ("503", "provider-400"):
        return ApiError(
            503 if kind == "503" else 400,
            "provider/internal-unavailable",
            "Provider unavailable",
            "Try again shortly",
        ).response()
    if kind == "404-no-envelope":
        return web.json_response({"detail": "Not Found"}, status=404)
    if kind == "429":
        return too_many_requests(1, json_429)
    if kind == "html":
        return web.Response(status=502, body=_BAD_GATEWAY_PAGE, content_type="text/html")
    return None


def _drop_connection(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


async def _truncated(request: web.Request, reply: web.Response) -> web.StreamResponse:
    """Send the headers and half the body of a reply, then cut the connection."""
    body = reply.body if isinstance(reply.body, bytes) else b""
    cut = web.StreamResponse(status=reply.status, headers={"Content-Type": reply.content_type})
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: max(1, len(body) // 2)])
    if request.transport is not None:
        request.transport.abort()
    return cut


@web.middleware
async def api_pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log, fault, pace, authenticate, handle, validate, delay, in that order."""
    sim = request.app[SIM]
    if not request.path.startswith(API_PREFIX + "/") and request.path != API_PREFIX:
        return await handler(request)
    record = RequestRecord(time.monotonic(), request.method, request.path, 0)
    sim.requests.append(record)
    sim.fleet.sweep()
    method, path = request.method, request.path

    fault = sim.faults.take_failure(method, path)
    if fault is not None:
        record.fault = fault
    if fault in _EARLY_FAULTS:
        if fault == "reset":
            return _drop_connection(request)
        early = _early_fault_reply(fault, sim.next_429_is_json())
        assert early is not None
        record.status = early.status
        return early

    if sim.limiter is not None:
        wait = sim.limiter.check(
            method == "POST" and path == f"{API_PREFIX}/instance-operations/launch"
        )
        if wait:
            record.fault = record.fault or "rate-limit"
            limited = too_many_requests(wait, sim.next_429_is_json())
            record.status = limited.status
            return limited

    try:
        if not authorized(request, sim.api_key):
            raise api_errors.invalid_api_key()
        if not sim.account.active:
            raise api_errors.account_inactive()
        if fault == "insufficient-capacity":
            raise api_errors.insufficient_capacity()
        reply: web.StreamResponse = await handler(request)
    except ApiError as exc:
        reply = exc.response()
    except web.HTTPException as exc:
        record.status = exc.status
        raise

    if isinstance(reply, web.Response) and request.match_info.route.resource is not None:
        template = request.match_info.route.resource.canonical
        body = reply.body if isinstance(reply.body, bytes) else b""
        sim.validate(method, template, reply.status, body)

    if reply.status == 200 and sim.faults.take_launch_drop(method, path):
        record.fault = "dropped-reply"
        return _drop_connection(request)
    if reply.status == 200 and sim.faults.take_launch_empty(method, path):
        record.fault = "empty-launch-reply"
        return web.json_response({"data": {"instance_ids": []}})
    delay = sim.faults.take_delay(method, path)
    if delay:
        await asyncio.sleep(delay)
    if fault == "truncated" and isinstance(reply, web.Response):
        record.status = reply.status
        return await _truncated(request, reply)
    record.status = reply.status
    return reply
