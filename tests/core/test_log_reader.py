"""The batch reader and the row builder's short paths give what the line-by-line parsers give."""

from __future__ import annotations

import json

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lambda_gui.core.log_reader import (
    CONTEXT_LINES,
    LogReader,
    decode_block,
    decode_lines,
    split_block,
)
from lambda_gui.core.log_rows import FedLine, LogRowBuilder
from lambda_gui.core.logparse import (
    LogEvent,
    LogParser,
    MetricEvent,
    MetricRun,
    ProgressEvent,
    expand_runs,
)


def _metric(step: int) -> str:
    data = {"step": step, "max_steps": 90, "epoch": step / 30, "loss": 2.5 - step / 100}
    data.update(learning_rate=1e-4, grad_norm=0.5, num_tokens=step * 512, time=100.0 + step)
    return "LGUI_METRIC " + json.dumps(data)


FRAGMENTS = [
    "plain text line",
    "  indented text  ",
    "",
    "   ",
    "[rank0] step 7: 4096 tokens in 0.12 s",
    "UserWarning: something is deprecated",
    "Traceback (most recent call last):",
    '  File "train.py", line 3, in <module>',
    "ValueError: bad value",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
    "ERROR: it broke",
    "Killed",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB",
    "Segmentation fault (core dumped)",
    " 45%|####5     | 45/100 [00:10<00:12,  4.50it/s]",
    "\r 45%|####5     | 45/100 [00:10<00:12,  4.50it/s]\r 46%|####6     | 46/100 [00:10<00:12,"
    "  4.51it/s]",
    "100%|##########| 100/100 [00:22<00:00,  4.50it/s]",
    "Tokenizing train dataset:  50%|#####     | 63/126 [00:00<00:00, 900.00 examples/s]",
    "Tokenizing train dataset: 100%|##########| 126/126 [00:00<00:00, 900.00 examples/s]",
    " 45%|####5     | 45/100 [00:10<00:12,  4.50it/s] and text after",
    ' 10%|#  | 1/10 [00:01<00:09,  1.00it/s]LGUI_METRIC {"step": 1, "loss": 2.0}',
    "{'loss': '2.1234', 'grad_norm': '0.4', 'learning_rate': '1e-4', 'epoch': '0.5'}",
    "{'loss': 2.0, 'epoch': 0.5}",
    "{'not_a_metric': 1}",
    "{'loss': 'Error'}",
    'LGUI_STATUS {"phase": "checkpoint", "step": 20}',
    'LGUI_STATUS {"phase": "failed", "error": "boom", "exit_code": 3}',
    'LGUI_METRIC {"step": 5, "loss": null, "eval_loss": "1.5", "flag": true}',
    "LGUI_METRIC not json",
    'LGUI_METRIC {"step": 9, "loss": 1.0, "note": "an Error in a value"}',
    "\x1b[31mERROR\x1b[0m: coloured",
    'LGUI_METRIC {"step": 4, "loss": 1.0, "note": "an escape \x1b[0m inside"}',
    "Err\x1b[0mor: split by an escape",
    'LGUI_METRIC {"step": 3, "loss": ' + "9" * 400 + "}",  # no float holds it
    'LGUI_METRIC {"step": 3.0, "max_steps": 9.5, "loss": 1, "epoch": "0.5", "ok": true}',
    'LGUI_METRIC {"step": 90071992547409930, "loss": 1.0}',
    'LGUI_METRIC {"loss": 1.0}',
    "x" * 70_000 + " Error at the end",
    "y" * 70_000,
]
LINES = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.integers(1, 90).map(_metric)), max_size=60
)


class _GeneralPathOnly(LogRowBuilder):
    def _fast(self, line: str) -> FedLine | None:
        return None


def _rows_slowly(lines: list[str]) -> list[FedLine]:
    builder = _GeneralPathOnly()
    return [builder.feed(line) for line in lines]


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_short_paths_give_the_same_rows(lines: list[str]) -> None:
    builder = LogRowBuilder()
    assert [builder.feed(line) for line in lines] == _rows_slowly(lines)


