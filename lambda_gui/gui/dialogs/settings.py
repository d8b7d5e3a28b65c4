"""Settings: API key, SSH key (a file, or one Lambda generates), the Hugging Face and W&B
tokens training jobs use, default region, what happens to the instance when a job ends,
orphaned instances, and a dollar cap over all running jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.errors import NotConnectedError
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter, describe_error
from lambda_gui.gui.style import ERROR_STYLE, WARNING_STYLE
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.ports import SettingsSource

ORPHANS_CAVEAT = (
    "An orphan is an instance named lambda-gui-* that no job of this app owns (left by a "
    "crash, or launched by hand). Caution: lambda-gui on another computer using the same "
    "Lambda account names its instances the same way, so its running jobs would be "
    "terminated too."
)
Reconnect = Callable[[], Awaitable[None]]
# (variable name, label, placeholder): secrets saved in the keyring under their variable name,
# where a job's tracker settings find them (services/tracker_secrets.py).
JOB_SECRETS: tuple[tuple[str, str, str], ...] = (
    ("HF_TOKEN", "&Hugging Face token", "hf_… (gated models and datasets, pushing to the Hub)"),
    ("WANDB_API_KEY", "&W&&B API key", "Weights & Biases key (the wandb tracker)"),
)
DEMO_NOTE = (
    "<b>Demo mode.</b> The simulated cloud has its own API key and SSH key, so the "
    "<i>Lambda Cloud</i> and <i>SSH key</i> settings do not apply here (they are shown "
    "greyed). Everything else applies to demo jobs too."
)
NOT_CONNECTED_NOTE = (
    "Not connected: the region, end-of-job and money-safety settings can be changed once connected."
)


class SettingsDialog(QDialog):
    """Reads the current settings in `prepare()`, writes them on Save (then reconnects if the
    API key or SSH key changed)."""

    def __init__(
        self,
        connector: SettingsSource,
        credentials: CredentialStore,
        reconnect: Reconnect,
        reporter: ErrorReporter,
        *,
        regions: Sequence[str] = (),
        demo: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.credentials = credentials
        self.reconnect = reconnect
        self.reporter = reporter
        self.demo = demo
        self.saved = False
        self._loaded_key_path: str | None = None
        self.setWindowTitle("Settings")
        self.setMinimumWidth(600)

        # Lambda Cloud
        self.key_edit = QLineEdit(self)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("Leave empty to keep the saved key")
        self.keyring_label = QLabel(self)
        self.keyring_label.setWordWrap(True)
        self.keyring_warning = QLabel(self)
        self.keyring_warning.setWordWrap(True)
        self.keyring_warning.setStyleSheet(WARNING_STYLE)
        self.keyring_warning.hide()
        cloud = QGroupBox("Lambda Cloud", self)
        # Wrapped labels go in a box layout: a form layout's spanning rows get no height
        # for their width and clip the text.
        cloud_layout = QVBoxLayout(cloud)
        cloud_form = QFormLayout()
        cloud_form.addRow("&API key", self.key_edit)
        cloud_layout.addLayout(cloud_form)
        cloud_layout.addWidget(self.keyring_label)
        cloud_layout.addWidget(self.keyring_warning)

        # SSH key
        self.generate_radio = QRadioButton(
            "Let Lambda generate a key (the app keeps the private key in its data folder)", self
        )
        self.file_radio = QRadioButton("Use my key file:", self)
        self.key_path = QLineEdit(self)
        self.key_path.setPlaceholderText("~/.ssh/id_ed25519")
        self.browse_button = QPushButton("Choose…", self)
        self.ssh_group = QButtonGroup(self)
        self.ssh_group.addButton(self.generate_radio)
        self.ssh_group.addButton(self.file_radio)
        self.generate_radio.setChecked(True)
        ssh = QGroupBox("SSH key the app logs in to instances with", self)
        ssh_layout = QVBoxLayout(ssh)
        ssh_layout.addWidget(self.generate_radio)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_radio)
        file_row.addWidget(self.key_path, 1)
        file_row.addWidget(self.browse_button)
        ssh_layout.addLayout(file_row)

        # Tokens for training jobs
        self.secret_edits: dict[str, QLineEdit] = {}
        self.secret_forget: dict[str, QCheckBox] = {}
        self._saved_secrets: set[str] = set()
        tokens = QGroupBox("Tokens for training jobs (kept in the keyring)", self)
        tokens_form = QFormLayout(tokens)
        for name, label, placeholder in JOB_SECRETS:
            edit = QLineEdit(self)
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(placeholder)
            edit.setObjectName(name)
            forget = QCheckBox("Remove the saved one", self)
            forget.setEnabled(False)
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(forget)
            title = QLabel(label, self)
            title.setBuddy(edit)
            tokens_form.addRow(title, row)
            self.secret_edits[name] = edit
            self.secret_forget[name] = forget
        self.tokens_status = QLabel(self)
        self.tokens_status.setWordWrap(True)
        tokens_form.addRow(self.tokens_status)
        self.tokens_group = tokens

        # Jobs
        self.region = QComboBox(self)
        self.region.addItem("Any region with capacity", "")
        for name in sorted(set(regions)):
            self.region.addItem(name, name)
        self.terminate_radio = QRadioButton(
            "Download the adapter, then terminate the instance (recommended)", self
        )
        self.keep_radio = QRadioButton(
            "Download the adapter and keep the instance running (it bills until you terminate it)",
            self,
        )
        self.end_group = QButtonGroup(self)
        self.end_group.addButton(self.terminate_radio)
        self.end_group.addButton(self.keep_radio)
        self.terminate_radio.setChecked(True)
        jobs = QGroupBox("Jobs", self)
        jobs_form = QFormLayout(jobs)
        jobs_form.addRow("Default &region", self.region)
        jobs_form.addRow(QLabel("When a job ends:", self))
        jobs_form.addRow(self.terminate_radio)
        jobs_form.addRow(self.keep_radio)

        # Money safety
        self.orphans_box = QCheckBox("Terminate orphaned instances automatically", self)
        self.orphans_box.setToolTip(ORPHANS_CAVEAT)
        self.orphans_caveat = QLabel(ORPHANS_CAVEAT, self)
        self.orphans_caveat.setWordWrap(True)
        self.orphans_caveat.setStyleSheet(WARNING_STYLE)
        self.global_cap = QLineEdit(self)
        self.global_cap.setPlaceholderText("Empty: no cap")
        self.global_cap.setMaximumWidth(160)
        self.global_cap.setToolTip(
            "When the dollars spent by all running jobs together reach this, every one of "
            "them is stopped (log and last checkpoint saved) and its instance terminated."
        )
        money = QGroupBox("Money safety", self)
        money_layout = QVBoxLayout(money)
        money_layout.addWidget(self.orphans_box)
        money_layout.addWidget(self.orphans_caveat)
        cap_row = QHBoxLayout()
        cap_row.addWidget(QLabel("Cap over all running jobs ($)", self))
        cap_row.addWidget(self.global_cap)
        cap_row.addStretch(1)
        money_layout.addLayout(cap_row)
        self.money_group = money

        # What does not apply (demo mode, not connected) is said at the top, before the fields.
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.hide()
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.save_button = QPushButton("&Save", self)
        self.save_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAutoDefault(False)
        self.browse_button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        for widget in (self.note, cloud, ssh, tokens, jobs, money, self.error_label):
            layout.addWidget(widget)
        layout.addLayout(buttons)

        self.file_radio.toggled.connect(self._update_enabled)
        self.browse_button.clicked.connect(self.choose_key_file)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)
        for name, edit in self.secret_edits.items():
            forget = self.secret_forget[name]
            edit.textChanged.connect(
                lambda text, n=name, f=forget: f.setEnabled(n in self._saved_secrets and not text)
            )
        if demo:
            for widget in (cloud, ssh):
                widget.setEnabled(False)
            self._add_note(DEMO_NOTE)
        self._update_enabled()

    def _add_note(self, text: str) -> None:
        self.note.setText(f"{self.note.text()}<br>{text}" if self.note.text() else text)
        self.note.show()

    def _update_enabled(self) -> None:
        own = self.file_radio.isChecked()
        self.key_path.setEnabled(own)
        self.browse_button.setEnabled(own)

    async def prepare(self) -> None:
        """Show the saved values (keyring and store reads run off the GUI thread)."""
        await self._read_saved()
        # Tall enough for the wrapped texts just filled in (a window does not grow by itself).
        layout = self.layout()
        if layout is not None:
            width = max(self.width(), self.minimumWidth())
            self.resize(width, max(self.height(), layout.totalHeightForWidth(width)))

    async def _read_saved(self) -> None:
        info = await self.credentials.info()
        stored = await self.credentials.api_key()
        saved = "An API key is saved." if stored else "No API key is saved."
        # The keyring's state is said once: its name when it is safe, else the warning alone.
        self.keyring_label.setText(saved if info.warning else f"Keyring: {info.name}. {saved}")
        self.keyring_warning.setText(info.warning)
        self.keyring_warning.setToolTip(f"Keyring backend: {info.name}")
        self.keyring_warning.setVisible(bool(info.warning))
        await self._read_secrets()
        path = await self.credentials.ssh_key_path()
        self._loaded_key_path = path
        if path:
            self.file_radio.setChecked(True)
            self.key_path.setText(path)
        try:
            settings = await self.connector.settings.load()
        except NotConnectedError:
            self._add_note(NOT_CONNECTED_NOTE)
            self.region.setEnabled(False)
            self.terminate_radio.setEnabled(False)
            self.keep_radio.setEnabled(False)
            self.money_group.setEnabled(False)
            return
        region = settings.default_region
        auto = settings.auto_terminate
        self.orphans_box.setChecked(settings.auto_terminate_orphans)
        cap_value = settings.global_budget_usd
        self.global_cap.setText(repr(cap_value) if cap_value else "")
        if region and self.region.findData(region) < 0:
            self.region.addItem(region, region)
        self.region.setCurrentIndex(max(0, self.region.findData(region or "")))
        (self.terminate_radio if auto else self.keep_radio).setChecked(True)

    async def _read_secrets(self) -> None:
        self._saved_secrets = set()
        for name, _label, _placeholder in JOB_SECRETS:
            if await self.credentials.secret(name):
                self._saved_secrets.add(name)
            self.secret_forget[name].setEnabled(
                name in self._saved_secrets and not self.secret_edits[name].text()
            )
        names = ", ".join(n for n, _l, _p in JOB_SECRETS if n in self._saved_secrets)
        self.tokens_status.setText(
            (f"Saved: {names}. Leave a field empty to keep the saved value. " if names else "")
            + "A job uses them when its tracker settings name them (HF_TOKEN, WANDB_API_KEY)."
        )

    @reported_slot("Could not choose the SSH key")
    async def choose_key_file(self) -> None:
        """Pick a private key file."""
        start = self.key_path.text() or str(Path.home() / ".ssh")
        chosen, _f = await run_modal(
            lambda: QFileDialog.getOpenFileName(self, "Choose your SSH private key", start)
        )
        if chosen:
            self.key_path.setText(chosen)

    @reported_slot("Could not save the settings")
    async def save(self) -> None:
        """Write every setting; reconnect when the API key or SSH key changed."""
        self.error_label.hide()
        new_key = self.key_edit.text().strip()
        key_path = self.key_path.text().strip() if self.file_radio.isChecked() else ""
        if key_path:
            found = await asyncio.to_thread(_existing_file, key_path)
            if found is None:
                self._show_error(f"{key_path} is not a file: choose your SSH private key.")
                return
            key_path = found
        cap = self.global_cap.text().strip().removeprefix("$").replace(",", "")
        if cap:
            try:
                valid = float(cap) > 0
            except ValueError:
                valid = False
            if not valid:
                self._show_error(
                    "The cap over all running jobs must be an amount in dollars above 0, "
                    "or empty for no cap."
                )
                return
        reconnect = False
        kept = True
        if not self.demo:
            if new_key:
                kept = await self.credentials.save_api_key(new_key) and kept
                reconnect = True
            if (key_path or None) != self._loaded_key_path:
                kept = await self.credentials.save_ssh_key_path(key_path or None) and kept
                reconnect = True
        for name, edit in self.secret_edits.items():
            value = edit.text().strip()
            if value:
                kept = await self.credentials.save_secret(name, value) and kept
            elif self.secret_forget[name].isChecked():
                await self.credentials.forget_secret(name)
        if self.region.isEnabled():
            await self.connector.settings.update(
                default_region=str(self.region.currentData() or ""),
                auto_terminate=self.terminate_radio.isChecked(),
            )
        if self.money_group.isEnabled():
            await self.connector.settings.update(
                auto_terminate_orphans=self.orphans_box.isChecked(),
                global_budget_usd=float(cap) if cap else None,
            )
        if reconnect:
            try:
                await self.reconnect()
            except Exception as exc:
                self._show_error("Saved, but connecting failed: " + describe_error(exc).full())
                return
        self.saved = True
        if not kept:
            # Stay open: the user must see that the keyring did not keep the key.
            problem = self.credentials.problem
            self._show_error(
                "Settings saved, but NOT in your keyring: "
                + (str(problem) if problem is not None else "the keyring did not keep it.")
                + " Close this window to go on for this session."
            )
            return
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()


def _existing_file(path: str) -> str | None:
    expanded = Path(path).expanduser()
    return str(expanded) if expanded.is_file() else None
