"""Waiting in GUI tests without a nested Qt loop (the qasync loop keeps running)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(
    predicate: Callable[[], object], within: float = 10.0, what: str = "a condition"
) -> None:
    """Await until `predicate()` is truthy; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)
