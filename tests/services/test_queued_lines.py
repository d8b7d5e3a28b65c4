"""Queued log lines (services/queued_lines.py): a flood's lines in arrival order, kept as the
blocks they came in and read as one sequence; nothing for the collector to walk."""

from __future__ import annotations

import gc

import pytest

from lambda_gui.remote.logtail import LineBlock
from lambda_gui.services.queued_lines import QueuedLines


def test_lines_read_back_in_order_however_they_were_added() -> None:
    reads = [[b"a\n", b"b\n"], [], [b"c\n"], [b"d\n", b"e\n", b"f\n"]]
    queued = QueuedLines()
    for lines in reads:
        queued.add(lines)
    flat = [line for lines in reads for line in lines]
    assert len(queued) == 6 and list(queued) == flat
    assert [queued[i] for i in range(-6, 6)] == flat + flat
    assert queued[1:5] == flat[1:5] and queued[:0] == [] and queued[4:] == flat[4:]
    for wrong in (6, -7):
        with pytest.raises(IndexError):
            queued[wrong]
    queued.clear()
    assert len(queued) == 0 and list(queued) == [] and not queued


def test_blocks_stay_blocks_and_say_their_sizes() -> None:
    queued = QueuedLines(LineBlock(b"a\nbb\n", 2))
    queued.add([b"ccc\n"])
    queued.add(LineBlock(b"dddd\ne\n", 2))
    assert queued.blocks == [b"a\nbb\n", b"ccc\n", b"dddd\ne\n"]
    assert [queued.size_of_first(n) for n in range(6)] == [0, 2, 5, 9, 14, 16]
    assert list(queued) == [b"a\n", b"bb\n", b"ccc\n", b"dddd\n", b"e\n"]
    # Nothing per line for the collector: a list of a few bytes objects.
    assert not any(gc.is_tracked(block) for block in queued.blocks)
