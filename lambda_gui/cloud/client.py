"""Async Lambda Cloud REST client: pacing, timeouts, bounded retries, launch never sent twice.

Retry rules. A 429 means the request was not processed, so every method waits (Retry-After, or
exponential backoff with jitter) and resends, a bounded number of times. A connection that
failed before the request went out (refused, DNS, connect timeout) is resent by every method.
After the request went out, only reads and terminate (idempotent) are resent on 5xx,
`provider/*` errors (whatever their status), replies that are not JSON, timeouts and dropped
connections. A launch whose outcome is unknown is never resent: the instance list is searched
for the launch's name instead. A reply of the wrong shape, or a 404 that does not come from
Lambda, is UnexpectedResponseError and never resent: it will not change by asking again.

Hostile or broken servers. Every call has a total deadline (connect + twice the read timeout by
default) over connecting, sending and reading the whole body, so a reply dripped a byte at a
time cannot hold a call past it; a deadline hit counts as a lost reply (resent for reads, the
launch's outcome unknown). A body is read in chunks and cut off past MAX_BODY_BYTES
(ResponseTooLargeError, never resent). A body that cannot be decoded (not UTF-8, not JSON,
nested too deeply for the parser) is a typed error, never a raw decoder exception.

List calls return every item they could read; one that could not (another tool's odd
instance) is logged and reported in the result's `skipped` instead of failing the list.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp

from lambda_gui.cloud.errors_map import error_from_reply, sanitize
from lambda_gui.cloud.pacing import Pacer, default_pacer, parse_retry_after
from lambda_gui.cloud.wire import (
    GONE_STATUSES,
    DecodedList,
    DecodedMap,
    FileSystem,
    GeneratedSSHKey,
    Instance,
    InstanceTypeAvailability,
    LaunchRequest,
    SkippedItem,
    SSHKey,
    decode_file_systems,
    decode_generated_ssh_key,
    decode_instance,
    decode_instance_types,
    decode_instances,
    decode_launch,
    decode_ssh_key,
    decode_ssh_keys,
    decode_terminated,
    unwrap_data,
    validate_tag,
)
from lambda_gui.core.errors import (
    APIUnavailableError,
    InvalidParametersError,
    LambdaAPIError,
    LaunchOutcomeUnknownError,
    ResponseTooLargeError,
    UnexpectedResponseError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1"
_USER_AGENT = "lambda-gui"
_MAX_RATE_LIMIT_RETRIES = 6
_BACKOFF_CAP = 30.0
# Errors raised before any byte of the request left this machine: safe to resend anything.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Lambda's largest replies (an account's instance list) are a few hundred KiB; a body past this
# is a wrong address or a broken server, and reading it on would only fill memory.
MAX_BODY_BYTES = 16 * 2**20
_CHUNK_BYTES = 64 * 1024


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


class _DeadlineExceeded(TimeoutError):
    """The call's total deadline passed (a TimeoutError, so it counts as a lost reply)."""


