from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambda_gui.core import logparse
from lambda_gui.core.log_rows import Level, LogRow, LogRowBuilder
from lambda_gui.core.logparse import (
    ErrorEvent,
    LogParser,
    MetricEvent,
    MetricRun,
    ProgressEvent,
    StatusEvent,
    parse_events,
    parse_line,
)

# Lines as train.py + transformers 5 / TRL 1.16 wrote them into train.log (docs/architecture.md#library-facts).
TRAINER_DICT = (
    "\r                                              \r{'loss': '6.668', 'grad_norm': '0.483', "
    "'learning_rate': '0.0025', 'entropy': '6.67', 'mean_token_accuracy': '0.01183', "
    "'num_tokens': '362', 'epoch': '0.125'}"
)
BAR_THEN_METRIC = (
    "\r  5%|\u258c         | 2/40 [00:00<00:01, 23.56it/s]\r  8%|\u258a         | 3/40 "
    '[00:00<00:01, 29.39it/s]LGUI_METRIC {"step": 3, "epoch": 0.1875, "max_steps": 40, '
    '"time": 1795868106.819, "loss": 6.620190143585205, "grad_norm": 0.4781355857849121, '
    '"learning_rate": 0.005}'
)
EVAL_WITH_ANSI = (
    "\r                                     \r\x1b[A{'eval_loss': '6.323', 'eval_runtime': "
    "'0.0088', 'eval_samples_per_second': '1599', 'epoch': '2.5'}"
)


def test_trainer_dict_with_string_values() -> None:
    event = parse_line(TRAINER_DICT)
    assert isinstance(event, MetricEvent)
    assert event.source == "trainer"
    assert event.loss == pytest.approx(6.668)
    assert event.grad_norm == pytest.approx(0.483)
    assert event.learning_rate == pytest.approx(0.0025)
    assert event.epoch == pytest.approx(0.125)
    assert event.values["num_tokens"] == 362


def test_trainer_dict_with_number_values_and_exponents() -> None:
    event = parse_line(
        "{'loss': 5.738, 'grad_norm': 0.4258, 'learning_rate': 4.4e-05, 'epoch': 0.4}"
    )
    assert isinstance(event, MetricEvent)
    assert event.loss == 5.738 and event.learning_rate == pytest.approx(4.4e-05)
    nan = parse_line("{'loss': 'nan', 'epoch': '1'}")
    assert isinstance(nan, MetricEvent) and nan.loss is not None and math.isnan(nan.loss)


def test_eval_dict_behind_ansi_codes() -> None:
    event = parse_line(EVAL_WITH_ANSI)
    assert isinstance(event, MetricEvent)
    assert event.eval_loss == pytest.approx(6.323) and event.loss is None


def test_summary_dict() -> None:
    event = parse_line(
        "{'train_runtime': '0.6565', 'train_samples_per_second': '487.4', 'train_loss': '6.384', 'epoch': '2.5'}"
    )
    assert isinstance(event, MetricEvent) and event.is_summary


def test_bars_and_our_metric_share_a_line() -> None:
    events = parse_events(BAR_THEN_METRIC)
    assert [type(e) for e in events] == [ProgressEvent, ProgressEvent, MetricEvent]
    first, second, metric = events
    assert isinstance(first, ProgressEvent) and isinstance(second, ProgressEvent)
    assert (second.step, second.total, second.percent) == (3, 40, 8)
    assert second.rate == pytest.approx(29.39) and second.is_training_bar
    assert isinstance(metric, MetricEvent)
    assert (metric.source, metric.step, metric.max_steps) == ("lgui", 3, 40)
    assert metric.loss == pytest.approx(6.620190143585205)
    assert parse_line(BAR_THEN_METRIC) == metric  # the metric is the line's telling event


