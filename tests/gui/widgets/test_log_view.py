"""The log view: batched appends, a bounded buffer, find, follow and copy."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractSlider

from lambda_gui.gui.widgets.log_view import LogView


def make(qtbot: Any, **kw: Any) -> LogView:
    view = LogView(**kw)
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    return view


def test_appends_are_batched_into_few_flushes(qtbot: Any) -> None:
    view = make(qtbot)
    for i in range(5000):
        view.append_lines([f"line {i}"])
    assert view.line_count == 0 and view.pending_count == 5000
    qtbot.waitUntil(lambda: view.pending_count == 0, timeout=2000)
    assert view.flush_count == 1
    assert view.line_count == 5000
    assert view.plain_text().splitlines()[-1] == "line 4999"


def test_buffer_is_bounded(qtbot: Any) -> None:
    view = make(qtbot, max_lines=1000)
    for chunk in range(30):
        view.append_lines(f"c{chunk} l{i}" for i in range(500))
        view.flush()
    assert view.line_count == 1000
    lines = view.plain_text().splitlines()
    assert lines[0] == "c28 l0" and lines[-1] == "c29 l499"
    # Queued lines are bounded too, before they ever reach the view.
    view.append_lines(str(i) for i in range(5000))
    assert view.pending_count == 1000


def test_carriage_returns_show_the_latest_progress(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines(["  5%|#  | 1/20\r 10%|## | 2/20\r{'loss': '5.738'}", "next"])
    view.flush()
    assert view.plain_text() == "{'loss': '5.738'}\nnext"


def test_search_finds_next_and_previous_and_wraps(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines([f"step {i} loss {1 / (i + 1):.3f}" for i in range(200)])
    view.append_lines(["Traceback (most recent call last):", "CUDA error: out of memory"])
    view.search.setText("cuda error")
    assert view.find_next()
    assert view.selected_text() == "CUDA error"
    assert not view.follow  # a hit stops following so it stays in view
    view.search.setText("step 1 ")
    assert view.find_next()
    line = view.text.textCursor().block().text()
    assert line.startswith("step 1 ")
    assert view.find_previous()  # wraps from the first hit backwards to the same, only, hit
    assert view.text.textCursor().block().text() == line
    view.search.setText("no such text")
    assert not view.find_next()
    assert view.search.styleSheet() != ""
    view.search.setText("")
    assert view.search.styleSheet() == ""


def test_follow_sticks_to_the_end_and_scrolling_up_stops_it(qtbot: Any) -> None:
    view = make(qtbot)
    bar = view.text.verticalScrollBar()
    view.append_lines(f"line {i}" for i in range(500))
    view.flush()
    assert view.follow and bar.value() == bar.maximum() > 0
    bar.triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)
    assert not view.follow and bar.value() == 0
    view.append_lines(f"more {i}" for i in range(100))
    view.flush()
    assert bar.value() == 0  # not following: the view stays where the user put it
    bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
    assert view.follow
    view.set_follow(False)
    view.set_follow(True)
    assert bar.value() == bar.maximum()


def test_copy_takes_selection_or_everything(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines(["alpha", "beta", "gamma"])
    view.flush()
    assert view.copy() == "alpha\nbeta\ngamma"
    assert QGuiApplication.clipboard().text() == "alpha\nbeta\ngamma"
    view.search.setText("beta")
    view.find_next()
    view.copy_button.click()
    assert QGuiApplication.clipboard().text() == "beta"
    view.clear()
    assert view.line_count == 0
