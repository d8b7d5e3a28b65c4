"""A MetricRun (a batch's LGUI_METRIC lines as columns, core/log_reader.py) means to the Jobs
tab what its single events mean: the same progress, and the same points on the curves."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_gui.core.logparse import LogEvent, MetricEvent, MetricRun, ProgressEvent
from lambda_gui.gui.panels.job_detail import _past_last
from lambda_gui.gui.panels.job_progress import LiveProgress

VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))
STEPS = st.integers(0, 60)


@st.composite
def runs(draw: st.DrawFn) -> MetricRun:
    size = draw(st.integers(1, 30))
    steps = draw(st.lists(STEPS, min_size=size, max_size=size))
    column = st.lists(VALUES, min_size=size, max_size=size)
    return MetricRun(
        steps=tuple(steps),
        epochs=tuple(draw(column)),
        times=tuple(
            draw(st.lists(st.one_of(st.none(), st.floats(0, 1e6)), min_size=size, max_size=size))
        ),
        max_steps=tuple(
            draw(st.lists(st.one_of(st.none(), st.integers(0, 90)), min_size=size, max_size=size))
        ),
        values={"loss": tuple(draw(column)), "learning_rate": tuple(draw(column))},
    )


BAR = ProgressEvent(step=7, total=90, percent=7, elapsed_s=1.0, remaining_s=12.0, rate=7.0)
FEEDS = st.lists(st.one_of(runs(), st.just(BAR)), min_size=1, max_size=4)


def _single(events: list[LogEvent]) -> list[LogEvent]:
    out: list[LogEvent] = []
    for event in events:
        out += event.events() if isinstance(event, MetricRun) else [event]
    return out


@settings(max_examples=200, deadline=None)
@given(FEEDS)
def test_progress_reads_a_run_as_its_events(events: list[LogEvent]) -> None:
    by_run, by_event = LiveProgress(), LiveProgress()
    changed = by_run.feed(events, now=5.0)
    by_event.feed(_single(events), now=5.0)
    # Changed: whenever what is shown differs from before (a run read as a whole may come
    # back to where it started, where its single events said "changed" on the way).
    assert changed or (by_run.step, by_run.total, by_run.loss) == (None, None, None)
    assert (by_run.step, by_run.total, by_run.remaining_s) == (
        by_event.step,
        by_event.total,
        by_event.remaining_s,
    )
    # NaN is a loss too (the loss guard's business); equal as the same reading.
    assert by_run.loss == by_event.loss or (
        by_run.loss is not None and by_event.loss is not None and math.isnan(by_run.loss)
    )


def _past_last_slowly(
    steps: list[float], column: list[float | None], after: float
) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for step, value in zip(steps, column, strict=True):
        if value is not None and step > after:
            xs.append(step)
            ys.append(value)
            after = step
    return xs, ys


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(STEPS, VALUES), max_size=40), st.integers(-1, 30))
def test_a_series_takes_the_points_past_its_last_step(
    pairs: list[tuple[int, float | None]], after: int
) -> None:
    import numpy as np

    steps = [float(step) for step, _ in pairs]
    column = [value for _, value in pairs]
    xs, ys = _past_last(np.asarray(steps, dtype=np.float64), column, float(after))
    want_x, want_y = _past_last_slowly(steps, column, float(after))
    assert xs.tolist() == want_x
    assert np.array_equal(ys, np.asarray(want_y, dtype=np.float64), equal_nan=True)


def test_single_lgui_events_and_runs_mix_in_order() -> None:
    run = MetricRun(
        steps=(1, 2),
        epochs=(None, None),
        times=(None, None),
        max_steps=(9, 9),
        values={"loss": (2.0, None)},
    )
    events: list[LogEvent] = [run, MetricEvent(values={"loss": 1.0}, source="lgui", step=3)]
    progress = LiveProgress()
    assert progress.feed(events, now=1.0)
    assert (progress.step, progress.total, progress.loss) == (3, 9, 1.0)
