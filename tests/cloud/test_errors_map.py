"""Error replies (recorded from the spec's error schemas) map to the right typed errors."""

from __future__ import annotations

import json

import pytest

from lambda_gui.cloud.errors_map import error_from_reply, sanitize
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
from tests.cloud.recorded import load, raw

JSON = "application/json"


@pytest.mark.parametrize(
    ("fixture", "status", "cls", "seed_base"),
    [
        ("error-invalid-api-key.json", 401, InvalidAPIKeyError, ValueError),
        ("error-account-inactive.json", 403, AccountInactiveError, ValueError),
        ("error-invalid-address.json", 403, AccountInactiveError, ValueError),
        ("error-invalid-parameters.json", 400, InvalidParametersError, ValueError),
        ("error-insufficient-capacity.json", 400, InsufficientCapacityError, RuntimeError),
        ("error-quota-exceeded.json", 400, QuotaExceededError, RuntimeError),
        ("error-not-found.json", 404, ObjectNotFoundError, RuntimeError),
        ("error-internal.json", 500, APIUnavailableError, ConnectionError),
        ("error-duplicate.json", 400, InvalidParametersError, ValueError),
        ("error-file-system-in-wrong-region.json", 400, InvalidParametersError, ValueError),
        ("error-filesystem-in-use.json", 400, InvalidParametersError, ValueError),
        ("error-provider-unavailable.json", 503, ProviderUnavailableError, ConnectionError),
    ],
)
def test_each_code_maps_to_its_error(
    fixture: str, status: int, cls: type[LambdaAPIError], seed_base: type[Exception]
) -> None:
    reply = load(fixture)["error"]
    err = error_from_reply(status, raw(fixture), JSON, None)
    assert type(err) is cls
    assert isinstance(err, seed_base)
    assert err.code == reply["code"] and err.status == status
    assert reply["message"] in str(err)
    if "suggestion" in reply:
        assert reply["suggestion"] in str(err)
    else:
        assert err.suggestion, "a message must say what the user can do"


def test_code_wins_over_status_and_message_text_is_never_read() -> None:
    body = json.dumps(
        {"error": {"code": "instance-operations/launch/insufficient-capacity", "message": "quota"}}
    ).encode()
    assert type(error_from_reply(400, body, JSON, None)) is InsufficientCapacityError
    # Same message text, a different code: the code decides.
    body = json.dumps({"error": {"code": "global/quota-exceeded", "message": "capacity"}}).encode()
    assert type(error_from_reply(400, body, JSON, None)) is QuotaExceededError


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, InvalidAPIKeyError),
        (403, AccountInactiveError),
        (400, InvalidParametersError),
        (404, UnexpectedResponseError),
        (409, InvalidParametersError),
        (500, APIUnavailableError),
        (503, APIUnavailableError),
        (429, RateLimitedError),
    ],
)
def test_unknown_code_falls_back_to_status(status: int, cls: type[LambdaAPIError]) -> None:
    err = error_from_reply(status, raw("error-unknown-code.json"), JSON, None)
    assert type(err) is cls
    assert "Something new went wrong." in str(err)
    assert err.code == "instance-operations/launch/some-new-failure"


def test_older_field_errors_are_folded_into_the_message() -> None:
    err = error_from_reply(400, raw("error-field-errors.json"), JSON, None)
    assert type(err) is InvalidParametersError
    text = str(err)
    assert "Invalid request data." in text
    assert "name: Name must be at most 64 characters" in text
    assert "ssh_key_names: Exactly one SSH key name is required" in text


def test_html_502_page_is_a_clear_unavailable_error_without_the_markup() -> None:
    err = error_from_reply(502, raw("html-502.html"), "text/html; charset=utf-8", None)
    assert type(err) is APIUnavailableError and isinstance(err, ConnectionError)
    text = str(err)
    assert "HTTP 502" in text and "HTML page" in text and "try again in a minute" in text
    assert "502 Bad Gateway" in text  # the page's title, as a short snippet
    assert "<" not in text and "do-not-echo-this-markup" not in text and "cloudflare" not in text
    assert len(text) < 300


def test_html_without_content_type_is_still_recognised() -> None:
    err = error_from_reply(502, raw("html-502.html"), None, None)
    assert "HTML page" in str(err)


def test_truncated_json_is_unavailable_not_a_decode_crash() -> None:
    err = error_from_reply(200, raw("truncated.json"), JSON, None)
    assert type(err) is APIUnavailableError
    assert "not valid JSON" in str(err) and "HTTP 200" in str(err)
    assert "My Inst" not in str(err)


def test_empty_body_is_unavailable() -> None:
    err = error_from_reply(504, b"", None, None)
    assert type(err) is APIUnavailableError and "empty reply" in str(err)


def test_non_json_429_is_rate_limited_with_the_wait() -> None:
    err = error_from_reply(429, raw("rate-limit-429.txt"), "text/plain", "7")
    assert type(err) is RateLimitedError and isinstance(err, ConnectionError)
    assert "HTTP 429" in str(err) and "7 s" in str(err)
    assert "Too Many Requests" not in str(err)


def test_json_without_error_envelope_maps_by_status() -> None:
    err = error_from_reply(401, b'{"detail": "nope"}', JSON, None)
    assert type(err) is InvalidAPIKeyError and "HTTP 401" in str(err) and err.suggestion