@pytest.mark.parametrize(
    ("line", "step", "total", "rate", "elapsed", "remaining", "unit", "desc"),
    [
        (" 12%|█▏        | 3/25 [00:01<00:09,  2.41it/s]", 3, 25, 2.41, 1, 9, "it", ""),
        ("100%|██████████| 60/60 [01:02:03<00:00,  1.23s/it]", 60, 60, 1 / 1.23, 3723, 0, "it", ""),
        ("  0%|          | 0/40 [00:00<?, ?it/s]", 0, 40, None, 0, None, "it", ""),
        (
            "Map: 100%|██████████| 150/150 [00:00<00:00, 9000.00 examples/s]",
            150,
            150,
            9000.0,
            0,
            0,
            "examples",
            "Map",
        ),
        (
            " 50%|█████     | 5.00k/10.0k [00:10<00:10, 500it/s, loss=1.2]",
            5000,
            10000,
            500,
            10,
            10,
            "it",
            "",
        ),
    ],
)
def test_tqdm_spellings(
    line: str,
    step: float,
    total: float,
    rate: float | None,
    elapsed: float,
    remaining: float | None,
    unit: str,
    desc: str,
) -> None:
    event = parse_line(line)
    assert isinstance(event, ProgressEvent)
    assert (event.step, event.total, event.elapsed_s, event.remaining_s) == (
        step,
        total,
        elapsed,
        remaining,
    )
    assert event.rate == (pytest.approx(rate) if rate is not None else None)
    assert (event.unit, event.desc) == (unit, desc)


def test_several_carriage_return_segments_give_the_last_progress() -> None:
    line = "\r".join(f" {i * 10}%|█| {i}/10 [00:0{i}<00:0{10 - i}, 1.00it/s]" for i in range(1, 10))
    events = parse_events(line)
    assert [e.step for e in events if isinstance(e, ProgressEvent)] == list(range(1, 10))
    last = parse_line(line)
    assert isinstance(last, ProgressEvent) and last.step == 9 and last.remaining_s == 1


def test_status_lines() -> None:
    event = parse_line('LGUI_STATUS {"phase": "training", "max_steps": 40, "world_size": 1}')
    assert event == StatusEvent("training", {"max_steps": 40, "world_size": 1})
    failed = parse_line(
        'LGUI_STATUS {"phase": "failed", "exit_code": 3, "error": "CUDA check failed"}'
    )
    assert isinstance(failed, StatusEvent) and failed.error == "CUDA check failed"
    assert parse_line('LGUI_STATUS {"no_phase": 1}') is None
    assert parse_line("LGUI_STATUS {broken") is None


def test_lgui_metric_with_null_loss_is_nan() -> None:
    event = parse_line(
        'LGUI_METRIC {"step": 7, "epoch": 1.0, "max_steps": 9, "time": 1.5, "loss": null}'
    )
    assert isinstance(event, MetricEvent) and event.step == 7 and event.loss is not None
    assert math.isnan(event.loss)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Traceback (most recent call last):", "traceback"),
        ("RuntimeError: expected scalar type Float", "exception"),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "oom"),
        ("ValueError", "exception"),
        ("KeyboardInterrupt", "exception"),
        ("Error: CUDA check failed: the GPU is not usable from PyTorch.", "error"),
        ("ERROR: Could not find a version that satisfies the requirement trl>=0.20", "error"),
        ("[ERROR]: something", "error"),
        ("bootstrap.sh: line 140:  4242 Killed                  python train.py", "killed"),
        ("Killed", "killed"),
    ],
)
def test_errors_are_flagged(line: str, kind: str) -> None:
    event = parse_line(line)
    assert isinstance(event, ErrorEvent) and event.kind == kind and event.message == line


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "Trainable parameters: 4,096 of 137,536.",
        "  warnings.warn(",
        "/x/transformers/training_args.py:1541: FutureWarning: `gradient_checkpointing` is deprecated",
        "UserWarning: no error here",
        '  File "train.py", line 3, in <module>',
        "{'not': 'metrics'}",
        "All packages are already installed for /usr/bin/python3: installing nothing.",
        "error_count = 3 is not an error prefix",
    ],
)
def test_ordinary_lines_are_no_events(line: str) -> None:
    assert parse_line(line) is None


def test_parser_drops_trainer_dicts_once_our_metrics_appear() -> None:
    parser = LogParser()
    assert [e.source for e in parser.feed(TRAINER_DICT) if isinstance(e, MetricEvent)] == [
        "trainer"
    ]
    assert [e.source for e in parser.feed(BAR_THEN_METRIC) if isinstance(e, MetricEvent)] == [
        "lgui"
    ]
    assert not [e for e in parser.feed(TRAINER_DICT) if isinstance(e, MetricEvent)]


@given(st.text(max_size=400))
def test_never_raises_on_any_text(line: str) -> None:
    parse_line(line)
    parse_events(line)


