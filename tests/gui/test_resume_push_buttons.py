"""The job detail's Resume… and Push to Hub… buttons over the real connector and store.

Resume… shows for a cancelled or failed job and is enabled once its checkpoint (with its
.sha256) is in the job folder; otherwise it says why. Its question names the checkpoint's step,
the instance type and its rate; yes launches the continuing job on the simulator, which is then
selected. Push to Hub… shows for a completed job with its adapter; the dialog asks for a token
when the keyring has none, keeps it there, pushes to the fake Hub and shows the repo's URL as a
link (or the Hub's refusal in words), and the token never shows in any widget's text."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QWidget

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.dialogs.hub_push import HubPushDialog, default_repo_name
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.panels.job_detail import JobDetail, checkpoint_facts
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.hub_push import check_repo_id
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import answer_confirm, wait_until

if TYPE_CHECKING:
    from tests.plugins.fake_hub import FakeHub

CONFIG = TrainingConfig(
    base_model="meta-llama/Llama-3.2-1B",
    project_name="support-bot",
    rank=8,
    alpha=16,
    resource_id="gpu_1x_a10",
    dataset_path="hf://org/data",
)
STEP = 30
ADAPTER_FILES = {
    "adapter_config.json": b'{"peft_type": "LORA", "r": 8, "lora_alpha": 16}\n',
    "adapter_model.safetensors": random.Random(0).randbytes(64 * 1024),
}
CHECKPOINT_FILES = {
    **ADAPTER_FILES,
    "optimizer.pt": random.Random(1).randbytes(32 * 1024),
    "scheduler.pt": b"scheduler",
    "trainer_state.json": json.dumps({"global_step": STEP, "max_steps": 100}).encode(),
}


def _record(job_id: str, phase: JobPhase, **changes: Any) -> JobRecord:
    values: dict[str, Any] = dict(
        id=job_id,
        config=TrainingConfig.from_dict(CONFIG.to_dict()),
        phase=phase,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=75,
        instance_id=f"inst-{job_id}",
        launch_sent_at=1000.0,
        ended_at=1600.0,
        updated_at=1600.0,
        billing=Billing.TERMINATED,
    )
    values.update(changes)
    return JobRecord(**values)


def _archive(path: Path, files: dict[str, bytes], *, checksum: bool = True) -> Path:
    """A .tar.gz of `files` and (with `checksum`) its .sha256, as the app keeps them."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return path


async def _show(window: MainWindow, job_id: str) -> JobDetail:
    window.show_job(job_id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job_id, 5, "the job on show")
    await wait_until(lambda: not detail.backfilling, 5, "its log read")
    return detail


def _checked(detail: JobDetail) -> bool:
    return not detail.resume_button.toolTip().startswith("Looking for")


# -- Resume --------------------------------------------------------------------------------


async def test_resume_says_why_not_then_resumes_a_cancelled_job_from_its_checkpoint(
    window: MainWindow,
) -> None:
    connector = window.connector
    done = _record("aaaa00000001", JobPhase.COMPLETED)
    bare = _record("aaaa00000002", JobPhase.CANCELLED)
    unchecked = _record("aaaa00000003", JobPhase.FAILED)
    stopped = _record("aaaa00000004", JobPhase.CANCELLED, config=replace(CONFIG, budget_usd=4.0))
    for record in (done, bare, unchecked, stopped):
        await connector.store.insert_job(record)
    _archive(
        connector.paths.job_dir(unchecked.id) / "checkpoint.tar.gz",
        CHECKPOINT_FILES,
        checksum=False,
    )
    _archive(connector.paths.job_dir(stopped.id) / "checkpoint.tar.gz", CHECKPOINT_FILES)

    detail = await _show(window, done.id)
    assert not detail.resume_button.isVisible() and not detail.resume_button.isEnabled()
    assert "completed" in detail.resume_button.toolTip()
    assert detail.hub_button.isVisible()

    detail = await _show(window, bare.id)
    await wait_until(lambda: _checked(detail), 5, "the checkpoint looked for")
    assert detail.resume_button.isVisible() and not detail.resume_button.isEnabled()
    assert "No checkpoint came back" in detail.resume_button.toolTip()
    assert "before its first save" in detail.resume_button.toolTip()
    assert not detail.hub_button.isVisible()

    detail = await _show(window, unchecked.id)
    await wait_until(lambda: _checked(detail), 5, "the checkpoint looked for")
    assert not detail.resume_button.isEnabled()
    assert "checksum file" in detail.resume_button.toolTip()

    detail = await _show(window, stopped.id)
    await wait_until(detail.resume_button.isEnabled, 5, "Resume enabled")
    assert "last checkpoint" in detail.resume_button.toolTip()

    box = await answer_confirm(detail, detail.resume_button, "no")
    text = box.text()
    assert f"checkpoint at step {STEP}" in text, text
    assert "gpu_1x_a10" in text and "$0.75/h" in text and "$4.00" in text
    assert len(await connector.list_jobs()) == 4

    window.tabs.setCurrentWidget(window.catalog)
    await answer_confirm(detail, detail.resume_button, "yes")
    await wait_until(lambda: detail.job_id not in (None, stopped.id), 15, "the new job on show")
    new_id = detail.job_id
    assert new_id is not None
    assert window.tabs.currentWidget() is window.jobs
    resumed = await connector.get_job(new_id)
    assert resumed.config.resume_of == stopped.id
    assert resumed.config.project_name == CONFIG.project_name
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    # Not trained through here: cancelled on the simulator, instance and all.
    assert await connector.cancel_job(new_id)
    await wait_until(lambda: window.jobs.records[new_id].phase.is_terminal, 20, "cancelled")
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    await cancel_slot_tasks()


