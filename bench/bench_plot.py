"""Benchmark (not a test): redrawing 1M points with and without downsampling / clip-to-view.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_plot.py [--points N] [--repeat R]

Each case sets the data once, then times full repaints (QWidget.grab() forces one) and prints
the median. It also times feeding points one setData at a time against LossPlotWidget's
buffered, timer-driven path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication

from lambda_gui.gui.widgets.loss_plot import LossPlotWidget


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def _redraw_case(
    app: QApplication, x: np.ndarray, y: np.ndarray, *, fast: bool, zoom: bool, repeat: int
) -> float:
    widget = pg.PlotWidget()
    widget.resize(1000, 600)
    widget.show()
    item = widget.getPlotItem()
    if fast:
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
    curve = item.plot(pen="b")
    curve.setData(x, y)
    if zoom:
        item.setXRange(x[-1] * 0.9, x[-1], padding=0)
    app.processEvents()
    widget.grab()  # first paint builds caches; not timed

    def repaint() -> None:
        curve.setData(x, y)  # a redraw after new points re-sends the data
        widget.grab()

    ms = _median_ms(repaint, repeat)
    widget.close()
    widget.deleteLater()
    app.processEvents()
    return ms


def _feeding_case(app: QApplication, points: int) -> tuple[float, float]:
    widget = pg.PlotWidget()
    widget.resize(1000, 600)
    widget.show()
    curve = widget.getPlotItem().plot(pen="b")
    xs: list[float] = []
    ys: list[float] = []
    started = time.perf_counter()
    for i in range(points):
        xs.append(i)
        ys.append(1.0 / (i + 1))
        curve.setData(xs, ys)
        app.processEvents()
    per_point = time.perf_counter() - started
    widget.close()

    plot = LossPlotWidget()
    plot.resize(1000, 600)
    plot.show()
    started = time.perf_counter()
    for i in range(points):
        plot.add_point(i, loss=1.0 / (i + 1))
    plot.redraw()
    app.processEvents()
    buffered = time.perf_counter() - started
    plot.close()
    return per_point, buffered


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--feed", type=int, default=2000, help="points for the feeding case")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    x = np.arange(args.points, dtype=np.float64)
    y = np.exp(-x / args.points * 5) + np.random.default_rng(0).normal(0, 0.05, args.points)

    print(f"pyqtgraph {pg.__version__}, {args.points:,} points, median of {args.repeat}")
    for fast in (False, True):
        for zoom in (False, True):
            ms = _redraw_case(app, x, y, fast=fast, zoom=zoom, repeat=args.repeat)
            mode = "downsample(peak)+clip" if fast else "plain"
            view = "last 10% in view" if zoom else "all in view"
            print(f"  redraw {mode:22s} {view:17s} {ms:8.1f} ms")
    per_point, buffered = _feeding_case(app, args.feed)
    print(
        f"  feeding {args.feed:,} points: setData per point {per_point:.2f} s "
        f"({per_point / args.feed * 1000:.2f} ms each); buffered + one redraw {buffered:.3f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