_PIECES = st.sampled_from(
    [
        "{'loss': '",
        "{'",
        "'}",
        "LGUI_METRIC ",
        "LGUI_STATUS ",
        '{"phase": ',
        "%|",
        "| 3/",
        " [00:01<",
        ", 2.1it/s]",
        "s/it]",
        "\r",
        "\x1b[A",
        "Traceback",
        "Error:",
        "nan",
        "1e999",
        "[" * 50,
        "{" * 50,
        "9" * 40,
        "'",
        '"',
    ]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=30).map("".join))
def test_never_raises_on_log_shaped_text(line: str) -> None:
    for event in parse_events(line):
        assert isinstance(event, (MetricEvent, ProgressEvent, StatusEvent, ErrorEvent))


# --- hostile input: time linear in the line, long lines read by head and tail ----------------

# A bar cut short before its counters: every "%|" starts a match that fails, which made the
# old lazy description pattern rescan the rest of the line from every position.
_BROKEN_BAR = "Map: 12%|\u2588\u258f        | 3/25 [00:0"
_GOOD_BAR = " 99%|\u2588| 99/100 [00:10<00:01,  9.90it/s]"


def _seconds(line: str) -> float:
    # CPU time of this thread: a busy machine's other processes preempting the parse for a
    # time slice would otherwise count against the longer lines.
    started = time.thread_time()
    parse_events(line)
    return time.thread_time() - started


def _assert_linear(make_line: Callable[[int], str], sizes: list[int], bound_s: float) -> None:
    """Parse time at each doubling of the size grows < 3x, and each parse ends within bound_s.

    The bound is loose: it fails a quadratic parser at the first, smallest size instead of
    letting it run for minutes. Sizes are timed in turn, round after round, keeping each one's
    best time, so a moment of load on a busy machine does not count against one size only.
    """
    lines = [make_line(size) for size in sizes]
    best = [math.inf] * len(lines)
    ratios: list[float] = []
    for round_ in range(12):
        for i, line in enumerate(lines):
            seconds = _seconds(line)
            assert seconds < bound_s, f"{len(line)} chars took {seconds:.2f} s"
            best[i] = min(best[i], seconds)
        ratios = [later / max(earlier, 1e-6) for earlier, later in itertools.pairwise(best)]
        if round_ >= 2 and max(ratios) < 3.0:
            return
    raise AssertionError(f"parse time grows faster than the line: ratios {ratios}")


