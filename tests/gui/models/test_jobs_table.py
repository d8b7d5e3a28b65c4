"""The jobs table model: rows by job id, ticking time and cost, without a window."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt

from lambda_gui.core.models import JobPhase, PricingInfo
from lambda_gui.gui.models.job_row import JobRow, format_duration
from lambda_gui.gui.models.jobs_table import COST, ELAPSED, PHASE, STEP, JobsTableModel


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


T0 = 1_000_000.0
PER_MINUTE = PricingInfo("gpu_1x_a10", 1.29, 60, 0)
RUNNING = JobRow(
    job_id="j1",
    name="first",
    base_model="Qwen/Qwen2.5-0.5B",
    instance_type="gpu_1x_a10",
    region="us-east-1",
    phase=JobPhase.RUNNING,
    created_at=T0,
    hourly_rate=1.29,
    billing_started_at=T0 + 60,
    step=12,
    total_steps=100,
    pricing=PER_MINUTE,
)
DONE = JobRow(
    job_id="j2",
    name="second",
    base_model="gpt2",
    instance_type="gpu_1x_h100_sxm5",
    phase=JobPhase.COMPLETED,
    created_at=T0,
    finished_at=T0 + 3600,
    hourly_rate=3.0,
    billing_started_at=T0,
    billing_ended_at=T0 + 1800,
)


def text(model: JobsTableModel, row: int, col: int) -> Any:
    return model.data(model.index(row, col))


def test_model_passes_qt_model_tester(qtmodeltester: Any) -> None:
    model = JobsTableModel(clock=Clock(T0))
    model.set_rows([RUNNING, DONE])
    qtmodeltester.check(model)


def test_cells_and_cost_by_billing_increment() -> None:
    clock = Clock(T0 + 60 + 61)
    model = JobsTableModel(clock=clock)
    model.set_rows([RUNNING, DONE])
    assert text(model, 0, PHASE) == "Training"
    assert text(model, 0, STEP) == "12 / 100"
    assert text(model, 0, ELAPSED) == "2 min 01 s"
    # 61 s billed per minute -> two minutes of $1.29/h.
    assert text(model, 0, COST) == f"${2 * 60 / 3600 * 1.29:,.2f}"
    # The finished job: an hour elapsed, half an hour billed pro rata at $3/h.
    assert text(model, 1, ELAPSED) == "1 h 00 min"
    assert text(model, 1, COST) == "$1.50"
    assert model.data(model.index(1, PHASE), Qt.ItemDataRole.ForegroundRole) is not None


def test_tick_refreshes_only_rows_still_ticking(qtbot: Any) -> None:
    clock = Clock(T0 + 120)
    model = JobsTableModel(clock=clock)
    model.set_rows([DONE, RUNNING])
    with qtbot.waitSignal(model.dataChanged) as signal:
        assert model.tick() == 1
    top, bottom = signal.args[0], signal.args[1]
    assert (top.row(), bottom.row(), top.column(), bottom.column()) == (1, 1, ELAPSED, COST)
    before = text(model, 1, ELAPSED)
    clock.now += 600
    assert text(model, 1, ELAPSED) != before
    assert text(model, 0, ELAPSED) == "1 h 00 min"


def test_upsert_updates_in_place_and_appends_new_jobs(qtbot: Any) -> None:
    model = JobsTableModel(clock=Clock(T0))
    model.upsert(RUNNING)
    with qtbot.waitSignal(model.dataChanged):
        model.upsert(replace(RUNNING, phase=JobPhase.DOWNLOADING, step=100))
    assert model.rowCount() == 1 and text(model, 0, PHASE) == "Downloading"
    with qtbot.waitSignal(model.rowsInserted):
        model.upsert(DONE)
    assert model.row_of("j2") == 1 and model.job(1) is DONE
    assert model.remove("j1") and not model.remove("j1")
    assert model.row_of("j2") == 0


def test_failed_job_still_billing_keeps_ticking() -> None:
    failed = replace(RUNNING, phase=JobPhase.FAILED, finished_at=T0 + 100, message="CUDA error")
    assert failed.ticking and failed.billing
    model = JobsTableModel(clock=Clock(T0 + 200))
    model.set_rows([failed])
    assert model.data(model.index(0, PHASE), Qt.ItemDataRole.ToolTipRole) == "CUDA error"
    assert model.tick() == 1
    ended = replace(failed, billing_ended_at=T0 + 150)
    assert not ended.ticking


def test_format_duration() -> None:
    assert format_duration(0) == "0 s"
    assert format_duration(59.9) == "59 s"
    assert format_duration(61) == "1 min 01 s"
    assert format_duration(3 * 3600 + 7 * 60) == "3 h 07 min"
