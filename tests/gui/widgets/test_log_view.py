"""The log view: readable rows or raw lines, level filter, wrap, batched appends, a bounded
buffer, find (Ctrl+F, F3), follow and copy."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSlider, QPlainTextEdit

from lambda_gui.core.log_reader import LogReader
from lambda_gui.core.log_rows import Level
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


TRAINING_LINES = [
    'LGUI_STATUS {"phase": "training", "max_steps": 288, "num_train_epochs": 1.0}',
    "\r 67%|\u2588\u2588\u2588\u2588\u2588\u2588   | 193/288 [01:00<00:30, 3.10it/s]"
    'LGUI_METRIC {"step": 194, "epoch": 0.67, "max_steps": 288, "loss": 1.25, '
    '"learning_rate": 0.0002, "grad_norm": 0.5}',
    "\r                    \r{'loss': '1.25', 'learning_rate': '0.0002', 'epoch': '0.67'}",
    "/x.py:1: UserWarning: careful",
    "Traceback (most recent call last):",
    '  File "train.py", line 1, in <module>',
    "ValueError: bad",
    'LGUI_STATUS {"phase": "completed", "sha256": "abcdef"}',
]


def test_readable_rows_by_default_and_raw_one_toggle_away(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines(TRAINING_LINES)
    view.flush()
    shown = view.shown_text()
    assert "step 194/288 · epoch 0.67 · loss 1.25 · lr 2.0e-4 · grad norm 0.5" in shown
    assert "193/288" not in shown and "LGUI_" not in shown and "{'loss'" not in shown
    assert shown.splitlines()[-1] == "» Job completed: the adapter is packaged (sha256 abcdef…)"
    assert view.line_count == 7
    view.raw_button.click()
    assert view.raw and "LGUI_STATUS" in view.shown_text() and view.line_count == 8
    assert view.shown_text() == view.plain_text()
    view.raw_button.click()
    assert view.shown_text() == shown


def test_filter_by_level(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines(TRAINING_LINES)
    view.level_combo.setCurrentIndex(view.level_combo.findText("Errors only"))
    assert view.min_level is Level.ERROR
    assert view.shown_text().splitlines() == [
        "Traceback (most recent call last):",
        '  File "train.py", line 1, in <module>',
        "ValueError: bad",
    ]
    view.set_min_level(Level.WARNING)
    assert view.shown_text().splitlines()[0] == "/x.py:1: UserWarning: careful"
    view.set_raw(True)  # the raw view filters too
    assert len(view.shown_text().splitlines()) == 4
    # New lines pass the same filter.
    view.append_lines(["plain info", "ERROR: disk full"])
    view.flush()
    assert view.shown_text().splitlines()[-1] == "ERROR: disk full"
    view.set_min_level(Level.INFO)
    assert "plain info" in view.shown_text()


def test_lines_wrap_unless_turned_off(qtbot: Any) -> None:
    view = make(qtbot)
    assert view.wrap and view.text.lineWrapMode() == QPlainTextEdit.LineWrapMode.WidgetWidth
    view.wrap_button.click()
    assert view.text.lineWrapMode() == QPlainTextEdit.LineWrapMode.NoWrap


def test_follow_reaches_the_end_of_wrapped_lines(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines("word " * 200 for _ in range(50))
    view.flush()
    bar = view.text.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()


def test_ctrl_f_finds_and_f3_moves_between_matches(qtbot: Any) -> None:
    view = make(qtbot)
    view.append_lines(["alpha one", "beta", "alpha two"])
    view.flush()
    view.text.setFocus()
    view.search.setText("old")
    assert view.find_shortcut.key().matches(QKeySequence(QKeySequence.StandardKey.Find))
    view.find_shortcut.activated.emit()  # what Ctrl+F anywhere in the window does
    assert view.focusWidget() is view.search and view.search.selectedText() == "old"
    view.search.setText("alpha")
    QTest.keyClick(view.search, Qt.Key.Key_Return)
    assert view.text.textCursor().block().text() == "alpha one"
    view.find_next()
    assert view.text.textCursor().block().text() == "alpha two"
    view.find_previous()
    assert view.text.textCursor().block().text() == "alpha one"
    shortcuts = {s.key().toString() for s in view.findChildren(QShortcut)}
    assert {"Ctrl+F", "F3", "Shift+F3", "Shift+Return"} <= shortcuts


def test_a_million_lines_in_batches_stay_bounded(qtbot: Any) -> None:
    # (Its speed is measured in bench/bench_firehose.py, not timed here.)
    view = make(qtbot, max_lines=5000)
    for batch in range(100):
        view.append_lines(
            f"\r 50%|#####     | {batch}/100 [00:01<00:01, 4.00it/s]"
            f'LGUI_METRIC {{"step": {batch * 10_000 + i}, "loss": 1.5}}'
            for i in range(10_000)
        )
    assert view.pending_count == 5000  # the queue keeps only what the view could hold
    view.flush()
    assert view.line_count == 5000 and len(view.rows()) == 5000
    assert view.shown_text().splitlines()[-1] == "step 999999 · loss 1.5"


def test_lines_read_off_the_gui_thread_show_as_read(qtbot: Any) -> None:
    lines = [f"plain {i}" for i in range(50)] + TRAINING_LINES
    read = LogReader(keep=len(TRAINING_LINES)).read(lines)
    view = make(qtbot)
    view.append_lines(lines, tuple(read.shown))
    view.flush()
    # The lines before the shown ones are counted, not read; the rest reads as the view's own.
    assert view.received_count == len(lines) and view.dropped_count == 50
    alone = make(qtbot)
    alone.append_lines(TRAINING_LINES)
    alone.flush()
    assert view.shown_text() == alone.shown_text()
    view.raw_button.click()
    alone.raw_button.click()
    assert view.shown_text() == alone.shown_text()