def test_lambda_text_is_sanitized_and_capped() -> None:
    body = json.dumps(
        {"error": {"code": "global/invalid-parameters", "message": "bad\x1b[31m\n" + "x" * 2000}}
    ).encode()
    text = str(error_from_reply(400, body, JSON, None))
    assert "\x1b" not in text and "\n" not in text and len(text) < 600


def test_sanitize() -> None:
    assert sanitize("  a\t\r\nb  ") == "a b"
    assert sanitize("abcdef", limit=4) == "abc…"


# --- provider errors: transient whatever the status ---------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 500, 502, 503])
def test_provider_codes_are_retryable_unavailable_errors_whatever_the_status(status: int) -> None:
    err = error_from_reply(status, raw("error-provider-unavailable.json"), JSON, None)
    assert type(err) is ProviderUnavailableError
    assert isinstance(err, APIUnavailableError) and isinstance(err, ConnectionError)
    assert err.code == "provider/internal-unavailable" and err.status == status
    assert "Provider unavailable" in str(err) and "Try again shortly" in str(err)
    assert "check the values" not in str(err).lower()


def test_any_provider_code_counts_not_only_the_spec_example() -> None:
    body = json.dumps({"error": {"code": "provider/quota-exhausted", "message": "Busy"}}).encode()
    err = error_from_reply(400, body, JSON, None)
    assert type(err) is ProviderUnavailableError and err.suggestion


# --- only Lambda's not-found code means "gone" ---------------------------------------------


def test_only_lambdas_not_found_code_is_object_not_found() -> None:
    err = error_from_reply(404, raw("error-not-found.json"), JSON, None)
    assert type(err) is ObjectNotFoundError


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (b'{"detail": "Not Found"}', JSON, "JSON without Lambda's error description"),
        (b'{"error": "Not Found"}', JSON, "JSON without Lambda's error description"),
        (b"[]", JSON, "JSON without Lambda's error description"),
        (b"404: Not Found", "text/plain", "not valid JSON"),
        (b"<html><title>404 Not Found</title></html>", "text/html", "HTML page"),
        (b"", None, "empty reply"),
    ],
)
def test_404_without_lambdas_envelope_blames_the_address_not_the_object(
    body: bytes, content_type: str | None, what: str
) -> None:
    """terminate reads ObjectNotFoundError as "the instance is gone, billing stopped": a 404
    from a proxy or a wrong base path must never say that."""
    err = error_from_reply(404, body, content_type, None, server="https://proxy.example/api/v2")
    assert type(err) is UnexpectedResponseError
    assert not isinstance(err, (ObjectNotFoundError, APIUnavailableError, ConnectionError))
    text = str(err)
    assert "The server at https://proxy.example/api/v2 does not look like the Lambda Cloud " in text
    assert what in text and "HTTP 404" in text
    assert "Check the API address (base URL) in Settings" in text
    assert err.status == 404


def test_404_with_an_unknown_code_is_not_taken_as_gone() -> None:
    body = json.dumps({"error": {"code": "instances/something-new", "message": "Nope."}}).encode()
    err = error_from_reply(404, body, JSON, None)
    assert type(err) is UnexpectedResponseError
    assert "Nope." in str(err) and err.code == "instances/something-new"


# --- hostile bodies: always a typed error, never a decoder's exception --------------------


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (500, APIUnavailableError),
        (401, InvalidAPIKeyError),
        (400, InvalidParametersError),
        (429, RateLimitedError),
        (404, UnexpectedResponseError),
        (200, UnexpectedResponseError),
    ],
)
def test_json_nested_too_deeply_is_typed_by_status_not_a_recursion_error(
    status: int, cls: type[LambdaAPIError]
) -> None:
    err = error_from_reply(status, DEEP, JSON, "3")
    assert type(err) is cls and err.status == status
    assert "nested too deeply" in str(err)


def test_field_errors_nested_deeper_than_str_can_follow_are_typed() -> None:
    # Parses (under the parser's limit) but str() of the detail recurses past the limit.
    depth = 900
    body = (
        b'{"error": {"code": "global/invalid-parameters"}, "field_errors": {"name": '
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )
    err = error_from_reply(400, body, JSON, None)
    assert isinstance(err, InvalidParametersError)


def test_many_field_errors_are_capped_in_the_message() -> None:
    fields = {f"f{i}": "bad" for i in range(5000)}
    body = json.dumps(
        {"error": {"code": "global/invalid-parameters", "message": "Bad."}, "field_errors": fields}
    ).encode()
    text = str(error_from_reply(400, body, JSON, None))
    assert "f0: bad" in text and "and 4992 more" in text and len(text) < 1000


def test_lone_surrogates_and_odd_retry_after_do_not_break_the_message() -> None:
    body = b'{"error": {"code": "global/quota-exceeded", "message": "no \\ud800 more"}}'
    err = error_from_reply(400, body, JSON, None)
    str(err).encode("utf-8")  # no lone surrogate left to fail a log or a dialog
    assert "no more" in str(err)
    err = error_from_reply(429, b"slow down", "text/plain", "\u00b2")
    assert type(err) is RateLimitedError and "asked to wait" not in str(err)
    assert "asked to wait" not in str(error_from_reply(429, b"x", None, "9" * 5000))
