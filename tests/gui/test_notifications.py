"""Desktop notifications (gui/notifications.py): a job completing, failing, waiting for a
decision after a failed download, or an instance that may still bill each notify once; a click
brings the window up with the job selected. Offscreen there is no tray: `notices` records what
would have been shown."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.notifications import (
    BILLING,
    COMPLETED,
    DECISION,
    FAILED,
    JobNotifier,
    Notice,
)
from lambda_gui.services.events import BillingWarning, JobPhaseChanged
from lambda_gui.services.store import JobRecord
from tests.gui.conftest import DemoApp
from tests.gui.helpers import wait_until

JOB_WAIT_S = 300.0


def _record(job_id: str = "0a1b2c3d4e5f", **changes: Any) -> JobRecord:
    record = JobRecord(
        id=job_id,
        config=TrainingConfig(base_model="tiny", project_name="notify-me"),
        phase=JobPhase.COMPLETED,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=129,
        instance_id="inst-1",
        billing=Billing.BILLING,
    )
    return replace(record, **changes)


class Jobs:
    """A JobLister over a dict of records."""

    def __init__(self, *records: JobRecord) -> None:
        self.records = {r.id: r for r in records}

    async def get_job(self, job_id: str) -> JobRecord:
        if job_id not in self.records:
            raise JobNotFoundError(f"No job with id {job_id!r}.")
        return self.records[job_id]

    async def list_jobs(self) -> list[JobRecord]:
        return list(self.records.values())


def _notifier(jobs: Jobs) -> tuple[JobNotifier, list[str | None], ErrorReporter]:
    activated: list[str | None] = []
    reporter = ErrorReporter(None, dialogs=False)
    return JobNotifier(jobs, reporter, activated.append), activated, reporter


async def _settle() -> None:
    """Let the notifier's slots that are still running finish."""
    await asyncio.sleep(0.2)


async def test_without_a_tray_notices_are_recorded_once_each() -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen
    done = _record()
    failed = _record("1a1b2c3d4e5f", phase=JobPhase.FAILED, error="CUDA out of memory.")
    kept = _record(
        "2a1b2c3d4e5f",
        phase=JobPhase.DOWNLOADING,
        error="Download failed: disk full.",
        updated_at=10.0,
    )
    jobs = Jobs(done, failed, kept)
    notifier, activated, reporter = _notifier(jobs)
    assert notifier.tray is None

    for _ in range(2):  # the same event twice: one notice
        notifier.on_phase(JobPhaseChanged(done.id, JobPhase.COMPLETED, "Completed."))
        notifier.on_phase(JobPhaseChanged(failed.id, JobPhase.FAILED, "Training failed."))
        notifier.on_phase(JobPhaseChanged(kept.id, JobPhase.DOWNLOADING, "Download failed."))
    await wait_until(lambda: len(notifier.notices) >= 3, 5, "three notices")
    await _settle()
    kinds = {n.kind: n for n in notifier.notices}
    assert len(notifier.notices) == 3 and set(kinds) == {COMPLETED, FAILED, DECISION}
    assert kinds[COMPLETED].job_id == done.id
    assert "notify-me" in kinds[COMPLETED].title and done.id in kinds[COMPLETED].message
    assert "CUDA out of memory." in kinds[FAILED].message
    assert "$1.29/h" in kinds[DECISION].message and "retry the download" in kinds[DECISION].message

    # Downloading without an error is no decision; a second failure after a retry is one.
    jobs.records[kept.id] = replace(kept, error=None, updated_at=11.0)
    notifier.on_phase(JobPhaseChanged(kept.id, JobPhase.DOWNLOADING, "Downloading."))
    await _settle()
    assert len(notifier.notices) == 3
    jobs.records[kept.id] = replace(kept, updated_at=12.0)
    notifier.on_phase(JobPhaseChanged(kept.id, JobPhase.DOWNLOADING, "Download failed."))
    await wait_until(lambda: len(notifier.notices) == 4, 5, "the second decision")
    # Other phases say nothing.
    notifier.on_phase(JobPhaseChanged(done.id, JobPhase.RUNNING, "Training."))
    await _settle()
    assert len(notifier.notices) == 4

    notifier.activate(kinds[FAILED])
    notifier.activate()  # the last one shown
    assert activated == [failed.id, kept.id]
    assert not reporter.history, [r.text.full() for r in reporter.history]


