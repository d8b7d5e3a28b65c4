"""The main window's money safeguards without training: orphaned instances shown with their
cost and terminated one click each (or all, after a question), and quitting with jobs still
running lists their cost per hour and keeps them, or stops them all with progress."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtWidgets import QProgressDialog

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.events import Orphan, OrphansFound
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import wait_until
from tests.simulator.helpers import launch

ORPHAN_NAME = "lambda-gui-0123456789ab"


async def test_an_orphan_appears_after_connect_and_goes_with_one_click(
    sim: Any, window: MainWindow
) -> None:
    sim.set_capacity("gpu_1x_a10", "us-east-1", 5)
    instance_id = await launch(sim, sim.test_key_name, name=ORPHAN_NAME)
    banner = window.orphan_banner
    assert not banner.isVisible()
    # What a start-up does after connecting: the window asks Lambda itself.
    await window.load_all()
    assert banner.isVisible()
    text = banner.text()
    assert ORPHAN_NAME in text and "gpu_1x_a10" in text and "us-east-1" in text
    (orphan,) = banner.orphans
    assert orphan.instance_id == instance_id and f"${orphan.dollars_per_hour:,.2f}/h" in text
    assert "another computer" in text

    banner.buttons[instance_id].click()
    await wait_until(lambda: not banner.isVisible(), 10, "the orphan to go")
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    assert sim.instance_status(instance_id) in ("terminating", "terminated", None)
    assert await window.connector.find_orphans() == []


async def test_terminate_all_orphans_asks_first(sim: Any, window: MainWindow) -> None:
    sim.set_capacity("gpu_1x_a10", "us-east-1", 5)
    names = ("lambda-gui-aaaaaaaaaaaa", "lambda-gui-bbbbbbbbbbbb")
    ids = [await launch(sim, sim.test_key_name, name=n) for n in names]
    orphans = tuple(
        Orphan(i, n, "booting", "gpu_1x_a10", "us-east-1", 0.75)
        for i, n in zip(ids, names, strict=True)
    )
    window.connector.events.publish(OrphansFound(orphans))
    banner = window.orphan_banner
    assert banner.isVisible() and "bill $1.50/h in all" in banner.text()
    assert all(f"{n} — gpu_1x_a10 in us-east-1 — $0.75/h" in banner.text() for n in names)

    task = banner.terminate_all()
    await wait_until(lambda: banner.confirm_box is not None and banner.confirm_box.isVisible())
    assert banner.confirm_box is not None
    next(b for b in banner.confirm_box.buttons() if b.objectName() == "no").click()
    await task
    assert banner.isVisible() and all(sim.instance_status(i) == "booting" for i in ids)

    task = banner.terminate_all()
    await wait_until(lambda: banner.confirm_box is not None and banner.confirm_box.isVisible())
    next(b for b in banner.confirm_box.buttons() if b.objectName() == "yes").click()
    await task
    assert not banner.isVisible()
    assert all(sim.instance_status(i) in ("terminating", "terminated", None) for i in ids)
    # A later sweep with none left keeps it hidden.
    window.connector.events.publish(OrphansFound(()))
    assert not banner.isVisible()


async def _running_job(window: MainWindow, job_id: str, cents: int, billing: Billing) -> str:
    job = JobRecord(
        id=job_id,
        config=TrainingConfig(base_model="gpt2", dataset_path="hf://tatsu-lab/alpaca"),
        phase=JobPhase.RUNNING,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=cents,
        billing=billing,
        instance_id=f"i-{job_id}",
        launch_sent_at=1.0,
    )
    await window.connector.store.insert_job(job)
    return job.id


async def _answer(window: MainWindow, choice: str) -> None:
    await wait_until(
        lambda: window.open_dialog is not None and window.open_dialog.isVisible(), 5, "the question"
    )
    box = window.open_dialog
    assert box is not None
    next(b for b in box.buttons() if b.objectName() == choice).click()  # type: ignore[attr-defined]


async def _jobs(window: MainWindow) -> tuple[str, str]:
    first = await _running_job(window, "feedfacecafe", 129, Billing.BILLING)
    second = await _running_job(window, "deadbeef0001", 75, Billing.BILLING)
    return first, second


async def test_quit_lists_costs_and_keep_running_leaves_the_jobs(window: MainWindow) -> None:
    first, second = await _jobs(window)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))

    window.close()
    await _answer(window, "stay")
    await asyncio.sleep(0.1)
    assert window.isVisible() and not closed

    window.open_dialog = None
    window.close()
    await wait_until(lambda: window.open_dialog is not None, 5, "the question")
    text = window.open_dialog.text()  # type: ignore[union-attr]
    assert f"({first}) on gpu_1x_a10: $1.29/h" in text
    assert f"({second}) on gpu_1x_a10: $0.75/h" in text
    assert "Total: $2.04/h." in text
    assert "picks them up" in text and "when it starts again" in text
    await _answer(window, "keep")
    await wait_until(lambda: closed, 5, "the window to close")
    for job_id in (first, second):
        assert (await window.connector.get_job(job_id)).phase is JobPhase.RUNNING


async def test_quit_stop_and_terminate_stops_every_job_with_progress(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = await _jobs(window)
    calls: list[int] = []
    stop_all = window.connector.stop_all_jobs

    async def slow_stop_all() -> dict[str, bool]:
        calls.append(1)
        await asyncio.sleep(0.8)  # long enough for the progress dialog to be seen
        return await stop_all()

    monkeypatch.setattr(window.connector, "stop_all_jobs", slow_stop_all)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.close()
    await _answer(window, "stop")

    def progress() -> QProgressDialog | None:
        prompt = window.quit_prompt
        return prompt.progress if prompt is not None else None

    await wait_until(lambda: progress() is not None and progress().isVisible(), 5, "progress")  # type: ignore[union-attr]
    dialog = progress()
    assert dialog is not None and dialog.maximum() == 2
    assert "terminating their instances" in dialog.labelText()
    await wait_until(lambda: closed, 10, "the window to close")
    assert calls == [1]
    assert window.quit_prompt is not None and window.quit_prompt.progress is None
    assert window.quit_prompt.progress_seen and window.quit_prompt.progress_seen[0] == 0
    for job_id in (first, second):
        job = await window.connector.get_job(job_id)
        assert job.phase is JobPhase.CANCELLED and job.billing.may_bill is False
