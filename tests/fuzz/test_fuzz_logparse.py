"""Fuzzing the log parser and the line splitter with hostile text: they never raise, what they
give back is well formed and accounts for its input, and their time grows linearly with it.

Bounded for CI: FUZZ_EXAMPLES examples per test (200 by default); the timing properties,
each example of which times several parses, run a tenth of that."""

from __future__ import annotations

import ast
import gc
import itertools
import math
import os
import re
import time
import warnings
from collections.abc import Callable
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gui.core import logparse
from lambda_gui.core.logparse import (
    ErrorEvent,
    LogEvent,
    LogParser,
    MetricEvent,
    ProgressEvent,
    StatusEvent,
    parse_events,
)
from lambda_gui.remote.logtail import LINE_LIMIT, LineSplitter, cut_marker

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMED = settings(FUZZ, max_examples=max(5, EXAMPLES // 10))

# The pattern the parser used before it was made linear (quadratic: its lazy description was
# tried from every position). On short text it is the reference for what a bar reads as.
_OLD_NUMBER = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[kMGTPEZY]?"
_OLD_TQDM = re.compile(
    r"(?P<desc>[^\r]*?)\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*"
    rf"(?P<n>{_OLD_NUMBER})/(?P<total>{_OLD_NUMBER}|\?)\s*"
    r"\[(?P<elapsed>\d+(?::\d\d){1,2})<(?P<remaining>\d+(?::\d\d){1,2}|\?)"
    rf"(?:,\s*(?P<rate>{_OLD_NUMBER}|\?)\s*(?P<rate_unit>s/[^,\]]+|[^,\]/]*/s))?"
)

# Pieces of real lines and the runs that made the old parser slow.
_BAR_PIECES = [
    " 12",
    "100",
    "1234",
    "%|",
    "\u2588\u258f  ",
    "|",
    " ",
    "3",
    "/",
    "25",
    "5.00k",
    "1e5",
    "?",
    " [",
    "00:01",
    "01:02:03",
    "<",
    "<?",
    ", ",
    "2.41",
    "it/s",
    "s/it",
    " examples/s",
    "]",
    ", loss=1.2]",
    "Map: ",
    "\u0661\u0662",
    ":",
    "E",
]
_LOG_PIECES = [
    *_BAR_PIECES,
    "\r",
    "\n",
    "\x1b[A",
    "\x1b[1;",
    "{'loss': '",
    "{'loss': 1.0}",
    "{'",
    "'}",
    "}",
    "LGUI_METRIC ",
    "LGUI_STATUS ",
    '{"phase": "training"}',
    '{"step": 1, "loss": null}',
    "[" * 50,
    "{" * 50,
    "9" * 40,
    "Traceback (most recent call last):",
    "RuntimeError: ",
    "a.b.",
    "Error:",
    "Killed",
    "CUDA out of memory",
    "nan",
    "1e999",
    "'",
    '"',
]
_HOSTILE_UNITS = [
    "\r",
    "|",
    "%|",
    "12%|",
    "9",
    "9" * 7,
    "it/s",
    "s/it",
    "{'loss': ",
    "{'loss': 1.0}",
    " [00:0",
    "<",
    ", ",
    "    ",
    "a.",
    "AError",
    "\x1b[",
    "LGUI_METRIC ",
    " Killed",
]

_NOISE = st.sampled_from(_BAR_PIECES) | st.text(alphabet="0123456789 %|/[]<>:,.?sk", max_size=3)


@st.composite
def one_bar(draw: st.DrawFn) -> str:
    """A tqdm bar, each part in one of its spellings, then damaged a few times."""
    parts = [
        draw(st.sampled_from(["", "Map: ", "eval", " "])),
        draw(st.sampled_from([" 12", "100", "0", "1234", "\u0661"])),
        "%|",
        draw(st.sampled_from(["", "\u2588\u258f  ", "#####", "x 9%"])),
        "|",
        draw(st.sampled_from(["", " ", "  "])),
        draw(st.sampled_from(["3", "5.00k", "1e5", "0.5", "7E"])),
        "/",
        draw(st.sampled_from(["25", "10.0k", "?", "1e-3"])),
        " [",
        draw(st.sampled_from(["00:01", "01:02:03", "1:2"])),
        "<",
        draw(st.sampled_from(["00:09", "?", "10:00:00"])),
        draw(st.sampled_from(["", ", "])),
        draw(st.sampled_from(["2.41", "?", "1.5M", ""])),
        draw(st.sampled_from(["it/s", "s/it", " examples/s", "/s", "s/", "  it/s", ""])),
        draw(st.sampled_from(["]", ", loss=1.2]", ""])),
    ]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(parts) - 1))
        how = draw(st.sampled_from(["drop", "insert", "replace", "double"]))
        if how == "drop":
            del parts[at]
        elif how == "double":
            parts.insert(at, parts[at])
        else:
            parts[at : at + (how == "replace")] = [draw(_NOISE)]
    return "".join(parts)


