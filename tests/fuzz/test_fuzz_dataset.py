"""Fuzzing dataset reading: format detection, streamed parsing and row validation. Whatever a
file holds, the answer is rows, a DatasetFormat, or a DatasetFormatError (its subclasses
DatasetEncodingError, DatasetRowTooLongError): never a UnicodeDecodeError, RecursionError,
csv.Error or IndexError. Reading a file in pieces of any size gives what parsing its whole
text gives, JSON agrees with json.loads, time grows linearly and memory stays flat.

Bounded for CI: FUZZ_EXAMPLES examples per test (200 by default)."""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambda_gui.core.dataset_format import (
    FORMATS,
    DatasetFormat,
    DatasetFormatError,
    file_kind,
    iter_rows,
    parse_hub_path,
    parse_rows,
    render_plain,
    to_messages,
    validate_rows,
)

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MiB = 1024 * 1024
NAMES = ["a.jsonl", "a.json", "a.csv"]


class Dribble(io.RawIOBase):
    """A binary file that returns at most `step` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(self._step if size < 0 else min(size, self._step))


def outcome(read: Callable[[], list[dict[str, Any]]]) -> tuple[str, Any]:
    """("rows", their repr) or ("error", None): NaN rows compare by their text."""
    try:
        return "rows", repr(read())
    except DatasetFormatError as exc:
        assert str(exc) and len(str(exc)) < 2000, str(exc)[:300]
        return "error", None


def streamed(data: bytes, name: str, step: int, max_row: int | None = None) -> list[dict]:
    if max_row is None:
        return list(iter_rows(Dribble(data, step), name))
    return list(iter_rows(Dribble(data, step), name, max_row=max_row))


# --- building blocks ----------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=16,
)
rows_like = st.dictionaries(
    st.sampled_from(["text", "instruction", "input", "output", "messages", "conversations", "x"]),
    json_values
    | st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "robot"])},
            optional={"content": st.text(max_size=8) | st.none(), "from": st.text(max_size=5)},
        ),
        max_size=3,
    ),
    max_size=4,
)
# Bytes that look like datasets more often than random bytes do.
dataset_bytes = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"',
                b":",
                b",",
                b"\n",
                b"\r",
                b"\r\n",
                b" ",
                b"\\",
                b'"text"',
                b'"messages"',
                b"1e999",
                b"-",
                b"null",
                b"\xef\xbb\xbf",
                b"\xc3",
                b"\xe9",
                b"\x00",
                "\u2028".encode(),
                b"a,b",
                b'""',
                b"NaN",
                b"\\u12",
            ]
        ),
        max_size=60,
    ).map(b"".join),
)


# --- never anything but the typed errors --------------------------------------------------


@FUZZ
@given(dataset_bytes, st.sampled_from(NAMES), st.integers(1, 64))
@example(b"[" * 5000, "a.json", 64)
@example(b'{"a":' + b"[" * 5000, "a.jsonl", 7)
@example(b'a\n"' + b"x" * 200_000, "a.csv", 64)
@example(b"[1" + b"1" * 5000 + b"]", "a.json", 64)
@example(b'{"x": 1, "x": [{"text": "a"}]}', "a.json", 3)
def test_any_bytes_give_rows_or_a_typed_error(data: bytes, name: str, step: int) -> None:
    kind, _ = outcome(lambda: streamed(data, name, step))
    if kind == "rows":
        rows = streamed(data, name, step)
        assert all(isinstance(r, dict) for r in rows)
        try:
            validate_rows(rows)
        except DatasetFormatError as exc:
            assert str(exc)


@FUZZ
@given(st.text(max_size=400), st.sampled_from(NAMES), st.integers(1, 40))
@example("\ufeff[]", "a.json", 1)
@example('{"text":"a"}\r', "a.jsonl", 1)
@example('x\r\n"a\r\nb"\r\n', "a.csv", 2)
def test_reading_in_any_pieces_gives_what_the_whole_text_gives(
    text: str, name: str, step: int
) -> None:
    data = text.encode("utf-8")
    assert outcome(lambda: streamed(data, name, step)) == outcome(lambda: parse_rows(text, name))


@FUZZ
@given(json_values, st.sampled_from([None, 0, 2]), st.integers(1, 50))
def test_json_agrees_with_json_loads(value: Any, indent: int | None, step: int) -> None:
    text = json.dumps(value, indent=indent)
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else None
    expected = (
        ("rows", repr(value))
        if isinstance(value, list) and all(isinstance(v, dict) for v in value)
        else ("error", None)
    )
    assert outcome(lambda: streamed(text.encode(), "a.json", step)) == expected


@FUZZ
@given(
    st.lists(json_values, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\n \t\n"]),
    st.integers(1, 50),
)
def test_jsonl_agrees_with_json_loads_per_line(values: list, end: str, step: int) -> None:
    text = "".join(json.dumps(v) + end for v in values)
    expected = (
        ("rows", repr(values)) if all(isinstance(v, dict) for v in values) else ("error", None)
    )
    assert outcome(lambda: streamed(text.encode(), "a.jsonl", step)) == expected


@FUZZ
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Zs", "Cc"]), min_size=1, max_size=5),
        min_size=1,
        max_size=4,
        unique=True,
    ).filter(lambda names: all(n == n.strip() for n in names)),
    st.data(),
    st.integers(1, 50),
)
def test_csv_agrees_with_the_csv_module(names: list[str], data: st.DataObject, step: int) -> None:
    cell = st.text(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8
    )
    table = data.draw(st.lists(st.lists(cell, min_size=len(names), max_size=len(names))))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    writer.writerows(table)
    # Line breaks inside cells arrive as "\n", as a text file opened by Python reads them.
    expected = [
        dict(zip(names, [c.replace("\r\n", "\n").replace("\r", "\n") for c in row], strict=True))
        for row in table
        if any(c.strip() for c in row)
    ]
    rows = streamed(out.getvalue().encode(), "a.csv", step)
    assert rows == expected


@FUZZ
@given(st.lists(rows_like, max_size=5), st.sampled_from([None, *FORMATS]), st.booleans())
def test_layout_detection_checks_every_row_or_says_which(
    rows: list[dict], declared: str | None, text_field: bool
) -> None:
    try:
        fmt = validate_rows(rows, declared=declared, text_field="x" if text_field else None)
    except DatasetFormatError as exc:
        assert str(exc)
        assert exc.row is None or 1 <= exc.row <= len(rows)
        return
    assert isinstance(fmt, DatasetFormat) and fmt.rows_checked == len(rows)
    for row in rows:
        assert isinstance(render_plain(row, fmt), str)
        if fmt.kind != "text":
            assert to_messages(row, fmt)[-1]["role"] in ("assistant", "user", "system", "tool")


@FUZZ
@given(st.text(max_size=60))
def test_names_and_hub_paths_parse_or_raise_the_typed_error(text: str) -> None:
    for call in (lambda: file_kind(text), lambda: parse_hub_path(text)):
        try:
            call()
        except DatasetFormatError as exc:
            assert str(exc)


# --- linear time, flat memory --------------------------------------------------------------


def _row(size: int) -> str:
    return json.dumps({"text": "x" * size})


# Hostile shapes, each built to about `n` bytes.
SHAPES: dict[str, tuple[str, Callable[[int], bytes]]] = {  # name, build(size)
    "many tiny rows": ("a.jsonl", lambda n: (_row(3) + "\n").encode() * (n // 17)),
    "one big json row": ("a.json", lambda n: f"[{_row(n)}]".encode()),
    "one big jsonl row": ("a.jsonl", lambda n: (_row(n) + "\n").encode()),
    "big wrapped array": (
        "a.json",
        lambda n: ('{"v": 1, "data": [' + ",".join([_row(50)] * (n // 65)) + "]}").encode(),
    ),
    "whitespace": ("a.json", lambda n: b"[" + b" \n" * (n // 2) + b"]"),
    "crlf blank lines": ("a.jsonl", lambda n: b"\r\n" * (n // 2) + b'{"text": "a"}'),
    "csv multi-line cells": ("a.csv", lambda n: b"text\n" + b'"a\nb\nc\nd"\n' * (n // 11)),
    "nested rows": (
        "a.jsonl",
        lambda n: (json.dumps({"text": "t", "x": [[[[[[1]]]]]] * 40}) + "\n").encode() * (n // 420),
    ),
}


def _drain(rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Read every row, keeping none."""
    collections.deque(rows, maxlen=0)
    return []


