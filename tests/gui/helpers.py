"""Waiting in GUI tests without a nested Qt loop (the qasync loop keeps running), and the
New job wizard as the wizard tests open it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QAbstractButton, QMessageBox

from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.model_shape import ModelShapes


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


@asynccontextmanager
async def shown_wizard(
    connector: LambdaLabsConnector, tmp_path: Path
) -> AsyncIterator[WizardPanel]:
    """The wizard panel shown at 1100x760 with the connector's instance types; model sizes
    without the internet (config.json files, the table, the name)."""
    shapes = ModelShapes(tmp_path / "model-configs", hub_url=None)
    wizard = WizardPanel(connector, ErrorReporter(None, dialogs=False), model_shapes=shapes)
    wizard.resize(1100, 760)
    wizard.show()
    wizard.set_resources(await connector.list_resources())
    try:
        yield wizard
    finally:
        await cancel_slot_tasks()
        wizard.close()
        wizard.deleteLater()
