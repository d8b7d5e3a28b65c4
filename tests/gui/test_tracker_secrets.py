"""Tracker secrets typed in the wizard: masked on screen, in the keyring, never in a file.

A full demo job with a tracker and two canary secrets: afterwards no file under the app's
data dir, the simulated instance's disk or the saved config holds either canary, no widget
shows one unmasked, and the training process still received them (train.py checks its
environment and names what it found)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QAbstractItemModel, QAbstractListModel, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from lambda_gui.core.models import JobPhase
from lambda_gui.gui.wizard.tracker_editor import TrackerEnvWidget
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.credentials import CredentialStore
from tests.gui.conftest import DemoApp
from tests.gui.helpers import wait_until

pytestmark = pytest.mark.slow

HF_CANARY = "hf_canary_7f3a9c1e5b"
WANDB_CANARY = "wandb-canary-0d4e8b2a6c"
CANARIES = (HF_CANARY.encode(), WANDB_CANARY.encode())


def files_holding_canaries(root: Path) -> list[str]:
    """Every file under `root` whose bytes contain a canary."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(c in data for c in CANARIES):
                found.append(str(path))
    return found


def _model_texts(model: QAbstractItemModel, parent: QModelIndex) -> Iterator[str]:
    """The cells of a list or table model (the app shows no trees)."""
    # A list model's columnCount is private in PySide6: one column there.
    columns = 1 if isinstance(model, QAbstractListModel) else model.columnCount(parent)
    for row in range(model.rowCount(parent)):
        for col in range(max(1, columns)):
            index = model.index(row, col, parent)
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = model.data(index, role)
                if value is not None:
                    yield str(value)


def shown_texts(root: QWidget) -> Iterator[tuple[str, str]]:
    """(widget, text) for everything a person can read on `root` and its children; a
    password field's text only when it is shown unmasked."""
    for w in [root, *root.findChildren(QWidget)]:
        name = f"{type(w).__name__}:{w.objectName()}"
        yield name, w.toolTip()
        yield name, w.windowTitle()
        if isinstance(w, QLineEdit):
            if w.echoMode() is QLineEdit.EchoMode.Normal:
                yield name, w.text()
            yield name, w.placeholderText()
        elif isinstance(w, (QLabel, QAbstractButton)):
            yield name, w.text()
        elif isinstance(w, QPlainTextEdit):
            yield name, w.toPlainText()
        elif isinstance(w, QTextEdit):
            yield name, w.toPlainText()
        elif isinstance(w, QComboBox):
            yield from ((name, w.itemText(i)) for i in range(w.count()))
        elif isinstance(w, QAbstractItemView) and w.model() is not None:
            yield from ((name, t) for t in _model_texts(w.model(), QModelIndex()))
        plain_text = getattr(w, "plain_text", None)
        if callable(plain_text):
            yield name, str(plain_text())


def unmasked_canaries(root: QWidget) -> list[str]:
    """Widgets that show a canary to whoever looks at the screen."""
    return [
        f"{name}: {text[:80]!r}"
        for name, text in shown_texts(root)
        if HF_CANARY in text or WANDB_CANARY in text
    ]


def _go_to(wizard: WizardPanel, key: str) -> None:
    while wizard.wizard.current.key != key:
        assert wizard.next_button.isEnabled(), (wizard.wizard.current.key, wizard.status.text())
        wizard.next_button.click()


