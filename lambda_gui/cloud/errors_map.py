"""Map a Lambda Cloud error reply (status, body, headers) to a typed error. Pure.

Branches on the error `code`, never on message text (Lambda says its messages may change);
a code we do not know falls back to the HTTP status. `provider/*` codes (failures upstream of
Lambda) are transient whatever the status. Only Lambda's envelope with a not-found code means
"it is gone": a bare 404 confirms nothing (a wrong base URL, a proxy), and callers act on
not-found as if billing had stopped.

Never raises: whatever the body (not UTF-8, not JSON, JSON nested too deeply for the parser),
the answer is a typed error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lambda_gui.core.errors import (
    AccountInactiveError,
    APIUnavailableError,
    InsufficientCapacityError,
    InvalidAPIKeyError,
    InvalidParametersError,
    LambdaAPIError,
    ObjectNotFoundError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitedError,
    UnexpectedResponseError,
)

_MAX_TEXT = 400
_MAX_SNIPPET = 80
# A message lists this many field errors at most: a reply could hold thousands.
_MAX_FIELD_ERRORS = 8

_BY_CODE: dict[str, type[LambdaAPIError]] = {
    "global/invalid-api-key": InvalidAPIKeyError,
    "global/account-inactive": AccountInactiveError,
    "global/invalid-address": AccountInactiveError,
    "global/invalid-parameters": InvalidParametersError,
    "global/duplicate": InvalidParametersError,
    "global/object-does-not-exist": ObjectNotFoundError,
    "global/quota-exceeded": QuotaExceededError,
    "global/internal-error": APIUnavailableError,
    "instance-operations/launch/insufficient-capacity": InsufficientCapacityError,
    "instance-operations/launch/file-system-in-wrong-region": InvalidParametersError,
    "filesystems/filesystem-in-use": InvalidParametersError,
}

# Errors raised by services upstream of Lambda carry this prefix (spec: "Provider errors").
_PROVIDER_PREFIX = "provider/"

# What the user can do, when Lambda's reply carries no suggestion of its own.
_DEFAULT_SUGGESTION: dict[type[LambdaAPIError], str] = {
    InvalidAPIKeyError: "Check the API key in Settings, or create a new one in the Lambda Cloud "
    "dashboard.",
    AccountInactiveError: "Check the account's email verification, payment method and billing "
    "address in the Lambda Cloud dashboard.",
    InvalidParametersError: "Check the values entered and try again.",
    ObjectNotFoundError: "It may have been deleted or terminated; refresh and try again.",
    InsufficientCapacityError: "Pick another region or instance type, or try again later.",
    QuotaExceededError: "Contact Lambda Support to raise the quota, or terminate instances "
    "you no longer need.",
    APIUnavailableError: "The service may be down; try again in a minute.",
    RateLimitedError: "Wait a few seconds and try again.",
    ProviderUnavailableError: "A service Lambda depends on is failing; try again in a minute.",
    UnexpectedResponseError: "Check the API address in Settings; if it is Lambda's, a newer "
    "version of this app may be needed.",
}


def class_for_status(status: int) -> type[LambdaAPIError]:
    """The error class for a reply whose code is unknown or absent."""
    if status == 401:
        return InvalidAPIKeyError
    if status == 403:
        return AccountInactiveError
    if status == 404:
        # Never ObjectNotFoundError: without Lambda's not-found code nothing is confirmed gone.
        return UnexpectedResponseError
    if status == 429:
        return RateLimitedError
    if status == 408 or status >= 500:
        return APIUnavailableError
    return InvalidParametersError


def class_for_code(code: str | None, status: int) -> type[LambdaAPIError]:
    """The error class for Lambda's error code; unknown codes fall back to the status."""
    if status == 429:
        return RateLimitedError
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if code is not None and code.startswith(_PROVIDER_PREFIX):
        return ProviderUnavailableError
    return class_for_status(status)


def sanitize(text: str, limit: int = _MAX_TEXT) -> str:
    """Printable, single-line, length-capped text fit for an error message."""
    # Lone surrogates (JSON's "\ud800") are left out too: they cannot be encoded to UTF-8, so a
    # log or a dialog showing them would fail.
    text = re.sub(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\uffff]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    head = body[:256].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<"))


def _html_title(body: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:8192], re.IGNORECASE | re.DOTALL)
    if not match:
        return ""
    text = re.sub(r"<[^>]*>", " ", match.group(1).decode("utf-8", "replace"))
    return sanitize(text, _MAX_SNIPPET)


def _retry_after_hint(retry_after: str | None) -> str:
    wait = (retry_after or "").strip()
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
    if wait.isascii() and wait.isdigit() and len(wait) <= 9:
        return f" Lambda asked to wait {int(wait)} s."
    return ""