log_text = st.lists(
    st.sampled_from(_LOG_PIECES) | st.text(max_size=4) | one_bar(), max_size=40
).map("".join)
bar_text = st.lists(one_bar() | _NOISE, min_size=1, max_size=4).map("".join)
hostile_units = st.lists(st.sampled_from(_HOSTILE_UNITS), min_size=1, max_size=5).map("".join)


def _check_event(event: LogEvent) -> None:
    """One event holds what its type promises."""
    if isinstance(event, ProgressEvent):
        assert 0 <= event.percent <= 999 and isinstance(event.step, float)
        assert event.total is None or isinstance(event.total, float)
        assert event.elapsed_s >= 0 and (event.remaining_s is None or event.remaining_s >= 0)
        assert event.rate is None or not event.rate < 0
        assert event.unit and "\r" not in event.unit and "\r" not in event.desc
        assert event.desc == event.desc.strip()
    elif isinstance(event, MetricEvent):
        assert event.source in ("lgui", "trainer")
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in event.values.items())
    elif isinstance(event, StatusEvent):
        assert isinstance(event.phase, str)
    else:
        assert isinstance(event, ErrorEvent)
        assert event.kind in ("traceback", "exception", "error", "oom", "killed")
        assert event.message and event.message == event.message.strip()


@FUZZ
@given(st.text(max_size=300) | log_text)
def test_the_parser_never_raises_and_gives_well_formed_events(line: str) -> None:
    # The private function has no catch-all: nothing in it may raise either.
    events = logparse._parse_events(line)
    shown = [repr(event) for event in events]  # repr: a NaN loss is unequal to itself
    assert [repr(event) for event in parse_events(line)] == shown
    for event in events:
        _check_event(event)
    assert all(repr(event) in shown for event in LogParser().feed(line))


@FUZZ
@given(bar_text)
def test_bars_read_as_the_old_pattern_read_them(segment: str) -> None:
    expected = [logparse._progress(m, m["desc"]) for m in _OLD_TQDM.finditer(segment)]
    assert logparse._progress_events(segment) == [e for e in expected if e is not None]


_dict_values = (
    st.text(max_size=6)
    | st.integers()
    | st.floats()
    | st.sampled_from(["6.668", "0.0025", "nan", "-0", "1e999", "01", "1_000"])
)


@st.composite
def dict_prints(draw: st.DrawFn) -> str:
    """A dict as Python prints it (the trainer's log line), sometimes damaged."""
    text = repr(
        draw(st.dictionaries(st.text(max_size=6) | st.sampled_from(["loss"]), _dict_values))
    )
    if draw(st.booleans()):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        cut = draw(st.integers(min_value=0, max_value=3))
        text = (
            text[:at]
            + draw(st.sampled_from(["", "'", '"', "0", "-", "e", ".", "\\"]))
            + text[at + cut :]
        )
    return text


@FUZZ
@given(dict_prints())
def test_the_dict_fast_path_reads_as_literal_eval_does(text: str) -> None:
    def read(parse: Callable[[str], object]) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "\\o" in a string literal
            try:
                return repr(parse(text))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
                return type(exc).__name__

    assert read(logparse._dict_literal) == read(ast.literal_eval)


def _cpu_seconds(action: Callable[[], object]) -> float:
    # This thread's CPU time: other processes preempting it on a busy machine do not count.
    started = time.thread_time()
    action()
    return time.thread_time() - started


def _assert_linear(actions: list[Callable[[], object]]) -> None:
    """Each action works on twice the input of the one before; its time must grow < 3x.

    Actions are timed in turn, round after round, keeping each one's best time; the garbage
    collector is off meanwhile, as a full collection would land on one size only.
    """
    best = [math.inf] * len(actions)
    ratios: list[float] = []
    gc.disable()
    try:
        for round_ in range(12):
            for i, action in enumerate(actions):
                seconds = _cpu_seconds(action)
                assert seconds < 1.0, f"size {i} took {seconds:.2f} s"
                best[i] = min(best[i], seconds)
            ratios = [b / max(a, 1e-6) for a, b in itertools.pairwise(best)]
            if round_ >= 2 and max(ratios) < 3.0:
                return
    finally:
        gc.enable()
    raise AssertionError(f"time grows faster than the input: ratios {ratios}")