async def test_a_billing_warning_notifies_once_until_it_is_resolved() -> None:
    job = _record()
    notifier, activated, reporter = _notifier(Jobs(job))

    def warn(**kw: Any) -> BillingWarning:
        return BillingWarning(
            "inst-1", job.instance_name, 1.29, "Instance may still be billing $1.29/h.", **kw
        )

    notifier.on_billing_warning(warn(retrying=True))  # the app is still asking Lambda
    await _settle()
    assert notifier.notices == []
    notifier.on_billing_warning(warn())
    notifier.on_billing_warning(warn())
    await wait_until(lambda: notifier.notices, 5, "the billing notice")
    await _settle()
    assert notifier.notices == [
        Notice(BILLING, "An instance may still be billing", warn().message, job.id)
    ]
    notifier.on_billing_warning(warn(resolved=True))
    notifier.on_billing_warning(warn())
    await wait_until(lambda: len(notifier.notices) == 2, 5, "a new warning after the resolve")
    # An instance no job here owns: the notice has no job, a click just shows the Jobs tab.
    notifier.on_billing_warning(BillingWarning("inst-x", "lambda-gui-other", 2.0, "Orphan."))
    await wait_until(lambda: len(notifier.notices) == 3, 5, "the orphan's notice")
    assert notifier.notices[-1].job_id is None
    notifier.activate()
    assert activated == [None]
    assert not reporter.history


async def test_with_a_tray_the_message_shows_and_a_click_activates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda self, title, text, *a: shown.append((title, text))
    )
    job = _record()
    notifier, activated, _reporter = _notifier(Jobs(job))
    assert notifier.tray is not None and not notifier.tray.icon().isNull()
    notifier.on_phase(JobPhaseChanged(job.id, JobPhase.COMPLETED, "Completed."))
    await wait_until(lambda: shown, 5, "the message")
    assert shown[0][0] == "Job completed: notify-me" and job.id in shown[0][1]
    notifier.tray.messageClicked.emit()
    notifier.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    notifier.tray.activated.emit(QSystemTrayIcon.ActivationReason.Context)  # its menu, if any
    assert activated == [job.id, job.id]
    notifier.close()
    assert not notifier.tray.isVisible()


@pytest.mark.slow
async def test_a_demo_job_completing_notifies_once_and_a_click_selects_it(
    demo_app: DemoApp,
) -> None:
    win, demo = demo_app.window, demo_app.demo
    notifier = win.notifier
    config = demo.training_config()
    config.max_steps = 6
    config.samples = 0
    job_id = await win.connector.submit_job(config)
    deadline = time.monotonic() + JOB_WAIT_S
    while not (await win.connector.get_job(job_id)).phase.is_terminal:
        assert time.monotonic() < deadline, "the demo job did not end"
        await asyncio.sleep(0.2)
    record = await win.connector.get_job(job_id)
    assert record.phase is JobPhase.COMPLETED, record.error
    await wait_until(lambda: notifier.notices, 5, "the notice")
    await asyncio.sleep(1.0)  # the terminate that follows notifies nothing more
    assert [n.kind for n in notifier.notices] == [COMPLETED], notifier.notices
    notice = notifier.notices[0]
    assert notice.job_id == job_id and job_id in notice.message and "demo" in notice.title

    # Elsewhere in the window, with no job on show: the click brings the job up.
    win.tabs.setCurrentWidget(win.catalog)
    win.jobs.detail.clear()
    notifier.activate(notice)
    assert win.tabs.currentWidget() is win.jobs
    await wait_until(lambda: win.jobs.detail.job_id == job_id, 5, "the job selected")
    assert not win.reporter.history, [r.text.full() for r in win.reporter.history]
