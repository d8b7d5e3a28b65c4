"""A failed adapter download keeps the instance, and the Jobs tab says so with two ways out.

On the simulator, a real job's download fails for real (a directory stands where the .part
file goes, so writing it raises an OSError): the job stays Downloading with the message, the
instance stays active and billing, and Retry download (once the obstacle is gone) resumes,
verifies and completes the job and terminates the instance. Without a cloud, a fake JobControl
shows the terminate question naming the $/h, and both buttons disabled while one runs.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.core.dataset_format import Progress
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.panels.job_detail import JobDetail
from lambda_gui.gui.panels.job_progress import LiveProgress, download_kept
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.events import Event, JobPhaseChanged
from lambda_gui.services.ports import JobControl
from lambda_gui.services.store import JobRecord
from tests.e2e.conftest import demo_config
from tests.gui.conftest import FAST, close_window, sim_credentials
from tests.gui.helpers import wait_until

GONE = ("terminating", "terminated", None)


def _errors(window: MainWindow) -> list[str]:
    return [r.text.full() for r in window.reporter.history]


@pytest.fixture
async def app(sim: Any, credentials: CredentialStore) -> AsyncIterator[MainWindow]:
    """A connected window whose errors are recorded, not shown in dialogs."""
    from lambda_gui.cloud.pacing import Pacer

    connector = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), timing=FAST)
    window = MainWindow(connector, credentials, dialogs=False)
    window.resize(1280, 820)
    window.show()
    await window.connect_with(sim_credentials(sim))
    try:
        yield window
    finally:
        await close_window(window)
        await connector.disconnect()


@pytest.mark.slow
async def test_a_failed_download_keeps_the_instance_until_retry_download_completes(
    app: MainWindow, sim: Any, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = app.connector
    obstacles: list[Path] = []

    def block_the_part_file(event: Event) -> None:
        # Once training runs (the job folder exists), a directory takes the .part file's
        # place: the download cannot write it (root ignores file modes; this it cannot).
        if isinstance(event, JobPhaseChanged) and event.phase is JobPhase.RUNNING:
            part = connector.paths.job_dir(event.job_id) / "adapter.tar.gz.part"
            if not obstacles:
                part.mkdir(parents=True, exist_ok=True)
                obstacles.append(part)

    unsubscribe = connector.events.subscribe(block_the_part_file)
    job_id = await connector.submit_job(demo_config(tiny_model, max_steps=10))
    jobs, detail = app.jobs, app.jobs.detail
    app.show_job(job_id)  # the Jobs tab, this job selected (as Launch does)
    await wait_until(lambda: detail.job_id == job_id, 10, "the job on show")
    await wait_until(
        lambda: job_id in jobs.records and download_kept(jobs.records[job_id]),
        90,
        "the download to fail",
    )
    unsubscribe()
    assert obstacles and obstacles[0].is_dir()

    job = await connector.get_job(job_id)
    assert job.phase is JobPhase.DOWNLOADING and job.billing is Billing.BILLING, job.error
    assert job.instance_id and sim.instance_status(job.instance_id) == "active"
    rate = f"${job.price_cents_per_hour / 100:.2f}/h"
    assert job.error and job.error.startswith("Download failed:") and rate in job.error
    assert "adapter.tar.gz.part" in job.error  # it failed on the obstacle, for real

    # The tab shows the message prominently with both ways out; the job waits for the user.
    await wait_until(detail.kept_box.isVisible, 5, "the download-failed box")
    assert detail.job_id == job_id
    assert detail.kept_label.text() == job.error
    assert not detail.message_label.isVisible()
    assert detail.retry_download_button.isVisible() and detail.retry_download_button.isEnabled()
    assert detail.terminate_button.isVisible() and detail.terminate_button.isEnabled()
    assert detail.billing_value.text() == Billing.BILLING.label
    await asyncio.sleep(1.0)  # no task drives it: nothing moves on its own, it keeps billing
    assert (await connector.get_job(job_id)).updated_at == job.updated_at
    assert sim.instance_status(job.instance_id) == "active"
    assert not _errors(app), _errors(app)

    # Retry once the obstacle is gone; the button is disabled while the retry runs.
    obstacles[0].rmdir()
    seen_while_running: list[tuple[bool, str]] = []
    retry = connector.retry_download

    async def watched_retry(retry_job_id: str) -> bool:
        button = detail.retry_download_button
        seen_while_running.append((button.isEnabled(), button.text()))
        return await retry(retry_job_id)

    monkeypatch.setattr(connector, "retry_download", watched_retry)
    detail.retry_download_button.click()
    await wait_until(lambda: jobs.records[job_id].phase.is_terminal, 60, "the retried job to end")
    assert seen_while_running == [(False, "Retrying…")]

    record = await connector.get_job(job_id)
    assert record.phase is JobPhase.COMPLETED, record.error
    assert record.error is None and record.billing is Billing.TERMINATED
    assert sim.instance_status(job.instance_id) in GONE
    # The adapter is here, whole and verified against the instance's sha256.
    assert record.adapter_path is not None
    adapter = Path(record.adapter_path)
    digest = hashlib.sha256(adapter.read_bytes()).hexdigest()
    recorded = adapter.with_name(adapter.name + ".sha256").read_text().split()[0]
    assert digest == recorded
    assert not adapter.with_name(adapter.name + ".part").exists()

    await wait_until(lambda: not detail.kept_box.isVisible(), 5, "the box to go")
    await wait_until(
        lambda: detail.billing_value.text() == Billing.TERMINATED.label, 5, "the billing line"
    )
    assert detail.download_button.isEnabled()
    assert not app.billing_banner.isVisible()
    assert not _errors(app), _errors(app)


# -- without a cloud: a fake JobControl -------------------------------------------------------


class FakeJobs:
    """Just what the Jobs tab's detail needs (services.ports.JobControl), in memory."""

    def __init__(self, record: JobRecord) -> None:
        self.record = record
        self.cancelled: list[str] = []
        self.retried: list[str] = []
        self.release = asyncio.Event()

    async def submit_job(self, config: TrainingConfig, progress: Progress | None = None) -> str:
        raise AssertionError("not submitted here")

    async def keep_tracker_secrets(self, config: TrainingConfig) -> TrainingConfig:
        raise AssertionError("no secrets here")

    async def get_job(self, job_id: str) -> JobRecord:
        return self.record

    async def list_jobs(self) -> list[JobRecord]:
        return [self.record]

    async def read_metrics(self, job_id: str) -> list[dict[str, Any]]:
        return []

    async def stream_logs(self, job_id: str, offset: int = 0) -> AsyncIterator[str]:
        for line in ("training done",):
            yield line

    async def cancel_job(self, job_id: str) -> bool:
        self.cancelled.append(job_id)
        await self.release.wait()
        return True

    async def retry_download(self, job_id: str) -> bool:
        self.retried.append(job_id)
        await self.release.wait()
        return True

    async def download_artifact(
        self, job_id: str, dest: Path | str, progress: Callable[[int, int], None] | None = None
    ) -> Path:
        raise AssertionError("no adapter here")


