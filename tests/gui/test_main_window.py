"""The main window's money safeguards: orphaned instances shown and terminated on request, and
quitting with jobs still running asks what to do with them."""

from __future__ import annotations

import asyncio
from typing import Any

from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.events import Orphan, OrphansFound
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import wait_until
from tests.simulator.helpers import launch


async def test_orphans_are_shown_and_terminated_on_request(window: MainWindow, sim: Any) -> None:
    instance_id = await launch(sim, sim.test_key_name, name="lambda-gui-0123456789ab")
    orphan = Orphan(
        instance_id, "lambda-gui-0123456789ab", "booting", "gpu_1x_a10", "us-east-1", 1.29
    )
    window.connector.events.publish(OrphansFound((orphan,)))
    assert window.orphan_row.isVisible()
    assert "lambda-gui-0123456789ab" in window.orphan_banner.text()
    assert "$1.29/h" in window.orphan_banner.text()

    task = window.terminate_orphans()
    await wait_until(lambda: window.open_dialog is not None and window.open_dialog.isVisible())
    box = window.open_dialog
    assert box is not None
    next(b for b in box.buttons() if b.objectName() == "yes").click()  # type: ignore[attr-defined]
    await task
    assert not window.reporter.history, window.reporter.history
    assert sim.instance_status(instance_id) in ("terminating", "terminated", None)
    assert not window.orphan_row.isVisible()

    window.connector.events.publish(OrphansFound(()))
    assert not window.orphan_row.isVisible()


async def _running_job(window: MainWindow) -> str:
    job = JobRecord(
        id="feedfacecafe",
        config=TrainingConfig(base_model="gpt2", dataset_path="hf://tatsu-lab/alpaca"),
        phase=JobPhase.RUNNING,
        instance_name="lambda-gui-feedfacecafe",
        instance_type="gpu_1x_a10",
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


async def test_quitting_with_running_jobs_asks(window: MainWindow) -> None:
    job_id = await _running_job(window)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))

    window.close()
    await _answer(window, "stay")
    await asyncio.sleep(0.1)
    assert window.isVisible() and not closed

    window.open_dialog = None
    window.close()
    await _answer(window, "stop")
    await wait_until(lambda: closed, 10, "the window to close")
    job = await window.connector.get_job(job_id)
    assert job.phase is JobPhase.CANCELLED
