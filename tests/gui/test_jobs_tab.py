"""The Jobs tab as a practitioner reads it: a finished job says what it cost and where its
adapter is (with Open folder), its one action is named for what it does (Terminate instance…,
and none once nothing bills); the money banners are one line each with a Details toggle, and
with both up the jobs table still shows at least four rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from lambda_gui.core.job_state import Billing
from lambda_gui.core.log_reader import SHOWN_LINES, LogReader
from lambda_gui.core.logparse import MetricEvent
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.models.jobs_table import COST, NAME, PHASE
from lambda_gui.gui.panels.job_detail import JobDetail
from lambda_gui.gui.panels.job_progress import LiveProgress, job_row
from lambda_gui.gui.panels.jobs_panel import MIN_VISIBLE_ROWS
from lambda_gui.gui.panels.money_banners import BillingBanner, OrphanBanner
from lambda_gui.services.events import BillingWarning, JobLogLines, Orphan
from lambda_gui.services.log_span import SpanLines
from lambda_gui.services.ports import JobControl, MoneyWatch
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import wait_until
from tests.gui.test_download_kept import FakeJobs


def _completed(adapter: Path, billing: Billing) -> JobRecord:
    return JobRecord(
        id="job0456",
        config=TrainingConfig(base_model="tiny", project_name="demo"),
        phase=JobPhase.COMPLETED,
        instance_name="lambda-gui-job0456",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=129,
        instance_id="inst-2",
        launch_sent_at=1000.0,
        ended_at=1600.0,
        updated_at=1600.0,
        billing=billing,
        adapter_path=str(adapter),
    )


@pytest.fixture
async def finished(tmp_path: Path) -> AsyncIterator[tuple[JobDetail, FakeJobs, Path]]:
    """The detail of a completed job whose instance still bills (kept by the setting)."""
    adapter = tmp_path / "jobs" / "job0456" / "adapter.tar.gz"
    adapter.parent.mkdir(parents=True)
    adapter.write_bytes(b"adapter")
    fake = FakeJobs(_completed(adapter, Billing.BILLING))
    fake.release.set()
    control: JobControl = fake
    reporter = ErrorReporter(None, dialogs=False)
    detail = JobDetail(control, reporter)
    detail.resize(1000, 700)
    detail.show()
    detail.show_job(fake.record, LiveProgress())
    await wait_until(lambda: not detail.backfilling, 5, "the backfill")
    try:
        yield detail, fake, adapter
    finally:
        await cancel_slot_tasks()
        assert not reporter.history, [r.text.full() for r in reporter.history]
        detail.close()
        detail.deleteLater()


async def test_a_completed_job_still_billing_offers_terminate_instance(
    finished: tuple[JobDetail, FakeJobs, Path],
) -> None:
    detail, fake, _adapter = finished
    assert detail.phase_label.text() == "Completed — instance billing"
    assert detail.cancel_button.isVisible() and detail.cancel_button.isEnabled()
    assert detail.cancel_button.text() == "Terminate instance…"
    assert detail.spent_name.text() == "Spent so far:"  # it still grows
    assert detail.projected_value.text() == "open: billing until the instance is terminated"

    detail.cancel_button.click()
    await wait_until(lambda: detail.confirm_box is not None and detail.confirm_box.isVisible())
    box = detail.confirm_box
    assert box is not None
    assert "$1.29/h" in box.text() and "lambda-gui-job0456" in box.text()
    assert "adapter is saved on this computer" in box.text()
    assert "Stop training" not in box.text()
    next(b for b in box.buttons() if b.objectName() == "yes").click()
    await wait_until(lambda: fake.cancelled == ["job0456"], 5, "the terminate")

    # Lambda confirmed: nothing bills, so nothing to offer; the cost is final.
    gone = replace(fake.record, billing=Billing.TERMINATED)
    detail.update_record(gone, "Instance terminated.")
    assert detail.phase_label.text() == "Completed"
    assert not detail.cancel_button.isVisible() and not detail.cancel_button.isEnabled()
    assert detail.spent_name.text() == "Total cost:"
    assert detail.spent_value.text().startswith("$0.21 over 10 min")  # 600 s at $1.29/h
    assert not detail.projected_value.isVisible() and not detail.projected_name.isVisible()
    assert detail.eta_name.text() == "Duration:"


async def test_a_completed_job_shows_its_adapter_with_open_folder(
    finished: tuple[JobDetail, FakeJobs, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    detail, _fake, adapter = finished
    assert detail.adapter_value.isVisible() and detail.adapter_value.text() == str(adapter)
    assert detail.adapter_open_button.isVisible()
    assert detail.adapter_open_button.text() == "Open folder"
    opened: list[QUrl] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) is None)
    )
    detail.adapter_open_button.click()
    assert [u.toLocalFile() for u in opened] == [str(adapter.parent)]

    # A running job has no adapter yet, and its action stops training.
    running = replace(detail.record, phase=JobPhase.RUNNING, adapter_path=None, ended_at=None)
    assert running is not None
    detail.update_record(running)
    assert not detail.adapter_value.isVisible() and not detail.adapter_open_button.isVisible()
    assert detail.cancel_button.text() == "Cancel job…" and detail.cancel_button.isEnabled()
    assert detail.eta_name.text() == "Time left:"


# -- the banners --------------------------------------------------------------------------


class FakeMoney:
    """What the banners need (services.ports.MoneyWatch), with nothing billing in the store."""

    def __init__(self) -> None:
        self.terminated: list[str] = []

    async def billing_jobs(self) -> list[JobRecord]:
        return []

    async def find_orphans(self) -> list[Orphan]:
        return []

    async def terminate_instance(self, instance_id: str) -> bool:
        self.terminated.append(instance_id)
        return True

    async def retry_terminations(self) -> None:
        return None

    async def stop_all_jobs(self) -> dict[str, bool]:
        return {}

    async def auto_terminate(self) -> bool:
        return True


def _warning(n: int, rate: float = 1.29) -> BillingWarning:
    return BillingWarning(f"i-{n}", f"lambda-gui-00000000000{n}", rate, "may still be billing")


def _orphan(n: int) -> Orphan:
    return Orphan(f"o-{n}", f"lambda-gui-aaaaaaaaaaa{n}", "active", "gpu_1x_a10", "us-east-1", 0.75)


async def test_billing_banner_is_one_line_with_details_for_several() -> None:
    money: MoneyWatch = FakeMoney()
    banner = BillingBanner(money, ErrorReporter(None, dialogs=False))
    banner.resize(1280, 60)
    banner.on_billing(_warning(1))
    await asyncio.sleep(0.05)
    assert banner.isVisible()
    assert banner.label.text() == "An instance may still be billing $1.29/h."
    # Which one and why: one click away (and in the tooltip, and in text()).
    line = "lambda-gui-000000000001 ($1.29/h) may still be billing: Lambda has not confirmed it "
    assert banner.details.text() == line + "terminated."
    assert banner.label.toolTip() == banner.details.text()
    assert banner.details_button.isVisibleTo(banner)
    assert not banner.details.isVisibleTo(banner)

    banner.on_billing(_warning(2))
    await asyncio.sleep(0.05)
    assert banner.label.text() == "2 instances may be billing $2.58/h in all."
    assert "(s)" not in banner.text()
    assert not banner.details.isVisibleTo(banner)
    assert "lambda-gui-000000000002 ($1.29/h) may still be billing" in banner.text()
    banner.details_button.click()
    assert banner.details.isVisibleTo(banner) and banner.details_button.text() == "Hide details"
    banner.details_button.click()
    assert not banner.details.isVisibleTo(banner) and banner.details_button.text() == "Details"
    await cancel_slot_tasks()
    banner.deleteLater()


async def test_orphan_banner_is_one_line_with_the_rows_under_details() -> None:
    money = FakeMoney()
    banner = OrphanBanner(money, ErrorReporter(None, dialogs=False))
    banner.set_orphans([_orphan(1)])
    assert (
        banner.label.text() == "lambda-gui-aaaaaaaaaaa1 belongs to no job here and bills $0.75/h."
    )
    assert not banner.details.isVisibleTo(banner)
    banner.details_button.click()
    assert banner.details.isVisibleTo(banner) and banner.buttons["o-1"].isVisibleTo(banner)
    banner.set_orphans([_orphan(1), _orphan(2)])
    assert banner.label.text() == (
        "2 instances named lambda-gui-* belong to no job here and bill $1.50/h in all."
    )
    assert "(s)" not in banner.text() and "another computer" in banner.text()
    banner.buttons["o-2"].click()
    await wait_until(lambda: money.terminated == ["o-2"], 5, "the terminate")
    assert [o.instance_id for o in banner.orphans] == ["o-1"]
    await cancel_slot_tasks()
    banner.deleteLater()


# -- the window -----------------------------------------------------------------------------


def _visible_rows(window: MainWindow) -> int:
    table = window.jobs.table
    height = table.viewport().height()
    return sum(
        1
        for row in range(window.jobs.model.rowCount())
        if 0 <= table.rowViewportPosition(row)
        and table.rowViewportPosition(row) + table.rowHeight(row) <= height
    )


async def test_with_both_banners_up_the_table_shows_four_rows(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    kept = replace(
        _completed(tmp_path / "adapter.tar.gz", Billing.BILLING),
        created_at=now - 3600,
        launch_sent_at=now - 3500,
        ended_at=now - 1800,
        updated_at=now - 1800,
    )
    records = [replace(kept, id=f"job{i:04d}", instance_id=f"i-{i}") for i in range(6)]
    records[1] = replace(records[1], billing=Billing.TERMINATED)

    async def list_jobs() -> list[JobRecord]:
        return records

    async def read_metrics(job_id: str) -> list[dict[str, object]]:
        return []

    async def stream_logs(job_id: str, offset: int = 0) -> AsyncIterator[str]:
        for line in ("training done",):
            yield line

    monkeypatch.setattr(window.connector, "list_jobs", list_jobs)
    monkeypatch.setattr(window.connector, "read_metrics", read_metrics)
    monkeypatch.setattr(window.connector, "stream_logs", stream_logs)
    await window.jobs.reload()
    window.tabs.setCurrentWidget(window.jobs)
    window.billing_banner.on_billing(_warning(1))
    window.billing_banner.on_billing(_warning(2))
    window.orphan_banner.set_orphans([_orphan(1), _orphan(2)])
    for size in ((1280, 820), (900, 600)):
        window.resize(*size)
        await asyncio.sleep(0.3)
        assert window.billing_banner.isVisible() and window.orphan_banner.isVisible()
        assert (window.width(), window.height()) == size  # everything fits: nothing pushed out
        assert _visible_rows(window) >= MIN_VISIBLE_ROWS, size
        # Each banner is one line of text (the buttons set its height).
        for banner in (window.billing_banner, window.orphan_banner):
            line = banner.label.fontMetrics().lineSpacing()
            assert banner.label.height() < 2 * line + 2, (size, banner.label.text())
    table = window.jobs.table
    # The name column takes the room left; "$ so far" is only as wide as its contents.
    widths = [table.columnWidth(c) for c in range(window.jobs.model.columnCount())]
    assert widths[NAME] == max(widths)
    assert widths[COST] < table.viewport().width() // 10
    assert window.jobs.model.index(0, PHASE).data() == "Completed — instance billing"
    assert window.jobs.model.index(1, PHASE).data() == "Completed"
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    await cancel_slot_tasks()


async def test_in_a_short_window_the_facts_fold_so_the_curves_keep_their_height(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: at 900x600 the facts left the loss and LR curves about 80 px."""
    records = [_completed(tmp_path / "adapter.tar.gz", Billing.TERMINATED)]

    async def list_jobs() -> list[JobRecord]:
        return records

    async def read_metrics(job_id: str) -> list[dict[str, object]]:
        return []

    monkeypatch.setattr(window.connector, "list_jobs", list_jobs)
    monkeypatch.setattr(window.connector, "read_metrics", read_metrics)
    await window.jobs.reload()
    window.tabs.setCurrentWidget(window.jobs)
    detail = window.jobs.detail
    window.resize(1280, 820)
    await asyncio.sleep(0.3)
    assert detail.facts.isVisible() and detail.details_button.text() == "Hide details"
    window.resize(900, 600)
    await asyncio.sleep(0.3)
    assert not detail.facts.isVisible() and detail.details_button.text() == "Show details"
    assert detail.plot.height() >= 150, detail.plot.height()
    detail.details_button.click()  # the user's choice wins over the window's size
    await asyncio.sleep(0.1)
    assert detail.facts.isVisible() and detail.details_button.text() == "Hide details"
    window.resize(880, 590)
    await asyncio.sleep(0.2)
    assert detail.facts.isVisible()
    detail.details_button.click()
    assert not detail.facts.isVisible()
    await cancel_slot_tasks()


