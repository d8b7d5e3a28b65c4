"""Python's cyclic garbage collector runs on the GUI thread only.

Automatic collection starts in whichever thread happens to allocate when a threshold is
crossed: an executor thread hashing a download, paramiko's transport thread, a qasync worker.
A cycle that holds a Qt object (a widget whose slot closes over itself, a dialog kept by a
lambda) is then destroyed on that thread, and Qt objects destroyed off their own thread crash
the process (a segmentation fault, seen once in a few hundred runs of the suite). So the app
turns automatic collection off and collects on a timer in the GUI thread, with the same
generation thresholds the automatic collector uses. Reference counting still frees everything
that is not in a cycle at once; only cycles wait for the next tick.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

# How often the GUI thread looks at the allocation counts (ms). Cycles wait at most this long.
# Often enough that the youngest generation stays small: a flood of log lines allocates
# hundreds of thousands of objects a second, and one collection of them all took ~25 ms.
CHECK_INTERVAL_MS = 100
# A full collection (it scans every object not frozen: tens of ms while a flood of log lines
# is held) at most this often (s). The automatic collector spaces them out too (it waits
# until a quarter of the long-lived objects are new); young cycles are collected meanwhile.
FULL_EVERY_S = 10.0

_last_full = 0.0


def collect_due_generation(now: float | None = None) -> int | None:
    """Collect the oldest generation whose threshold is crossed, as the automatic collector
    would (the oldest at most every FULL_EVERY_S); the generation collected, or None when no
    threshold is crossed."""
    global _last_full
    now = time.monotonic() if now is None else now
    thresholds = gc.get_threshold()
    counts = gc.get_count()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            if generation == 2:
                if now - _last_full < FULL_EVERY_S:
                    continue
                _last_full = now
            gc.collect(generation)
            return generation
    return None


def freeze_what_lives() -> None:
    """Move every object alive now (modules, the main window's widgets and their wrappers) to
    the permanent generation: later collections scan only what came after, so a full
    collection in the middle of a flood of log lines stays short (gc.freeze)."""
    global _last_full
    gc.collect()
    _last_full = time.monotonic()  # that was a full collection
    gc.freeze()


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects on a GUI-thread timer while it lives."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(collect_due_generation)
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Collect what is left and give collection back as it was before start()."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
