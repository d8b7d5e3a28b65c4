"""Cyclic garbage is collected on the GUI thread only (lambda_gui/gui/gc_guard.py)."""

from __future__ import annotations

import asyncio
import gc
import threading

from lambda_gui.gui.gc_guard import GuiThreadCollector, collect_due_generation


class _Cycle:
    """A self-referencing object that notes the thread the cyclic collector freed it on."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def _allocate_past_the_thresholds() -> None:
    kept = [[] for _ in range(gc.get_threshold()[0] * 20)]
    del kept


async def test_cycles_are_freed_on_the_gui_thread_not_on_a_worker() -> None:
    gc.enable()
    _Cycle.freed_on.clear()
    collector = GuiThreadCollector()
    collector._timer.setInterval(20)
    collector.start()
    try:
        assert not gc.isenabled()
        _Cycle()
        # A worker that allocates far past the thresholds (automatic collection would run
        # there and free the cycle on it).
        worker = threading.Thread(target=_allocate_past_the_thresholds, name="worker")
        worker.start()
        worker.join()
        assert _Cycle.freed_on == []
        # The GUI thread's timer collects once the counts say a collection is due.
        kept = [[] for _ in range(gc.get_threshold()[0] * 2)]
        for _ in range(100):
            if _Cycle.freed_on:
                break
            await asyncio.sleep(0.02)
        assert _Cycle.freed_on == [threading.main_thread().name]
        assert kept
    finally:
        collector.stop()
    assert gc.isenabled()


def test_only_a_crossed_threshold_collects() -> None:
    gc.disable()
    gc.collect()
    assert collect_due_generation() is None
    kept = [[] for _ in range(gc.get_threshold()[0] * 2)]
    assert collect_due_generation() == 0
    assert kept
