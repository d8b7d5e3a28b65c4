"""Async Lambda Cloud REST client: pacing, timeouts, bounded retries, launch never sent twice.

Retry rules. A 429 means the request was not processed, so every method waits (Retry-After, or
exponential backoff with jitter) and resends, a bounded number of times. A connection that
failed before the request went out (refused, DNS, connect timeout) is resent by every method.
After the request went out, only reads and terminate (idempotent) are resent on 5xx, replies
that are not JSON, timeouts and dropped connections. A launch whose outcome is unknown is
never resent: the instance list is searched for the launch's name instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from lambda_gui.cloud.errors_map import error_from_reply, sanitize
from lambda_gui.cloud.pacing import Pacer, default_pacer, parse_retry_after
from lambda_gui.cloud.wire import (
    GONE_STATUSES,
    FileSystem,
    GeneratedSSHKey,
    Image,
    Instance,
    InstanceTypeAvailability,
    LaunchRequest,
    SSHKey,
    UnexpectedReplyError,
    decode_file_systems,
    decode_generated_ssh_key,
    decode_images,
    decode_instance,
    decode_instance_types,
    decode_instances,
    decode_launch,
    decode_restarted,
    decode_ssh_key,
    decode_ssh_keys,
    decode_terminated,
    unwrap_data,
)
from lambda_gui.core.errors import (
    APIUnavailableError,
    InvalidParametersError,
    LambdaAPIError,
    LaunchOutcomeUnknownError,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1"
_USER_AGENT = "lambda-gui"
_MAX_RATE_LIMIT_RETRIES = 6
_BACKOFF_CAP = 30.0
# Errors raised before any byte of the request left this machine: safe to resend anything.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class _Policy(Enum):
    READ = "read"  # GET: resend on any transient failure
    IDEMPOTENT = "idempotent"  # terminate: same as a read
    ONCE = "once"  # other writes: resend only when not processed (429, not sent)
    LAUNCH = "launch"  # like ONCE, and an unknown outcome is resolved by name

    @property
    def resend_after_sent(self) -> bool:
        return self in (_Policy.READ, _Policy.IDEMPOTENT)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str | None
    retry_after: str | None


class _OutcomeUnknown(Exception):
    """A write went out and its outcome is unknown (only launch sees this)."""

    def __init__(self, error: LambdaAPIError) -> None:
        super().__init__(error.message)
        self.error = error


class LambdaCloudClient:
    """Typed calls to the Lambda Cloud API over a session the caller owns."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        pacer: Pacer | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        max_get_retries: int = 4,
        backoff_base: float = 0.5,
        max_rate_limit_retries: int = _MAX_RATE_LIMIT_RETRIES,
        launch_lookup_attempts: int = 2,
        launch_lookup_delay: float = 5.0,
    ) -> None:
        if not api_key:
            raise InvalidParametersError(
                "No Lambda Cloud API key was given; enter one in Settings."
            )
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._host = urlsplit(self._base_url).netloc or self._base_url
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        self._pacer = pacer if pacer is not None else default_pacer()
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._read_timeout = read_timeout
        self._max_retries = max(0, max_get_retries)
        self._max_rate_limit_retries = max(0, max_rate_limit_retries)
        self._backoff_base = backoff_base
        self._lookup_attempts = max(1, launch_lookup_attempts)
        self._lookup_delay = launch_lookup_delay

    def __repr__(self) -> str:
        return f"LambdaCloudClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root this client talks to (no trailing slash)."""
        return self._base_url

    # --- instance types, instances ---------------------------------------------------------

    async def list_instance_types(self) -> dict[str, InstanceTypeAvailability]:
        """GET /instance-types: every type Lambda offers and the regions with capacity now."""
        return decode_instance_types(await self._call("GET", "/instance-types", _Policy.READ))

    async def list_instances(self) -> list[Instance]:
        """GET /instances: the account's running (and recently terminated) instances."""
        return decode_instances(await self._call("GET", "/instances", _Policy.READ))

    async def get_instance(self, instance_id: str) -> Instance:
        """GET /instances/{id}."""
        path = f"/instances/{quote(instance_id, safe='')}"
        return decode_instance(await self._call("GET", path, _Policy.READ))

    async def find_instances_by_name(self, name: str) -> list[Instance]:
        """The instances named `name` that have not been terminated or preempted."""
        return [
            i
            for i in await self.list_instances()
            if i.name == name and i.status not in GONE_STATUSES and i.status != "terminating"
        ]

    async def rename_instance(self, instance_id: str, name: str) -> Instance:
        """POST /instances/{id}: set the instance's name."""
        path = f"/instances/{quote(instance_id, safe='')}"
        return decode_instance(await self._call("POST", path, _Policy.ONCE, {"name": name}))

    async def launch(self, req: LaunchRequest) -> list[str]:
        """POST /instance-operations/launch, sent at most once; returns the new instance ids.

        If the reply is lost (timeout, 5xx, not JSON, dropped connection), the instance list is
        searched for `req.name` and a match is adopted; if none is found,
        LaunchOutcomeUnknownError says so and the caller must look again later.
        """
        if not req.name:
            raise InvalidParametersError(
                "A launch needs an instance name, so that a lost reply can be recovered by "
                "looking the instance up by name."
            )
        try:
            data = await self._call(
                "POST", "/instance-operations/launch", _Policy.LAUNCH, req.to_json()
            )
            return decode_launch(data)
        except _OutcomeUnknown as lost:
            cause: LambdaAPIError = lost.error
        except UnexpectedReplyError as exc:
            cause = exc
        log.warning("launch of %r: outcome unknown (%s); looking it up by name", req.name, cause)
        return await self._adopt(req.name, cause)

    async def _adopt(self, name: str, cause: LambdaAPIError) -> list[str]:
        for attempt in range(self._lookup_attempts):
            if attempt:
                await asyncio.sleep(self._lookup_delay)
            try:
                found = await self.find_instances_by_name(name)
            except LambdaAPIError as exc:
                raise LaunchOutcomeUnknownError(
                    f"The launch of instance '{name}' may or may not have happened "
                    f"({cause.message}), and the instance list could not be read to check "
                    f"({exc.message}). The app will look for instance '{name}' again; it may "
                    "be billing, so check the Lambda Cloud dashboard if this persists."
                ) from exc
            if found:
                ids = [i.id for i in found]
                log.info("launch of %r: adopted instance(s) %s after a lost reply", name, ids)
                return ids
        raise LaunchOutcomeUnknownError(
            f"The launch of instance '{name}' may or may not have happened ({cause.message}), "
            f"and no instance of that name is listed yet. The app will look for instance "
            f"'{name}' again before launching anything else for this job."
        )

    async def terminate(self, instance_ids: Iterable[str]) -> list[Instance]:
        """POST /instance-operations/terminate; returns the instances as now terminating."""
        ids = list(instance_ids)
        if not ids:
            return []
        data = await self._call(
            "POST", "/instance-operations/terminate", _Policy.IDEMPOTENT, {"instance_ids": ids}
        )
        return decode_terminated(data)

    async def restart(self, instance_ids: Iterable[str]) -> list[Instance]:
        """POST /instance-operations/restart; returns the restarted instances."""
        ids = list(instance_ids)
        if not ids:
            return []
        data = await self._call(
            "POST", "/instance-operations/restart", _Policy.ONCE, {"instance_ids": ids}
        )
        return decode_restarted(data)

    # --- SSH keys, file systems, images ----------------------------------------------------

    async def list_ssh_keys(self) -> list[SSHKey]:
        """GET /ssh-keys."""
        return decode_ssh_keys(await self._call("GET", "/ssh-keys", _Policy.READ))

    async def add_ssh_key(self, name: str, public_key: str) -> SSHKey:
        """POST /ssh-keys with a public key: register it under `name`."""
        body = {"name": name, "public_key": public_key}
        return decode_ssh_key(await self._call("POST", "/ssh-keys", _Policy.ONCE, body))

    async def generate_ssh_key(self, name: str) -> GeneratedSSHKey:
        """POST /ssh-keys without a public key: Lambda makes a pair and returns the private key."""
        data = await self._call("POST", "/ssh-keys", _Policy.ONCE, {"name": name})
        return decode_generated_ssh_key(data)

    async def delete_ssh_key(self, key_id: str) -> None:
        """DELETE /ssh-keys/{id}."""
        await self._call("DELETE", f"/ssh-keys/{quote(key_id, safe='')}", _Policy.ONCE)

    async def list_file_systems(self) -> list[FileSystem]:
        """GET /file-systems."""
        return decode_file_systems(await self._call("GET", "/file-systems", _Policy.READ))

    async def list_images(self) -> list[Image]:
        """GET /images."""
        return decode_images(await self._call("GET", "/images", _Policy.READ))

    # --- transport ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> _Reply:
        async with self._session.request(
            method,
            self._base_url + path,
            json=body,
            headers=self._headers,
            timeout=self._timeout,
        ) as resp:
            data = await resp.read()
            return _Reply(
                status=resp.status,
                body=data,
                content_type=resp.headers.get("Content-Type"),
                retry_after=resp.headers.get("Retry-After"),
            )

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, so clients spread out."""
        step = min(_BACKOFF_CAP, self._backoff_base * 2.0 ** max(0, attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    def _not_reached(self, exc: BaseException) -> APIUnavailableError:
        timed_out = isinstance(exc, aiohttp.ConnectionTimeoutError)
        reason = "the connection timed out" if timed_out else sanitize(str(exc), 200)
        return APIUnavailableError(
            f"Could not reach Lambda Cloud at {self._host} ({reason}).",
            suggestion="Check the internet connection and the API address in Settings, "
            "then try again.",
        )

    def _lost(self, exc: BaseException, method: str, path: str) -> APIUnavailableError:
        if isinstance(exc, TimeoutError):
            what = f"Lambda Cloud did not answer {method} {path} within {self._read_timeout:g} s"
        else:
            detail = sanitize(str(exc), 160) or type(exc).__name__
            what = f"The connection to Lambda Cloud broke during {method} {path} ({detail})"
        return APIUnavailableError(f"{what}.", suggestion="Try again in a minute.")

    async def _call(
        self, method: str, path: str, policy: _Policy, body: dict[str, Any] | None = None
    ) -> Any:
        """Send one API call under `policy` and return the `data` of its success envelope."""
        failures = 0
        rate_limited = 0
        while True:
            await self._pacer.wait_turn(launch=policy is _Policy.LAUNCH)
            try:
                reply = await self._send(method, path, body)
            except _NOT_SENT as exc:
                error: LambdaAPIError = self._not_reached(exc)
                cause: BaseException | None = exc
                sent = False
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = self._lost(exc, method, path)
                cause = exc
                sent = True
            else:
                log.debug("%s %s -> HTTP %d", method, path, reply.status)
                if reply.status == 429:
                    if rate_limited < self._max_rate_limit_retries:
                        rate_limited += 1
                        wait = parse_retry_after(reply.retry_after)
                        self._pacer.defer(wait if wait is not None else self._backoff(rate_limited))
                        continue
                    raise error_from_reply(
                        reply.status, reply.body, reply.content_type, reply.retry_after
                    )
                if 200 <= reply.status < 300:
                    try:
                        payload = json.loads(reply.body.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError):
                        pass
                    else:
                        return unwrap_data(payload)
                error = error_from_reply(
                    reply.status, reply.body, reply.content_type, reply.retry_after
                )
                cause = None
                sent = True
                # A definite answer (bad key, bad request, not found) is never resent.
                if not isinstance(error, APIUnavailableError):
                    raise error
            resend = not sent or policy.resend_after_sent
            if resend and failures < self._max_retries:
                failures += 1
                delay = self._backoff(failures)
                log.info(
                    "%s %s failed (%s); retry %d/%d in %.1f s",
                    method,
                    path,
                    error.message,
                    failures,
                    self._max_retries,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if sent and policy is _Policy.LAUNCH:
                raise _OutcomeUnknown(error) from cause
            raise error from cause
