"""The log view under a flood of lines: timed flushes read in short slices (the window keeps
running), the queue keeps the newest lines, and what was handed over or dropped is counted."""

from __future__ import annotations

import time
from typing import Any

from lambda_gui.gui.widgets import log_view
from tests.gui.widgets.test_log_view import make


def test_a_full_queue_counts_what_it_dropped(qtbot: Any) -> None:
    view = make(qtbot, max_lines=1000)
    view.append_lines(f"a{i}" for i in range(700))
    view.append_lines([f"b{i}" for i in range(700)])
    assert view.received_count == 1400
    assert view.dropped_count == 400
    assert view.pending_count == 1000
    view.flush()
    assert view.plain_text().splitlines()[-1] == "b699"
    assert view.line_count == 1000


def test_timed_flushes_read_in_slices(qtbot: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(log_view, "FLUSH_SLICE_S", 0.0)  # one batch of 64 lines a slice
    view = make(qtbot, max_lines=5000)
    view.append_lines([f"line {i}" for i in range(1000)])
    view._flush_slice()
    assert 0 < view.pending_count < 1000
    assert view.flush_count == 0  # not done until the queue is read to its end
    deadline = time.monotonic() + 10
    while view.pending_count and time.monotonic() < deadline:
        qtbot.wait(20)
    assert view.pending_count == 0
    assert view.flush_count == 1
    assert view.line_count == 1000
    assert view.plain_text().splitlines()[-1] == "line 999"