def _split(events: list[LogEvent]) -> tuple[list[LogEvent], list[ProgressEvent]]:
    other: list[LogEvent] = [e for e in events if not isinstance(e, ProgressEvent)]
    return other, [e for e in events if isinstance(e, ProgressEvent)]


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=4))
def test_batches_give_the_parsers_events_and_the_latest_bar(batches: list[list[str]]) -> None:
    reader, parser = LogReader(keep=1000), LogParser()
    for lines in batches:
        got = expand_runs(reader.read(lines).events)
        want = [e for line in lines for e in parser.feed(line)]
        # In order: what the reader gives is the parser's events less some bars.
        left = iter(want)
        assert all(any(event == wanted for wanted in left) for event in got)
        got_other, got_bars = _split(got)
        want_other, want_bars = _split(want)
        assert got_other == want_other
        # Of a batch's lines holding bars only, the last is read; a bar beside other events
        # is read too: an ordered part of the bars, ending with the latest.
        left = iter(want_bars)
        assert all(any(bar == want for want in left) for bar in got_bars)
        assert got_bars[-1:] == want_bars[-1:]


@settings(max_examples=100, deadline=None)
@given(LINES, st.integers(1, 40))
def test_only_the_newest_lines_are_shown(lines: list[str], keep: int) -> None:
    read = LogReader(keep=keep).read(lines)
    assert read.shown_from == max(0, len(lines) - keep)
    assert [s.text for s in read.shown] == [
        line.rsplit("\r", 1)[-1] for line in lines[read.shown_from :]
    ]
    # The rows of the shown lines are those of a reading of every line, given enough context
    # (these batches are shorter than CONTEXT_LINES).
    assert len(lines) < CONTEXT_LINES
    every = _rows_slowly(lines)[read.shown_from :]
    assert [(s.level, s.rows) for s in read.shown] == [(f.level, f.rows) for f in every]


def test_a_flood_batch_reads_its_metrics_and_keeps_its_tail() -> None:
    lines: list[str] = []
    for step in range(1, 3001):
        lines += [f" {step % 100}%|#| {step}/3000 [00:01<00:02, 9.00it/s]", _metric(step)]
        lines.append(f"{{'loss': '{2.5 - step / 100:.4f}', 'epoch': '{step / 30:.2f}'}}")
    read = LogReader(keep=500).read(lines)
    # The metrics come as columns: two runs, split where the batch's last bar stood.
    assert [type(e) for e in read.events] == [MetricRun, ProgressEvent, MetricRun]
    assert [len(e) for e in read.events if isinstance(e, MetricRun)] == [2999, 1]
    events = expand_runs(read.events)
    steps = [e.step for e in events if isinstance(e, MetricEvent)]
    assert steps == list(range(1, 3001))
    loss = [e.loss for e in events if isinstance(e, MetricEvent)]
    assert loss == [2.5 - step / 100 for step in range(1, 3001)]
    bars = [e for e in read.events if isinstance(e, ProgressEvent)]
    assert [b.step for b in bars] == [3000]
    assert read.shown_from == len(lines) - 500 and len(read.shown) == 500
    assert [row.text.split(" · ")[0] for s in read.shown for row in s.rows][-1] == "step 3000/90"


RAW_LINES = st.lists(
    st.lists(
        st.sampled_from([b"a", b"\r", b"\xff", b"\xe2\x82", b"\xe2\x82\xac", b" ", b"\x1b[0m"]),
        max_size=8,
    ).map(b"".join),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(RAW_LINES, st.booleans())
def test_a_block_decodes_as_its_lines_do(lines: list[bytes], last_newline: bool) -> None:
    # The log reader process decodes a batch in one go (services/log_read_pool.py). A last
    # line without its newline (the stream's end) is never empty.
    assume(last_newline or lines[-1])
    raw = b"\n".join(lines) + (b"\n" if last_newline else b"")
    assert split_block(decode_block(raw)) == decode_lines(
        [line + b"\n" for line in lines[:-1]] + [lines[-1] + (b"\n" if last_newline else b"")]
    )


def test_the_latest_bar_stays_where_it_stood_among_the_metrics() -> None:
    bar = " 50%|#####     | 5/10 [00:01<00:01,  4.50it/s]"
    cases = [
        [_metric(1), _metric(2), bar, _metric(3)],  # in a run's midst: the run is cut
        [_metric(1), "LGUI_METRIC not json", bar, _metric(2)],  # after a run that ended
        [_metric(1), bar],  # after a run
        [bar, _metric(1)],  # before one
    ]
    for lines in cases:
        got = expand_runs(LogReader(keep=10).read(lines).events)
        want = [e for line in lines for e in LogParser().feed(line)]
        assert got == want, lines
        assert all(
            len(e) for e in LogReader(keep=10).read(lines).events if isinstance(e, MetricRun)
        )
