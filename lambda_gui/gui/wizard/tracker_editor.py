"""The wizard's tracker settings: plain NAME=value settings, and secrets in masked fields.

Secrets (core/tracker_secrets.py: HF_TOKEN, WANDB_API_KEY, ...) are never shown: each has a
password field (a button shows it while held down, for checking a paste). Values typed here
stay in memory; launching or saving the config moves them to the OS keyring, and a saved
secret shows as "saved in the keyring" until another value is typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.tracker_secrets import KNOWN_SECRETS, is_secret_name

# Always offered: the Hub's token and W&B's key; others are added by name.
SHOWN_FIRST = KNOWN_SECRETS[:2]
SAVED_TEXT = "saved in the keyring (type to replace)"


class SecretField(QWidget):
    """A masked value with a hold-to-show button."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.name = name
        self.edit = QLineEdit(self)
        self.edit.setObjectName(f"secret_{name}")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(lambda _t: self.changed.emit())
        self.peek = QPushButton("Show", self)
        self.peek.setToolTip("Shows the value while the button is held down.")
        self.peek.pressed.connect(lambda: self.edit.setEchoMode(QLineEdit.EchoMode.Normal))
        self.peek.released.connect(lambda: self.edit.setEchoMode(QLineEdit.EchoMode.Password))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.peek)

    def set_saved(self, saved: bool) -> None:
        """Say whether a value for this name is kept in the keyring."""
        self.edit.setPlaceholderText(SAVED_TEXT if saved else "not set")


class TrackerEnvWidget(QWidget):
    """Settings as NAME=value lines plus one masked field per secret; `changed` on edits."""

    changed = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.settings = QPlainTextEdit(self)
        self.settings.setObjectName("tracker_settings")
        self.settings.setPlaceholderText(
            "Settings, one NAME=value per line, e.g. WANDB_PROJECT=my-project"
        )
        self.settings.setMaximumHeight(70)
        self.settings.textChanged.connect(self.changed.emit)
        self.secrets_form = QFormLayout()
        self.secrets_form.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, SecretField] = {}
        self.saved: set[str] = set()
        self.add_name = QComboBox(self)
        self.add_name.setEditable(True)
        self.add_name.setObjectName("add_secret_name")
        self.add_button = QPushButton("Add secret", self)
        self.add_button.clicked.connect(self._add_typed)
        adder = QHBoxLayout()
        adder.addWidget(self.add_name, 1)
        adder.addWidget(self.add_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.settings)
        column.addWidget(QLabel("Secrets (masked; kept in your system keyring):", self))
        column.addLayout(self.secrets_form)
        column.addLayout(adder)
        for name in SHOWN_FIRST:
            self.add_secret(name)

    def add_secret(self, name: str) -> SecretField:
        """The masked field for `name`, added if it is not shown yet."""
        if name not in self.fields:
            field = SecretField(name, self)
            field.changed.connect(self.changed.emit)
            field.set_saved(name in self.saved)
            self.fields[name] = field
            self.secrets_form.addRow(name, field)
            self._offer_others()
        return self.fields[name]

    def _add_typed(self) -> None:
        name = self.add_name.currentText().strip().upper()
        if name and is_secret_name(name):
            self.add_secret(name).edit.setFocus()
            self.add_name.setEditText("")
        else:
            self.add_name.setToolTip(
                "A secret's name holds KEY, TOKEN, SECRET or PASSWORD, e.g. AWS_SECRET_ACCESS_KEY;"
                " other settings go in the box above as NAME=value."
            )

    def _offer_others(self) -> None:
        self.add_name.clear()
        self.add_name.addItems([n for n in KNOWN_SECRETS if n not in self.fields])
        self.add_name.setEditText("")

    def value(self) -> dict[str, str]:
        """Settings and typed secrets; ValueError for a line that is not NAME=value, or a
        secret typed into the settings (where it would show)."""
        env = parse_env(self.settings.toPlainText())
        for name in env:
            if is_secret_name(name):
                raise ValueError(
                    f"{name} is a secret: remove it from this box and enter it in its masked "
                    "field below (Add secret), so it is never shown or saved in a file."
                )
        env.update({n: f.edit.text().strip() for n, f in self.fields.items() if f.edit.text()})
        return env

    def set_value(self, env: Mapping[str, str] | None, saved: Iterable[str] = ()) -> None:
        """Show settings and secrets; `saved` names the secrets the keyring holds."""
        self.saved = set(saved)
        items = dict(env or {})
        self.settings.setPlainText(
            "\n".join(f"{k}={v}" for k, v in items.items() if not is_secret_name(k))
        )
        for name in sorted(self.saved | {k for k in items if is_secret_name(k)}):
            self.add_secret(name)
        for name, field in self.fields.items():
            field.edit.setText(items.get(name, "") if is_secret_name(name) else "")
            field.set_saved(name in self.saved)


def parse_env(text: str) -> dict[str, str]:
    """NAME=value lines (blank lines skipped); ValueError naming the first bad line."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"Line {number} is not NAME=value.")
        env[name.strip()] = value.strip()
    return env
