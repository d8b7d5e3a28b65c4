"""A live log: bounded, appended in batches, with find, follow and copy."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

MAX_LINES = 20_000
FLUSH_HZ = 10.0
NOT_FOUND_STYLE = "QLineEdit { background: #ffd7d5; }"


class LogView(QWidget):
    """Lines arrive through append_lines() and reach the text view at most FLUSH_HZ times a second.

    The text keeps the last `max_lines` lines (QPlainTextEdit's maximum block count), so memory
    stays bounded however long a job runs. With follow on, the view sticks to the newest line;
    scrolling up turns follow off, scrolling to the bottom turns it back on.
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
        self._pending: deque[str] = deque(maxlen=max_lines)

        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setUndoRedoEnabled(False)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Find in log")
        self.search.setClearButtonEnabled(True)
        self.prev_button = QToolButton(self)
        self.prev_button.setText("Previous")
        self.next_button = QToolButton(self)
        self.next_button.setText("Next")
        self.follow_button = QToolButton(self)
        self.follow_button.setText("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("Keep the newest line in view")
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the selection, or the whole log when nothing is selected")

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.search, 1)
        for button in (self.prev_button, self.next_button, self.follow_button, self.copy_button):
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)

        self.search.returnPressed.connect(self.find_next)
        self.search.textChanged.connect(lambda _text: self.search.setStyleSheet(""))
        self.next_button.clicked.connect(self.find_next)
        self.prev_button.clicked.connect(self.find_previous)
        self.follow_button.toggled.connect(self._on_follow_toggled)
        self.copy_button.clicked.connect(self.copy)
        self.text.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, round(1000.0 / flush_hz)))
        self._timer.timeout.connect(self.flush)

    # lines in

    def append_lines(self, lines: Iterable[str]) -> None:
        """Queue lines; they are shown together on the next flush (at most FLUSH_HZ per second)."""
        for line in lines:
            # tqdm redraws a progress line with carriage returns: show its latest state.
            self._pending.append(line.rsplit("\r", 1)[-1] if "\r" in line else line)
        if self._pending and not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Show every queued line now, in one insertion."""
        self._timer.stop()
        if not self._pending:
            return
        block = "\n".join(self._pending)
        self._pending.clear()
        bar = self.text.verticalScrollBar()
        kept = bar.value()
        self.text.appendPlainText(block)
        bar.setValue(bar.maximum() if self.follow else kept)
        self.flush_count += 1

    def clear(self) -> None:
        """Drop every line, shown or queued."""
        self._pending.clear()
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
        """Everything shown."""
        return self.text.toPlainText()

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

    def _on_user_scroll(self, _action: int) -> None:
        bar = self.text.verticalScrollBar()
        # actionTriggered fires before the move; sliderPosition() is where it is going.
        at_bottom = bar.sliderPosition() >= bar.maximum()
        if at_bottom != self.follow:
            self.follow_button.setChecked(at_bottom)

    # find

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
        """Copy the selection, or the whole log when nothing is selected; returns what was copied."""
        copied = self.selected_text() or self.plain_text()
        QGuiApplication.clipboard().setText(copied)
        return copied