def test_the_step_is_read_from_the_checkpoint_or_left_unsaid(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "checkpoint.tar.gz", CHECKPOINT_FILES)
    step, size = checkpoint_facts(archive)
    assert step == STEP and size == archive.stat().st_size
    assert checkpoint_facts(archive, within=-1.0) == (None, size)  # out of time: not said
    no_state = _archive(tmp_path / "old.tar.gz", ADAPTER_FILES)
    assert checkpoint_facts(no_state)[0] is None
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    assert checkpoint_facts(tmp_path / "junk.tar.gz")[0] is None
    assert checkpoint_facts(tmp_path / "missing.tar.gz") == (None, None)


async def test_the_actions_row_fits_a_900_px_window_with_resume_or_push_shown(
    window: MainWindow,
) -> None:
    connector = window.connector
    adapter = _archive(connector.paths.job_dir("bbbb00000001") / "adapter.tar.gz", ADAPTER_FILES)
    # Unsettled billing shows Terminate instance… as well: the widest row either way.
    jobs = [
        _record("bbbb00000001", JobPhase.COMPLETED, adapter_path=str(adapter)),
        _record("bbbb00000002", JobPhase.CANCELLED),
    ]
    _archive(connector.paths.job_dir(jobs[1].id) / "checkpoint.tar.gz", CHECKPOINT_FILES)
    for record in jobs:
        await connector.store.insert_job(record)
    window.resize(900, 600)
    detail = window.jobs.detail
    for record in jobs:
        await _show(window, record.id)
        await wait_until(lambda: _checked(detail), 5, "the checkpoint looked for")
        detail.update_record(replace(record, billing=Billing.UNKNOWN))
        assert detail.cancel_button.isVisible()
        shown = detail.hub_button if record.phase is JobPhase.COMPLETED else detail.resume_button
        assert shown.isVisible() and shown.isEnabled(), record.phase
        await wait_until(lambda: window.width() == 900, 2, "the window's layout")
        assert window.width() == 900  # not pushed wider by the row
        assert detail.width() >= detail.minimumSizeHint().width()  # nothing squeezed
    await cancel_slot_tasks()


# -- Push to Hub -----------------------------------------------------------------------------


