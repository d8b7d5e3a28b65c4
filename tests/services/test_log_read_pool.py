"""The log reader's worker process (services/log_read_pool.py): a real spawned process reads a
flood's batches as a thread would, counts the lines queued meanwhile through shared memory,
and when it dies the batch is read in a thread with nothing lost."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from lambda_gui.core.log_reader import (
    FLOOD_SHOWN,
    SHOWN_LINES,
    LogReader,
    decode_lines,
)
from lambda_gui.core.logparse import LogEvent, MetricEvent, MetricRun, expand_runs
from lambda_gui.services.log_read_pool import SLOTS, LogReadPool
from lambda_gui.services.log_span import LogSpan, SpanLines
from lambda_gui.services.queued_lines import QueuedLines


def _flood(count: int, first_step: int = 1) -> list[bytes]:
    lines: list[bytes] = []
    step = first_step
    while len(lines) < count:
        metric = {"step": step, "max_steps": 10**6, "loss": 2.0 - step / 10**6, "time": step}
        lines += [
            b" 12%%|#  | %d/1000000 [00:01<00:09, 9.00it/s]\n" % step,
            b"LGUI_METRIC " + json.dumps(metric).encode() + b"\n",
            b"[rank0] step %d done\r\n" % step,
        ]
        step += 1
    return lines[:count]


def _logged(folder: Path, lines: list[bytes]) -> LogSpan:
    """`lines` appended to a local log in `folder`, and where they lie there."""
    log = folder / "train.log"
    with log.open("ab") as out:
        start = out.tell()
        out.write(b"".join(lines))
        return str(log), start, out.tell()


async def _ready_read(
    pool: LogReadPool, reader: LogReader, lines: list[bytes], slot: int, folder: Path
) -> tuple[LogReader, list[str], object]:
    """Read `lines` in the worker, once it is up (the first calls start it)."""
    span = _logged(folder, lines)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = await pool.read(reader, QueuedLines(lines), span, slot)
        if done is not None:
            return done
        assert not pool.broken
        await asyncio.sleep(0.05)
    raise AssertionError("the log reader process did not start within 60 s")


async def test_the_worker_reads_a_batch_as_a_thread_does(tmp_path: Path) -> None:
    pool = LogReadPool(min_lines=100)
    try:
        slot = pool.slot("job1")
        lines = _flood(30_000)
        reader, text, read = await _ready_read(
            pool, LogReader(keep=SHOWN_LINES), lines, slot, tmp_path
        )
        here = LogReader(keep=SHOWN_LINES)
        want = here.read(decode_lines(lines))
        # The text stayed in the file: the lines came back as their span and count.
        assert isinstance(text, SpanLines) and len(text) == len(lines)
        assert text._split is None
        assert list(text) == decode_lines(lines)
        assert read == want  # type: ignore[comparison-overlap]
        assert any(isinstance(e, MetricRun) for e in want.events)
        # The reader's state came back: the next batch's trainer dicts are known duplicates.
        assert reader.parser.seen_lgui_metrics and reader is not here
    finally:
        pool.close()


async def test_lines_queued_meanwhile_are_counted_in_shared_memory(tmp_path: Path) -> None:
    pool = LogReadPool(min_lines=100)
    try:
        slot = pool.slot("job1")
        lines = _flood(30_000)
        await _ready_read(pool, LogReader(keep=SHOWN_LINES), lines, slot, tmp_path)
        pool.set_queued(slot, SHOWN_LINES - 3_000)  # the view will show these too
        done = await pool.read(
            LogReader(keep=SHOWN_LINES), QueuedLines(lines), _logged(tmp_path, lines), slot
        )
        assert done is not None
        assert len(done[2].shown) == 3_000
        pool.set_queued(slot, 10**6)
        done = await pool.read(
            LogReader(keep=SHOWN_LINES), QueuedLines(lines), _logged(tmp_path, lines), slot
        )
        assert done is not None and len(done[2].shown) == FLOOD_SHOWN
    finally:
        pool.close()


async def test_a_dead_worker_leaves_the_batch_to_a_thread(tmp_path: Path) -> None:
    pool = LogReadPool(min_lines=100)
    try:
        slot = pool.slot("job1")
        lines = _flood(5_000)
        await _ready_read(pool, LogReader(keep=SHOWN_LINES), lines, slot, tmp_path)
        executor = pool._executor
        assert executor is not None
        for process in list(executor._processes.values()):  # type: ignore[attr-defined]
            process.kill()
            process.join(10)
        assert (
            await pool.read(LogReader(keep=100), QueuedLines(lines), _logged(tmp_path, lines), slot)
            is None
        )
        assert pool.broken
        # From then on every batch is left to a thread, without trying the process again.
        assert (
            await pool.read(LogReader(keep=100), QueuedLines(lines), _logged(tmp_path, lines), slot)
            is None
        )
        assert pool._executor is None
    finally:
        pool.close()


async def test_a_batch_the_log_no_longer_holds_is_left_to_a_thread(tmp_path: Path) -> None:
    # The job's folder went (deleted) or the file is shorter than the batch: this batch is
    # read in a thread from the lines in memory, and the workers stay in use.
    pool = LogReadPool(min_lines=100)
    try:
        slot = pool.slot("job1")
        lines = _flood(3_000)
        await _ready_read(pool, LogReader(keep=100), lines, slot, tmp_path)
        path, start, end = _logged(tmp_path, lines)
        assert (
            await pool.read(LogReader(keep=100), QueuedLines(lines), (path, start, end + 1), slot)
            is None
        )
        gone = str(tmp_path / "gone" / "train.log")
        assert (
            await pool.read(LogReader(keep=100), QueuedLines(lines), (gone, 0, end - start), slot)
            is None
        )
        assert not pool.broken
        assert (
            await pool.read(LogReader(keep=100), QueuedLines(lines), (path, start, end), slot)
            is not None
        )
    finally:
        pool.close()


async def test_small_batches_and_jobs_without_a_slot_stay_in_the_app(tmp_path: Path) -> None:
    pool = LogReadPool(min_lines=100)
    slots = [pool.slot(f"job{i}") for i in range(SLOTS)]
    assert sorted(slots) == list(range(SLOTS))
    assert pool.slot("job0") == 0  # a job keeps its slot
    assert pool.slot("one too many") == -1
    lines = _flood(500)
    assert (
        await pool.read(LogReader(keep=10), QueuedLines(lines), _logged(tmp_path, lines), -1)
        is None
    )
    assert (
        await pool.read(
            LogReader(keep=10), QueuedLines(lines[:99]), _logged(tmp_path, lines[:99]), 0
        )
        is None
    )
    assert pool._executor is None  # nothing started for those
    pool.release("job3")
    assert pool.slot("one too many") == 3


@pytest.mark.parametrize("tail", [b"last line\n", b"last line without its newline"])
async def test_the_worker_splits_lines_as_the_follower_gave_them(
    tail: bytes, tmp_path: Path
) -> None:
    # Blank and carriage-return lines stay; the stream's last line may lack its newline.
    pool = LogReadPool(min_lines=1)
    try:
        lines = [b"\n", b"a\r\n", b"\r\n", b"b \xff\xfe\n"] * 500 + [tail]
        _, text, _read = await _ready_read(
            pool, LogReader(keep=10), lines, pool.slot("j"), tmp_path
        )
        assert list(text) == decode_lines(lines)
    finally:
        pool.close()


def test_metric_runs_stand_for_their_events() -> None:
    reader = LogReader(keep=10)
    read = reader.read(decode_lines(_flood(300)))
    metrics = [e for e in expand_runs(read.events) if isinstance(e, MetricEvent)]
    assert [m.step for m in metrics] == list(range(1, 101))
    assert all(m.source == "lgui" and m.loss is not None for m in metrics)


async def test_prepare_starts_the_worker_before_any_batch(tmp_path: Path) -> None:
    pool = LogReadPool(min_lines=100)
    try:
        pool.prepare()
        assert pool._executor is not None
        lines = _flood(200)
        deadline = time.monotonic() + 60
        while (
            await pool.read(
                LogReader(10), QueuedLines(lines), _logged(tmp_path, lines), pool.slot("j")
            )
            is None
        ):
            assert time.monotonic() < deadline, "the worker did not answer within 60 s"
            await asyncio.sleep(0.02)
    finally:
        pool.close()
    without = LogReadPool(process=False)
    without.prepare()
    assert without._executor is None and without.broken


async def test_a_flood_batch_is_read_in_two_halves_as_if_whole(tmp_path: Path) -> None:
    from lambda_gui.core.logparse import ProgressEvent
    from lambda_gui.services.log_read_pool import SPLIT_LINES

    pool = LogReadPool(min_lines=100)
    try:
        slot = pool.slot("job1")
        reader = LogReader(keep=SHOWN_LINES)
        reader.read(decode_lines(_flood(3)))  # LGUI_METRIC lines were seen
        lines = _flood(2 * (SPLIT_LINES + SHOWN_LINES + 1_000), first_step=10)
        pool.set_queued(slot, 0)
        _reader, text, read = await _ready_read(pool, reader, lines, slot, tmp_path)
        whole = LogReader(keep=SHOWN_LINES)
        whole.read(decode_lines(_flood(3)))
        want = whole.read(decode_lines(lines))
        assert list(text) == decode_lines(lines)
        assert (read.shown_from, read.shown) == (want.shown_from, want.shown)

        def without_bars(events: list[LogEvent]) -> list[LogEvent]:
            return [e for e in expand_runs(events) if not isinstance(e, ProgressEvent)]

        assert without_bars(read.events) == without_bars(want.events)
        # Each half shows its latest bar; the batch's latest is the last, as when read whole.
        bars = [e for e in read.events if isinstance(e, ProgressEvent)]
        assert bars[-1:] == [e for e in want.events if isinstance(e, ProgressEvent)][-1:]
        assert len(bars) == 2
    finally:
        pool.close()


WORKERS_THEN_WAIT = """
import asyncio, os, tempfile, time
from lambda_gui.core.log_reader import LogReader
from lambda_gui.services.log_read_pool import LogReadPool
from lambda_gui.services.queued_lines import QueuedLines

async def main():
    log = os.path.join(tempfile.mkdtemp(), "train.log")
    with open(log, "wb") as out:
        out.write(b"a\\n")
    pool = LogReadPool(min_lines=1)
    slot = pool.slot("job")
    while await pool.read(LogReader(keep=10), QueuedLines([b"a\\n"]), (log, 0, 2), slot) is None:
        await asyncio.sleep(0.02)
    print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
    time.sleep(120)

asyncio.run(main())
"""


def test_the_workers_end_when_the_app_is_killed() -> None:
    import signal
    import subprocess
    import sys

    import psutil

    app = subprocess.Popen(
        [sys.executable, "-c", WORKERS_THEN_WAIT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert app.stdout is not None
        workers = [int(pid) for pid in app.stdout.readline().split()]
        assert len(workers) == 2
        app.send_signal(signal.SIGKILL)
        app.wait(10)

        def alive(pid: int) -> bool:
            try:
                return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "a reader worker outlived the app"
    finally:
        app.kill()
