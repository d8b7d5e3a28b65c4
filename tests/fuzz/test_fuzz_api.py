"""Fuzzing the API reply decoders and the error mapping with any JSON-like value or body:
they answer with the result or a documented typed error, never another exception.

Bounded for CI: FUZZ_EXAMPLES examples per test (200 by default)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gui.cloud import wire
from lambda_gui.cloud.errors_map import error_from_reply
from lambda_gui.core.errors import LambdaAPIError, UnexpectedResponseError

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Every key the decoders read, so generated objects reach past the first missing field.
KEYS = (
    "data error code message suggestion field_errors id name status region description "
    "instance_type specs price_cents_per_hour gpu_description vcpus memory_gib storage_gib "
    "gpus ssh_key_names file_system_names ip actions tags key value available reason_code "
    "reason_description migrate rebuild restart cold_reboot terminate ssh_port instance_ids "
    "terminated_instances public_key private_key mount_point created created_by email "
    "is_in_use bytes_used regions_with_capacity_available"
).split()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["active", "booting", "terminated", "us-east-1", "gpu_1x_a10", ""])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


def nest(depth: int, inner: Any, kind: str) -> Any:
    """`inner` inside `depth` lists or objects, built without recursion."""
    value = inner
    for _ in range(depth):
        value = [value] if kind == "list" else {"data": value}
    return value


DECODERS: dict[str, Callable[[Any], Any]] = {
    "unwrap_data": wire.unwrap_data,
    "decode_region": wire.decode_region,
    "decode_instance_type": wire.decode_instance_type,
    "decode_instance_types": wire.decode_instance_types,
    "decode_instance": wire.decode_instance,
    "decode_instances": wire.decode_instances,
    "decode_launch": wire.decode_launch,
    "decode_terminated": wire.decode_terminated,
    "decode_ssh_key": wire.decode_ssh_key,
    "decode_ssh_keys": wire.decode_ssh_keys,
    "decode_generated_ssh_key": wire.decode_generated_ssh_key,
    "decode_file_system": wire.decode_file_system,
    "decode_file_systems": wire.decode_file_systems,
}


def decode_all(value: Any) -> None:
    for name, decode in DECODERS.items():
        try:
            result = decode(value)
        except UnexpectedResponseError as exc:
            assert exc.detail and str(exc)
            continue
        if name != "unwrap_data":  # which hands back the raw `data`, as deep as it came
            # What decoded is printable (logs, the GUI) whatever it came from.
            repr(result), str(getattr(result, "skipped", ""))


@FUZZ
@given(json_values)
def test_decoders_answer_or_raise_unexpected_response_only(value: Any) -> None:
    decode_all(value)
    decode_all({"data": value})
    decode_all([value])


@FUZZ
@given(st.integers(min_value=1, max_value=50_000), json_values, st.sampled_from(["list", "object"]))
def test_deeply_nested_values_are_decoded_or_refused_without_recursion_errors(
    depth: int, inner: Any, kind: str
) -> None:
    # Built here, not drawn: Hypothesis would recurse printing a 50,000-deep example.
    value = nest(depth, inner, kind)
    decode_all(value)
    decode_all({"data": {"instance_type": value, "region": value, "tags": value}})


statuses = st.integers(min_value=-1, max_value=1000) | st.sampled_from(
    [200, 400, 401, 403, 404, 408, 429, 500, 502, 503]
)
content_types = (
    st.none()
    | st.sampled_from(["application/json", "text/html; charset=utf-8", "text/plain", ""])
    | st.text(max_size=30)
)
retry_afters = st.none() | st.text(max_size=12) | st.integers(0, 10**12).map(str)


def envelope(error: Any, extra: Any) -> Any:
    return {"error": error, "field_errors": extra}


bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(envelope, json_values, json_values).map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda depth, open_, close: open_ * depth + close * depth,
        st.integers(min_value=1, max_value=100_000),
        st.sampled_from([b"[", b'{"a":']),
        st.sampled_from([b"]", b"}"]),
    )
    | st.builds(
        lambda depth: json.dumps(
            {
                "error": {"code": "global/invalid-parameters"},
                "field_errors": {"f": nest(depth, 1, "list")},
            }
        ).encode(),
        st.integers(min_value=1, max_value=990),
    )
)


@FUZZ
@given(statuses, bodies, content_types, retry_afters)
def test_error_mapping_always_returns_a_typed_error(
    status: int, body: bytes, content_type: str | None, retry_after: str | None
) -> None:
    err = error_from_reply(status, body, content_type, retry_after, server="http://x")
    assert isinstance(err, LambdaAPIError)
    text = str(err)
    text.encode("utf-8")  # shown in dialogs and logs: no lone surrogates
    assert text and len(text) < 2000


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_bodies_from_the_issue_map_to_typed_errors(depth: int) -> None:
    for status in (200, 400, 404, 500):
        err = error_from_reply(status, b"[" * depth + b"]" * depth, "application/json", None)
        assert isinstance(err, LambdaAPIError)
