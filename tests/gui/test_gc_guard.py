"""Cyclic garbage is collected on the GUI thread only (lambda_gui/gui/gc_guard.py)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from lambda_gui.gui import gc_guard
from lambda_gui.gui.gc_guard import FULL_EVERY_S, GuiThreadCollector, collect_due_generation


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


def test_a_full_collection_waits_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    # A full collection scans every object that is not frozen; during a flood of log lines
    # one every CHECK_INTERVAL_MS would stall the GUI thread again and again.
    # The module's clock of the last full collection is restored after the test.
    monkeypatch.setattr(gc_guard, "_last_full", gc_guard._last_full)
    gc.disable()
    now = time.monotonic() + 1_000_000.0
    thresholds = gc.get_threshold()
    gc.collect()
    kept: list[list[int]] = []
    try:
        gc.set_threshold(thresholds[0], 0, 0)  # generations 1 and 2 are due after any count

        def collected(at: float) -> list[int | None]:
            done = []
            for _ in range(3):  # 0, then 1, then 2 become due in turn
                kept.extend([] for _ in range(thresholds[0] * 2))
                done.append(collect_due_generation(at))
            return done

        assert 2 in collected(now)
        assert 2 not in collected(now + FULL_EVERY_S / 2)  # the younger ones only
        assert gc.get_count()[2] > 0  # though the oldest is due
        assert 2 in collected(now + FULL_EVERY_S + 1)
    finally:
        gc.set_threshold(*thresholds)
