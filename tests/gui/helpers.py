"""Waiting in GUI tests without a nested Qt loop (the qasync loop keeps running)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QAbstractButton, QMessageBox


async def wait_until(
    predicate: Callable[[], object], within: float = 10.0, what: str = "a condition"
) -> None:
    """Await until `predicate()` is truthy; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


async def answer_confirm(detail: Any, button: QAbstractButton, choice: str) -> QMessageBox:
    """Click a job detail's `button`, wait for its question and answer it with `choice`
    ("yes"/"no"); the box answered."""
    detail.confirm_box = None
    button.click()
    await wait_until(lambda: detail.confirm_box is not None and detail.confirm_box.isVisible())
    box: QMessageBox | None = detail.confirm_box
    assert box is not None
    next(b for b in box.buttons() if b.objectName() == choice).click()
    await wait_until(lambda: not box.isVisible())
    return box
