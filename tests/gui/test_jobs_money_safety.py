"""Never lose a job, a log line or a dollar, seen through the window, with real jobs on the
simulator: a terminate Lambda refuses keeps a red banner up (instance, $/h, Retry terminate,
the dashboard) until a retry goes through; a job started by another connector is reattached
with its curve and log filled in and followed to the end; a job whose instance vanished says
so; a job submitted while Lambda is unreachable shows as queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.models.jobs_table import PHASE
from lambda_gui.gui.panels.money_banners import DASHBOARD_URL
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.events import Event, JobPhaseChanged
from lambda_gui.services.instance_control import Timing
from tests.e2e.conftest import demo_config
from tests.gui.conftest import FAST, close_window, sim_credentials
from tests.gui.helpers import wait_until

pytestmark = pytest.mark.slow
TERMINATE = "/api/v1/instance-operations/terminate"
GONE = ("terminating", "terminated", None)
STEPS = 400  # long enough to still be training when the second window has connected


def _connector(**timing: Any) -> LambdaLabsConnector:
    return LambdaLabsConnector(
        pacer=Pacer(min_interval=0.0, launch_interval=0.0),
        timing=Timing(**{**FAST.__dict__, **timing}),
    )


async def _open_window(connector: LambdaLabsConnector, credentials: CredentialStore) -> MainWindow:
    window = MainWindow(connector, credentials, dialogs=False)
    window.resize(1280, 820)
    window.show()
    return window


@pytest.fixture
async def app(sim: Any, credentials: CredentialStore) -> AsyncIterator[MainWindow]:
    """The window over a connector that gives up a refused terminate after two tries (the
    client already retries each 500 a few times with backoff)."""
    connector = _connector(terminate_attempts=2, terminate_backoff_s=0.1)
    window = await _open_window(connector, credentials)
    await window.connect_with(sim_credentials(sim))
    try:
        yield window
    finally:
        await close_window(window)
        await connector.disconnect()


def _errors(window: MainWindow) -> list[str]:
    return [r.text.full() for r in window.reporter.history]


async def test_a_refused_terminate_keeps_the_billing_banner_until_retry_succeeds(
    app: MainWindow, sim: Any, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def on_event(event: Event) -> None:
        if isinstance(event, JobPhaseChanged) and event.phase is JobPhase.DOWNLOADING:
            # From here on Lambda refuses every terminate.
            sim.faults.fail_next(1000, kind="500", method="POST", path_prefix=TERMINATE)

    app.connector.events.subscribe(on_event)
    banner = app.billing_banner
    job_id = await app.connector.submit_job(demo_config(tiny_model, max_steps=10))
    await wait_until(
        lambda: job_id in app.jobs.records and app.jobs.records[job_id].phase.is_terminal,
        45,
        "the job to end",
    )
    job = await app.connector.get_job(job_id)
    assert job.phase is JobPhase.COMPLETED and job.billing is Billing.TERMINATING
    assert job.instance_id and sim.instance_status(job.instance_id) == "active"
    rate = f"${job.price_cents_per_hour / 100:,.2f}/h"
    await wait_until(banner.isVisible, 5, "the billing banner")
    assert job.instance_name in banner.text() and rate in banner.text()
    assert "may still be billing" in banner.text()
    assert banner.retry_button.isEnabled()

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)))
    banner.dashboard_button.click()
    assert [u.toString() for u in opened] == [DASHBOARD_URL]

    # The banner stays while nothing changed (a later refresh from the store agrees).
    await banner.refresh()
    assert banner.isVisible() and job.instance_name in banner.text()

    sim.faults.clear()
    banner.retry_button.click()
    await wait_until(lambda: not banner.isVisible(), 15, "the banner to go")
    assert sim.instance_status(job.instance_id) in GONE
    assert (await app.connector.get_job(job_id)).billing is Billing.TERMINATED
    assert banner.retry_button.text() == "Retry terminate"


async def test_a_job_from_another_connector_is_reattached_with_its_curve_and_log(
    sim: Any, tiny_model: Path, credentials: CredentialStore
) -> None:
    first = _connector()
    await first.connect(sim_credentials(sim))
    try:
        job_id = await first.submit_job(demo_config(tiny_model, max_steps=STEPS, logging_steps=2))
        for _ in range(400):
            job = await first.get_job(job_id)
            if job.phase is JobPhase.RUNNING and len(await first.read_metrics(job_id)) >= 4:
                break
            assert not job.phase.is_terminal, job.error
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the job never logged metrics")
    finally:
        await first.disconnect()  # the app goes away; the job keeps training on the instance
    before = len(await _metrics_on_disk(first, job_id))
    assert (await _phase_on_disk(first, job_id)) is JobPhase.RUNNING

    second = _connector()
    window = await _open_window(second, credentials)
    try:
        await window.connect_with(sim_credentials(sim))  # reattaches, then loads the tabs
        jobs = window.jobs
        row = jobs.model.row_of(job_id)
        assert row is not None
        assert jobs.model.index(row, PHASE).data() in ("Training", "Setting up", "Downloading")
        detail = jobs.detail
        assert detail.job_id == job_id
        # The curve and log are read back from the start, then followed live.
        await wait_until(lambda: not detail.backfilling, 10, "the backfill")
        await wait_until(lambda: detail.plot.series_length("loss") >= before, 5, "the backfill")
        await wait_until(lambda: "LGUI_STATUS" in detail.log_view.plain_text(), 5, "the log")
        backfilled = detail.plot.series_length("loss")
        assert jobs.records[job_id].phase is JobPhase.RUNNING
        await wait_until(
            # A 400-step CPU job: generous, for a loaded 2-core machine (about 20 s idle).
            lambda: jobs.records[job_id].phase.is_terminal,
            150,
            "the reattached job to end",
        )
        record = jobs.records[job_id]
        assert record.phase is JobPhase.COMPLETED, record.error
        assert jobs.model.index(row, PHASE).data() == "Completed"
        await wait_until(lambda: detail.plot.series_length("loss") >= STEPS // 2, 5, "the curve")
        steps, _losses = detail.plot.series_data("loss")
        logged = [r["step"] for r in await second.read_metrics(job_id) if "loss" in r]
        assert len(logged) >= STEPS // 2 and logged[-1] == STEPS
        assert list(steps) == logged, "every point once, none lost"
        assert backfilled < len(logged), "points arrived live after the backfill"
        # Every log line once, in order: the view holds exactly the local log.
        log_file = second.paths.job_dir(job_id) / "train.log"
        raw = log_file.read_bytes().decode("utf-8", errors="replace").removesuffix("\n")
        expected = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in raw.split("\n")]
        await wait_until(lambda: detail.log_view.pending_count == 0, 3, "the log's last flush")
        assert detail.log_view.plain_text().split("\n") == expected
        assert not _errors(window), _errors(window)
        assert not window.billing_banner.isVisible()
        assert record.instance_id and sim.instance_status(record.instance_id) in GONE
    finally:
        await close_window(window)
        await second.disconnect()


async def _metrics_on_disk(connector: LambdaLabsConnector, job_id: str) -> list[Any]:
    from lambda_gui.services.connector import _read_metrics

    return await asyncio.to_thread(_read_metrics, connector.paths.job_dir(job_id))


async def _phase_on_disk(connector: LambdaLabsConnector, job_id: str) -> JobPhase:
    from lambda_gui.services.store import JobStore

    store = JobStore(connector.paths.store)
    await store.open()
    try:
        return (await store.get_job(job_id)).phase
    finally:
        await store.close()


async def test_a_job_whose_instance_vanished_says_so(
    sim: Any, tiny_model: Path, credentials: CredentialStore
) -> None:
    first = _connector()
    await first.connect(sim_credentials(sim))
    try:
        job_id = await first.submit_job(demo_config(tiny_model, max_steps=400))
        for _ in range(400):
            job = await first.get_job(job_id)
            if job.phase is JobPhase.RUNNING:
                break
            await asyncio.sleep(0.05)
        assert job.instance_id
    finally:
        await first.disconnect()
    sim.preempt(job.instance_id)  # while no app follows the job

    second = _connector()
    window = await _open_window(second, credentials)
    try:
        await window.connect_with(sim_credentials(sim))
        jobs = window.jobs
        row = jobs.model.row_of(job_id)
        assert row is not None and jobs.model.index(row, PHASE).data() == "Failed"
        tooltip = jobs.model.index(row, PHASE).data(3)  # ToolTipRole
        assert "while the app was not following the job" in tooltip
        assert jobs.detail.job_id == job_id
        message = jobs.detail.message_label.text()
        assert job.instance_name in message and "preempted" in message
        assert "submit the job again" in message.lower()
        assert not window.billing_banner.isVisible()
    finally:
        await close_window(window)
        await second.disconnect()


async def test_a_job_submitted_while_lambda_is_unreachable_shows_as_queued(
    window: MainWindow, sim: Any, tiny_model: Path
) -> None:
    sim.faults.fail_next(100_000, kind="reset")
    job_id = await window.connector.submit_job(demo_config(tiny_model))
    assert (await window.connector.get_job(job_id)).phase is JobPhase.QUEUED
    jobs = window.jobs
    await wait_until(lambda: jobs.model.row_of(job_id) is not None, 5, "the job's row")
    row = jobs.model.row_of(job_id)
    assert row is not None and jobs.model.index(row, PHASE).data() == "Queued"
    assert "waiting for Lambda to be reachable" in jobs.model.index(row, PHASE).data(3)
    jobs.select_job(job_id)
    await wait_until(
        lambda: "Queued — waiting for Lambda to be reachable" in jobs.detail.message_label.text(),
        5,
        "the queued message",
    )
    assert jobs.detail.billing_value.text() == Billing.NONE.label
