"""A plot view whose automatic range moves in steps while points stream in.

pyqtgraph's auto-range fits the data exactly, so each redraw of a growing curve (up to 15 a
second) changes the range, and each change repaints the axes whole: their tick labels are
most of a redraw's cost (bench/bench_firehose.py). This view box gives the auto-range some
headroom instead: the x range reaches `X_HEADROOM` of the data's span past its last point
(and a little before its first), the y range `Y_HEADROOM` above and below, and the range stays put while the data fits it
(and fills at least half of it). When the x values' end is known (a job's planned steps),
the x range reaches it at once; a learning rate's y range starts at 0. Points that come a
few seconds apart (a real training run) are fitted exactly each time: the headroom is for
a stream, and once points stop coming, `settle` fits the data exactly.
A range the user sets (zoom, pan) is left alone, as pyqtgraph does.
"""

from __future__ import annotations

from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg

#: Room past the last x while the data grows (a fraction of the data's x span).
X_HEADROOM = 0.5
#: How far (a fraction of the planned x span) the data's bounds may reach past 0 and the
#: planned end and still count as within them: pyqtgraph widens them by a pen's width.
PLAN_SLACK = 0.01
#: An exact fit that only shrinks the last one by less than this fraction keeps the last.
FIT_SLACK = 0.01
#: Room above and below the data while it grows (a fraction of its y span).
Y_HEADROOM = 0.15


class SteadyViewBox(pg.ViewBox):  # type: ignore[misc]
    """A ViewBox whose auto-range keeps headroom (see the module's text)."""

    def __init__(self, *args: Any, from_zero: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[tuple[float, float] | None] = [None, None]
        self._fitted: list[tuple[float, float] | None] = [None, None]  # the last exact fit
        self._settled = True
        self._planned_x: float | None = None
        self._from_zero = from_zero  # y values are never below 0 (a learning rate)

    def settle(self) -> None:
        """Fit the data exactly (the points stopped coming), until `stream` is called."""
        if not self._settled:
            self._settled = True
            self._held = [None, None]
            self.updateAutoRange()

    def stream(self) -> None:
        """Points are streaming in: auto-range with headroom."""
        self._settled = False

    def plan_x(self, end: float | None) -> None:
        """Where the x values will end (a job's planned steps; None: unknown). While points
        stream in below it, the x range reaches it and stays put."""
        self._planned_x = end

    def childrenBounds(  # noqa: N802  (pyqtgraph's name)
        self,
        frac: Any = None,
        orthoRange: Any = (None, None),
        items: Any = None,  # noqa: N803
    ) -> list[Any]:
        bounds: list[Any] = super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
        if self._settled:
            for axis in (0, 1):
                found = bounds[axis]
                if found is not None:
                    bounds[axis] = list(self._unwavering(axis, float(found[0]), float(found[1])))
            return bounds
        for axis in (0, 1):
            found = bounds[axis]
            if found is not None:
                bounds[axis] = list(self._steady(axis, float(found[0]), float(found[1])))
        return bounds

    def _unwavering(self, axis: int, low: float, high: float) -> tuple[float, float]:
        """The exact fit, unless it only shrank the last one by a hair: a curve's bounds
        depend on the range itself (its downsampling, a pen's width in pixels), and two
        ranges could otherwise take turns, each repainting the axes."""
        last = self._fitted[axis]
        if last is not None:
            last_low, last_high = last
            within = last_low <= low and high <= last_high
            if within and (high - low) >= (1.0 - FIT_SLACK) * (last_high - last_low):
                return last
        self._fitted[axis] = (low, high)
        return low, high

    def _steady(self, axis: int, low: float, high: float) -> tuple[float, float]:
        planned = self._planned_x
        if axis == 0 and planned is not None:
            # The bounds reach a few pixels past the data (a pen's width): a slack for them.
            slack = PLAN_SLACK * planned
            if -slack <= low and high <= planned + slack:
                return 0.0, planned
        if axis == 1 and self._from_zero and low >= 0.0:
            low = 0.0
        held = self._held[axis]
        if held is not None:
            held_low, held_high = held
            fits = held_low <= low and high <= held_high
            if fits and (high - low) >= 0.5 * (held_high - held_low):
                return held
        span = high - low
        if span <= 0:
            return low, high  # a single value: pyqtgraph pads it
        if axis == 0:
            # A little room below too: the bounds pyqtgraph reports widen with the view (a
            # pen's width is added in pixels).
            steady = (low - 0.05 * span, high + X_HEADROOM * span)
        else:
            steady = (low - Y_HEADROOM * span, high + Y_HEADROOM * span)
        self._held[axis] = steady
        return steady