async def test_secrets_are_masked_kept_in_the_keyring_and_never_written(
    demo_app: DemoApp,
    credentials: CredentialStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    win, demo = demo_app.window, demo_app.demo
    await win.connector.set_auto_terminate(False)  # the instance's disk is read before the end
    wizard = win.wizard
    win.tabs.setCurrentWidget(wizard)
    _go_to(wizard, "dataset")
    await wait_until(lambda: wizard.wizard.state.preview is not None, 10, "the preview")
    _go_to(wizard, "hyperparameters")
    page = wizard.page
    report = page.editors["report_to"].widget
    assert isinstance(report, QComboBox)
    report.setCurrentIndex(report.findData("tensorboard"))
    tracker = page.editors["tracker_env"].widget
    assert isinstance(tracker, TrackerEnvWidget)
    tracker.settings.setPlainText("WANDB_PROJECT=demo-project")
    tracker.fields["HF_TOKEN"].edit.setText(HF_CANARY)
    tracker.fields["WANDB_API_KEY"].edit.setText(WANDB_CANARY)
    assert tracker.fields["HF_TOKEN"].edit.echoMode() is QLineEdit.EchoMode.Password
    assert not unmasked_canaries(win), unmasked_canaries(win)

    # A secret typed where it would show is refused, with where to put it.
    tracker.settings.setPlainText("WANDB_PROJECT=demo-project\nHF_TOKEN=" + HF_CANARY)
    assert "masked field" in page.error_labels["tracker_env"].text()
    assert not wizard.next_button.isEnabled()
    tracker.settings.setPlainText("WANDB_PROJECT=demo-project")
    assert wizard.next_button.isEnabled()

    # Saving the config writes names only; the values go to the keyring.
    saved = tmp_path / "saved" / "job.json"
    saved.parent.mkdir()
    monkeypatch.setattr(
        "PySide6.QtWidgets.QFileDialog.getSaveFileName", staticmethod(lambda *a: (str(saved), ""))
    )
    await wizard.save_config()
    assert not win.reporter.history, [r.text.full() for r in win.reporter.history]
    text = saved.read_text()
    assert HF_CANARY not in text and WANDB_CANARY not in text
    assert '"HF_TOKEN"' in text and '"WANDB_API_KEY"' in text and "demo-project" in text
    assert await credentials.secret("HF_TOKEN") == HF_CANARY
    assert await credentials.secret("WANDB_API_KEY") == WANDB_CANARY

    # Launch and train to the end.
    _go_to(wizard, "review")
    launched: list[str] = []
    wizard.launched.connect(launched.append)
    wizard.next_button.click()
    await wait_until(lambda: launched or win.reporter.history, 30, "the launch")
    assert launched, [r.text.full() for r in win.reporter.history]
    job_id = launched[0]
    deadline = time.monotonic() + 300
    while not win.jobs.records[job_id].phase.is_terminal:
        assert time.monotonic() < deadline, win.jobs.records[job_id].phase
        await asyncio.sleep(0.2)
    record = await win.connector.get_job(job_id)
    assert record.phase is JobPhase.COMPLETED, record.error
    assert record.config.tracker_secrets == ["HF_TOKEN", "WANDB_API_KEY"]
    assert record.config.tracker_env == {"WANDB_PROJECT": "demo-project"}

    # The training process had both secrets in its environment (train.py says which names).
    detail = win.jobs.detail
    await wait_until(lambda: detail.log_view.pending_count == 0, 5, "the log view")
    log = detail.log_view.plain_text()
    assert "Tracker settings in the environment: HF_TOKEN, WANDB_API_KEY, WANDB_PROJECT" in log

    # Nowhere on the instance's disk, in the app's data (store, WAL, logs, adapter) or screen.
    assert record.instance_id is not None
    home = demo.simulator.instance_home(record.instance_id)
    assert home.is_dir() and not files_holding_canaries(home)
    assert not files_holding_canaries(demo.root)
    assert not files_holding_canaries(tmp_path)  # the saved config's folder too
    for xdg in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        assert not files_holding_canaries(Path(os.environ[xdg]))
    for top in QApplication.topLevelWidgets():
        assert not unmasked_canaries(top), unmasked_canaries(top)
    assert not any(
        HF_CANARY in r.text.full() or WANDB_CANARY in r.text.full() for r in win.reporter.history
    )
    await win.connector.terminate_instance(record.instance_id)
