"""The job detail's actions on a job: Clone… (the wizard filled in with its config), Run
again… (asks, naming the instance type and the estimated cost, then submits the same config)
and Delete… (asks, naming the folder, its size and that the instance is not touched; disabled,
saying why, while the job may bill or is not over)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from lambda_gui.core.dataset_format import Progress
from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.panels.job_detail import JobDetail, format_bytes
from lambda_gui.gui.panels.job_progress import LiveProgress
from lambda_gui.services.job_delete import DeletedJob, JobFolder
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import answer_confirm, wait_until
from tests.gui.test_download_kept import FakeJobs

CONFIG = TrainingConfig(
    base_model="org/some-model",
    project_name="clone-me",
    rank=8,
    alpha=16,
    resource_id="gpu_1x_a100",
    dataset_path="/data/train.jsonl",
    learning_rate=1e-4,
)


def _record(
    job_id: str = "0a1b2c3d4e5f",
    phase: JobPhase = JobPhase.COMPLETED,
    billing: Billing = Billing.TERMINATED,
) -> JobRecord:
    return JobRecord(
        id=job_id,
        config=TrainingConfig.from_dict(CONFIG.to_dict()),
        phase=phase,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a100",
        price_cents_per_hour=129,
        instance_id="inst-9",
        launch_sent_at=1000.0,
        ended_at=1600.0,
        updated_at=1600.0,
        billing=billing,
    )


class ActingJobs(FakeJobs):
    """FakeJobs that submits (recording the config) and deletes (recording the id)."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(record)
        self.release.set()
        self.submitted: list[TrainingConfig] = []
        self.deleted: list[str] = []

    async def submit_job(self, config: TrainingConfig, progress: Progress | None = None) -> str:
        self.submitted.append(config)
        return "ffffffffffff"

    async def job_folder(self, job_id: str) -> JobFolder:
        return JobFolder(Path("/data/jobs") / job_id, 3_300_000)

    async def delete_job(self, job_id: str) -> DeletedJob:
        self.deleted.append(job_id)
        return DeletedJob(Path("/data/jobs") / job_id, 3_300_000)


@pytest.fixture
async def acting() -> AsyncIterator[tuple[JobDetail, ActingJobs]]:
    fake = ActingJobs(_record())
    reporter = ErrorReporter(None, dialogs=False)
    detail = JobDetail(fake, reporter)
    detail.resize(1100, 700)
    detail.show()
    detail.show_job(fake.record, LiveProgress())
    await wait_until(lambda: not detail.backfilling, 5, "the backfill")
    try:
        yield detail, fake
    finally:
        await cancel_slot_tasks()
        assert not reporter.history, [r.text.full() for r in reporter.history]
        detail.close()
        detail.deleteLater()


def test_sizes_read_as_a_file_manager_shows_them() -> None:
    assert format_bytes(0) == "0 bytes"
    assert format_bytes(999) == "999 bytes"
    assert format_bytes(3347) == "3.3 KB"
    assert format_bytes(3_300_000) == "3.3 MB"
    assert format_bytes(12_000_000_000_000) == "12,000.0 GB"


# -- Run again -------------------------------------------------------------------------------


async def test_run_again_names_the_instance_and_cost_then_submits_the_same_config(
    acting: tuple[JobDetail, ActingJobs],
) -> None:
    detail, fake = acting
    submitted: list[str] = []
    detail.job_submitted.connect(submitted.append)
    assert detail.run_again_button.isEnabled()

    box = await answer_confirm(detail, detail.run_again_button, "no")
    text = box.text()
    assert "gpu_1x_a100" in text and "$1.29/h" in text
    assert "Estimated cost: about $0.21" in text  # what 600 s at $1.29/h cost
    assert fake.submitted == [] and submitted == []

    await answer_confirm(detail, detail.run_again_button, "yes")
    await wait_until(lambda: submitted == ["ffffffffffff"], 5, "the new job")
    (config,) = fake.submitted
    assert config == fake.record.config and config is not fake.record.config
    assert detail.run_again_button.isEnabled()


async def test_run_again_of_a_job_that_ended_early_gives_no_estimate(
    acting: tuple[JobDetail, ActingJobs],
) -> None:
    detail, fake = acting
    cfg = replace(fake.record.config, budget_usd=5.0)
    detail.update_record(replace(fake.record, phase=JobPhase.CANCELLED, config=cfg))
    box = await answer_confirm(detail, detail.run_again_button, "no")
    assert (
        "no estimate of a whole run" in box.text() and "budget cap stops it at $5.00" in box.text()
    )
    never = replace(fake.record, phase=JobPhase.FAILED, launch_sent_at=None, instance_id=None)
    detail.update_record(never)
    box = await answer_confirm(detail, detail.run_again_button, "no")
    assert "launched no instance" in box.text()
    assert fake.submitted == []


async def test_a_running_job_can_be_cloned_but_not_run_again_or_deleted(
    acting: tuple[JobDetail, ActingJobs],
) -> None:
    detail, fake = acting
    detail.update_record(replace(fake.record, phase=JobPhase.RUNNING, billing=Billing.BILLING))
    assert detail.clone_button.isEnabled()
    assert not detail.run_again_button.isEnabled()
    assert "Clone" in detail.run_again_button.toolTip()
    assert not detail.delete_button.isEnabled()
    assert "may still be billing" in detail.delete_button.toolTip()
    detail.update_record(replace(fake.record, phase=JobPhase.RUNNING, billing=Billing.NONE))
    assert not detail.delete_button.isEnabled() and "not over" in detail.delete_button.toolTip()
    clones: list[tuple[str, TrainingConfig]] = []
    detail.clone_requested.connect(lambda job_id, cfg: clones.append((job_id, cfg)))
    detail.clone_button.click()
    assert clones == [(fake.record.id, fake.record.config)]
    assert clones[0][1] is not fake.record.config


