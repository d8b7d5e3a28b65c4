"""The loss plot coalesces points into timer-driven redraws and keeps growable buffers; its
legend, axes, palette, smoothing, crosshair and x-axis choice."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QApplication

from lambda_gui.gui.widgets.curve_math import (
    Smoother,
    clock_tick_step,
    ema,
    format_clock,
    format_rate,
)
from lambda_gui.gui.widgets.loss_plot import (
    DARK_COLOURS,
    LIGHT_COLOURS,
    GrowableSeries,
    LossPlotWidget,
)


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
    # One bin a pixel column (its min and max), not pyqtgraph's five.
    assert all(c.opts["autoDownsampleFactor"] == 1.0 for c in plot._curves.values())
    plot.deleteLater()


def _plot(qtbot: Any) -> LossPlotWidget:
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    return plot


def test_legend_lists_only_series_with_points(qtbot: Any) -> None:
    plot = _plot(qtbot)
    plot.redraw()
    assert plot.legend_labels() == []
    plot.add_point(1, loss=2.0, learning_rate=1e-4)
    plot.redraw()
    assert plot.legend_labels() == ["train loss"]  # no "eval loss" without eval points
    plot.add_point(1, eval_loss=2.1)
    plot.redraw()
    assert plot.legend_labels() == ["train loss", "eval loss"]
    plot.clear()
    assert plot.legend_labels() == []


def test_learning_rate_axis_keeps_its_scale_in_the_ticks(qtbot: Any) -> None:
    plot = _plot(qtbot)
    plot.add_points("learning_rate", [1, 2, 3], [1e-4, 5e-4, 2e-3])
    plot.redraw()
    axis = plot.lr_plot.getAxis("left")
    assert axis.labelText == "LR" and "x0" not in axis.labelString()
    assert axis.tickStrings([0.0, 5e-4, 0.0015], 1.0, 5e-4) == ["0", "5e-4", "1.5e-3"]
    assert "x0" not in plot.loss_plot.getAxis("left").labelString()


def _palette(base: str, text: str) -> QPalette:
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Base, base), (QPalette.ColorRole.Window, base)):
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText):
        palette.setColor(role, QColor(text))
    return palette


@pytest.mark.parametrize(
    ("base", "text", "colours"),
    [("#ffffff", "#1f2328", LIGHT_COLOURS), ("#1e1e1e", "#e6edf3", DARK_COLOURS)],
)
def test_colours_follow_the_palette(qtbot: Any, base: str, text: str, colours: Any) -> None:
    plot = _plot(qtbot)
    plot.setPalette(_palette(base, text))
    assert plot.graphics.backgroundBrush().color().name() == base
    assert plot.lr_plot.getAxis("left").textPen().color().name() == text
    assert plot._curves["loss"].opts["pen"].color().name() == colours["loss"]
    assert plot.legend.opts["labelTextColor"].name() == text
    # The grid lines are opaque, in the colour a faint line shows over the background, and
    # the axes (which draw them) lie below the curves.
    plot.add_points("loss", [1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    plot.redraw()
    QApplication.processEvents()
    backdrop, ink = QColor(base), QColor(text)
    for item in (plot.loss_plot, plot.lr_plot):
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            assert axis.zValue() < item.vb.zValue()
            image = QImage(10, 10, QImage.Format.Format_ARGB32)  # outlives the painter
            painter = QPainter(image)
            try:
                _axis, ticks, _texts = axis.generateDrawSpecs(painter)
            finally:
                painter.end()
            assert ticks
            for pen, _start, _end in ticks:
                colour = pen.color()
                assert colour.alpha() == 255
                # Between the background and the text colour, channel by channel.
                for channel in ("red", "green", "blue"):
                    low, high = sorted((getattr(backdrop, channel)(), getattr(ink, channel)()))
                    assert low - 1 <= getattr(colour, channel)() <= high + 1


def test_smoothing_draws_the_ema_with_the_raw_curve_faint_behind(qtbot: Any) -> None:
    plot = _plot(qtbot)
    losses = np.array([4.0, 2.0, 3.0, 1.0, 2.0])
    plot.add_points("loss", np.arange(1, 6), losses)
    plot.redraw()
    assert not plot._curves["loss_raw"].isVisible()
    plot.set_smoothing(0.5)  # redraws at once
    _x, smoothed = plot._curves["loss"].getOriginalDataset()
    assert smoothed == pytest.approx(ema(losses, 0.5))
    assert smoothed[1] == pytest.approx((0.5 * 0.5 * 4 + 0.5 * 2) / 0.75)
    _x, raw = plot._curves["loss_raw"].getOriginalDataset()
    assert list(raw) == list(losses) and plot._curves["loss_raw"].isVisible()
    assert plot._curves["loss_raw"].opts["pen"].color().alpha() < 255
    assert plot.legend_labels() == ["train loss (smoothed)"]
    plot.set_smoothing(0)
    assert plot.legend_labels() == ["train loss"] and not plot._curves["loss_raw"].isVisible()


def test_crosshair_shows_the_values_under_the_mouse(qtbot: Any) -> None:
    plot = _plot(qtbot)
    plot.add_metrics(
        [{"step": s, "loss": 5.0 - s / 10, "learning_rate": 1e-4 * s} for s in range(1, 21)]
        + [{"step": 10, "eval_loss": 4.2}]
    )
    plot.redraw()
    assert plot.readout.text() == "Latest, step 20: loss 3 · eval loss 4.2 (step 10) · LR 2e-3"
    text = plot.show_values_at(7.2)
    assert text == "Under the mouse, step 7: loss 4.3 · eval loss 4.2 (step 10) · LR 7e-4"
    assert all(line.isVisible() and line.value() == 7.2 for line in plot.crosshair)
    # A real mouse move over the loss plot puts the crosshair at the step under it.
    plot.loss_plot.vb.setRange(xRange=(0, 20), yRange=(2, 6), padding=0)
    scene_pos = plot.loss_plot.vb.mapViewToScene(QPointF(15.0, 4.0))
    assert plot.loss_plot.sceneBoundingRect().contains(scene_pos)
    plot.graphics.scene().sigMouseMoved.emit(scene_pos)
    assert plot.readout.text().startswith("Under the mouse, step 15: loss 3.5")
    plot.hide_crosshair()
    assert not plot.crosshair[0].isVisible() and plot.readout.text().startswith("Latest")


def test_x_axis_switches_between_step_epoch_and_elapsed_time(qtbot: Any) -> None:
    plot = _plot(qtbot)
    epoch_item = plot.x_axis_combo.model().item(plot.x_axis_combo.findData("epoch"))
    plot.add_points("loss", [1, 2], [2.0, 1.5])
    plot.redraw()
    assert not epoch_item.isEnabled()  # nothing to place the steps in epochs yet
    plot.set_x_axis("time")  # no clock in the points: the time they arrived here
    assert plot.lr_plot.getAxis("bottom").labelText == "elapsed time (as received)"
    plot.clear()
    plot.add_metrics(
        [
            {"step": 10, "epoch": 0.5, "time": 1000.0, "loss": 2.0},
            {"step": 20, "epoch": 1.0, "time": 1090.0, "loss": 1.5, "eval_loss": 1.7},
        ]
    )
    plot.redraw()
    assert epoch_item.isEnabled()
    x, _ = plot._curves["loss"].getOriginalDataset()
    assert list(x) == [0.0, 90.0]
    assert plot.lr_plot.getAxis("bottom").labelText == "elapsed time"
    assert plot.x_axes[1].tickStrings([0.0, 90.0, 3700.0], 1.0, 30.0) == ["0:00", "1:30", "1:01:40"]
    assert "1:30 elapsed" in plot.readout.text()
    plot.set_x_axis("epoch")
    x, _ = plot._curves["eval_loss"].getOriginalDataset()
    assert list(x) == [1.0] and plot.lr_plot.getAxis("bottom").labelText == "epoch"
    assert plot.x_axes[1].tickStrings([0.5, 1.0], 1.0, 0.5) == ["0.5", "1.0"]
    plot.set_x_axis("step")
    x, _ = plot._curves["loss"].getOriginalDataset()
    assert list(x) == [10.0, 20.0]
    with pytest.raises(KeyError):
        plot.set_x_axis("tokens")


def test_clock_given_after_the_points_places_them() -> None:
    plot = LossPlotWidget()
    plot.add_points("loss", [1, 2, 3], [3.0, 2.0, 1.0])
    for step, seconds in ((1, 50.0), (2, 60.0), (3, 80.0)):
        plot.add_clock(step, epoch=step / 3, time=seconds)
    plot.set_x_axis("time")
    x, _ = plot._curves["loss"].getOriginalDataset()
    assert list(x) == [0.0, 10.0, 30.0]
    plot.deleteLater()


def test_clocks_in_one_go_place_steps_as_one_at_a_time() -> None:
    steps = [1, 2, 2, 3, 5, 5, 6]
    epochs = [0.1, 0.2, 0.25, float("nan"), 0.5, 0.55, 0.6]
    times = [10.0, 20.0, 21.0, 30.0, float("nan"), 50.0, 60.0]
    batch, single = LossPlotWidget(), LossPlotWidget()
    batch.add_clocks(steps[:3], epochs[:3], times[:3])
    batch.add_clocks(steps[2:], epochs[2:], times[2:])  # a step repeated across two batches
    for i, step in enumerate(steps):
        epoch, seconds = epochs[i], times[i]
        single.add_clock(
            step,
            epoch=None if epoch != epoch else epoch,
            time=None if seconds != seconds else seconds,
        )
    for name in ("_epochs", "_walls"):
        assert list(getattr(batch, name).x) == list(getattr(single, name).x)
        assert list(getattr(batch, name).y) == list(getattr(single, name).y)
    batch.deleteLater()
    single.deleteLater()


def test_ema_matches_the_plain_recurrence_and_grows_incrementally() -> None:
    rng = np.random.default_rng(1)
    values = rng.random(3000) + 1.0
    values[[7, 500]] = np.nan
    for alpha in (0.0, 0.3, 0.6, 0.9, 0.99):
        expected, state, weight = [], 0.0, 0.0
        for v in values:
            if np.isnan(v):
                expected.append(np.nan)
                continue
            state = alpha * state + (1 - alpha) * v
            weight = alpha * weight + (1 - alpha)
            expected.append(state / weight if weight else v)
        assert np.allclose(ema(values, alpha), expected, equal_nan=True, atol=1e-9)
        smoother = Smoother()
        for n in (1, 2, 40, 41, 3000):
            got = smoother.smooth(values[:n], alpha)
        assert np.allclose(got, expected, equal_nan=True, atol=1e-9)
    started = time.perf_counter()
    ema(rng.random(1_000_000), 0.95)
    assert time.perf_counter() - started < 2.0


def test_clock_and_rate_formats() -> None:
    assert [format_clock(s) for s in (0, 65, 3600 + 61, -5)] == ["0:00", "1:05", "1:01:01", "-0:05"]
    assert [format_rate(v) for v in (0.0, 2e-4, 0.0015, float("nan"))] == [
        "0",
        "2e-4",
        "1.5e-3",
        "nan",
    ]
    assert clock_tick_step(600, 5) == 120 and clock_tick_step(7 * 86400, 3) == 3 * 86400
