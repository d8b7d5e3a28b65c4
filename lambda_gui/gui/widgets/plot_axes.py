"""pyqtgraph axes for the training curves: no SI-prefix scale in the label, short tick text.

pyqtgraph moves a small axis' scale into its label ("learning rate (x0.001)"), which makes the
label taller than a short plot; these axes put the scale into each tick instead ("2e-4").
"""

from __future__ import annotations

from typing import Any

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before pyqtgraph loads)

# isort: split

import pyqtgraph as pg

from lambda_gui.gui.widgets.curve_math import clock_tick_step, format_clock, format_rate

TICK_PX = 70  # about one tick label per this many pixels on a clock axis


class PlainAxis(pg.AxisItem):  # type: ignore[misc]
    """An axis whose label never grows a "(x0.001)" scale."""

    def __init__(self, orientation: str, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)


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
