"""A completed job's samples side by side (gui/widgets/samples_view.py) in the job detail's
Samples tab: the table model without a window, the view's empty, error and copy behaviour,
and, over a real connector, samples.json read when a job is shown completed and when it
completes while shown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, Sample, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.panels.job_detail import JobDetail
from lambda_gui.gui.panels.job_progress import LiveProgress
from lambda_gui.gui.widgets.samples_view import (
    BASE,
    EMPTY_TEXT,
    FULL_TEXT_ROLE,
    MAX_CELL_CHARS,
    PROMPT,
    REFERENCE,
    TUNED,
    UNREADABLE_PREFIX,
    WAITING_TEXT,
    SamplesTableModel,
    SamplesView,
    elide,
)
from lambda_gui.services.events import JobPhaseChanged
from lambda_gui.services.samples import SamplesUnreadableError
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import wait_until
from tests.gui.test_download_kept import FakeJobs

LONG = "word " * 400
SAMPLES = [
    Sample("What is 2+2?", "2+2 is a sum.", "4", "4"),
    Sample("Name a colour.", LONG, "Blue.", None),
]


def _record(job_id: str, phase: JobPhase = JobPhase.COMPLETED) -> JobRecord:
    return JobRecord(
        id=job_id,
        config=TrainingConfig(base_model="tiny", project_name="samples-demo"),
        phase=phase,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=129,
        billing=Billing.TERMINATED if phase.is_terminal else Billing.NONE,
    )


def _write_samples(folder: Path, samples: list[Sample]) -> None:
    rows = [
        {"prompt": s.prompt, "base": s.base, "tuned": s.tuned, "reference": s.reference}
        for s in samples
    ]
    (folder / "samples.json").write_text(json.dumps({"samples": rows}), "utf-8")


# -- the model, without a window --------------------------------------------------------------


def test_elide_cuts_long_text_and_many_lines_and_marks_the_cut() -> None:
    assert elide("short") == "short"
    cut = elide("x" * (MAX_CELL_CHARS + 50))
    assert len(cut) == MAX_CELL_CHARS + 1 and cut.endswith("…")
    assert elide("\n".join(str(i) for i in range(30)), max_lines=3) == "0\n1\n2…"


def test_the_model_shows_each_sample_with_its_whole_text_in_tooltip_and_copy_role() -> None:
    model = SamplesTableModel()
    model.set_samples(SAMPLES)
    assert model.rowCount() == 2 and model.columnCount() == 4
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(4)]
    assert header == ["Prompt", "Base model", "Tuned model", "Reference"]
    cell = model.index(0, TUNED)
    assert model.data(cell) == "4" and model.data(model.index(0, PROMPT)) == "What is 2+2?"
    long_cell = model.index(1, BASE)
    shown = model.data(long_cell)
    assert isinstance(shown, str) and shown.endswith("…") and len(shown) <= MAX_CELL_CHARS + 1
    assert model.data(long_cell, FULL_TEXT_ROLE) == LONG
    tip = model.data(long_cell, Qt.ItemDataRole.ToolTipRole)
    assert isinstance(tip, str) and LONG.strip() in tip and "pre-wrap" in tip
    # No reference: a dash, no tooltip, "" to copy.
    missing = model.index(1, REFERENCE)
    assert model.data(missing) == "—"
    assert model.data(missing, Qt.ItemDataRole.ToolTipRole) is None
    assert model.data(missing, FULL_TEXT_ROLE) == ""
    assert model.has_reference
    # Markup in an answer is shown as text, never rendered.
    model.set_samples([Sample("<b>p</b>", "<i>b</i>", "t")])
    tip = model.data(model.index(0, PROMPT), Qt.ItemDataRole.ToolTipRole)
    assert isinstance(tip, str) and "&lt;b&gt;p&lt;/b&gt;" in tip
    assert not model.has_reference


# -- the view ------------------------------------------------------------------------------


class Reader:
    def __init__(self, result: list[Sample] | Exception) -> None:
        self.result = result
        self.asked: list[str] = []

    async def get_samples(self, job_id: str) -> list[Sample]:
        self.asked.append(job_id)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_the_view_says_when_there_are_none_or_they_cannot_be_read() -> None:
    view = SamplesView()
    view.resize(900, 500)
    view.show()
    assert await view.load(Reader([]), "j1")
    assert view.status.text() == EMPTY_TEXT and not view.table.isVisible()
    error = SamplesUnreadableError("/x/samples.json is not valid JSON (boom).")
    assert await view.load(Reader(error), "j1")
    assert view.status.text() == UNREADABLE_PREFIX + str(error)
    assert not view.table.isVisible()
    assert await view.load(Reader(SAMPLES), "j1")
    assert view.table.isVisible() and view.count == 2
    assert view.status.text().startswith("2 samples:")
    assert not view.table.isColumnHidden(REFERENCE)
    # Rows grow to fit their wrapped text: the long answer's row is taller.
    assert view.table.rowHeight(1) > view.table.rowHeight(0)
    view.close()
    view.deleteLater()


async def test_copy_takes_the_whole_text_of_the_selected_cells() -> None:
    view = SamplesView()
    view.show()
    view.set_samples(SAMPLES[1:])
    assert view.table.isColumnHidden(REFERENCE)  # no sample has one
    view.table.selectRow(0)
    copied = view.copy_selection()
    assert copied == f"Name a colour.\t{LONG}\tBlue."
    assert QGuiApplication.clipboard().text() == copied
    view.table.clearSelection()
    view.table.setCurrentIndex(view.model.index(0, BASE))
    view.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == LONG
    view.close()
    view.deleteLater()


# -- in the job detail, over a fake --------------------------------------------------------


class SampleJobs(FakeJobs):
    """FakeJobs with samples."""

    def __init__(self, record: JobRecord, samples: list[Sample]) -> None:
        super().__init__(record)
        self.samples = samples
        self.asked: list[str] = []

    async def get_samples(self, job_id: str) -> list[Sample]:
        self.asked.append(job_id)
        return self.samples


@pytest.fixture
async def detail() -> AsyncIterator[tuple[JobDetail, SampleJobs]]:
    fake = SampleJobs(_record("job0789", JobPhase.RUNNING), SAMPLES)
    fake.release.set()
    reporter = ErrorReporter(None, dialogs=False)
    widget = JobDetail(fake, reporter)
    widget.resize(1000, 700)
    widget.show()
    try:
        yield widget, fake
    finally:
        await cancel_slot_tasks()
        assert not reporter.history, [r.text.full() for r in reporter.history]
        widget.close()
        widget.deleteLater()


async def test_samples_are_read_once_when_the_job_completes(
    detail: tuple[JobDetail, SampleJobs],
) -> None:
    widget, fake = detail
    widget.show_job(fake.record, LiveProgress())
    assert widget.samples.status.text() == WAITING_TEXT and fake.asked == []
    tab = widget.views.indexOf(widget.samples)
    assert widget.views.tabText(tab) == "Samples"
    done = replace(fake.record, phase=JobPhase.COMPLETED, billing=Billing.TERMINATED)
    widget.update_record(done, "Completed.")
    await wait_until(lambda: widget.samples.count == 2, 5, "the samples")
    assert fake.asked == ["job0789"]
    assert widget.views.tabText(tab) == "Samples (2)"
    widget.update_record(replace(done, updated_at=done.updated_at + 1))  # a billing update
    await wait_until(lambda: not widget.backfilling, 5)
    assert fake.asked == ["job0789"]


# -- over a real connector ----------------------------------------------------------------


async def test_a_completed_job_shows_its_samples_json(window: MainWindow) -> None:
    connector = window.connector
    job = _record("0a1b2c3d4e5f")
    await connector.store.insert_job(job)
    _write_samples(connector.paths.job_dir(job.id), SAMPLES)
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job.id, 5, "the job on show")
    await wait_until(lambda: detail.samples.count == 2, 5, "the samples")
    model = detail.samples.model
    assert (
        model.sample(0) == SAMPLES[0] and model.data(model.index(1, BASE), FULL_TEXT_ROLE) == LONG
    )
    detail.views.setCurrentWidget(detail.samples)
    assert detail.samples.table.isVisible()
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]


async def test_an_unreadable_samples_json_says_so(window: MainWindow) -> None:
    connector = window.connector
    job = _record("1a1b2c3d4e5f")
    await connector.store.insert_job(job)
    (connector.paths.job_dir(job.id) / "samples.json").write_text("{not json", "utf-8")
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(
        lambda: detail.samples.status.text().startswith(UNREADABLE_PREFIX), 5, "the error line"
    )
    assert "samples.json" in detail.samples.status.text()
    assert not detail.samples.table.isVisible()
    assert not window.reporter.history


async def test_samples_load_when_the_shown_job_completes(window: MainWindow) -> None:
    connector = window.connector
    job = _record("2a1b2c3d4e5f", JobPhase.DOWNLOADING)
    await connector.store.insert_job(job)
    window.show_job(job.id)
    detail = window.jobs.detail
    await wait_until(lambda: detail.job_id == job.id, 5, "the job on show")
    assert detail.samples.status.text() == WAITING_TEXT
    _write_samples(connector.paths.job_dir(job.id), SAMPLES[:1])
    # As the lifecycle does once the download is verified.
    await connector.store.write_state(job.id, phase=JobPhase.COMPLETED, billing=Billing.TERMINATED)
    connector.events.publish(JobPhaseChanged(job.id, JobPhase.COMPLETED, "Completed."))
    await wait_until(lambda: detail.samples.count == 1, 5, "the samples")
    assert detail.views.tabText(detail.views.indexOf(detail.samples)) == "Samples (1)"
    assert not window.reporter.history