# -- progress into the row ------------------------------------------------------------------


def test_live_progress_feeds_loss_eta_and_projection_into_the_row(tmp_path: Path) -> None:
    record = replace(
        _completed(tmp_path / "a.tar.gz", Billing.BILLING),
        phase=JobPhase.RUNNING,
        ended_at=None,
        adapter_path=None,
    )
    progress = LiveProgress()
    events = [
        MetricEvent({"loss": 3.0}, "lgui", step=10, max_steps=100, time=5000.0),
        MetricEvent({"loss": 2.5}, "lgui", step=20, max_steps=100, time=5010.0),
    ]
    assert progress.feed(events, now=5010.0)
    row = job_row(record, progress)
    assert row.loss == 2.5 and row.step == 20 and row.total_steps == 100
    # One step a second: 80 steps left are 80 s, counted down from 5010.
    assert row.eta_seconds(5030.0) == 60.0
    projected = row.projected_cost(5030.0)
    assert projected is not None and projected > row.cost_so_far(5030.0)

    # A job selected mid-run: its metrics file's times set the countdown's start.
    backfilled = LiveProgress()
    backfilled.feed_metrics(
        [
            {"step": 10, "max_steps": 100, "time": 5000.0, "loss": 3.0},
            {"step": 20, "max_steps": 100, "time": 5010.0, "loss": 2.5},
        ],
        now=5040.0,
    )
    row = job_row(record, backfilled)
    assert row.loss == 2.5 and row.eta_seconds(5040.0) == 50.0


