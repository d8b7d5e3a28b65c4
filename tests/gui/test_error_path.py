"""One error path: background task failures and exceptions in async slots reach the status bar
and the error dialog, in words, with Lambda's suggestion where there is one."""

from __future__ import annotations

from typing import Any

from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.events import BillingWarning, TaskFailed
from tests.gui.conftest import close_window
from tests.gui.helpers import wait_until


async def test_task_failure_reaches_status_bar_and_dialog(window: MainWindow) -> None:
    window.connector.events.publish(TaskFailed("job:abc123", "SSH to the instance failed."))
    report = window.reporter.history[-1]
    assert report.title == "Job abc123 hit an error"
    assert "SSH to the instance failed." in window.statusBar().currentMessage()
    dialog = window.reporter.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.text() == "SSH to the instance failed."
    dialog.accept()


async def test_exception_in_a_slot_is_shown_not_swallowed(
    credentials: CredentialStore,
) -> None:
    # Not connected: the catalog's refresh slot raises NotConnectedError inside its task.
    win = MainWindow(LambdaLabsConnector(), credentials)
    try:
        await win.catalog.refresh()
        report = win.reporter.history[-1]
        assert report.title == "Could not load Lambda's instance types"
        assert report.text.message == "Not connected to Lambda Cloud."
        assert "Settings" in (report.text.suggestion or "")
        assert win.reporter.dialog is not None
        assert win.reporter.dialog.informativeText() == report.text.suggestion
        assert "Not connected" in win.statusBar().currentMessage()
        assert win.catalog.updated_label.text() == "Could not load"
        assert win.catalog.refresh_button.isEnabled() is False  # cooling down even on failure
    finally:
        await close_window(win)


async def test_lambda_suggestion_is_shown_for_no_capacity(window: MainWindow, sim: Any) -> None:
    for region in ("us-east-1", "us-west-1"):
        sim.set_capacity("gpu_1x_a10", region, 0)
    window.wizard.set_draft(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "resource_id": "gpu_1x_a10",
        }
    )
    # Launch straight from the draft (the wizard's own checks pass: a warning only).
    await window.wizard.launch()
    report = window.reporter.history[-1]
    assert report.title == "Could not launch the job"
    assert "no capacity for gpu_1x_a10" in report.text.full()
    assert "Types with capacity now" in report.text.full()
    assert not window.wizard.launching and window.wizard.next_button.isEnabled()


async def test_billing_warning_shows_a_banner_until_resolved(window: MainWindow) -> None:
    bus = window.connector.events
    bus.publish(
        BillingWarning("i-1", "lambda-gui-x", 1.29, "Instance lambda-gui-x may still be billing.")
    )
    assert window.billing_banner.isVisible()
    assert "may still be billing" in window.billing_banner.text()
    bus.publish(BillingWarning("i-1", "lambda-gui-x", 1.29, "Terminated.", resolved=True))
    await wait_until(lambda: not window.billing_banner.isVisible(), 2, "the banner to go")
