"""The loss plot coalesces points into timer-driven redraws and keeps growable buffers."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from lambda_gui.gui.widgets.loss_plot import GrowableSeries, LossPlotWidget


def test_growable_series_doubles_and_keeps_order() -> None:
    s = GrowableSeries(capacity=4)
    for i in range(10):
        s.extend([i], [i * 2.0])
    s.extend(np.arange(10, 1000), np.arange(10, 1000) * 2.0)
    assert len(s) == 1000
    assert np.array_equal(s.x, np.arange(1000)) and np.array_equal(s.y, np.arange(1000) * 2.0)
    with pytest.raises(ValueError):
        s.extend([1, 2], [1])
    s.clear()
    assert len(s) == 0 and s.x.size == 0


def test_ten_thousand_points_cost_a_few_redraws(qtbot: Any) -> None:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    started = time.perf_counter()
    for step in range(10_000):
        plot.add_point(step, loss=1.0 / (step + 1), learning_rate=2e-4)
    feeding = time.perf_counter() - started
    # Adding only appends: nothing is drawn until the event loop runs the timer.
    assert plot.redraw_count == 0 and plot.dirty
    assert plot.point_count == 20_000
    qtbot.waitUntil(lambda: not plot.dirty, timeout=2000)
    qtbot.wait(250)
    assert 1 <= plot.redraw_count <= 3, plot.redraw_count
    x, y = plot._curves["loss"].getOriginalDataset()
    assert len(x) == 10_000 and y[-1] == pytest.approx(1e-4)
    # 10k setData calls would take ~50 s (docs/architecture.md#library-facts); appending takes well under a second.
    assert feeding < 2.0, feeding


def test_points_arriving_over_time_redraw_at_most_about_15_hz(qtbot: Any) -> None:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    started = time.perf_counter()
    step = 0
    while time.perf_counter() - started < 0.6:
        plot.add_points("loss", np.arange(step, step + 50), np.ones(50))
        step += 50
        qtbot.wait(5)
    elapsed = time.perf_counter() - started
    assert plot.redraw_count <= 15 * elapsed + 2, (plot.redraw_count, elapsed)
    assert plot.redraw_count >= 2


def test_timer_stops_when_nothing_arrives(qtbot: Any) -> None:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.add_point(1, loss=2.0)
    qtbot.waitUntil(lambda: plot.redraw_count == 1, timeout=1000)
    qtbot.waitUntil(lambda: not plot._timer.isActive(), timeout=1000)
    qtbot.wait(200)
    assert plot.redraw_count == 1


def test_metrics_records_with_string_values(qtbot: Any) -> None:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    kept = plot.add_metrics(
        [
            {"step": 1, "loss": "5.738", "grad_norm": "0.4258", "learning_rate": "0.004417"},
            {"step": "2", "loss": 5.1, "learning_rate": 0.004},
            {"step": 2, "eval_loss": "4.9"},
            {"loss": "1.0"},  # no step: cannot be placed
            {"step": 3, "loss": "nan"},
        ]
    )
    assert kept == 4
    assert plot.series_length("loss") == 2
    assert plot.series_length("eval_loss") == 1
    x, y = plot.series_data("learning_rate")
    assert list(x) == [1.0, 2.0] and list(y) == pytest.approx([0.004417, 0.004])


def test_clear_blanks_everything(qtbot: Any) -> None:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.add_points("eval_loss", [10, 20], [1.5, 1.2])
    plot.redraw()
    plot.clear()
    assert plot.point_count == 0 and not plot.dirty
    x, _ = plot._curves["eval_loss"].getOriginalDataset()
    assert x is None or len(x) == 0
    with pytest.raises(KeyError):
        plot.add_points("accuracy", [1], [1])


def test_plots_downsample_and_clip() -> None:
    plot = LossPlotWidget()
    for item in (plot.loss_plot, plot.lr_plot):
        assert item.ctrl.downsampleCheck.isChecked()
        assert item.ctrl.autoDownsampleCheck.isChecked()
        assert item.ctrl.peakRadio.isChecked()
        assert item.ctrl.clipToViewCheck.isChecked()
    plot.deleteLater()