def _not_lambda(server: str, what: str) -> UnexpectedResponseError:
    """A 404 that did not come from Lambda's API (no envelope): the address is wrong."""
    return UnexpectedResponseError(
        f"The server at {server} does not look like the Lambda Cloud API: it answered "
        f"HTTP 404 with {what}.",
        suggestion="Check the API address (base URL) in Settings; Lambda's is "
        "https://cloud.lambda.ai/api/v1.",
        status=404,
    )


def _non_json_error(
    status: int, body: bytes, content_type: str | None, retry_after: str | None, server: str
) -> LambdaAPIError:
    if status == 429:
        return RateLimitedError(
            f"Lambda Cloud is limiting the request rate (HTTP 429).{_retry_after_hint(retry_after)}",
            suggestion=_DEFAULT_SUGGESTION[RateLimitedError],
            status=status,
        )
    if not body.strip():
        what = "an empty reply instead of JSON"
    elif _looks_like_html(body, content_type):
        title = _html_title(body)
        page = f"an HTML page ({title!r})" if title else "an HTML page"
        what = f"{page} instead of JSON"
    else:
        what = f"a reply that is not valid JSON ({len(body)} bytes, possibly cut off)"
    if status == 404:
        return _not_lambda(server, what)
    return APIUnavailableError(
        f"Lambda Cloud answered HTTP {status} with {what}; "
        "the service may be down, try again in a minute.",
        status=status,
    )


def _fold_field_errors(field_errors: object) -> str:
    """Older API versions list per-field problems in `field_errors`; one line for the user."""
    if not isinstance(field_errors, Mapping) or not field_errors:
        return ""
    parts = []
    for name, detail in list(field_errors.items())[:_MAX_FIELD_ERRORS]:
        if isinstance(detail, Mapping):
            text = detail.get("message") or detail.get("code") or ""
        elif isinstance(detail, list):
            text = "; ".join(
                str(d.get("message", d)) if isinstance(d, Mapping) else str(d) for d in detail
            )
        else:
            text = str(detail)
        parts.append(f"{sanitize(str(name), 60)}: {sanitize(str(text), 160).rstrip('.')}")
    more = len(field_errors) - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return " (" + "; ".join(parts) + ")"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def error_from_reply(
    status: int,
    body: bytes,
    content_type: str | None,
    retry_after: str | None,
    *,
    server: str = "the configured API address",
) -> LambdaAPIError:
    """The typed error for a non-2xx reply (or a 2xx reply whose body is not JSON); `server`
    (the base URL) names the server in messages that blame the address."""
    try:
        payload: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _non_json_error(status, body, content_type, retry_after, server)
    except RecursionError:
        return _too_deep_error(status, retry_after, server)
    try:
        return _envelope_error(status, payload, retry_after, server)
    except RecursionError:
        # A field (field_errors' details) nested deeper than str() can follow.
        return _too_deep_error(status, retry_after, server)


def _too_deep_error(status: int, retry_after: str | None, server: str) -> LambdaAPIError:
    """A reply whose JSON is nested too deeply to read: typed by its status alone."""
    what = "JSON nested too deeply to read"
    if status == 404:
        return _not_lambda(server, what)
    cls = UnexpectedResponseError if 200 <= status < 300 else class_for_status(status)
    text = f"Lambda Cloud answered HTTP {status} with {what}."
    if cls is RateLimitedError:
        text += _retry_after_hint(retry_after)
    return cls(text, suggestion=_DEFAULT_SUGGESTION.get(cls), status=status)


def _envelope_error(
    status: int, payload: Any, retry_after: str | None, server: str
) -> LambdaAPIError:
    """The typed error for a reply whose body is JSON."""
    envelope = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(envelope, Mapping):
        if status == 404:
            return _not_lambda(server, "JSON without Lambda's error description")
        cls = class_for_status(status)
        return cls(
            f"Lambda Cloud answered HTTP {status} without an error description.",
            suggestion=_DEFAULT_SUGGESTION.get(cls),
            status=status,
        )

    code = _str_or_none(envelope.get("code"))
    message = _str_or_none(envelope.get("message"))
    suggestion = _str_or_none(envelope.get("suggestion"))
    cls = class_for_code(code, status)
    field_errors = payload.get("field_errors", envelope.get("field_errors"))
    text = sanitize(message) if message else f"Lambda Cloud answered HTTP {status}"
    text += _fold_field_errors(field_errors)
    if not text.endswith((".", "!", "?", ")")):
        text += "."
    if cls is RateLimitedError:
        text += _retry_after_hint(retry_after)
    return cls(
        text,
        code=code,
        suggestion=sanitize(suggestion) if suggestion else _DEFAULT_SUGGESTION.get(cls),
        status=status,
    )
