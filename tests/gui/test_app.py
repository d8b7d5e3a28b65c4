"""The composition root: first start (welcome), a stored key, the headless demo command."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from lambda_gui.app import AppOptions, run_app
from lambda_gui.gui.dialogs.welcome import WelcomeDialog
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.credentials import API_KEY_ENTRY, SERVICE, CredentialStore
from tests.gui.conftest import MemoryKeyring
from tests.gui.helpers import wait_until

W = TypeVar("W", bound=QWidget)


def _shown(kind: type[W]) -> W | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, kind) and widget.isVisible():
            return widget
    return None


async def test_headless_needs_demo(credentials: CredentialStore) -> None:
    assert await run_app(AppOptions(headless=True), credentials) == 2


async def test_first_start_welcome_then_quit(credentials: CredentialStore) -> None:
    app = asyncio.ensure_future(run_app(AppOptions(), credentials))
    await wait_until(lambda: _shown(WelcomeDialog), 10, "the welcome dialog")
    dialog = _shown(WelcomeDialog)
    assert dialog is not None
    await wait_until(lambda: "keyring" in dialog.keyring_label.text(), 5, "the keyring check")
    dialog.quit_button.click()
    assert await asyncio.wait_for(app, 10) == 0
    assert _shown(MainWindow) is None


async def test_first_start_connects_with_the_key_entered(
    sim: Any, credentials: CredentialStore, memory_keyring: MemoryKeyring
) -> None:
    app = asyncio.ensure_future(run_app(AppOptions(base_url=sim.base_url), credentials))
    await wait_until(lambda: _shown(WelcomeDialog), 10, "the welcome dialog")
    dialog = _shown(WelcomeDialog)
    assert dialog is not None
    dialog.key_edit.setText(sim.api_key)
    dialog.connect_button.click()
    await wait_until(lambda: _shown(MainWindow), 20, "the main window")
    window = _shown(MainWindow)
    assert window is not None
    await wait_until(lambda: window.catalog.model.rowCount() > 0, 20, "the catalog")
    assert window.connected and sim.base_url in window.connection_label.text()
    assert memory_keyring.values[(SERVICE, API_KEY_ENTRY)] == sim.api_key
    window.close()
    assert await asyncio.wait_for(app, 30) == 0
    assert _shown(MainWindow) is None


async def test_stored_key_opens_the_window_connected(
    sim: Any, credentials: CredentialStore
) -> None:
    await credentials.save_api_key(sim.api_key)
    await credentials.save_ssh_key_path(str(sim.test_key_path))
    app = asyncio.ensure_future(run_app(AppOptions(base_url=sim.base_url), credentials))
    await wait_until(lambda: _shown(MainWindow), 20, "the main window")
    assert _shown(WelcomeDialog) is None
    window = _shown(MainWindow)
    assert window is not None
    await wait_until(lambda: window.catalog.model.rowCount() > 0, 20, "the catalog")
    assert window.jobs.empty_label.isVisibleTo(window.jobs)
    assert not window.reporter.history
    window.close()
    assert await asyncio.wait_for(app, 30) == 0


@pytest.mark.slow
def test_demo_headless_command(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The app builds the demo model into its data dir on first start; hand it a built one.
    shutil.copytree(tiny_model, data / "lambda-gui" / "demo" / "tiny-llama")
    shot = tmp_path / "shot.png"
    env = os.environ | {"XDG_DATA_HOME": str(data), "PYTHONUNBUFFERED": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    done = subprocess.run(
        [sys.executable, "-m", "lambda_gui", "--demo", "--headless", "--screenshot", str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Catalog:" in output and "step 1/" in output
    assert "verified" in output and "terminated" in output and "Demo succeeded" in output
    image = QImage(str(shot))
    assert not image.isNull() and image.width() >= 1000 and image.height() >= 700
    # Nothing of the demo is left behind but the cached model.
    assert sorted(p.name for p in (data / "lambda-gui").iterdir()) == ["demo"]
