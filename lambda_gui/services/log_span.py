"""A batch's lines as where they lie in the job's local log, read from it only when read one
by one.

A flood's batch is read by the log reader's worker processes straight from the local log
(services/log_read_pool.py). Sending its text back to the app would copy megabytes, while
holding the app's interpreter lock (and so the GUI thread), for lines the app seldom reads
singly: the log view takes its rows from the batch's view data, and the whole log is on disk.
So the batch's lines travel as their spans of the file and their count. Reading them (a test,
or the job detail dropping lines its backfill showed) reads, decodes and splits the spans as
the worker did (core/log_reader.py, `decode_block`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lambda_gui.core.log_reader import decode_block, split_block

#: Where a batch lies in the local log: its path, and its start and end byte offsets.
LogSpan = tuple[str, int, int]


class LogGoneError(OSError):
    """The local log no longer holds lines it held (the job's folder was deleted)."""


class SpanLines(Sequence[str]):
    """`count` lines lying at `spans` of local logs, read from there when read one by one."""

    __slots__ = ("_count", "_spans", "_split")

    def __init__(self, spans: tuple[LogSpan, ...], count: int) -> None:
        self._spans = spans
        self._count = count
        self._split: list[str] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        return self._lines()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines())

    def __add__(self, other: SpanLines) -> SpanLines:
        spans = self._spans + other._spans
        if len(self._spans) and len(other._spans):
            (path, start, end), (next_path, next_start, next_end) = self._spans[-1], other._spans[0]
            if path == next_path and end == next_start:  # one read for a batch read in halves
                spans = (*self._spans[:-1], (path, start, next_end), *other._spans[1:])
        return SpanLines(spans, self._count + other._count)

    def __reduce__(self) -> tuple[Any, tuple[tuple[LogSpan, ...], int]]:
        return SpanLines, (self._spans, self._count)

    def __repr__(self) -> str:
        return f"SpanLines({self._count} lines)"

    def _lines(self) -> list[str]:
        if self._split is None:
            lines: list[str] = []
            for span in self._spans:
                lines += split_block(decode_block(read_span(span)))
            if len(lines) != self._count:
                raise LogGoneError(f"the local log holds {len(lines)} lines, not {self._count}")
            self._split = lines
        return self._split


def read_span(span: LogSpan) -> bytes:
    """The bytes at `span` of its log (LogGoneError when the file no longer holds them all)."""
    path, start, end = span
    try:
        with open(path, "rb") as log_file:
            log_file.seek(start)
            raw = log_file.read(end - start)
    except OSError as exc:
        raise LogGoneError(f"cannot read the local log {path}: {exc}") from exc
    if len(raw) != end - start:
        raise LogGoneError(f"the local log {path} ends before byte {end}")
    return raw
