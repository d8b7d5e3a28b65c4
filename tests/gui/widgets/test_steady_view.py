"""The plots' auto-range keeps headroom while points stream in (the axes repaint only when the
data outgrows it) and fits the data exactly once they stop."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QApplication

from lambda_gui.gui.widgets.loss_plot import SETTLE_MS, LossPlotWidget
from lambda_gui.gui.widgets.steady_view import X_HEADROOM, SteadyViewBox


def _x_range(view: SteadyViewBox) -> tuple[float, float]:
    low, high = view.viewRange()[0]
    return float(low), float(high)


def test_the_range_holds_while_the_data_fits_and_settles_exactly(qtbot: Any) -> None:
    plot = LossPlotWidget(redraw_hz=1000.0)
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    view = plot.views[0]
    changes: list[tuple[float, float]] = []
    view.sigXRangeChanged.connect(lambda _view, rng: changes.append(tuple(rng)))
    for end in range(100, 20_001, 100):  # 200 redraws of a growing curve
        steps = np.arange(end - 99, end + 1, dtype=np.float64)
        plot.add_points("loss", steps, 3.0 / (1 + steps / 1000))
        plot.redraw()
        QApplication.processEvents()  # the view auto-ranges before it paints
    low, high = _x_range(view)
    assert low <= 1 and high >= 20_000
    # With headroom the range moved a handful of times, not once per redraw: each time the
    # data outgrew it by half (100 to 20,000: about log(200)/log(1.5) = 13 moves).
    assert 3 <= len(changes) <= 20, changes
    assert high > 20_000 * (1 + X_HEADROOM / 4)
    # No more points: after SETTLE_MS the view fits the data exactly.
    qtbot.waitUntil(lambda: _x_range(view)[1] < 20_000 * 1.05, timeout=SETTLE_MS + 2000)
    assert _x_range(view)[1] >= 20_000


def test_a_range_the_user_set_is_kept(qtbot: Any) -> None:
    plot = LossPlotWidget(redraw_hz=1000.0)
    qtbot.addWidget(plot)
    plot.show()
    plot.add_points("loss", np.arange(1, 101, dtype=np.float64), np.ones(100))
    plot.redraw()
    QApplication.processEvents()
    plot.loss_plot.setXRange(10, 20, padding=0)  # as a zoom does: auto-range goes off
    plot.add_points("loss", np.arange(101, 1001, dtype=np.float64), np.ones(900))
    plot.redraw()
    QApplication.processEvents()
    low, high = _x_range(plot.views[0])
    assert (round(low), round(high)) == (10, 20)


def test_points_seconds_apart_are_fitted_exactly(qtbot: Any, monkeypatch: Any) -> None:
    # A real training run logs every few seconds: no headroom that comes and goes.
    from lambda_gui.gui.widgets import loss_plot

    monkeypatch.setattr(loss_plot, "SETTLE_MS", 50)
    plot = LossPlotWidget(redraw_hz=1000.0)
    qtbot.addWidget(plot)
    plot._settle_timer.setInterval(50)
    plot.show()
    view = plot.views[0]
    for step in range(1, 6):
        plot.add_points("loss", [float(step * 100)], [1.0 / step])
        plot.redraw()
        QApplication.processEvents()
        assert _x_range(view)[1] < step * 100 * 1.1  # the last point, and no room past it
        qtbot.wait(80)  # longer than the settle interval: not a stream


def test_a_streaming_job_spans_its_planned_steps(qtbot: Any) -> None:
    plot = LossPlotWidget(redraw_hz=1000.0)
    qtbot.addWidget(plot)
    plot.show()
    plot.plan_steps(50_000)
    spans = set()
    for end in range(100, 5_001, 100):
        steps = np.arange(end - 99, end + 1, dtype=np.float64)
        plot.add_points("loss", steps, 3.0 / (1 + steps / 1000))
        plot.redraw()
        QApplication.processEvents()
        low, high = _x_range(plot.views[0])
        spans.add((round(low), round(high)))
    # From its second redraw on (a stream), the step axis spans the whole run: one range.
    assert len(spans) <= 2 and max(high for _, high in spans) >= 50_000


def test_a_wide_flood_holds_its_planned_range_from_the_second_redraw(qtbot: Any) -> None:
    # pyqtgraph widens the data's bounds by a pen's width in pixels, so the first step lies
    # a little below 0 on a wide view: the planned span still holds (a 1% slack).
    plot = LossPlotWidget(redraw_hz=1000.0)
    qtbot.addWidget(plot)
    plot.resize(1100, 500)
    plot.show()
    plot.plan_steps(200_000)
    spans = []
    for first in range(1, 12_001, 2000):
        steps = np.arange(first, first + 2000, dtype=np.float64)
        plot.add_points("loss", steps, 2.0 + np.sin(steps / 50.0))
        plot.add_points("learning_rate", steps, 1e-4 * (1 - steps / 200_000))
        plot.redraw()
        QApplication.processEvents()
        spans.append(_x_range(plot.views[0]))
    assert len(set(spans[1:])) == 1, spans
    low, high = spans[-1]
    assert low <= 0 and high >= 200_000


def test_an_exact_fit_does_not_waver_by_a_hair() -> None:
    # A curve's bounds depend on the range (its downsampling, a pen's width in pixels): an
    # exact fit that only shrinks the last by a hair keeps it, so two ranges cannot take
    # turns, each repainting the axes. Growth, or a real shrink, is fitted.
    view = SteadyViewBox()
    assert view._unwavering(0, 0.0, 100.0) == (0.0, 100.0)
    assert view._unwavering(0, 0.4, 99.7) == (0.0, 100.0)  # a hair inside: kept
    assert view._unwavering(0, 0.0, 100.0) == (0.0, 100.0)
    assert view._unwavering(0, 0.0, 100.5) == (0.0, 100.5)  # grew: fitted
    assert view._unwavering(0, 10.0, 60.0) == (10.0, 60.0)  # shrank for real: fitted


def test_a_live_burst_spans_the_planned_steps_from_its_first_redraw(qtbot: Any) -> None:
    # A flood's first batch brings thousands of live points: the step axis spans the planned
    # steps at once, not a fit that the next batch would change (each change repaints the
    # axes). History (a backfill) is fitted exactly.
    def planned_plot() -> LossPlotWidget:
        plot = LossPlotWidget(redraw_hz=1000.0)
        qtbot.addWidget(plot)
        plot.resize(800, 400)
        plot.show()
        plot.plan_steps(100_000)
        return plot

    steps = np.arange(1, 5001, dtype=np.float64)
    history = planned_plot()
    history.add_points("loss", steps, 3.0 / (1 + steps / 1000))
    history.redraw()  # history: an exact fit
    QApplication.processEvents()
    assert _x_range(history.views[0])[1] < 10_000
    plot = planned_plot()
    plot.add_points("loss", steps, 3.0 / (1 + steps / 1000))
    plot.note_live(len(steps))
    plot.redraw()
    QApplication.processEvents()
    first = _x_range(plot.views[0])
    assert first[1] >= 100_000
    more = np.arange(5001, 10_001, dtype=np.float64)
    plot.add_points("loss", more, 3.0 / (1 + more / 1000))
    plot.note_live(len(more))
    plot.redraw()
    QApplication.processEvents()
    assert _x_range(plot.views[0]) == first