def _kept_record() -> JobRecord:
    return JobRecord(
        id="job0123",
        config=TrainingConfig(base_model="tiny", project_name="demo"),
        phase=JobPhase.DOWNLOADING,
        instance_name="lambda-gui-job0123",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=129,
        instance_id="inst-1",
        ip="127.0.0.1",
        started_at=1.0,
        billing=Billing.BILLING,
        error="Download failed: disk full. The instance is kept, billing $1.29/h, with the "
        "adapter on it: Retry download, or Terminate it.",
    )


@pytest.fixture
async def kept() -> AsyncIterator[tuple[JobDetail, FakeJobs]]:
    """The detail of a job whose download failed, over a fake JobControl."""
    fake = FakeJobs(_kept_record())
    control: JobControl = fake  # mypy: the fake satisfies the Protocol
    reporter = ErrorReporter(None, dialogs=False)
    detail = JobDetail(control, reporter)
    detail.show()
    detail.show_job(fake.record, LiveProgress())
    await wait_until(lambda: not detail.backfilling, 5, "the backfill")
    try:
        yield detail, fake
    finally:
        fake.release.set()
        await cancel_slot_tasks()
        assert not reporter.history, [r.text.full() for r in reporter.history]
        detail.close()
        detail.deleteLater()


async def test_terminate_asks_naming_the_hourly_cost_and_keep_it_does_nothing(
    kept: tuple[JobDetail, FakeJobs],
) -> None:
    detail, fake = kept
    assert detail.kept_box.isVisible() and "Download failed: disk full" in detail.kept_label.text()
    assert detail.billing_value.text() == Billing.BILLING.label

    detail.terminate_button.click()
    await wait_until(lambda: detail.confirm_box is not None and detail.confirm_box.isVisible())
    box = detail.confirm_box
    assert box is not None
    assert "$1.29/h" in box.text() and "lambda-gui-job0123" in box.text()
    next(b for b in box.buttons() if b.objectName() == "no").click()
    await wait_until(lambda: not box.isVisible())
    await asyncio.sleep(0.05)
    assert fake.cancelled == [] and detail.terminate_button.isEnabled()

    detail.confirm_box = None
    detail.terminate_button.click()
    await wait_until(lambda: detail.confirm_box is not None and detail.confirm_box.isVisible())
    assert detail.confirm_box is not None
    next(b for b in detail.confirm_box.buttons() if b.objectName() == "yes").click()
    await wait_until(lambda: fake.cancelled == ["job0123"], 5, "cancel_job")
    # Both ways out are disabled while the terminate runs.
    assert not detail.terminate_button.isEnabled()
    assert not detail.retry_download_button.isEnabled()
    fake.release.set()
    await wait_until(detail.terminate_button.isEnabled, 5, "the terminate to end")


async def test_retry_download_is_disabled_until_the_job_moves_on(
    kept: tuple[JobDetail, FakeJobs],
) -> None:
    detail, fake = kept
    detail.retry_download_button.click()
    await wait_until(lambda: fake.retried == ["job0123"], 5, "retry_download")
    assert not detail.retry_download_button.isEnabled()
    assert detail.retry_download_button.text() == "Retrying…"
    assert not detail.terminate_button.isEnabled()
    fake.release.set()
    await asyncio.sleep(0.05)
    # Started, but the job's record has not moved yet: still disabled.
    assert not detail.retry_download_button.isEnabled()
    # The drive clears the error (downloading again): the box goes.
    moved = JobRecord(**{**fake.record.__dict__, "error": None, "updated_at": 2e9})
    detail.update_record(moved, "Training finished; downloading the adapter.")
    assert not detail.kept_box.isVisible() and detail.message_label.isVisible()
    # It failed again: both buttons are back.
    failed = JobRecord(**{**moved.__dict__, "error": "Download failed: again.", "updated_at": 3e9})
    detail.update_record(failed)
    assert detail.kept_box.isVisible() and detail.kept_label.text() == "Download failed: again."
    assert detail.retry_download_button.isEnabled()
    assert detail.retry_download_button.text() == "Retry download"
