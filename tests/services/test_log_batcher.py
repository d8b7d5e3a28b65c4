"""The log batcher (services/job_remote.py): a flood of lines is parsed off the loop's thread
and published in order, a batch's lines as one event with the view's data for its newest
lines only, its events in bounded slices; cancelling the flusher mid-batch loses no line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lambda_gui.core.log_reader import FLOOD_SHOWN, SHOWN_LINES
from lambda_gui.core.logparse import MetricEvent, expand_runs
from lambda_gui.services import job_remote
from lambda_gui.services.events import JobLogEvents, JobLogLines
from lambda_gui.services.log_read_pool import LogReadPool
from lambda_gui.services.queued_lines import QueuedLines

_MANY = 5000  # lines: a long batch


class _Logs:
    def __init__(self) -> None:
        self.data = b""

    async def append(self, _job_id: str, data: bytes | list[bytes]) -> tuple[int, int]:
        await asyncio.sleep(0)
        start = len(self.data)
        self.data += data if isinstance(data, bytes) else b"".join(data)
        return start, len(self.data)

    def path(self, job_id: str) -> Path:
        return Path("/nonexistent") / job_id / "train.log"  # the workers are off here


class _Store:
    def __init__(self) -> None:
        self.offsets: list[int] = []

    async def update_job(self, _job_id: str, *, log_offset: int) -> None:
        self.offsets.append(log_offset)


class _Bus:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)


def _batcher(start: int = 0) -> tuple[job_remote._LogBatcher, SimpleNamespace]:
    # Every batch read in a thread here (tests/services/test_log_read_pool.py: the process).
    readers = LogReadPool(process=False)
    ctx = SimpleNamespace(logs=_Logs(), store=_Store(), bus=_Bus(), readers=readers)
    job = SimpleNamespace(id="job1", config=SimpleNamespace(stop_on_divergence=False))

    async def enter_after_training(_phase: str) -> None:
        return None

    remote = SimpleNamespace(
        ctx=ctx, job=job, stop_soon=lambda *_: None, enter_after_training=enter_after_training
    )
    return job_remote._LogBatcher(remote, start), ctx  # type: ignore[arg-type]


def _lines(count: int) -> list[bytes]:
    return [
        b'LGUI_METRIC {"step": %d, "loss": 1.5}\n' % i if i % 3 == 0 else b"plain %d\n" % i
        for i in range(count)
    ]


def _metric_steps(ctx: SimpleNamespace) -> list[int | None]:
    """The steps of the metric events published, in order."""
    return [
        ev.step
        for e in ctx.bus.events
        if isinstance(e, JobLogEvents)
        for ev in expand_runs(e.events)
        if isinstance(ev, MetricEvent)
    ]


def _feed(batcher: job_remote._LogBatcher, lines: list[bytes]) -> int:
    offset = 0
    for line in lines:
        offset += len(line)
        batcher.add(line, offset)
    return offset


async def test_a_long_batch_is_published_as_one_event() -> None:
    # One event whatever the batch's length: it carries the view's data for the newest lines
    # only, so what the window does with it is bounded (a flood's text is never split).
    batcher, ctx = _batcher()
    lines = _lines(2 * _MANY + 7)
    end = _feed(batcher, lines)
    await batcher.flush()
    published = [e for e in ctx.bus.events if isinstance(e, JobLogLines)]
    assert [len(e.lines) for e in published] == [len(lines)]
    assert list(published[0].lines) == [raw.decode().rstrip("\n") for raw in lines]
    assert published[0].offset == end  # where its last line ends
    assert _metric_steps(ctx) == list(range(0, len(lines), 3))
    assert ctx.logs.data == b"".join(lines)
    assert ctx.store.offsets == [end]


async def test_a_resumed_follow_places_its_batches_in_the_remote_log() -> None:
    # The follow resumed at byte 1,000 of the remote log (the local copy may be shorter: cut
    # lines): each event says where its lines begin there, as the offsets do.
    batcher, ctx = _batcher(start=1000)
    first, second = _lines(4), _lines(2)
    batcher.add_many(first, 1000 + sum(map(len, first)))
    await batcher.flush()
    end = 1000 + sum(map(len, first + second))
    batcher.add_many(second, end)
    await batcher.flush()
    published = [e for e in ctx.bus.events if isinstance(e, JobLogLines)]
    assert [(e.start, e.offset) for e in published] == [
        (1000, 1000 + sum(map(len, first))),
        (1000 + sum(map(len, first)), end),
    ]


async def test_cancelling_the_flusher_mid_batch_loses_no_line() -> None:
    batcher, ctx = _batcher()
    lines = _lines(3 * _MANY)
    _feed(batcher, lines)
    flusher = asyncio.create_task(batcher.run())
    await asyncio.sleep(job_remote._FLUSH_S + 0.01)  # the flush is under way
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    extra = b"last line\n"
    batcher.add(extra, 1)
    await batcher.flush(save_offset=True)
    text = [line for e in ctx.bus.events if isinstance(e, JobLogLines) for line in e.lines]
    assert text == [raw.decode().rstrip("\n") for raw in [*lines, extra]]


async def test_the_reader_is_told_to_wait_when_far_behind(monkeypatch: Any) -> None:
    monkeypatch.setattr(job_remote, "_BACKLOG_LINES", 10)
    batcher, _ctx = _batcher()
    assert not any(batcher.add(b"x\n", i) for i in range(9))
    assert batcher.add(b"x\n", 10)
    waiting = asyncio.create_task(batcher.drained())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await batcher.flush()
    await asyncio.wait_for(waiting, 2)


async def test_a_flood_batch_carries_the_view_data_of_its_newest_lines_only() -> None:
    batcher, ctx = _batcher()
    lines = _lines(SHOWN_LINES + 3 * _MANY)
    _feed(batcher, lines)
    await batcher.flush()
    published = [e for e in ctx.bus.events if isinstance(e, JobLogLines)]
    shown = [s for e in published for s in (e.shown or ())]
    assert len(shown) == SHOWN_LINES  # the view keeps no more
    # Each slice's data belongs to its last lines.
    assert all(e.shown is not None and len(e.shown) <= len(e.lines) for e in published)
    assert [s.text for s in shown] == [raw.decode().rstrip("\n") for raw in lines[-SHOWN_LINES:]]


async def test_lines_queued_during_the_reading_leave_fewer_rows_to_build(monkeypatch: Any) -> None:
    batcher, ctx = _batcher()
    _feed(batcher, _lines(3 * _MANY))
    # While the batch is read, more lines queue up: the view will show those, so the rows of
    # the batch's lines they push out are not built (at least _FLOOD_SHOWN are).
    queued = [b"later\n"] * (SHOWN_LINES - 2000)
    still = batcher._still_shown

    def queue_then_ask() -> int:
        batcher.lines = QueuedLines(queued)
        return still()

    monkeypatch.setattr(batcher, "_still_shown", queue_then_ask)
    await batcher.flush()
    shown = [s for e in ctx.bus.events if isinstance(e, JobLogLines) for s in (e.shown or ())]
    assert len(shown) == 2000
    batcher.lines = QueuedLines([b"x\n"] * SHOWN_LINES)
    assert still() == FLOOD_SHOWN


async def test_a_flood_is_flushed_at_once_in_order_without_loss() -> None:
    # During a flood the flusher takes the next batch at once: every line and event still
    # arrives once, in order.
    batcher, ctx = _batcher()
    flusher = asyncio.create_task(batcher.run())
    lines = _lines(6 * job_remote._FLOOD_LINES)
    offset = 0
    for start in range(0, len(lines), job_remote._FLOOD_LINES // 2):
        chunk = lines[start : start + job_remote._FLOOD_LINES // 2]
        offset += sum(map(len, chunk))
        batcher.add_many(chunk, offset)
        await asyncio.sleep(0.05)  # 12 chunks: they outlast the first flush's wait
    await asyncio.sleep(job_remote._FLUSH_S)
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    await batcher.flush(save_offset=True)
    published = [e for e in ctx.bus.events if isinstance(e, JobLogLines)]
    assert len({e.offset for e in published}) == len(published) >= 2
    assert [e.offset for e in published] == sorted(e.offset for e in published)
    # Each batch begins where the one before ended.
    assert [e.start for e in published] == [0] + [e.offset for e in published[:-1]]
    assert [line for e in published for line in e.lines] == [
        raw.decode().rstrip("\n") for raw in lines
    ]
    assert _metric_steps(ctx) == list(range(0, len(lines), 3))


def test_event_slices_cut_long_metric_runs() -> None:
    from lambda_gui.core.logparse import MetricRun, StatusEvent

    def run(first: int, count: int) -> MetricRun:
        steps = tuple(range(first, first + count))
        return MetricRun(
            steps=steps,
            epochs=(None,) * count,
            times=(None,) * count,
            max_steps=(None,) * count,
            values={"loss": tuple(float(s) for s in steps)},
        )

    events = [run(1, 4500), StatusEvent("checkpoint"), run(4501, 10), StatusEvent("training")]
    slices = job_remote._event_slices(events, 2000)
    weights = [sum(len(e) if isinstance(e, MetricRun) else 1 for e in part) for part in slices]
    assert weights == [2000, 2000, 512]
    assert expand_runs([e for part in slices for e in part]) == expand_runs(events)