def _best_time(data: bytes, name: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        outcome(lambda: _drain(iter_rows(io.BytesIO(data), name)))
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_time_grows_linearly(shape: str) -> None:
    name, build = SHAPES[shape]
    # A wrapping object up to 1 MiB is parsed whole first: past that, it costs no more.
    base = 2 * MiB if shape == "big wrapped array" else MiB
    small, large = build(base), build(2 * base)
    assert 1.8 < len(large) / len(small) < 2.2
    once = _best_time(small, name)
    twice = _best_time(large, name)
    # Linear is 2x; re-reading a row per piece (quadratic) is 4x and more.
    assert twice < 3.2 * once + 0.02, (once, twice)


@pytest.mark.parametrize(
    "data",
    [
        b"x" * (8 * MiB),  # no line break at all
        b'[{"text": "' + b"x" * (8 * MiB),  # an unclosed string
        b"[" + b" " * (8 * MiB) + b"]",
        (b'{"text": "a"}\n') * (MiB // 14),  # 75,000 rows: they must not pile up
        b"text\n" + b'"' + b"x\n" * (4 * MiB),  # an unclosed quote
    ],
    ids=["no-newline", "unclosed-string", "whitespace", "tiny-rows", "unclosed-quote"],
)
@pytest.mark.parametrize("name", NAMES)
def test_memory_stays_flat_whatever_the_file(data: bytes, name: str) -> None:
    tracemalloc.start()
    try:
        outcome(lambda: _drain(iter_rows(io.BytesIO(data), name, max_row=MiB)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A row (1 MiB here) twice over while it is read, and the pieces around it.
    assert peak < 4 * MiB, peak
