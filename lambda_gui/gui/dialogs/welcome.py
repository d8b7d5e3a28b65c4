"""First start: enter a Lambda Cloud API key (saved in the OS keyring), or try the demo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.gui.async_slots import reported_slot
from lambda_gui.gui.error_report import ErrorReporter, describe_error
from lambda_gui.gui.style import ERROR_STYLE, WARNING_STYLE, apply_accessible_palette
from lambda_gui.services.credentials import CredentialStore, KeyringInfo

ConnectWith = Callable[[str], Awaitable[None]]

API_KEYS_URL = "https://cloud.lambda.ai/api-keys/cloud-api"
INTRO = (
    "<h2>Welcome to Lambda GUI</h2>"
    "<p>Fine-tune language models with LoRA on Lambda Cloud GPUs: pick a model and a dataset, "
    "see what it will cost, launch, and watch it train. The app terminates the instance when "
    "the job ends, so nothing is left billing.</p>"
    "<p>To start, enter your Lambda Cloud API key (create one in the "
    f'<a href="{API_KEYS_URL}">Lambda Cloud dashboard, under <i>API keys</i></a>). '
    "Or try the demo first: a simulated cloud on this computer that fine-tunes a tiny model "
    "on its CPU, for free.</p>"
)


class WelcomeDialog(QDialog):
    """`choice` is "connect" (connected with the key entered) or "demo" after it closes."""

    def __init__(
        self,
        credentials: CredentialStore,
        connect_with: ConnectWith,
        reporter: ErrorReporter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        apply_accessible_palette()  # this dialog can come before the main window
        self.credentials = credentials
        self.connect_with = connect_with
        self.reporter = reporter
        self.choice: str | None = None
        self.saved: bool | None = None
        # Whether the user was told the key would be saved (prepare), and the key that
        # connected when saving it then failed (the next click goes on without saving).
        self._promised_saving = False
        self._connected_key = ""
        self.setWindowTitle("Welcome to Lambda GUI")
        self.setMinimumWidth(560)

        intro = QLabel(INTRO, self)
        intro.setWordWrap(True)
        intro.setOpenExternalLinks(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.intro = intro
        self.key_edit = QLineEdit(self)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("secret_…")
        self.show_key = QCheckBox("Show", self)
        self.keyring_label = QLabel("Keyring: checking…", self)
        self.keyring_label.setWordWrap(True)
        self.keyring_warning = QLabel(self)
        self.keyring_warning.setWordWrap(True)
        self.keyring_warning.setStyleSheet(WARNING_STYLE)
        self.keyring_warning.hide()
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.connect_button = QPushButton("&Connect", self)
        self.connect_button.setDefault(True)
        self.connect_button.setEnabled(False)
        self.demo_button = QPushButton("Try the &demo", self)
        self.demo_button.setAutoDefault(False)
        self.quit_button = QPushButton("&Quit", self)
        self.quit_button.setAutoDefault(False)

        key_row = QHBoxLayout()
        key_label = QLabel("&API key:", self)
        key_label.setBuddy(self.key_edit)
        key_row.addWidget(key_label)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key)
        buttons = QHBoxLayout()
        buttons.addWidget(self.quit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(key_row)
        layout.addWidget(self.keyring_label)
        layout.addWidget(self.keyring_warning)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

        self.key_edit.textChanged.connect(
            lambda text: self.connect_button.setEnabled(bool(text.strip()))
        )
        self.show_key.toggled.connect(
            lambda on: self.key_edit.setEchoMode(
                QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
            )
        )
        self.connect_button.clicked.connect(self.try_connect)
        self.demo_button.clicked.connect(self._choose_demo)
        self.quit_button.clicked.connect(self.reject)

    async def prepare(self) -> KeyringInfo:
        """Find out which keyring is in use (in an executor) and say so."""
        info = await self.credentials.info()
        self.show_keyring(info)
        self._promised_saving = info.can_store
        return info

    def show_keyring(self, info: KeyringInfo) -> None:
        """Say where the key will be kept, once: the keyring's name when it is safe, or the
        warning alone when it is not (the backend's name then goes in its tooltip)."""
        if info.warning:
            self.keyring_label.hide()
            self.keyring_warning.setText(info.warning)
            self.keyring_warning.setToolTip(f"Keyring backend: {info.name}")
            self.keyring_warning.show()
            return
        self.keyring_label.setText(f"The key is saved in your keyring: {info.name}.")
        self.keyring_label.show()
        self.keyring_warning.hide()

    @reported_slot("Could not connect")
    async def try_connect(self) -> None:
        """Check the key with Lambda; save it and close on success, say why not otherwise."""
        key = self.key_edit.text().strip()
        if not key:
            return
        if key == self._connected_key:  # connected, and told the key could not be saved
            self.choice = "connect"
            self.accept()
            return
        self.error_label.hide()
        self._busy(True, "Connecting to Lambda Cloud…")
        try:
            await self.connect_with(key)
        except Exception as exc:
            self._busy(False)
            self.error_label.setText(describe_error(exc).full())
            self.error_label.show()
            return
        self.saved = await self.credentials.save_api_key(key)
        self._busy(False)
        if not self.saved and self._promised_saving:
            # The keyring said it would keep the key and did not: say so before going on.
            self._connected_key = key
            self._promised_saving = False
            problem = self.credentials.problem
            self.keyring_label.hide()
            self.keyring_warning.setText(
                "The key was NOT saved in your keyring: "
                + (str(problem) if problem is not None else "the keyring did not keep the key.")
                + " You will be asked for it at the next start."
            )
            self.keyring_warning.show()
            self.connect_button.setText("Continue for this session")
            return
        self.choice = "connect"
        self.accept()

    def _choose_demo(self) -> None:
        self.choice = "demo"
        self.accept()

    def _busy(self, on: bool, text: str = "") -> None:
        for widget in (self.connect_button, self.demo_button, self.key_edit):
            widget.setEnabled(not on)
        if on:
            self.error_label.setStyleSheet("")
            self.error_label.setText(text)
            self.error_label.show()
        else:
            self.error_label.setStyleSheet(ERROR_STYLE)
            self.error_label.hide()
            self.connect_button.setEnabled(bool(self.key_edit.text().strip()))
