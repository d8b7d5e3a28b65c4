"""Compare runs from the Jobs tab: three jobs selected with Ctrl+click, Compare…, the x axis on
dollars spent; the curves sit at the dollars each instance had cost when the step was logged,
the legend names the jobs, and the settings table flags exactly the fields that differ."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPalette
from PySide6.QtTest import QTest

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.models.jobs_table import NAME
from lambda_gui.gui.panels.compare_runs import (
    DIFF_MARK,
    MARK,
    SETTING,
    CompareRunsDialog,
    format_dollars,
    format_tokens,
)
from lambda_gui.services.store import JobRecord
from tests.gui.helpers import wait_until

STEPS = 10
EVAL_EVERY = 5


def _metrics(launch: float, seconds_per_step: float, first_loss: float) -> list[dict[str, Any]]:
    """What train.py's metrics callback writes to metrics.jsonl: a record per logged step
    (wall-clock "time" on each), an eval record every few steps, the trainer's summary."""
    records: list[dict[str, Any]] = []
    for step in range(1, STEPS + 1):
        at = launch + 180.0 + seconds_per_step * step
        common = {"step": step, "epoch": step / STEPS, "max_steps": STEPS}
        records.append(
            {
                **common,
                "time": round(at, 3),
                "loss": first_loss / step,
                "grad_norm": 1.0,
                "learning_rate": 2e-4,
                "num_tokens": 512.0 * step,
            }
        )
        if step % EVAL_EVERY == 0:
            records.append({**common, "time": round(at + 2.0, 3), "eval_loss": 1.2 / step})
    records.append({"step": STEPS, "epoch": 1.0, "max_steps": STEPS, "time": launch + 900.0})
    return records


def _job(
    job_id: str, name: str, config: TrainingConfig, cents: int, launch: float, seconds: float
) -> JobRecord:
    return JobRecord(
        id=job_id,
        config=replace(config, project_name=name),
        phase=JobPhase.COMPLETED,
        instance_name=f"lambda-gui-{job_id}",
        instance_type=config.resource_id,
        price_cents_per_hour=cents,
        instance_id=f"i-{job_id}",
        launch_sent_at=launch,
        created_at=launch - 5.0,
        updated_at=launch + seconds,
        started_at=launch + 120.0,
        ended_at=launch + seconds,
        billing=Billing.TERMINATED,
    )


async def _three_jobs(window: MainWindow) -> list[tuple[JobRecord, list[dict[str, Any]]]]:
    """Three finished jobs in the real store, each with metrics.jsonl in its job dir."""
    now = time.time()
    base = TrainingConfig(base_model="meta-llama/Llama-3.2-1B", dataset_path="hf://org/data")
    jobs = [
        (
            _job("cmpa00000001", "baseline", base, 129, now - 7200, 900.0),
            _metrics(now - 7200, 40.0, 3.0),
        ),
        (
            _job(
                "cmpb00000002",
                "lower-lr",
                replace(base, learning_rate=1e-4),
                129,
                now - 5400,
                1200.0,
            ),
            _metrics(now - 5400, 60.0, 3.2),
        ),
        (
            _job(
                "cmpc00000003",
                "rank-32-a100",
                replace(base, rank=32, resource_id="gpu_1x_a100"),
                199,
                now - 3600,
                600.0,
            ),
            _metrics(now - 3600, 25.0, 2.8),
        ),
    ]
    connector = window.connector
    for record, metrics in jobs:
        await connector.store.insert_job(record)
        job_dir: Path = connector.paths.job_dir(record.id)
        (job_dir / "metrics.jsonl").write_text(
            "".join(json.dumps(m) + "\n" for m in metrics), encoding="utf-8"
        )
    return jobs


async def _click_row(window: MainWindow, job_id: str, modifier: Qt.KeyboardModifier) -> None:
    """Click a job's row as a person does (with Ctrl or not), then let its live view load."""
    table = window.jobs.table
    row = window.jobs.model.row_of(job_id)
    assert row is not None
    where: QPoint = table.visualRect(window.jobs.model.index(row, NAME)).center()
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, where)
    await _settled(window)


async def _settled(window: MainWindow) -> None:
    detail = window.jobs.detail
    await wait_until(lambda: not detail.backfilling, 5, "the job's log and curves")


def _dollars(record: JobRecord, metrics: list[dict[str, Any]], key: str) -> list[float]:
    """Independently: the hourly price times the time since the launch, at each point."""
    assert record.launch_sent_at is not None
    return [
        (m["time"] - record.launch_sent_at) * record.price_cents_per_hour / 100.0 / 3600.0
        for m in metrics
        if key in m
    ]


