"""A flood's lines as their spans of the local log (services/log_span.py): counted and sent
between processes without being read; read, they are the lines the worker read; a log that
no longer holds them says so."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lambda_gui.core.log_reader import decode_block, split_block
from lambda_gui.services.log_span import LogGoneError, SpanLines, read_span


def _append(log: Path, raw: bytes) -> tuple[str, int, int]:
    with log.open("ab") as out:
        start = out.tell()
        out.write(raw)
        return str(log), start, out.tell()


def test_span_lines_are_read_only_when_read_one_by_one(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    first = b"one\r\n\ntw\xc3\xb6 \xff\n"  # a carriage return, a blank line, invalid UTF-8
    second = b"three\rthree again\nfour\n"
    halves = [_append(log, first), _append(log, second)]
    lines = SpanLines((halves[0],), 3) + SpanLines((halves[1],), 2)
    assert lines._spans == ((str(log), 0, len(first) + len(second)),)  # contiguous: one read
    copy = pickle.loads(pickle.dumps(lines))
    assert len(lines) == len(copy) == 5
    assert lines._split is None and copy._split is None  # counted and sent, never read
    want = split_block(decode_block(first + second))
    assert list(lines) == list(copy) == want
    assert lines[-1] == "four" and lines[1:3] == want[1:3]


def test_a_log_that_lost_the_lines_says_so(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    span = _append(log, b"a\nb\n")
    assert read_span(span) == b"a\nb\n"
    with pytest.raises(LogGoneError):
        read_span((span[0], 0, 99))  # the file ends before
    with pytest.raises(LogGoneError):
        list(SpanLines((span,), 3))  # it holds other lines than counted
    log.unlink()
    with pytest.raises(LogGoneError):
        list(SpanLines((span,), 2))
