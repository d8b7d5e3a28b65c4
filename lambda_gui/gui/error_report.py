"""The one error path: every failure the user should know of ends here, as a status bar line
and a dialog, with Lambda's suggestion where there is one (docs/architecture.md#conventions,
rule 4)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from lambda_gui.core.errors import (
    ConfigError,
    InvalidAPIKeyError,
    LambdaGUIError,
    NotConnectedError,
)

log = logging.getLogger(__name__)

STATUS_SECONDS = 30


@dataclass(frozen=True)
class ErrorText:
    """What to tell the user: what happened, and what they can do."""

    message: str
    suggestion: str | None = None

    def full(self) -> str:
        """Message and suggestion as one paragraph."""
        return f"{self.message} {self.suggestion}" if self.suggestion else self.message


def describe_error(exc: BaseException) -> ErrorText:
    """A readable message for any exception, with a suggestion where one is known."""
    if isinstance(exc, NotConnectedError):
        return ErrorText(
            "Not connected to Lambda Cloud.",
            "Open Settings to enter your API key, or check your internet connection.",
        )
    if isinstance(exc, ConfigError):
        return ErrorText(str(exc))
    if isinstance(exc, LambdaGUIError):
        suggestion = exc.suggestion
        if suggestion is None and isinstance(exc, InvalidAPIKeyError):
            suggestion = "Open Settings and enter a valid API key (Lambda dashboard, API keys)."
        message = exc.message
        if exc.code and exc.code not in message:
            message = f"{message} (Lambda: {exc.code})"
        return ErrorText(message, suggestion)
    if isinstance(exc, ConnectionError | TimeoutError):
        text = str(exc) or "The connection failed or timed out."
        return ErrorText(text, "Check your internet connection and try again.")
    if isinstance(exc, ValueError | RuntimeError | FileNotFoundError | PermissionError):
        return ErrorText(str(exc) or type(exc).__name__)
    return ErrorText(f"Unexpected error: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Report:
    """One error shown to the user."""

    title: str
    text: ErrorText


class ErrorReporter(QObject):
    """Shows errors in the status bar and in one dialog (reused, so errors never pile up)."""

    reported = Signal(object)  # Report

    def __init__(self, window: QWidget | None = None, *, dialogs: bool = True) -> None:
        super().__init__(window)
        self._window = window
        self._status: QStatusBar | None = None
        self._dialogs = dialogs
        self._dialog: QMessageBox | None = None
        self.history: list[Report] = []

    def set_status_bar(self, bar: QStatusBar) -> None:
        """Where the one-line form of each error goes."""
        self._status = bar

    def report(self, title: str, message: str, suggestion: str | None = None) -> None:
        """Show an error."""
        self._show(Report(title, ErrorText(message, suggestion)))

    def report_exception(self, title: str, exc: BaseException) -> None:
        """Show an exception in words; unexpected ones are logged with their traceback."""
        text = describe_error(exc)
        if text.message.startswith("Unexpected error"):
            log.error("%s", title, exc_info=(type(exc), exc, exc.__traceback__))
        self._show(Report(title, text))

    @property
    def dialog(self) -> QMessageBox | None:
        """The error dialog, once one was shown."""
        return self._dialog

    def _show(self, report: Report) -> None:
        self.history.append(report)
        log.warning("%s: %s", report.title, report.text.full())
        if self._status is not None:
            self._status.showMessage(f"{report.title}: {report.text.full()}", STATUS_SECONDS * 1000)
        if self._dialogs:
            dialog = self._dialog
            if dialog is None:
                dialog = QMessageBox(self._window)
                dialog.setIcon(QMessageBox.Icon.Warning)
                dialog.setStandardButtons(QMessageBox.StandardButton.Ok)
                self._dialog = dialog
            dialog.setWindowTitle(report.title)
            dialog.setText(report.text.message)
            dialog.setInformativeText(report.text.suggestion or "")
            if not dialog.isVisible():
                dialog.open()
        self.reported.emit(report)