async def test_compare_three_runs_against_dollars_spent(window: MainWindow) -> None:
    jobs = await _three_jobs(window)
    await window.jobs.reload()
    window.tabs.setCurrentWidget(window.jobs)
    await _settled(window)
    panel = window.jobs
    ids = [record.id for record, _ in jobs]
    assert not panel.compare_button.isEnabled()  # one job selected: nothing to compare

    await _click_row(window, ids[0], Qt.KeyboardModifier.NoModifier)
    assert panel.detail.job_id == ids[0]
    await _click_row(window, ids[1], Qt.KeyboardModifier.ControlModifier)
    assert panel.compare_button.isEnabled()
    await _click_row(window, ids[2], Qt.KeyboardModifier.ControlModifier)
    assert sorted(panel.selected_job_ids()) == sorted(ids)
    # The live view still follows the current row: the last one clicked.
    assert panel.detail.job_id == ids[2]
    # A reload (a job event, Refresh) keeps the selection and the job on show.
    await panel.reload()
    await _settled(window)
    assert sorted(panel.selected_job_ids()) == sorted(ids)
    assert panel.detail.job_id == ids[2]

    panel.compare_button.click()
    dialog = panel.compare_dialog
    assert isinstance(dialog, CompareRunsDialog) and dialog.isVisible()
    await wait_until(lambda: dialog.loaded, 10, "the runs to load")

    combo = dialog.x_axis_combo
    combo.setCurrentIndex(combo.findData("dollars"))
    assert dialog.axis == "dollars"
    assert dialog.plot.getAxis("bottom").labelText == "dollars spent (US$)"
    for record, metrics in jobs:
        x, y = dialog.curve_data(record.id, "train")
        assert np.allclose(x, _dollars(record, metrics, "loss"), rtol=0, atol=1e-9)
        assert np.allclose(y, [m["loss"] for m in metrics if "loss" in m])
        ex, ey = dialog.curve_data(record.id, "eval")
        assert np.allclose(ex, _dollars(record, metrics, "eval_loss"), rtol=0, atol=1e-9)
        assert len(ey) == STEPS // EVAL_EVERY
        assert dialog.placed[record.id].exact

    names = [f"{record.config.project_name} ({record.id})" for record, _ in jobs]
    assert sorted(dialog.legend_labels()) == sorted(names)
    model = dialog.table_model
    # learning rate, LoRA rank and instance type differ, and with them price and cost.
    expected = ["rank", "learning_rate", "resource_id", "price_per_hour", "spent"]
    assert model.differing() == expected
    flagged = [r.field for r in model.rows() if r.differs]
    assert flagged == expected
    for i, row in enumerate(model.rows()):
        mark = model.index(i, MARK)
        font = model.index(i, SETTING).data(Qt.ItemDataRole.FontRole)
        assert (mark.data() == DIFF_MARK) is row.differs, row.field
        assert (font is not None and font.bold()) is row.differs, row.field
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers[2:] == [dialog.runs[i].name for i in range(3)]

    dialog.only_differences.setChecked(True)
    assert [r.field for r in model.rows()] == expected

    # Back to steps, then tokens seen as the trainer counted them.
    combo.setCurrentIndex(combo.findData("step"))
    x, _y = dialog.curve_data(ids[0], "train")
    assert list(x) == list(range(1, STEPS + 1))
    combo.setCurrentIndex(combo.findData("tokens"))
    x, _y = dialog.curve_data(ids[0], "train")
    assert list(x) == [512.0 * s for s in range(1, STEPS + 1)]
    assert dialog.plot.getAxis("bottom").labelText == "tokens seen"
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]

    dialog.close()
    await wait_until(lambda: panel.compare_dialog is None, 5, "the dialog to go")
    await cancel_slot_tasks()


async def test_compare_is_off_below_two_jobs_and_follows_the_palette(
    window: MainWindow,
) -> None:
    jobs = await _three_jobs(window)
    await window.jobs.reload()
    await _settled(window)
    panel = window.jobs
    assert panel.open_compare() is None and panel.compare_dialog is None
    assert "two or more" in panel.compare_button.toolTip()
    panel.table.selectAll()
    assert panel.compare_button.isEnabled() and "3 selected" in panel.compare_button.toolTip()
    dialog = panel.open_compare()
    assert dialog is not None
    await wait_until(lambda: dialog.loaded, 10, "the runs to load")
    light = dialog.curves[jobs[0][0].id][0].opts["pen"].color().name()
    palette = dialog.palette()
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Window):
        palette.setColor(role, Qt.GlobalColor.black)
    palette.setColor(QPalette.ColorRole.Text, Qt.GlobalColor.white)
    dialog.setPalette(palette)
    dark = dialog.curves[jobs[0][0].id][0].opts["pen"].color().name()
    assert light != dark
    # Eval curves are dashed in the run's colour.
    evals = dialog.curves[jobs[0][0].id][1].opts["pen"]
    assert evals.style() == Qt.PenStyle.DashLine and evals.color().name() == dark
    dialog.close()
    # Closed before its runs are read: the reading stops, and nothing is reported.
    early = panel.open_compare()
    assert early is not None and not early.loaded
    early.close()
    await wait_until(lambda: panel.compare_dialog is None, 5, "the dialog to go")
    await asyncio.sleep(0.2)
    assert not window.reporter.history, [r.text.full() for r in window.reporter.history]
    await cancel_slot_tasks()


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (950, "950"), (12_000, "12k"), (3_500_000, "3.5M"), (1.2e9, "1.2B")],
)
def test_token_ticks(value: float, text: str) -> None:
    assert format_tokens(value) == text


def test_dollar_ticks_keep_cents_and_grow_decimals_for_small_spacing() -> None:
    assert format_dollars(1.5, 0.5) == "$1.50"
    assert format_dollars(0.015, 0.005) == "$0.015"
    assert format_dollars(1234.0, 100.0) == "$1,234.00"
