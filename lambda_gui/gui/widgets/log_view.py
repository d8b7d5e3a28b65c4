"""A live log: readable or raw, filtered by level, bounded, appended in batches, with find."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QFontDatabase,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.log_reader import SHOWN_LINES, ShownLine
from lambda_gui.core.log_rows import Level, LogRow, LogRowBuilder

MAX_LINES = SHOWN_LINES
FLUSH_HZ = 10.0
# A timed flush reads queued lines for this long at most, then lets the window run for
# FLUSH_PAUSE_MS before it goes on: a flood of lines never freezes the window, and never takes
# more than about a third of its time (the queue keeps the newest max_lines meanwhile).
FLUSH_SLICE_S = 0.008
FLUSH_PAUSE_MS = 16
# A timed flush appends this many rows at most: appending costs the text view per row, ~7 us
# once it is full (as many old rows go), so 500 rows take ~4 ms of the slice's time.
FLUSH_SLICE_ROWS = 500
NOT_FOUND_STYLE = "QLineEdit { background: #ffd7d5; color: #1f2328; }"
LEVEL_CHOICES: tuple[tuple[str, Level], ...] = (
    ("All lines", Level.INFO),
    ("Warnings and errors", Level.WARNING),
    ("Errors only", Level.ERROR),
)


class LogView(QWidget):
    """Lines arrive through append_lines() and reach the text view at most FLUSH_HZ times a second.

    The view shows the log as a person reads it (core/log_rows.py: one row per logging step,
    phases in words, no progress bars) or, with "Raw output" on, the lines as the job wrote them
    (each at its latest carriage-return state). Both keep the last `max_lines` lines, so memory
    stays bounded however long a job runs: lines queued between two flushes are bounded too, and
    only what survives the queue is parsed. With follow on, the view sticks to the newest line;
    scrolling up turns follow off, scrolling to the bottom turns it back on. Ctrl+F finds,
    F3 / Shift+F3 (or Enter / Shift+Enter in the find box) go to the next / previous match.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        max_lines: int = MAX_LINES,
        flush_hz: float = FLUSH_HZ,
    ) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self.flush_count = 0
        self.received_count = 0  # lines handed to append_lines, ever
        self.dropped_count = 0  # of those, dropped from a full queue before they were read
        # Raw lines, or lines read off the GUI thread already (core/log_reader.py).
        self._pending: deque[str | ShownLine] = deque(maxlen=max_lines)
        self._raw: deque[tuple[str, Level]] = deque(maxlen=max_lines)
        self._rows: deque[LogRow] = deque(maxlen=max_lines)
        self._builder = LogRowBuilder()

        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setUndoRedoEnabled(False)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.level_combo = QComboBox(self)
        for label, level in LEVEL_CHOICES:
            self.level_combo.addItem(label, int(level))
        self.level_combo.setToolTip("Which lines to show, by level")
        level_label = QLabel("&Show:", self)
        level_label.setBuddy(self.level_combo)
        self.raw_button = QToolButton(self)
        self.raw_button.setText("Raw output")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip(
            "Show the lines as the job wrote them: progress bars and protocol lines included"
        )
        self.wrap_button = QToolButton(self)
        self.wrap_button.setText("Wrap")
        self.wrap_button.setCheckable(True)
        self.wrap_button.setChecked(True)
        self.wrap_button.setToolTip("Wrap long lines at the view's width")
        self.follow_button = QToolButton(self)
        self.follow_button.setText("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("Keep the newest line in view")
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip(
            "Copy the selection, or every line shown when nothing is selected"
        )

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Find in log (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.prev_button = QToolButton(self)
        self.prev_button.setText("Previous")
        self.prev_button.setToolTip("Previous match (Shift+F3, Shift+Enter)")
        self.next_button = QToolButton(self)
        self.next_button.setText("Next")
        self.next_button.setToolTip("Next match (F3, Enter)")

        view_bar = QHBoxLayout()
        view_bar.setContentsMargins(0, 0, 0, 0)
        view_bar.addWidget(level_label)
        view_bar.addWidget(self.level_combo)
        for button in (self.raw_button, self.wrap_button):
            view_bar.addWidget(button)
        view_bar.addStretch(1)
        for button in (self.follow_button, self.copy_button):
            view_bar.addWidget(button)
        find_bar = QHBoxLayout()
        find_bar.setContentsMargins(0, 0, 0, 0)
        find_bar.addWidget(self.search, 1)
        find_bar.addWidget(self.prev_button)
        find_bar.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(view_bar)
        layout.addLayout(find_bar)
        layout.addWidget(self.text, 1)

        self.search.returnPressed.connect(self.find_next)
        self.search.textChanged.connect(lambda _text: self.search.setStyleSheet(""))
        self.next_button.clicked.connect(self.find_next)
        self.prev_button.clicked.connect(self.find_previous)
        self.follow_button.toggled.connect(self._on_follow_toggled)
        self.copy_button.clicked.connect(self.copy)
        self.raw_button.toggled.connect(lambda _on: self._rebuild())
        self.wrap_button.toggled.connect(self._on_wrap_toggled)
        self.level_combo.currentIndexChanged.connect(lambda _index: self._rebuild())
        self.text.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)
        # Wrapped lines are laid out after they are appended: stay at the end as they grow.
        self.text.verticalScrollBar().rangeChanged.connect(self._on_range_changed)

        window = Qt.ShortcutContext.WindowShortcut
        self.find_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        self.find_shortcut.setContext(window)
        self.find_shortcut.activated.connect(self.start_find)
        for keys, slot in (
            (QKeySequence(QKeySequence.StandardKey.FindNext), self.find_next),
            (QKeySequence(QKeySequence.StandardKey.FindPrevious), self.find_previous),
        ):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(window)
            shortcut.activated.connect(slot)
        for key in ("Shift+Return", "Shift+Enter"):
            back = QShortcut(QKeySequence(key), self.search)
            back.setContext(Qt.ShortcutContext.WidgetShortcut)
            back.activated.connect(self.find_previous)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, round(1000.0 / flush_hz)))
        self._timer.timeout.connect(self._flush_slice)
        self._more = QTimer(self)
        self._more.setSingleShot(True)
        self._more.setInterval(FLUSH_PAUSE_MS)
        self._more.timeout.connect(self._flush_slice)

    # lines in

    def append_lines(
        self, lines: Iterable[str], shown: tuple[ShownLine, ...] | None = None
    ) -> None:
        """Queue lines; they are shown together on the next flush (at most FLUSH_HZ per second).

        `shown`, when given, is what the view shows of the last len(shown) lines, read off
        the GUI thread already; the lines before those are counted, not read (the view would
        not keep them: they are older than its newest max_lines)."""
        # A Sequence is taken as it is: a flood's SpanLines is counted, never read, when its
        # view data comes with it.
        batch = lines if isinstance(lines, Sequence) else list(lines)
        items: Sequence[str | ShownLine] = batch
        if shown is not None:
            items = shown[len(shown) - len(batch) :] if len(shown) > len(batch) else shown
            self.dropped_count += len(batch) - len(items)
        pending = self._pending
        # The queue keeps the newest max_lines: the oldest beyond that are never read.
        overflow = len(pending) + len(items) - self.max_lines
        if overflow > 0:
            self.dropped_count += overflow
        self.received_count += len(batch)
        pending.extend(items)
        if pending and not self._timer.isActive() and not self._more.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Read every queued line and show what the current view and filter keep, in one go."""
        self._timer.stop()
        self._more.stop()
        self._read(None)

    def _flush_slice(self) -> None:
        """The timers' flush: reads for FLUSH_SLICE_S at most and goes on right after."""
        self._read(time.perf_counter() + FLUSH_SLICE_S)
        if self._pending:
            self._more.start()

    def _read(self, deadline: float | None) -> None:
        if not self._pending:
            return
        raw = self.raw
        least = self.min_level
        shown: list[str] = []
        feed = self._builder.feed
        pending = self._pending
        keep_raw = self._raw.append
        keep_rows = self._rows.extend
        clock = time.perf_counter
        count = 0
        while pending:
            line = pending.popleft()
            if isinstance(line, ShownLine):
                latest, level, rows = line.text, line.level, line.rows
            else:
                fed = feed(line)
                level, rows = fed.level, fed.rows
                # tqdm redraws a progress line with carriage returns: keep its latest state.
                latest = line.rsplit("\r", 1)[-1] if "\r" in line else line
            keep_raw((latest, level))
            if rows:
                keep_rows(rows)
            if raw:
                if level >= least:
                    shown.append(latest)
            else:
                shown.extend(row.text for row in rows if row.level >= least)
            count += 1
            if (
                deadline is not None
                and not count & 63
                and (clock() >= deadline or len(shown) >= FLUSH_SLICE_ROWS)
            ):
                break
        if shown:
            if len(shown) > self.max_lines:
                shown = shown[-self.max_lines :]  # the document keeps no more anyway
            bar = self.text.verticalScrollBar()
            kept = bar.value()
            self.text.appendPlainText("\n".join(shown))
            bar.setValue(bar.maximum() if self.follow else kept)
        if not pending:
            self.flush_count += 1  # a flush is done once the queue is read to its end

    def clear(self) -> None:
        """Drop every line, shown or queued, and start reading a new log."""
        self._pending.clear()
        self._more.stop()
        self._raw.clear()
        self._rows.clear()
        self._builder = LogRowBuilder()
        self.text.clear()

    @property
    def pending_count(self) -> int:
        """Lines queued for the next flush."""
        return len(self._pending)

    @property
    def line_count(self) -> int:
        """Lines shown (an empty view shows none)."""
        document = self.text.document()
        return 0 if document.isEmpty() else document.blockCount()

    def plain_text(self) -> str:
        """The raw log held (each line at its latest carriage-return state), whatever is shown."""
        return "\n".join(text for text, _level in self._raw)

    def shown_text(self) -> str:
        """What the view shows now."""
        return self.text.toPlainText()

    def rows(self) -> list[LogRow]:
        """The readable rows held, with their levels."""
        return list(self._rows)

    # what is shown

    @property
    def raw(self) -> bool:
        """True while the raw output is shown instead of the readable rows."""
        return self.raw_button.isChecked()

    def set_raw(self, on: bool) -> None:
        """Show the raw output (True) or the readable rows (False)."""
        self.raw_button.setChecked(on)

    @property
    def min_level(self) -> Level:
        """The least level shown."""
        return Level(self.level_combo.currentData())

    def set_min_level(self, level: Level) -> None:
        """Show only lines at `level` or above."""
        self.level_combo.setCurrentIndex(self.level_combo.findData(int(level)))

    @property
    def wrap(self) -> bool:
        """True while long lines wrap at the view's width."""
        return self.wrap_button.isChecked()

    def set_wrap(self, on: bool) -> None:
        """Wrap long lines (True) or scroll sideways (False)."""
        self.wrap_button.setChecked(on)

    def _on_wrap_toggled(self, on: bool) -> None:
        mode = QPlainTextEdit.LineWrapMode
        self.text.setLineWrapMode(mode.WidgetWidth if on else mode.NoWrap)

    def _rebuild(self) -> None:
        self.flush()
        least = self.min_level
        if self.raw:
            lines = [text for text, level in self._raw if level >= least]
        else:
            lines = [row.text for row in self._rows if row.level >= least]
        self.text.setPlainText("\n".join(lines))
        if self.follow:
            bar = self.text.verticalScrollBar()
            bar.setValue(bar.maximum())

    # follow

    @property
    def follow(self) -> bool:
        """True while the view sticks to the newest line."""
        return self.follow_button.isChecked()

    def set_follow(self, on: bool) -> None:
        """Turn following the newest line on or off."""
        self.follow_button.setChecked(on)

    def _on_follow_toggled(self, on: bool) -> None:
        if on:
            bar = self.text.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self.follow:
            self.text.verticalScrollBar().setValue(high)

    def _on_user_scroll(self, _action: int) -> None:
        bar = self.text.verticalScrollBar()
        # actionTriggered fires before the move; sliderPosition() is where it is going.
        at_bottom = bar.sliderPosition() >= bar.maximum()
        if at_bottom != self.follow:
            self.follow_button.setChecked(at_bottom)

    # find

    def start_find(self) -> None:
        """Put the cursor in the find box with its text selected (Ctrl+F)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def find_next(self) -> bool:
        """Select the next match of the search text, wrapping at the end."""
        return self.find_text(self.search.text(), backward=False)

    def find_previous(self) -> bool:
        """Select the previous match of the search text, wrapping at the start."""
        return self.find_text(self.search.text(), backward=True)

    def find_text(self, text: str, *, backward: bool = False) -> bool:
        """Select the next (or previous) match of `text`; a match stops following."""
        if not text:
            return False
        self.flush()
        flags = QTextDocument.FindFlag.FindBackward if backward else QTextDocument.FindFlag(0)
        found = self.text.find(text, flags)
        if not found:
            cursor = self.text.textCursor()
            cursor.movePosition(
                QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start
            )
            self.text.setTextCursor(cursor)
            found = self.text.find(text, flags)
        self.search.setStyleSheet("" if found else NOT_FOUND_STYLE)
        if found:
            self.set_follow(False)
            self.text.ensureCursorVisible()
        return found

    def selected_text(self) -> str:
        """The current selection as plain text (line breaks as newlines)."""
        return self.text.textCursor().selectedText().replace("\u2029", "\n")

    # copy

    def copy(self) -> str:
        """Copy the selection, or every line shown when nothing is selected; returns it."""
        copied = self.selected_text() or self.shown_text()
        QGuiApplication.clipboard().setText(copied)
        return copied