@TIMED
@given(hostile_units, st.sampled_from(["", " 99%|#| 99/100 [00:10<00:01, 9.90it/s]"]))
def test_parse_time_is_linear_in_hostile_lines(unit: str, first: str) -> None:
    lines = [first + unit * (size // len(unit) + 1) for size in (8_000 << k for k in range(5))]
    # The cap off, so that the matching itself is measured.
    with mock.patch.object(logparse, "MAX_LINE_CHARS", 1 << 30):
        _assert_linear([lambda line=line: parse_events(line) for line in lines])


@TIMED
@given(hostile_units)
def test_a_capped_line_costs_no_more_past_the_cap(unit: str) -> None:
    line = unit * ((4 << 20) // len(unit) + 1)  # 4 MiB and more
    assert _cpu_seconds(lambda: parse_events(line)) < 0.5
    for event in parse_events(line):
        _check_event(event)


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, bytes, list[int]]:
    """A line limit, a byte stream with runs long enough to pass it, and chunk sizes."""
    limit = draw(st.sampled_from([2, 3, 7, 64, LINE_LIMIT]))
    run = st.tuples(
        st.sampled_from([b"\n", b"\r", b"a", b"|", b"9", b"it/s", b"\xe2\x80\xa6", b"\n\n"])
        | st.binary(min_size=1, max_size=4),
        st.integers(min_value=1, max_value=3 * limit),
    )
    data = b"".join(piece * count for piece, count in draw(st.lists(run, max_size=12)))
    cuts = draw(
        st.lists(st.integers(min_value=max(1, limit // 512), max_value=3 * limit), min_size=1)
    )
    return limit, data, cuts


@FUZZ
@given(streams(), st.integers(min_value=0, max_value=1 << 40))
def test_the_splitter_accounts_for_every_byte(
    stream: tuple[int, bytes, list[int]], start: int
) -> None:
    limit, data, cuts = stream
    splitter = LineSplitter(start, limit)
    got: list[tuple[bytes, int]] = []
    pos = 0
    for cut in itertools.cycle(cuts):
        if pos >= len(data):
            break
        got.extend(splitter.feed(data[pos : pos + cut]))
        pos += cut
        assert len(splitter.pending) <= limit  # bounded, however long the line
        assert splitter.offset + splitter.pending_size == start + min(pos, len(data))
    last = splitter.flush()
    raw_lines = data.split(b"\n")
    tail = raw_lines.pop()
    assert (last is None) == (tail == b"")
    items = got + ([(last[0] + b"\n", last[1] + 1)] if last else [])
    raw_lines += [tail] if last else []
    assert len(items) == len(raw_lines)
    head_size, tail_size = limit // 2, limit - limit // 2
    end = start
    for (line, offset), raw in zip(items, raw_lines, strict=True):
        end += len(raw) + 1
        assert offset == end  # every byte counted, dropped ones too: offsets are resumable
        body = line[:-1]
        assert line.endswith(b"\n") and len(body) >= min(len(raw), limit)
        if len(raw) <= limit:
            assert body == raw
        else:
            # What was kept and what the marker says was dropped make up the raw line.
            dropped = len(raw) - head_size - tail_size
            assert body[:head_size] == raw[:head_size]
            assert body[head_size : len(body) - tail_size] == cut_marker(dropped)
            assert body[len(body) - tail_size :] == raw[len(raw) - tail_size :]
    assert splitter.offset == start + len(data) and splitter.pending_size == 0


@TIMED
@given(
    st.sampled_from([b"x", b"\n", b"ab\n", b"\r", b"a" * 999 + b"\n", b"\n" * 3 + b"y" * 70_000]),
    st.sampled_from([4096, 65536, 1 << 20]),
)
def test_splitter_time_is_linear_and_memory_bounded(unit: bytes, chunk: int) -> None:
    def run(size: int) -> None:
        data = unit * (size // len(unit) + 1)
        splitter = LineSplitter(0)
        for pos in range(0, len(data), chunk):
            splitter.feed(data[pos : pos + chunk])
            assert len(splitter.pending) <= LINE_LIMIT

    _assert_linear([lambda size=size: run(size) for size in (32_768 << k for k in range(5))])
