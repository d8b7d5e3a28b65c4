"""Queued log lines (services/queued_lines.py): a flood's lines in arrival order, read as one
sequence, and left out of the collector's walks once it saw them."""

from __future__ import annotations

import gc

import pytest

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


def test_the_collector_stops_walking_the_lines_once_it_saw_them() -> None:
    queued = QueuedLines([b"line %d\n" % i for i in range(10_000)])
    gc.collect()
    # A tuple of bytes is untracked after one collection: later ones skip its lines.
    assert not any(gc.is_tracked(part) for part in queued._parts)
