"""pyqtgraph axes for the training curves: no SI-prefix scale in the label, short tick text.

pyqtgraph moves a small axis' scale into its label ("learning rate (x0.001)"), which makes the
label taller than a short plot; these axes put the scale into each tick instead ("2e-4").
"""

from __future__ import annotations

from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen

from lambda_gui.gui.widgets.curve_math import clock_tick_step, format_clock, format_rate

TICK_PX = 70  # about one tick label per this many pixels on a clock axis


class PlainAxis(pg.AxisItem):  # type: ignore[misc]
    """An axis whose label never grows a "(x0.001)" scale, and whose grid lines are opaque.

    pyqtgraph draws its faint grid lines in a translucent colour, and Qt's raster engine
    blends such lines a dozen times slower than opaque ones: a plot's axes, repainted when
    their range or size changes, cost ~15 ms instead of ~5 (bench/bench_firehose.py). These
    axes draw each translucent line in the opaque colour it would show over the plot's
    background (`set_backdrop`), and sit below the curves, so a grid line never crosses one.
    """

    def __init__(self, orientation: str, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self._backdrop = QColor(Qt.GlobalColor.white)

    def set_backdrop(self, colour: QColor) -> None:
        """The plot's background, over which the grid lines are blended."""
        self._backdrop = QColor(colour)
        self.picture = None
        self.update()

    def generateDrawSpecs(self, p: Any) -> Any:  # noqa: N802  (pyqtgraph's name)
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        blended: dict[int, QPen] = {}  # a level's ticks share one pen
        opaque = []
        for pen, start, end in tick_specs:
            solid = blended.get(id(pen))
            if solid is None:
                solid = blended[id(pen)] = _over(pen, self._backdrop)
            opaque.append((solid, start, end))
        return axis_spec, opaque, text_specs


def _over(pen: QPen, backdrop: QColor) -> QPen:
    """`pen` in the opaque colour its translucent colour shows over `backdrop`."""
    colour = pen.color()
    alpha = colour.alphaF()
    if alpha >= 1.0 or pen.brush().style() != Qt.BrushStyle.SolidPattern:
        return pen
    blended = QColor.fromRgbF(
        colour.redF() * alpha + backdrop.redF() * (1 - alpha),
        colour.greenF() * alpha + backdrop.greenF() * (1 - alpha),
        colour.blueF() * alpha + backdrop.blueF() * (1 - alpha),
    )
    result = QPen(pen)
    result.setColor(blended)
    return result


class RateAxis(PlainAxis):
    """Learning-rate ticks in short scientific notation: "0", "5e-4", "1.5e-3"."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [format_rate(v * scale) for v in values]


class XAxis(PlainAxis):
    """The x axis: steps and epochs as numbers, elapsed time as m:ss / h:mm:ss on whole-clock
    ticks (`clock` on)."""

    def __init__(self, orientation: str = "bottom", **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.clock = False

    def set_clock(self, on: bool) -> None:
        """Label ticks as elapsed time (True) or as plain numbers (False)."""
        if on != self.clock:
            self.clock = on
            self.picture = None
            self.update()

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> Any:  # noqa: N802, N803
        if not self.clock:
            return super().tickSpacing(minVal, maxVal, size)
        major = clock_tick_step(max(maxVal - minVal, 1e-9), max(2, int(size / TICK_PX)))
        return [(major, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if self.clock:
            return [format_clock(v * scale) for v in values]
        result: list[str] = super().tickStrings(values, scale, spacing)
        return result
