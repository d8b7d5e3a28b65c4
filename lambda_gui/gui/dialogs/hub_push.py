"""Push to Hub: a completed job's adapter, with its model card and loss curve, uploaded to the
Hugging Face Hub under a repo id the user writes (namespace/name), private by default.

The token is the keyring's HF_TOKEN. When none is saved the dialog asks for one in a masked
field; it goes to the keyring before the push and is cleared from the field, and it never
appears in a label, a tooltip or a message (the connector's errors blank it as well).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.errors import LambdaGUIError
from lambda_gui.gui.async_slots import reported_slot
from lambda_gui.gui.error_report import ErrorReporter, describe_error
from lambda_gui.gui.style import ERROR_STYLE
from lambda_gui.gui.wizard.tracker_editor import SecretField
from lambda_gui.services.hub_push import TOKEN_NAME, HubAuthError, HubRepoIdError, check_repo_id
from lambda_gui.services.ports import HubPusher
from lambda_gui.services.store import JobRecord

# What a job that merged its adapter brought back into its folder (after_training.py).
MERGED_FILE = "merged.tar"
RULE_TEXT = (
    "Write it as namespace/name: your Hub user name (or an organization you belong to), a "
    "slash, then the repo's name. Letters, digits, '-', '_' and '.'."
)
TOKEN_HINT = (
    "No Hugging Face token is saved. Paste a write token (huggingface.co/settings/tokens): it "
    "is kept in your system keyring as HF_TOKEN for the next push."
)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 96


def default_repo_name(project_name: str, job_id: str) -> str:
    """The repo name offered for a job, "<project>-<job id>", in characters the Hub accepts."""
    slug = _NOT_NAME.sub("-", project_name.strip())
    slug = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", slug)).strip("-.")
    slug = slug[: _MAX_NAME - len(job_id) - 1].rstrip("-.")
    return f"{slug}-{job_id}" if slug else job_id


def repo_id_problem(text: str) -> str | None:
    """Why `text` is not a repo id the Hub accepts; None when it is."""
    try:
        check_repo_id(text)
    except HubRepoIdError as exc:
        return exc.message
    return None


class HubPushDialog(QDialog):
    """Repo id, Private, what is pushed, the token when the keyring has none; Push shows a
    busy bar, then the repo's URL as a link or the Hub's refusal in words."""

    def __init__(
        self,
        pusher: HubPusher,
        record: JobRecord,
        reporter: ErrorReporter,
        *,
        token_saved: bool,
        merged: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.pusher = pusher
        self.record = record
        self.reporter = reporter
        self.token_saved = token_saved
        self.busy = False
        self.url: str | None = None
        name = f"{record.config.project_name} ({record.id})"
        self.setWindowTitle("Push to the Hugging Face Hub")
        self.setMinimumWidth(520)

        intro = QLabel(
            f"Upload the adapter of job {name} to a model repo on the Hugging Face Hub "
            "(created if it does not exist).",
            self,
        )
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        self.repo_edit = QLineEdit(default_repo_name(record.config.project_name, record.id), self)
        self.repo_edit.setObjectName("repo_id")
        self.repo_edit.setPlaceholderText("namespace/name")
        self.repo_hint = QLabel(self)
        self.repo_hint.setObjectName("repo_hint")
        self.repo_hint.setWordWrap(True)
        self.private_check = QCheckBox("Private: only you (or the organization) can see it", self)
        self.private_check.setChecked(True)
        what = (
            "The adapter (LoRA weights and config), with a model card (README.md) and the "
            "loss curve."
        )
        if merged is not None:
            what += (
                f"\nThe merged model is in the job folder as {MERGED_FILE} ({merged.parent}); "
                "upload it from there."
            )
        self.what_label = QLabel(what, self)
        self.what_label.setTextFormat(Qt.TextFormat.PlainText)
        self.what_label.setWordWrap(True)
        self.what_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.token_field = SecretField(TOKEN_NAME, self)
        self.token_field.edit.setPlaceholderText("hf_… (a token with write access)")
        self.token_hint = QLabel(TOKEN_HINT, self)
        self.token_hint.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Repo id:", self.repo_edit)
        form.addRow("", self.repo_hint)
        form.addRow("Visibility:", self.private_check)
        form.addRow("What:", self.what_label)
        form.addRow("Token:", self.token_field)
        form.addRow("", self.token_hint)
        self.form = form
        self._ask_token(not token_saved)

        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)
        self.bar.hide()
        self.result_label = QLabel(self)
        self.result_label.setObjectName("push_result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.result_label.setOpenExternalLinks(False)
        self.result_label.linkActivated.connect(self.open_link)

        buttons = QDialogButtonBox(self)
        self.push_button = QPushButton("Push", self)
        self.push_button.setObjectName("push")
        self.push_button.setDefault(True)
        self.close_button = QPushButton("Close", self)
        self.close_button.setObjectName("close")
        buttons.addButton(self.push_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.push_button.clicked.connect(self.push)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.result_label)
        layout.addWidget(buttons)

        self.repo_edit.textChanged.connect(self._validate)
        self.token_field.changed.connect(self._validate)
        self._validate()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802  (Qt's name)
        """The repo id has the focus, its cursor in front, where the namespace goes."""
        super().showEvent(event)
        self.repo_edit.setFocus()
        # After the window's activation, which selects the whole field.
        QTimer.singleShot(0, self._cursor_in_front)

    def _cursor_in_front(self) -> None:
        self.repo_edit.deselect()
        self.repo_edit.setCursorPosition(0)

    @property
    def token_shown(self) -> bool:
        """True when the dialog asks for a token (the keyring has none, or the Hub refused
        the saved one)."""
        return self.token_field.isVisibleTo(self)

    def _ask_token(self, asked: bool) -> None:
        for widget in (self.token_field, self.token_hint):
            self.form.setRowVisible(widget, asked)
        if asked and self.token_saved:
            self.token_field.set_saved(True)
            self.token_hint.setText(
                "The Hub refused the saved token. Paste another write token to replace it in "
                "the keyring, or push again with the saved one."
            )

    def _validate(self) -> None:
        text = self.repo_edit.text()
        problem = repo_id_problem(text)
        # No namespace yet (as offered): the rule, not an error.
        wrong = problem is not None and "/" in text
        self.repo_hint.setText(problem if wrong and problem else RULE_TEXT)
        self.repo_hint.setStyleSheet(ERROR_STYLE if wrong else "")
        has_token = self.token_saved or bool(self.token_field.edit.text().strip())
        self.push_button.setEnabled(problem is None and has_token and not self.busy)
        if problem is None and not has_token:
            self.push_button.setToolTip("Paste a Hugging Face write token first.")
        elif problem is not None:
            self.push_button.setToolTip("Write the repo id as namespace/name first.")
        else:
            self.push_button.setToolTip("Upload the adapter, its model card and loss curve")

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for widget in (self.repo_edit, self.private_check, self.token_field):
            widget.setEnabled(not busy)
        self.bar.setVisible(busy)
        self._validate()

    @reported_slot("Could not push to the Hub")
    async def push(self) -> None:
        """Save a typed token to the keyring, then push; the URL or the refusal below."""
        if self.busy or not self.push_button.isEnabled():
            return
        repo_id = self.repo_edit.text().strip()
        self.url = None
        self._set_busy(True)
        note = ""
        try:
            typed = self.token_field.edit.text().strip()
            if typed:
                kept = await self.pusher.secrets.save_secret(TOKEN_NAME, typed)
                self.token_field.edit.clear()
                self.token_saved = True
                self._ask_token(False)
                if not kept:
                    note = (
                        " The token is kept for this session only: this computer has no "
                        "keyring to save it in."
                    )
            self.result_label.setStyleSheet("")
            self.result_label.setText(f"Pushing to {html.escape(repo_id)}…")
            url = await self.pusher.push_to_hub(
                self.record.id, repo_id, private=self.private_check.isChecked(), what="adapter"
            )
        except (LambdaGUIError, ValueError) as exc:
            text = describe_error(exc)
            self.result_label.setStyleSheet(ERROR_STYLE)
            self.result_label.setText(html.escape(text.full() + note))
            if isinstance(exc, HubAuthError):
                self._ask_token(True)
            return
        finally:
            self._set_busy(False)
        self.url = url
        link = html.escape(url, quote=True)
        self.result_label.setStyleSheet("")
        self.result_label.setText(
            f'Pushed to <a href="{link}">{html.escape(url)}</a>.{html.escape(note)}'
        )

    def open_link(self, url: str) -> bool:
        """Open the pushed repo's page in the browser."""
        return QDesktopServices.openUrl(QUrl(url))