class _TooLarge(Exception):
    """The reply body grew past the cap; the connection was closed."""

    def __init__(self, status: int, size: int, declared: bool) -> None:
        super().__init__(f"HTTP {status} body over {size} bytes")
        self.status = status
        self.size = size
        self.declared = declared


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
        total_timeout: float | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
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
        # sock_read restarts on every byte, so only a deadline over the whole call stops a
        # server that drips its reply; the default leaves a full read timeout for the body.
        self._deadline = (
            total_timeout if total_timeout is not None else connect_timeout + 2 * read_timeout
        )
        self._max_body = max(1, max_body_bytes)
        self._max_retries = max(0, max_get_retries)
        self._max_rate_limit_retries = max(0, max_rate_limit_retries)
        self._backoff_base = backoff_base
        self._lookup_attempts = max(1, launch_lookup_attempts)
        self._lookup_delay = launch_lookup_delay

    def __repr__(self) -> str:
        return f"LambdaCloudClient(base_url={self._base_url!r})"

    # --- instance types, instances ---------------------------------------------------------

    async def list_instance_types(self) -> DecodedMap[InstanceTypeAvailability]:
        """GET /instance-types: each type and its regions with capacity; odd ones in `skipped`."""
        types = await self._fetch("GET", "/instance-types", _Policy.READ, decode_instance_types)
        self._log_skipped("GET /instance-types", types.skipped)
        return types

    async def list_instances(self) -> DecodedList[Instance]:
        """GET /instances: live and recently ended instances; unreadable ones in `skipped`."""
        instances = await self._fetch("GET", "/instances", _Policy.READ, decode_instances)
        self._log_skipped("GET /instances", instances.skipped)
        return instances

    async def get_instance(self, instance_id: str) -> Instance:
        """GET /instances/{id}."""
        path = f"/instances/{quote(instance_id, safe='')}"
        return await self._fetch("GET", path, _Policy.READ, decode_instance)

    async def find_instances_by_name(self, name: str) -> DecodedList[Instance]:
        """Live instances named `name`; `skipped` (unreadable instances) may hide a match."""
        instances = await self.list_instances()
        return DecodedList((i for i in instances if i.name == name and _live(i)), instances.skipped)

    async def find_instances_by_tag(self, key: str, value: str) -> DecodedList[Instance]:
        """Live instances tagged key=value; `skipped` (unreadable instances) may hide a match."""
        # GET /instances filtered here: the API does not filter by tag.
        validate_tag(key, value)
        instances = await self.list_instances()
        return DecodedList(
            (i for i in instances if i.has_tag(key, value) and _live(i)), instances.skipped
        )

    async def launch(self, req: LaunchRequest) -> list[str]:
        """POST /instance-operations/launch, sent at most once; returns the new instance ids.

        If the reply is lost (timeout, the call's deadline, 5xx, provider error, not JSON, too
        large or too deeply nested, dropped connection, a success of the wrong shape), the
        instance list is searched for `req.name` and a match is adopted; if none is found,
        LaunchOutcomeUnknownError says so and the caller must look again later.
        """
        if not req.name:
            raise InvalidParametersError(
                "A launch needs an instance name, so that a lost reply can be recovered by "
                "looking the instance up by name."
            )
        path = "/instance-operations/launch"
        cause: LambdaAPIError
        try:
            data = await self._call("POST", path, _Policy.LAUNCH, req.to_json())
        except _OutcomeUnknown as lost:
            cause = lost.error
        else:
            try:
                return decode_launch(data)
            except UnexpectedResponseError as exc:
                # A success whose body we cannot read: the instance most likely exists.
                cause = self._unexpected("POST", path, exc)
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

    async def terminate(self, instance_ids: Iterable[str]) -> DecodedList[Instance]:
        """POST /instance-operations/terminate; returns the instances as now terminating."""
        ids = list(instance_ids)
        if not ids:
            return DecodedList()
        body = {"instance_ids": ids}
        path = "/instance-operations/terminate"
        return await self._fetch("POST", path, _Policy.IDEMPOTENT, decode_terminated, body)

    # --- SSH keys, file systems ------------------------------------------------------------

    async def list_ssh_keys(self) -> DecodedList[SSHKey]:
        """GET /ssh-keys; a key that cannot be read is reported in `skipped`."""
        keys = await self._fetch("GET", "/ssh-keys", _Policy.READ, decode_ssh_keys)
        self._log_skipped("GET /ssh-keys", keys.skipped)
        return keys

    async def add_ssh_key(self, name: str, public_key: str) -> SSHKey:
        """POST /ssh-keys with a public key: register it under `name`."""
        body = {"name": name, "public_key": public_key}
        return await self._fetch("POST", "/ssh-keys", _Policy.ONCE, decode_ssh_key, body)

    async def generate_ssh_key(self, name: str) -> GeneratedSSHKey:
        """POST /ssh-keys without a public key: Lambda makes a pair and returns the private key."""
        body = {"name": name}
        return await self._fetch("POST", "/ssh-keys", _Policy.ONCE, decode_generated_ssh_key, body)

    async def list_file_systems(self) -> DecodedList[FileSystem]:
        """GET /file-systems; one that cannot be read is reported in `skipped`."""
        systems = await self._fetch("GET", "/file-systems", _Policy.READ, decode_file_systems)
        self._log_skipped("GET /file-systems", systems.skipped)
        return systems

    # --- decoding ----------------------------------------------------------------------------

    async def _fetch(
        self,
        method: str,
        path: str,
        policy: _Policy,
        decode: Callable[[Any], T],
        body: dict[str, Any] | None = None,
    ) -> T:
        """_call, then decode its data; a shape error names this server and the request."""
        data = await self._call(method, path, policy, body)
        try:
            return decode(data)
        except UnexpectedResponseError as exc:
            raise self._unexpected(method, path, exc) from exc

    def _unexpected(
        self, method: str, path: str, exc: UnexpectedResponseError
    ) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"The reply of {self._base_url} to {method} {path} is not what the Lambda Cloud "
            f"API sends: {exc.detail}.",
            detail=exc.detail,
            suggestion=exc.suggestion,
        )

    @staticmethod
    def _log_skipped(what: str, skipped: Iterable[SkippedItem]) -> None:
        for item in skipped:
            log.warning("%s: left out an item: %s", what, item)

    # --- transport ---------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> _Reply:
        """One request and its whole reply, within the call's deadline and the body cap."""
        deadline = asyncio.timeout(self._deadline)
        try:
            async with deadline:
                return await self._exchange(method, path, body)
        except TimeoutError as exc:
            # aiohttp's own timeouts are TimeoutErrors too: only ours is the deadline.
            if deadline.expired():
                raise _DeadlineExceeded() from exc
            raise

    async def _exchange(self, method: str, path: str, body: dict[str, Any] | None) -> _Reply:
        async with self._session.request(
            method,
            self._base_url + path,
            json=body,
            headers=self._headers,
            timeout=self._timeout,
        ) as resp:
            data = await self._read_capped(resp)
            return _Reply(
                status=resp.status,
                body=data,
                content_type=resp.headers.get("Content-Type"),
                retry_after=resp.headers.get("Retry-After"),
            )

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, read chunk by chunk; past the cap the connection is closed, not drained."""
        declared = resp.content_length
        if declared is not None and declared > self._max_body:
            resp.close()
            raise _TooLarge(resp.status, declared, declared=True)
        data = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
            data += chunk
            if len(data) > self._max_body:
                resp.close()
                raise _TooLarge(resp.status, len(data), declared=False)
        return bytes(data)

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
        if isinstance(exc, _DeadlineExceeded):
            what = (
                f"Lambda Cloud did not finish its reply to {method} {path} within "
                f"{self._deadline:g} s"
            )
        elif isinstance(exc, TimeoutError):
            what = f"Lambda Cloud did not answer {method} {path} within {self._read_timeout:g} s"
        else:
            detail = sanitize(str(exc), 160) or type(exc).__name__
            what = f"The connection to Lambda Cloud broke during {method} {path} ({detail})"
        return APIUnavailableError(f"{what}.", suggestion="Try again in a minute.")

    def _too_large(self, method: str, path: str, big: _TooLarge) -> ResponseTooLargeError:
        cap = _size(self._max_body)
        if big.declared:
            detail = (
                f"the reply (HTTP {big.status}) announced {_size(big.size)}, more than the "
                f"{cap} this app reads"
            )
        else:
            detail = f"the reply (HTTP {big.status}) went past the {cap} this app reads"
        return ResponseTooLargeError(
            f"The reply of {self._base_url} to {method} {path} was too large: {detail}; it "
            "was cut off unread.",
            detail=detail,
            suggestion="Check the API address in Settings; Lambda's is "
            "https://cloud.lambda.ai/api/v1. If it is, try again later.",
            status=big.status,
        )

    def _too_deep(self, method: str, path: str, status: int) -> UnexpectedResponseError:
        detail = f"the reply (HTTP {status}) is JSON nested too deeply to read"
        return UnexpectedResponseError(
            f"The reply of {self._base_url} to {method} {path} is not what the Lambda Cloud "
            f"API sends: {detail}.",
            detail=detail,
            suggestion="Check the API address in Settings; if it is Lambda's, a newer "
            "version of this app may be needed.",
            status=status,
        )

    def _error(self, reply: _Reply) -> LambdaAPIError:
        return error_from_reply(
            reply.status,
            reply.body,
            reply.content_type,
            reply.retry_after,
            server=self._base_url,
        )

    def _unwrap(self, method: str, path: str, policy: _Policy, payload: object) -> Any:
        try:
            return unwrap_data(payload)
        except UnexpectedResponseError as exc:
            error = self._unexpected(method, path, exc)
            if policy is _Policy.LAUNCH:
                # A 2xx without the success envelope: the launch may well have happened.
                raise _OutcomeUnknown(error) from exc
            raise error from exc

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
            except _TooLarge as big:
                # Asking again brings the same flood; a launch may still have happened.
                too_large = self._too_large(method, path, big)
                if policy is _Policy.LAUNCH:
                    raise _OutcomeUnknown(too_large) from None
                raise too_large from None
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
                    raise self._error(reply)
                if 200 <= reply.status < 300:
                    try:
                        payload = json.loads(reply.body.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError):
                        pass  # not JSON: mapped below like any unreadable reply
                    except RecursionError:
                        # Valid JSON deeper than the parser goes: asking again will not help.
                        too_deep = self._too_deep(method, path, reply.status)
                        if policy is _Policy.LAUNCH:
                            raise _OutcomeUnknown(too_deep) from None
                        raise too_deep from None
                    else:
                        return self._unwrap(method, path, policy, payload)
                error = self._error(reply)
                cause = None
                sent = True
                # A definite answer (bad key, bad request, not found, not Lambda's API at
                # all) is never resent; provider/* errors are APIUnavailableError, so they are.
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


def _size(n: int) -> str:
    """A byte count in words: 16 MiB, 1.5 KiB, 900 bytes."""
    if n >= 2**20:
        return f"{n / 2**20:.3g} MiB"
    if n >= 2**10:
        return f"{n / 2**10:.3g} KiB"
    return f"{n} bytes"


def _live(instance: Instance) -> bool:
    """Not terminated, preempted or on its way there."""
    return instance.status not in GONE_STATUSES and instance.status != "terminating"