def _after_a_bar(unit: str, size: int) -> str:
    """A bar, then `unit` repeated up to `size` chars: what follows the last match is what a
    quadratic search rescans from every position."""
    return _GOOD_BAR + (unit * (size // len(unit) + 1))[: size - len(_GOOD_BAR)]


@pytest.mark.parametrize(
    "unit", [_BROKEN_BAR, "a", "1%|", "|", "9", "it/s", "{'loss': ", "\r", "a.", "\x1b[1;"]
)
def test_parse_time_grows_linearly_with_a_long_line(
    monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    # The cap off, so that the matching itself is measured, up to 128 KB.
    monkeypatch.setattr(logparse, "MAX_LINE_CHARS", 1 << 30, raising=False)
    _assert_linear(lambda size: _after_a_bar(unit, size), [8_000 << k for k in range(5)], 0.5)


def test_a_100_kb_tqdm_like_line_keeps_its_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logparse, "MAX_LINE_CHARS", 1 << 30, raising=False)
    assert _seconds(_after_a_bar(_BROKEN_BAR, 12_500)) < 0.5  # fails a quadratic parser early
    line = _after_a_bar(_BROKEN_BAR, 100_000)
    assert min(_seconds(line) for _ in range(3)) < 0.5
    events = parse_events(line)
    assert len(events) == 1 and isinstance(events[0], ProgressEvent)
    assert (events[0].step, events[0].total, events[0].desc) == (99, 100, "")


def test_a_1_mib_line_is_read_by_its_head_and_tail() -> None:
    # Doubling up to 1 MiB: past the cap the time stops growing.
    _assert_linear(
        lambda size: _after_a_bar(_BROKEN_BAR, size), [16_384 << k for k in range(7)], 0.5
    )
    bars = "\r".join(f" 50%|#| {i}/9000 [00:01<00:01, 2.00it/s]" for i in range(30_000))
    line = bars + '\rLGUI_METRIC {"step": 9000, "loss": 0.25}'
    assert len(line) > 1 << 20 > logparse.MAX_LINE_CHARS
    events = parse_events(line)
    progress = [e.step for e in events if isinstance(e, ProgressEvent)]
    assert progress[0] == 0 and progress[-1] == 29_999 and len(progress) < 2000
    assert parse_line(line) == MetricEvent({"loss": 0.25}, "lgui", step=9000)
    # The head holds where an error message starts; the tail's cut first segment is no error.
    error = parse_line("RuntimeError: " + "x" * (1 << 20))
    assert isinstance(error, ErrorEvent) and error.kind == "exception"
    assert len(error.message) <= logparse.EDGE_CHARS
    assert parse_line("x" * (1 << 20) + " Killed") is None


def test_a_line_the_splitter_cut_is_read_whole() -> None:
    cut = (
        "Traceback (most recent call last): "
        + "y" * 32_700
        + " \u2026 [line cut: 123456 bytes dropped] \u2026 "
        + "z" * 32_700
        + '\rLGUI_METRIC {"step": 1, "loss": 2.0}'
    )
    assert len(cut) < logparse.MAX_LINE_CHARS
    events = parse_events(cut)
    assert isinstance(events[0], ErrorEvent) and events[0].kind == "traceback"
    assert events[-1] == MetricEvent({"loss": 2.0}, "lgui", step=1)


# --- the readable log (core/log_rows.py) -----------------------------------------------------

DEMO_LOG = [
    'LGUI_STATUS {"phase": "setting_up", "step": "start"}',
    "Python: /usr/bin/python3",
    'LGUI_STATUS {"phase": "dataset", "format": "alpaca", "rows": 140, "chat_template": true}',
    "\rMap:   0%|          | 0/126 [00:00<?, ? examples/s]"
    "\rMap: 100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 126/126 "
    "[00:00<00:00, 7089.63 examples/s]",
    "\rMap: 100%|\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588| 126/126 "
    "[00:00<00:00, 7089.63 examples/s]",
    "/venv/lib/transformers/modeling_utils.py:3312: FutureWarning: `x` is deprecated.",
    "  warnings.warn(",
    (
        'LGUI_STATUS {"phase": "training", "max_steps": 40, "num_train_epochs": 2.0, '
        '"world_size": 2, "sharding": "fsdp", "effective_batch": 8}'
    ),
    '\r  5%|\u258c         | 2/40 [00:00<00:01, 23.56it/s]LGUI_METRIC {"step": 2, "epoch": 0.1, '
    '"max_steps": 40, "time": 100.0, "loss": 6.7, "num_tokens": 1000.0, "learning_rate": 0.0}',
    TRAINER_DICT,
    BAR_THEN_METRIC.replace('"learning_rate": 0.005}', '"num_tokens": 3000.0}').replace(
        '"time": 1795868106.819', '"time": 100.5'
    ),
    TRAINER_DICT,
    '\r  0%|          | 0/2 [00:00<?, ?it/s]\x1b[ALGUI_METRIC {"step": 3, "epoch": 0.1875, '
    '"max_steps": 40, "time": 101.0, "eval_loss": 6.32, "eval_runtime": 0.0124}',
    EVAL_WITH_ANSI,
    '\r                                              \x1b[ALGUI_STATUS {"phase": "checkpoint", '
    '"step": 3}',
    'LGUI_METRIC {"step": 40, "epoch": 2.0, "max_steps": 40, "time": 120.0, '
    '"train_runtime": 20.5, "train_steps_per_second": 1.95, "train_loss": 4.06}',
    'LGUI_STATUS {"phase": "completed", "sha256": "64cb9a0c5a4e6044ceaee9992b37ce81"}',
]


def _rows(lines: list[str]) -> list[LogRow]:
    builder = LogRowBuilder()
    return [row for line in lines for row in builder.feed(line).rows]


def test_readable_rows_of_a_training_log() -> None:
    texts = [row.text for row in _rows(DEMO_LOG)]
    assert texts == [
        "» Setting up the instance",
        "Python: /usr/bin/python3",
        "» Dataset: alpaca, 140 rows, the model's chat template",
        "Map: 126 of 126 examples in 00:00",  # a finished named bar, once
        "/venv/lib/transformers/modeling_utils.py:3312: FutureWarning: `x` is deprecated.",
        "  warnings.warn(",
        (
            "» Training started: 40 steps, 2 epochs, 2 training processes, "
            "base weights sharded (FSDP), 8 rows a step"
        ),
        "step 2/40 · epoch 0.10 · loss 6.7 · lr 0",
        # The metric's step (3), not the bar's (3/40 printed before it drew step 3's bar).
        "step 3/40 · epoch 0.19 · loss 6.62 · grad norm 0.4781 · 4,000 tok/s",
        "step 3/40 · epoch 0.19 · eval loss 6.32 · eval took 0.01 s",
        "» Checkpoint saved at step 3",
        "Training finished at step 40/40: mean train loss 4.06 · took 20.50 s · 1.95 steps/s",
        "» Job completed: the adapter is packaged (sha256 64cb9a0c5a4e…)",
    ]
    assert not any("LGUI_" in t or "%|" in t or "{'" in t for t in texts)


def test_rows_carry_levels() -> None:
    rows = _rows(
        [
            "loading",
            "UserWarning: something is deprecated",
            "Traceback (most recent call last):",
            '  File "train.py", line 3, in <module>',
            "    main()",
            "RuntimeError: CUDA error: out of memory",
            "after the traceback",
            'LGUI_STATUS {"phase": "failed", "exit_code": 3, "error": "training failed"}',
        ]
    )
    assert [(r.text, r.level) for r in rows] == [
        ("loading", Level.INFO),
        ("UserWarning: something is deprecated", Level.WARNING),
        ("Traceback (most recent call last):", Level.ERROR),
        ('  File "train.py", line 3, in <module>', Level.ERROR),
        ("    main()", Level.ERROR),
        ("RuntimeError: CUDA error: out of memory", Level.ERROR),
        ("after the traceback", Level.INFO),
        ("» Job failed (exit code 3): training failed", Level.ERROR),
    ]


def test_trainer_dicts_make_rows_when_no_metric_lines_come() -> None:
    rows = _rows([TRAINER_DICT, EVAL_WITH_ANSI])
    assert [r.text for r in rows] == [
        "epoch 0.12 · loss 6.668 · lr 2.5e-3 · grad norm 0.483",
        "epoch 2.50 · eval loss 6.323 · eval took 0.01 s",
    ]


def test_a_bar_line_gives_no_row_but_its_text_stays() -> None:
    builder = LogRowBuilder()
    fed = builder.feed(" 50%|#####     | 5/10 [00:01<00:01, 4.00it/s]")
    assert fed.rows == () and fed.level is Level.INFO
    fed = builder.feed("\r 50%|#####     | 5/10 [00:01<00:01, 4.00it/s, loss=1.2]Saving model")
    assert [r.text for r in fed.rows] == ["Saving model"]
    assert logparse.text_outside_progress("Map: 10%|#| 1/10 [00:01<00:09, 1.0it/s] done") == (
        " done"
    )
    assert logparse.visible_segments("a\x1b[1mb\rc\n") == ["ab", "c"]


def test_unknown_status_and_metrics_are_still_readable() -> None:
    rows = _rows(
        [
            'LGUI_STATUS {"phase": "warming_up", "gpus": 2}',
            'LGUI_METRIC {"step": 7, "reward": 0.5}',
        ]
    )
    assert [r.text for r in rows] == ["» Warming up (gpus 2)", "step 7 · reward 0.5"]


def test_a_huge_line_makes_a_short_row_in_linear_time() -> None:
    line = "RuntimeError: " + "x" * (1 << 20)
    started = time.thread_time()
    fed = LogRowBuilder().feed(line)
    assert time.thread_time() - started < 0.5
    (row,) = fed.rows
    assert row.level is Level.ERROR and len(row.text) < 2200
    assert row.text.endswith("(a line of 1,048,590 characters: see the raw log)")


def test_a_metric_run_says_its_latest_values_and_planned_steps() -> None:
    run = MetricRun(
        steps=(1, 2, 3),
        epochs=(None, None, None),
        times=(None, None, None),
        max_steps=(100, 0, None),  # 0: not known (train.py before the trainer set it)
        values={"loss": (2.0, 1.5, None), "learning_rate": (None, None, None)},
        source="lgui",
    )
    assert run.latest("loss") == 1.5
    assert run.latest("learning_rate") is None and run.latest("eval_loss") is None
    assert run.planned_steps == 100
