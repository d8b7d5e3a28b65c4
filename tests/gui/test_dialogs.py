"""The welcome dialog (first start) and the settings dialog, against the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import keyring.backends.fail
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QGroupBox, QLabel

from lambda_gui.gui.async_slots import exec_dialog
from lambda_gui.gui.dialogs.settings import JOB_SECRETS, SettingsDialog
from lambda_gui.gui.dialogs.welcome import API_KEYS_URL, WelcomeDialog
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import (
    API_KEY_ENTRY,
    SECRET_ENTRY_PREFIX,
    SERVICE,
    CredentialStore,
)
from tests.gui.conftest import MemoryKeyring
from tests.gui.helpers import wait_until


def _welcome(
    credentials: CredentialStore, connector: LambdaLabsConnector, sim: Any
) -> WelcomeDialog:
    async def connect_with(api_key: str) -> None:
        await connector.connect(
            {"api_key": api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
        )

    return WelcomeDialog(credentials, connect_with, ErrorReporter(None, dialogs=False))


async def test_welcome_checks_the_key_with_lambda_and_saves_it(
    sim: Any, credentials: CredentialStore, memory_keyring: MemoryKeyring
) -> None:
    connector = LambdaLabsConnector()
    dialog = _welcome(credentials, connector, sim)
    info = await dialog.prepare()
    assert info.secure and "MemoryKeyring" in dialog.keyring_label.text()
    assert not dialog.keyring_warning.isVisibleTo(dialog)
    shown = asyncio.ensure_future(exec_dialog(dialog))
    await wait_until(dialog.isVisible, 5, "the dialog")
    assert not dialog.connect_button.isEnabled()

    dialog.key_edit.setText("secret_wrong_0123456789abcdef")
    await dialog.try_connect()
    assert dialog.isVisible() and dialog.choice is None
    assert dialog.error_label.isVisibleTo(dialog)
    assert "API key" in dialog.error_label.text()
    assert memory_keyring.values == {}

    dialog.key_edit.setText(sim.api_key)
    await dialog.try_connect()
    await shown
    assert dialog.choice == "connect" and dialog.saved is True
    assert memory_keyring.values[(SERVICE, API_KEY_ENTRY)] == sim.api_key
    assert await connector.verify_connection()
    await connector.disconnect()


async def test_welcome_warns_when_the_keyring_cannot_store(sim: Any) -> None:
    credentials = CredentialStore(backend=keyring.backends.fail.Keyring())
    connector = LambdaLabsConnector()
    dialog = _welcome(credentials, connector, sim)
    info = await dialog.prepare()
    assert not info.can_store and not info.secure
    # Said once, in words: no second line naming the backend ("backend: fail Keyring").
    assert not dialog.keyring_label.isVisibleTo(dialog)
    assert dialog.keyring_warning.isVisibleTo(dialog)
    assert "this session only" in dialog.keyring_warning.text()
    shown = [
        label.text()
        for label in dialog.findChildren(QLabel)
        if label.isVisibleTo(dialog) and "keyring" in label.text().lower()
    ]
    assert len(shown) == 1 and "backend" not in shown[0]
    assert "fail Keyring" in dialog.keyring_warning.toolTip()
    dialog.key_edit.setText(sim.api_key)
    await dialog.try_connect()
    assert dialog.choice == "connect" and dialog.saved is False
    # Kept in memory for this session, so reconnecting (Settings) still works.
    assert await credentials.api_key() == sim.api_key
    await connector.disconnect()


class BlackHoleKeyring(MemoryKeyring):
    """Claims to store (by its name and priority) and keeps nothing."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


async def test_welcome_says_when_the_keyring_did_not_keep_the_key(sim: Any) -> None:
    credentials = CredentialStore(backend=BlackHoleKeyring())
    connector = LambdaLabsConnector()
    dialog = _welcome(credentials, connector, sim)
    info = await dialog.prepare()
    assert info.can_store and not dialog.keyring_warning.isVisibleTo(dialog)
    dialog.key_edit.setText(sim.api_key)
    await dialog.try_connect()
    # Before: the dialog closed as if the key were saved, and the next start asked again.
    assert dialog.choice is None and dialog.saved is False
    assert not dialog.keyring_label.isVisibleTo(dialog)
    assert dialog.keyring_warning.isVisibleTo(dialog)
    assert "NOT saved" in dialog.keyring_warning.text()
    assert "did not keep it" in dialog.keyring_warning.text()
    assert dialog.connect_button.text() == "Continue for this session"
    await dialog.try_connect()
    assert dialog.choice == "connect"
    assert await credentials.api_key() == sim.api_key  # kept for this session
    await connector.disconnect()