@pytest.fixture
async def hub_window(
    window: MainWindow,
    credentials: CredentialStore,
    fake_hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[MainWindow, JobRecord]:
    """The window with a completed job whose verified adapter is in its folder; the
    connector's secrets are the (in-memory) keyring, and the Hub is the fake one."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    connector = window.connector
    monkeypatch.setattr(connector, "secrets", credentials)
    job_id = "cccc00000001"
    folder = connector.paths.job_dir(job_id)
    adapter = _archive(folder / "adapter.tar.gz", ADAPTER_FILES)
    metrics = [{"step": s, "epoch": s / 4, "loss": 3.0 / s} for s in range(1, 5)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    record = _record(job_id, JobPhase.COMPLETED, adapter_path=str(adapter))
    await connector.store.insert_job(record)
    return window, record


async def _open_push(detail: JobDetail) -> HubPushDialog:
    await wait_until(detail.hub_button.isEnabled, 5, "Push to Hub enabled")
    detail.hub_button.click()
    await wait_until(
        lambda: detail.hub_dialog is not None and detail.hub_dialog.isVisible(), 5, "the dialog"
    )
    dialog = detail.hub_dialog
    assert dialog is not None
    return dialog


async def _close(detail: JobDetail, dialog: HubPushDialog) -> None:
    dialog.close_button.click()
    await wait_until(lambda: detail.hub_dialog is None, 5, "the dialog closed")


def _texts(widget: QWidget) -> list[str]:
    """Every text a widget and its children show or hold (labels, buttons, fields, tips)."""
    texts: list[str] = []
    for each in [widget, *widget.findChildren(QWidget)]:
        texts += [each.toolTip(), each.windowTitle(), each.statusTip(), each.accessibleName()]
        if isinstance(each, QLabel | QAbstractButton):
            texts.append(each.text())
        if isinstance(each, QLineEdit):
            texts += [each.text(), each.displayText(), each.placeholderText()]
    return texts


async def test_push_asks_for_the_token_keeps_it_and_shows_the_repo_link(
    hub_window: tuple[MainWindow, JobRecord],
    credentials: CredentialStore,
    fake_hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window, record = hub_window
    detail = await _show(window, record.id)
    assert detail.hub_button.isVisible() and not detail.resume_button.isVisible()
    assert await credentials.secret("HF_TOKEN") is None
    dialog = await _open_push(detail)

    # Offline the user name is unknown: the name is offered, the namespace is asked for.
    assert dialog.repo_edit.text() == f"support-bot-{record.id}"
    assert not dialog.push_button.isEnabled()
    assert "namespace/name" in dialog.repo_hint.text()
    assert dialog.token_shown and dialog.private_check.isChecked()
    dialog.repo_edit.setText(f"{fake_hub.user}/-support-bot")
    assert "is not one the Hub accepts" in dialog.repo_hint.text()
    assert not dialog.push_button.isEnabled()
    repo_id = f"{fake_hub.user}/support-bot-{record.id}"
    dialog.repo_edit.setText(repo_id)
    assert "namespace/name" in dialog.repo_hint.text()  # the rule, no longer an error
    assert not dialog.push_button.isEnabled()  # no token yet
    dialog.token_field.edit.setText(fake_hub.write_token)
    assert dialog.push_button.isEnabled()

    dialog.push_button.click()
    await wait_until(lambda: dialog.busy, 5, "the push under way")
    assert dialog.bar.isVisible() and not dialog.push_button.isEnabled()
    await wait_until(lambda: not dialog.busy, 60, "the push")
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    url = f"{fake_hub.url}/{repo_id}"
    assert dialog.url == url, dialog.result_label.text()
    assert f'href="{url}"' in dialog.result_label.text()

    repo = fake_hub.repos[repo_id]
    assert repo.private
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(repo.files)
    assert repo.files["adapter_model.safetensors"] == ADAPTER_FILES["adapter_model.safetensors"]
    assert record.id in repo.files["README.md"].decode()
    assert all(h == f"Bearer {fake_hub.write_token}" for h in fake_hub.auth_headers)
    assert await credentials.secret("HF_TOKEN") == fake_hub.write_token
    assert not dialog.token_shown and dialog.token_field.edit.text() == ""

    opened: list[QUrl] = []

    def open_url(target: QUrl) -> bool:
        opened.append(target)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(open_url))
    dialog.result_label.linkActivated.emit(url)
    assert [u.toString() for u in opened] == [url]

    for shown in (*_texts(dialog), *_texts(window), window.statusBar().currentMessage()):
        assert fake_hub.write_token not in shown, shown
    await _close(detail, dialog)

    # The keyring has it now: no token field the next time.
    dialog = await _open_push(detail)
    assert not dialog.token_shown
    dialog.repo_edit.setText(repo_id)
    assert dialog.push_button.isEnabled()
    await _close(detail, dialog)
    await cancel_slot_tasks()


async def test_a_refused_push_says_why_in_the_dialog_and_asks_for_another_token(
    hub_window: tuple[MainWindow, JobRecord], credentials: CredentialStore, fake_hub: FakeHub
) -> None:
    window, record = hub_window
    await credentials.save_secret("HF_TOKEN", fake_hub.read_token)
    detail = await _show(window, record.id)
    dialog = await _open_push(detail)
    assert not dialog.token_shown
    dialog.repo_edit.setText(f"{fake_hub.user}/refused")
    dialog.push_button.click()
    await wait_until(lambda: dialog.busy, 5, "the push under way")
    await wait_until(lambda: not dialog.busy, 60, "the push")
    result = dialog.result_label.text()
    assert dialog.url is None and "refused" in result and "write" in result, result
    assert "settings/tokens" in result
    assert fake_hub.read_token not in result
    assert dialog.token_shown and dialog.push_button.isEnabled()  # retry, or paste another
    assert not any(files for repo in fake_hub.repos.values() for files in repo.files)
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    for shown in _texts(dialog):
        assert fake_hub.read_token not in shown, shown
    await _close(detail, dialog)
    await cancel_slot_tasks()


def test_the_offered_repo_name_is_one_the_hub_accepts() -> None:
    job_id = "0a1b2c3d4e5f"
    assert default_repo_name("support-bot", job_id) == f"support-bot-{job_id}"
    assert default_repo_name("My run: v2 (final)", job_id) == f"My-run-v2-final-{job_id}"
    assert default_repo_name("--..", job_id) == job_id
    for name in ("a" * 200, "x..y--z", " é ü ", ".hidden."):
        check_repo_id(f"someone/{default_repo_name(name, job_id)}")