# -- Delete ----------------------------------------------------------------------------------


async def test_delete_is_disabled_saying_why_while_the_instance_may_bill(
    acting: tuple[JobDetail, ActingJobs],
) -> None:
    detail, fake = acting
    assert detail.delete_button.isEnabled()
    assert "nothing on Lambda Cloud is touched" in detail.delete_button.toolTip()
    for billing in (b for b in Billing if b.may_bill):
        detail.update_record(replace(fake.record, billing=billing))
        assert not detail.delete_button.isEnabled(), billing
        assert "may still be billing" in detail.delete_button.toolTip(), billing
    detail.update_record(replace(fake.record, phase=JobPhase.FAILED, billing=Billing.NONE))
    assert detail.delete_button.isEnabled()


async def test_delete_asks_naming_the_folder_and_size(
    acting: tuple[JobDetail, ActingJobs],
) -> None:
    detail, fake = acting
    deleted: list[str] = []
    detail.job_deleted.connect(deleted.append)
    box = await answer_confirm(detail, detail.delete_button, "no")
    text = box.text()
    assert "/data/jobs/0a1b2c3d4e5f" in text and "3.3 MB" in text
    assert "instance is not touched" in text
    assert fake.deleted == [] and deleted == []
    await answer_confirm(detail, detail.delete_button, "yes")
    await wait_until(lambda: deleted == ["0a1b2c3d4e5f"], 5, "the deletion")
    assert fake.deleted == ["0a1b2c3d4e5f"]
    assert detail.job_id is None and detail.title.text() == "No job selected"
    assert not detail.delete_button.isEnabled() and not detail.clone_button.isEnabled()


async def test_without_a_deleter_delete_stays_disabled() -> None:
    fake = FakeJobs(_record())
    detail = JobDetail(fake, ErrorReporter(None, dialogs=False))
    detail.show_job(fake.record, LiveProgress())
    await wait_until(lambda: not detail.backfilling, 5, "the backfill")
    assert not detail.delete_button.isEnabled()
    assert "cannot delete" in detail.delete_button.toolTip()
    await cancel_slot_tasks()
    detail.deleteLater()


# -- in the window, over a real connector -------------------------------------------------------


async def test_delete_removes_the_row_and_folder_and_the_list_moves_on(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = window.connector
    other = _record("1a1b2c3d4e5f", phase=JobPhase.FAILED, billing=Billing.NONE)
    job = _record()
    for each in (other, job):
        await connector.store.insert_job(each)
    folder = connector.paths.job_dir(job.id)
    (folder / "train.log").write_bytes(b"x" * 1000)
    (folder / "adapter.tar.gz").write_bytes(b"y" * 2345)
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job.id, 5, "the job on show")
    await wait_until(detail.delete_button.isEnabled, 5, "Delete enabled")

    box = await answer_confirm(detail, detail.delete_button, "yes")
    assert str(folder) in box.text() and "3.3 KB" in box.text()
    await wait_until(lambda: job.id not in window.jobs.records, 5, "the list to reload")
    with pytest.raises(JobNotFoundError):
        await connector.get_job(job.id)
    assert not folder.exists()
    assert window.jobs.model.row_of(job.id) is None
    await wait_until(lambda: detail.job_id == other.id, 5, "the other job on show")
    assert (await connector.get_job(other.id)).phase is JobPhase.FAILED
    assert f"Deleted job {job.id}" in window.statusBar().currentMessage()
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]


async def test_clone_opens_the_wizard_filled_in_with_the_jobs_config(window: MainWindow) -> None:
    job = _record()
    await window.connector.store.insert_job(job)
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job.id, 5, "the job on show")
    detail.clone_button.click()
    wizard = window.wizard
    assert window.tabs.currentWidget() is wizard
    for name in ("base_model", "project_name", "rank", "alpha", "resource_id", "learning_rate"):
        assert wizard.wizard.get(name) == getattr(CONFIG, name), name
    assert wizard.compute_page.type_chosen
    assert job.id in wizard.status.text()
    assert not window.reporter.history


async def test_run_again_selects_the_new_job(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = window.connector
    job, new = _record(), _record("3a1b2c3d4e5f", phase=JobPhase.PENDING, billing=Billing.NONE)
    await connector.store.insert_job(job)
    submitted: list[TrainingConfig] = []

    async def submit(config: TrainingConfig, progress: Progress | None = None) -> str:
        submitted.append(config)
        await connector.store.insert_job(replace(new, config=config))
        return new.id

    monkeypatch.setattr(connector, "submit_job", submit)
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job.id, 5, "the job on show")
    window.tabs.setCurrentWidget(window.catalog)
    await answer_confirm(detail, detail.run_again_button, "yes")
    await wait_until(lambda: detail.job_id == new.id, 5, "the new job on show")
    assert window.tabs.currentWidget() is window.jobs
    assert submitted == [job.config]
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