async def test_welcome_offers_the_demo(sim: Any, credentials: CredentialStore) -> None:
    dialog = _welcome(credentials, LambdaLabsConnector(), sim)
    await dialog.prepare()
    shown = asyncio.ensure_future(exec_dialog(dialog))
    await wait_until(dialog.isVisible, 5, "the dialog")
    dialog.demo_button.click()
    assert await shown == 1
    assert dialog.choice == "demo"


async def test_settings_change_region_end_of_job_and_keys(
    window: MainWindow,
    sim: Any,
    credentials: CredentialStore,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:
    connector = window.connector
    reconnects: list[int] = []
    dialog = window.settings_dialog()

    async def reconnect() -> None:
        reconnects.append(1)
        await connector.connect(
            {
                "api_key": await credentials.api_key() or "",
                "base_url": sim.base_url,
                "ssh_key_path": await credentials.ssh_key_path() or "",
            }
        )

    dialog.reconnect = reconnect
    await dialog.prepare()
    assert dialog.terminate_radio.isChecked(), "download then terminate is the default"
    assert dialog.generate_radio.isChecked()
    assert dialog.region.findData("us-east-1") > 0

    # A key file that does not exist is refused inline, and nothing is saved.
    dialog.file_radio.setChecked(True)
    dialog.key_path.setText(str(tmp_path / "missing_key"))
    await dialog.save()
    assert not dialog.saved and "is not a file" in dialog.error_label.text()

    dialog.key_path.setText(str(sim.test_key_path))
    dialog.region.setCurrentIndex(dialog.region.findData("us-west-1"))
    dialog.keep_radio.setChecked(True)
    dialog.key_edit.setText(sim.api_key)
    await dialog.save()
    assert dialog.saved, dialog.error_label.text()
    assert reconnects == [1]
    assert memory_keyring.values[(SERVICE, API_KEY_ENTRY)] == sim.api_key
    assert await credentials.ssh_key_path() == str(sim.test_key_path)
    assert (await connector.settings.load()).default_region == "us-west-1"
    assert await connector.auto_terminate() is False

    again = window.settings_dialog()
    await again.prepare()
    assert again.keep_radio.isChecked() and again.file_radio.isChecked()
    assert again.region.currentData() == "us-west-1"
    assert "An API key is saved" in again.keyring_label.text()


async def test_settings_orphans_and_the_cap_over_all_jobs(window: MainWindow) -> None:
    settings = window.connector.settings
    dialog = window.settings_dialog()
    await dialog.prepare()
    assert not dialog.orphans_box.isChecked(), "orphans are only shown unless asked"
    assert dialog.global_cap.text() == ""
    assert "another computer" in dialog.orphans_caveat.text()
    assert "would be terminated too" in dialog.orphans_box.toolTip()

    for bad in ("lots", "0", "-5"):
        dialog.global_cap.setText(bad)
        await dialog.save()
        assert not dialog.saved and "above 0" in dialog.error_label.text()
    assert (await settings.load()).global_budget_usd is None

    dialog.orphans_box.setChecked(True)
    dialog.global_cap.setText("$1,250.50")
    await dialog.save()
    assert dialog.saved, dialog.error_label.text()
    saved = await settings.load()
    assert saved.auto_terminate_orphans and saved.global_budget_usd == 1250.5

    again = window.settings_dialog()
    await again.prepare()
    assert again.orphans_box.isChecked() and again.global_cap.text() == "1250.5"
    again.orphans_box.setChecked(False)
    again.global_cap.setText("")
    await again.save()
    saved = await settings.load()
    assert not saved.auto_terminate_orphans and saved.global_budget_usd is None  # no cap


async def test_welcome_links_to_the_dashboard_and_answers_the_keyboard(
    sim: Any, credentials: CredentialStore
) -> None:
    dialog = _welcome(credentials, LambdaLabsConnector(), sim)
    await dialog.prepare()
    assert f'href="{API_KEYS_URL}"' in dialog.intro.text()
    assert dialog.intro.openExternalLinks()
    assert dialog.connect_button.isDefault() and not dialog.demo_button.autoDefault()
    shown = asyncio.ensure_future(exec_dialog(dialog))
    await wait_until(dialog.isVisible, 5, "the dialog")
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert await shown == 0 and dialog.choice is None


async def test_settings_in_demo_mode_say_at_the_top_what_does_not_apply(
    window: MainWindow, credentials: CredentialStore
) -> None:
    async def reconnect() -> None:
        raise AssertionError("demo mode does not reconnect")

    dialog = SettingsDialog(
        window.connector, credentials, reconnect, window.reporter, demo=True, parent=window
    )
    await dialog.prepare()
    layout = dialog.layout()
    assert layout is not None and layout.itemAt(0).widget() is dialog.note
    assert dialog.note.isVisibleTo(dialog) and "Demo mode" in dialog.note.text()
    assert "do not apply" in dialog.note.text()
    groups = {g.title(): g.isEnabled() for g in dialog.findChildren(QGroupBox)}
    # Only the two that do not apply are greyed; the rest can be changed.
    assert [title for title, on in groups.items() if not on] == [
        "Lambda Cloud",
        "SSH key the app logs in to instances with",
    ]
    assert dialog.region.isEnabled() and dialog.money_group.isEnabled()
    assert dialog.tokens_group.isEnabled()


async def test_settings_keep_the_hugging_face_and_wandb_tokens_in_the_keyring(
    window: MainWindow, credentials: CredentialStore, memory_keyring: MemoryKeyring
) -> None:
    dialog = window.settings_dialog()
    await dialog.prepare()
    assert [name for name, _l, _p in JOB_SECRETS] == ["HF_TOKEN", "WANDB_API_KEY"]
    hf, wandb = dialog.secret_edits["HF_TOKEN"], dialog.secret_edits["WANDB_API_KEY"]
    assert hf.echoMode() == hf.EchoMode.Password and wandb.echoMode() == wandb.EchoMode.Password
    assert not dialog.secret_forget["HF_TOKEN"].isEnabled(), "nothing saved to remove"
    hf.setText("hf_canary_token")
    wandb.setText("wandb_canary_key")
    await dialog.save()
    assert dialog.saved, dialog.error_label.text()
    assert memory_keyring.values[(SERVICE, SECRET_ENTRY_PREFIX + "HF_TOKEN")] == "hf_canary_token"
    assert await credentials.secret("WANDB_API_KEY") == "wandb_canary_key"

    again = window.settings_dialog()
    await again.prepare()
    # Saved values are never shown, only named.
    assert again.secret_edits["HF_TOKEN"].text() == ""
    assert "HF_TOKEN, WANDB_API_KEY" in again.tokens_status.text()
    assert "hf_canary_token" not in again.tokens_status.text()
    # An empty field keeps the saved value; "Remove" forgets it.
    again.secret_forget["WANDB_API_KEY"].setChecked(True)
    await again.save()
    assert await credentials.secret("HF_TOKEN") == "hf_canary_token"
    assert await credentials.secret("WANDB_API_KEY") is None


async def test_settings_answer_enter_and_escape(window: MainWindow) -> None:
    dialog = window.settings_dialog()
    await dialog.prepare()
    shown = asyncio.ensure_future(exec_dialog(dialog))
    await wait_until(dialog.isVisible, 5, "the dialog")
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert await shown == 0 and not dialog.saved

    dialog = window.settings_dialog()
    await dialog.prepare()
    assert dialog.save_button.isDefault() and not dialog.cancel_button.autoDefault()
    shown = asyncio.ensure_future(exec_dialog(dialog))
    await wait_until(dialog.isVisible, 5, "the dialog")
    dialog.global_cap.setFocus()
    QTest.keyClick(dialog.global_cap, Qt.Key.Key_Return)
    await wait_until(lambda: dialog.saved, 5, "Enter to save")
    assert await shown == 1