async def test_live_lines_that_overlap_the_backfill_are_shown_once(
    finished: tuple[JobDetail, FakeJobs, Path],
) -> None:
    # The backfill showed the local log ("training done", 14 bytes); a live batch that began
    # before its end shows only what is new.
    detail, fake, _adapter = finished
    view = detail.log_view
    view.flush()
    assert view.plain_text() == "training done"
    detail.on_log_lines(JobLogLines(fake.record.id, ("training done", "next"), 19, start=0))
    detail.on_log_lines(JobLogLines(fake.record.id, ("last",), 24, start=19))
    view.flush()
    assert view.plain_text().splitlines() == ["training done", "next", "last"]


async def test_a_flood_after_the_backfill_is_shown_without_reading_its_text(
    finished: tuple[JobDetail, FakeJobs, Path], tmp_path: Path
) -> None:
    # A flood's lines arrive as their span of the local log (SpanLines) with the rows the
    # view shows: the window counts them and never reads them, before and after the first
    # batch.
    detail, fake, _adapter = finished
    view = detail.log_view
    reader = LogReader(keep=SHOWN_LINES)
    log = tmp_path / "train.log"
    end = 14
    for batch in (["x", "y"], ["z"]):
        raw = "".join(line + "\n" for line in batch).encode()
        with log.open("ab") as out:
            out.write(raw)
        text = SpanLines(((str(log), end - 14, end - 14 + len(raw)),), len(batch))
        shown = tuple(reader.read(batch).shown)
        detail.on_log_lines(JobLogLines(fake.record.id, text, end + len(raw), shown, end))
        end += len(raw)
        assert text._split is None
    view.flush()
    assert view.plain_text().splitlines() == ["training done", "x", "y", "z"]
