"""The jobs table model: rows by job id, ticking time, ETA and cost, the latest loss, the
projected total, a finished job whose instance still bills, without a window."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

from lambda_gui.core.models import JobPhase, PricingInfo
from lambda_gui.core.planner import FINISH_SECONDS
from lambda_gui.gui.models.job_row import JobRow, format_clock, format_duration, plural
from lambda_gui.gui.models.jobs_table import (
    COLUMNS,
    COST,
    ELAPSED,
    ETA,
    INSTANCE,
    LOSS,
    MODEL,
    NAME,
    PHASE,
    PROJECTED,
    STEP,
    JobsTableModel,
    phase_colour,
)
from lambda_gui.gui.style import contrast_ratio


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
    assert text(model, 0, ELAPSED) == "2:01"
    # 61 s billed per minute -> two minutes of $1.29/h.
    assert text(model, 0, COST) == f"${2 * 60 / 3600 * 1.29:,.2f}"
    # The finished job: an hour elapsed, half an hour billed pro rata at $3/h.
    assert text(model, 1, ELAPSED) == "1:00:00"
    assert text(model, 1, COST) == "$1.50"
    assert model.data(model.index(1, PHASE), Qt.ItemDataRole.ForegroundRole) is not None


def test_tick_refreshes_only_rows_still_ticking(qtbot: Any) -> None:
    clock = Clock(T0 + 120)
    model = JobsTableModel(clock=clock)
    model.set_rows([DONE, RUNNING])
    with qtbot.waitSignal(model.dataChanged) as signal:
        assert model.tick() == 1
    top, bottom = signal.args[0], signal.args[1]
    assert (top.row(), bottom.row(), top.column(), bottom.column()) == (1, 1, ELAPSED, PROJECTED)
    assert {ELAPSED, ETA, COST, PROJECTED} <= set(range(ELAPSED, PROJECTED + 1))
    before = text(model, 1, ELAPSED)
    clock.now += 600
    assert text(model, 1, ELAPSED) != before
    assert text(model, 0, ELAPSED) == "1:00:00"


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


def test_loss_eta_and_projected_total_of_a_training_job() -> None:
    # 100 s of training left as of T0 + 200; billing since T0 + 60 at $1.29/h per minute.
    row = replace(RUNNING, loss=1.23456, eta_s=100.0, eta_at=T0 + 200)
    clock = Clock(T0 + 230)
    model = JobsTableModel(clock=clock)
    model.set_rows([row])
    assert text(model, 0, LOSS) == "1.235"
    assert text(model, 0, ETA) == "1:10"  # counted down since the estimate
    billed = 230 - 60 + 70 + FINISH_SECONDS  # so far, training left, fetching the adapter
    assert text(model, 0, PROJECTED) == f"${PER_MINUTE.cost_for(billed):,.2f}"
    assert "time left" in model.data(model.index(0, PROJECTED), Qt.ItemDataRole.ToolTipRole)
    clock.now += 500  # past the estimate: nothing left to count, never negative
    assert text(model, 0, ETA) == "0:00"
    # No estimate yet: no ETA, and no projection to show.
    model.set_rows([RUNNING])
    assert text(model, 0, ETA) == "" and text(model, 0, PROJECTED) == "—"
    assert text(model, 0, LOSS) == ""


def test_a_finished_job_shows_its_final_cost_as_the_projection() -> None:
    model = JobsTableModel(clock=Clock(T0 + 7200))
    model.set_rows([DONE])
    assert text(model, 0, PHASE) == "Completed"
    assert text(model, 0, ETA) == ""
    assert text(model, 0, PROJECTED) == text(model, 0, COST) == "$1.50"


def test_a_completed_job_whose_instance_still_bills_says_so() -> None:
    kept = replace(DONE, billing_ended_at=None)
    model = JobsTableModel(clock=Clock(T0 + 7200))
    model.set_rows([kept])
    assert text(model, 0, PHASE) == "Completed — instance billing"
    assert "$3.00/h" in model.data(model.index(0, PHASE), Qt.ItemDataRole.ToolTipRole)
    assert text(model, 0, PROJECTED) == "open"
    assert "until the instance is terminated" in model.data(
        model.index(0, PROJECTED), Qt.ItemDataRole.ToolTipRole
    )
    assert model.tick() == 1  # it keeps costing
    # The same goes for a failed or cancelled job, and a download that waits for the user.
    for phase in (JobPhase.FAILED, JobPhase.CANCELLED):
        model.set_rows([replace(kept, phase=phase)])
        assert text(model, 0, PHASE).endswith("— instance billing")
    waiting = replace(RUNNING, phase=JobPhase.DOWNLOADING, download_kept=True)
    model.set_rows([waiting])
    assert text(model, 0, PHASE) == "Download failed — instance billing"
    assert text(model, 0, PROJECTED) == "open"


def test_header_titles_have_tooltips() -> None:
    model = JobsTableModel(clock=Clock(T0))
    horizontal = Qt.Orientation.Horizontal
    titles = [model.headerData(c, horizontal) for c in range(len(COLUMNS))]
    assert titles[PHASE] == "Status" and titles[PROJECTED] == "Projected"
    for column in range(len(COLUMNS)):
        assert model.headerData(column, horizontal, Qt.ItemDataRole.ToolTipRole)
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert text(model, 0, NAME) is None  # no rows


@pytest.mark.parametrize("dark", [False, True])
def test_phase_colours_read_at_4_5_to_1_on_the_rows_and_the_window(
    qapp: Any, dark: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    palette = QPalette(QGuiApplication.palette())
    if dark:
        role = QPalette.ColorRole
        for r, colour in (
            (role.Base, "#1e1e1e"),
            (role.AlternateBase, "#2a2a2a"),
            (role.Window, "#353535"),
            (role.Text, "#f0f0f0"),
        ):
            palette.setColor(r, QColor(colour))
    monkeypatch.setattr(QGuiApplication, "palette", staticmethod(lambda: palette))
    backgrounds = [
        palette.color(r)
        for r in (
            QPalette.ColorRole.Base,
            QPalette.ColorRole.AlternateBase,
            QPalette.ColorRole.Window,
        )
    ]
    for phase in JobPhase:
        for after_end in (False, True):
            colour = phase_colour(phase, after_end)
            if colour is None:
                continue
            for background in backgrounds:
                assert contrast_ratio(colour, background) >= 4.5, (phase, background.name())


def test_format_clock() -> None:
    assert format_clock(0) == "0:00"
    assert format_clock(61.9) == "1:01"
    assert format_clock(3 * 3600 + 7 * 60 + 5) == "3:07:05"


def test_instance_cell_is_the_type_with_region_and_rate_in_its_tooltip() -> None:
    model = JobsTableModel(clock=Clock(T0))
    model.set_rows([RUNNING])
    assert text(model, 0, INSTANCE) == "gpu_1x_a10"
    tip = model.data(model.index(0, INSTANCE), Qt.ItemDataRole.ToolTipRole)
    assert tip == "gpu_1x_a10 in us-east-1 at $1.29/h"
    assert model.data(model.index(0, MODEL), Qt.ItemDataRole.ToolTipRole) == "Qwen/Qwen2.5-0.5B"


def test_plural() -> None:
    assert plural(1, "instance") == "1 instance"
    assert plural(2, "instance") == "2 instances"
    assert plural(0, "entry", "entries") == "0 entries"
