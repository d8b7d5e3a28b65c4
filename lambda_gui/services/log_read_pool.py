"""Reading a flood of log lines in worker processes, off the app's own process.

The app is one Python process, and only one of its threads runs Python at a time. A job that
prints hundreds of thousands of lines a second kept the GUI thread waiting while a worker
thread read them (docs/log-pipeline.md). So a batch of at least `PROCESS_LINES` lines is read
by a worker process from the local log, where the batch was just appended (its bytes never
cross a pipe: copying them would hold the app's interpreter lock for milliseconds); the
worker splits, decodes and reads it (core/log_reader.py) and sends back the lines' count
(their text stays in the file until read: services/log_span.py), their events and what the
log view shows of them. Smaller batches, those of every ordinary job, are read in a thread
as before. The `WORKERS` processes are started when a job's log is first followed (for all
jobs; ~0.1 s to start, a batch waits for none of it) and stopped when the connector
disconnects.

- The workers are spawned, never forked: the app runs Qt and other threads, which a fork
  would copy in whatever state they were. They run at a lower CPU priority than the app.
- The reader's state (a few flags) goes with each batch and comes back with its result, so
  any batch can be read anywhere. If a worker cannot be started or dies, the batch is read
  in a thread, nothing is lost, and the pool is not used again this session. A batch the
  worker cannot find in the local log (the file went) is read in a thread too.
- A flood's batch (tens of thousands of lines, once LGUI_METRIC lines were seen) is read in
  two halves at once, one per worker, and joined: the events of both in order, the view's
  rows from the second half (which holds more lines than the view keeps). What a half
  carries over to the next is what a batch carries over to the next: whether LGUI_METRIC
  lines were seen, which both halves know already, and the rows' state, which the rows of a
  flood's batch take from the lines before them (core/log_reader.py, CONTEXT_LINES). Each
  half gives its own latest bar: two progress readings where a whole batch gives one.
- How many of a batch's newest lines the view will still hold is asked once its events are
  read (`LogReader.read`'s `keep`): the lines queued meanwhile are counted in shared
  memory, one slot per followed job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Nothing of the reader is loaded here: the connector holds a pool from its start, and the
# window's first paint should not wait for the log parser (it loads with the first log).


if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from lambda_gui.core.log_reader import LogReader, ReadBatch
    from lambda_gui.services.log_span import LogSpan, SpanLines
    from lambda_gui.services.queued_lines import QueuedLines

log = logging.getLogger(__name__)

#: A batch of this many lines or more is read in the worker process.
PROCESS_LINES = 2_000
#: Worker processes: a flood's batch is read in two halves at once.
WORKERS = 2
#: Each half of a batch read in two holds at least this many lines more than the view keeps.
SPLIT_LINES = 10_000
#: How much lower the worker's CPU priority is than the app's (POSIX niceness).
WORKER_NICENESS = 5
#: Jobs followed at once that get a shared counter (others' batches are read in a thread).
SLOTS = 64

# In the worker process: the counters of queued lines, one per slot.
_queued: Any = None


def _init_worker(queued: Any) -> None:
    global _queued
    _queued = queued
    # A worker ends with the app, however the app ended (killed, crashed): nothing would
    # tell it otherwise, and it would hold the app's stdout and memory for nothing.
    import multiprocessing
    import threading

    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="end-with-app", daemon=True).start()
    # Background work: where cores are few, the app's GUI thread goes first.
    if hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass


def _end_with(parent: Any) -> None:
    parent.join()  # returns once the app's process is gone
    os._exit(0)


def _answer() -> bool:
    return True


def read_in_worker(
    reader: LogReader, path: str, start: int, end: int, slot: int, rows: bool = True
) -> tuple[LogReader, SpanLines, ReadBatch] | None:
    """(Runs in the worker.) The lines at bytes [start, end) of the log at `path` (as their
    span and count: services/log_span.py), their events and the view's data (none when not
    `rows`: a batch's first half), and the reader's state after them. None when the file no
    longer holds them."""
    from lambda_gui.core.log_reader import decode_block, split_block, still_shown
    from lambda_gui.services.log_span import LogGoneError, SpanLines, read_span

    try:
        raw = read_span((path, start, end))
    except LogGoneError:
        return None
    text = split_block(decode_block(raw))
    queued = _queued
    if not rows:
        keep: Callable[[], int] | None = lambda: 0  # noqa: E731
    elif queued is not None:
        keep = lambda: still_shown(queued[slot])  # noqa: E731
    else:
        keep = None
    return reader, SpanLines(((path, start, end),), len(text)), reader.read(text, keep)


def _joined(
    first: tuple[LogReader, SpanLines, ReadBatch], second: tuple[LogReader, SpanLines, ReadBatch]
) -> tuple[LogReader, SpanLines, ReadBatch]:
    """What a batch read in two halves gave, as if read whole: the second half's reader
    state (the first half's rows were not built; the view keeps no more than the second
    half's lines)."""
    from lambda_gui.core.log_reader import ReadBatch

    _, first_text, first_read = first
    reader, second_text, second_read = second
    read = ReadBatch(
        first_read.events + second_read.events,
        len(first_text) + second_read.shown_from,
        second_read.shown,
    )
    return reader, first_text + second_text, read


class LogReadPool:
    """The worker processes that read flooding jobs' log batches (started with the first
    followed log)."""

    def __init__(self, *, min_lines: int = PROCESS_LINES, process: bool = True) -> None:
        self.min_lines = min_lines
        # False: no workers (every batch is read in a thread); True after a worker failed.
        self.broken = not process
        self._executor: ProcessPoolExecutor | None = None
        self._warm: list[Future[bool]] = []  # the workers' first answers
        self._queued: Any = None
        self._slots: dict[str, int] = {}

    def slot(self, job_id: str) -> int:
        """The shared counter of `job_id`'s queued lines (-1: none free)."""
        taken = self._slots.get(job_id)
        if taken is not None:
            return taken
        free = set(range(SLOTS)) - set(self._slots.values())
        if not free:
            return -1
        self._slots[job_id] = chosen = min(free)
        return chosen

    def release(self, job_id: str) -> None:
        """`job_id` is no longer followed."""
        self._slots.pop(job_id, None)

    def prepare(self) -> None:
        """Start the workers now, if they are not up (a job's log is about to be followed: a
        flood from its first lines is then read there, not in a thread while they start)."""
        if not self.broken:
            self._ready()

    def set_queued(self, slot: int, count: int) -> None:
        """`count` lines of the slot's job wait to be read."""
        if self._queued is not None and 0 <= slot < SLOTS:
            self._queued[slot] = count

    async def read(
        self, reader: LogReader, lines: QueuedLines, span: LogSpan, slot: int
    ) -> tuple[LogReader, SpanLines, ReadBatch] | None:
        """`lines`, which lie at `span` in the local log, read by the workers: the reader's new
        state, the lines' text and what they gave. None when the batch is to be read here
        instead (a small one, no slot, the workers not up yet, a worker failed, or the log
        file no longer holds the lines)."""
        if self.broken or slot < 0 or len(lines) < self.min_lines or not self._ready():
            return None
        executor = self._executor
        assert executor is not None  # _ready started it
        from concurrent.futures.process import BrokenProcessPool

        from lambda_gui.core.log_reader import CONTEXT_LINES, SHOWN_LINES

        loop = asyncio.get_running_loop()
        path, start, end = span
        try:
            # A flood's batch, once LGUI_METRIC lines were seen, is read in two halves at once
            # (both workers; the view's rows come from the second half, which holds more
            # lines than the view keeps): see the module's text.
            half = len(lines) // 2
            if (
                half >= SPLIT_LINES + SHOWN_LINES + CONTEXT_LINES
                and reader.parser.seen_lgui_metrics
            ):
                cut = start + lines.size_of_first(half)
                first, second = await asyncio.gather(
                    loop.run_in_executor(
                        executor, read_in_worker, reader, path, start, cut, slot, False
                    ),
                    loop.run_in_executor(executor, read_in_worker, reader, path, cut, end, slot),
                )
                done = None if first is None or second is None else _joined(first, second)
            else:
                done = await loop.run_in_executor(
                    executor, read_in_worker, reader, path, start, end, slot
                )
        except (BrokenProcessPool, OSError, pickle.PicklingError, RuntimeError) as exc:
            self._fail(exc)
            return None
        if done is None:
            log.warning("the local log no longer holds a batch; reading it in a thread")
            return None
        reader, text, read = done
        if len(text) != len(lines):  # the worker split them otherwise: read them here
            log.warning("log reader process split %d lines as %d", len(lines), len(text))
            return None
        return reader, text, read

    def _ready(self) -> bool:
        """Whether the workers are up; the first call starts them, and batches are read in a
        thread until they answer (a Python starting up takes a moment: no batch waits)."""
        if self._executor is None:
            # Loaded here: most sessions never need a worker (start-up stays lighter).
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            self._queued = context.RawArray("q", SLOTS)
            try:
                self._executor = ProcessPoolExecutor(
                    max_workers=WORKERS,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(self._queued,),
                )
                # As many first answers as workers: the pool starts each one now.
                self._warm = [self._executor.submit(_answer) for _ in range(WORKERS)]
            except (OSError, RuntimeError) as exc:
                self._fail(exc)
            return False
        if not self._warm or not all(answer.done() for answer in self._warm):
            return False
        for answer in self._warm:
            failed = answer.exception()
            if failed is not None:
                self._fail(failed)
                return False
        return True

    def _fail(self, exc: BaseException) -> None:
        log.warning("log reader process failed (%s); reading logs in a thread", exc)
        self.broken = True
        self.close()

    def close(self) -> None:
        """Stop the workers (a later follow starts others, unless one failed)."""
        executor, self._executor, self._queued, self._warm = self._executor, None, None, []
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
