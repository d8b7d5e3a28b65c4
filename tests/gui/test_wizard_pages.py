"""Each wizard page enables Next only when its step is valid; errors show on their fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QFileDialog, QLineEdit

from lambda_gui.gui.wizard.tracker_editor import TrackerEnvWidget
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.simulator.tiny_model import demo_dataset_path
from tests.gui.helpers import shown_wizard, wait_until


@pytest.fixture
async def panel(gui_connector: LambdaLabsConnector, tmp_path: Path) -> AsyncIterator[WizardPanel]:
    async with shown_wizard(gui_connector, tmp_path) as wizard:
        yield wizard


def _type(panel: WizardPanel, name: str, text: str) -> None:
    widget = panel.page.editors[name].widget
    assert isinstance(widget, QLineEdit)
    widget.setText(text)


def _spin(panel: WizardPanel, name: str, value: float) -> None:
    widget = panel.page.editors[name].widget
    assert isinstance(widget, QAbstractSpinBox)
    widget.setValue(value)  # type: ignore[attr-defined]


def _error(panel: WizardPanel, name: str) -> str:
    label = panel.page.error_labels[name]
    return label.text() if label.isVisibleTo(panel.page) else ""


async def test_model_page(panel: WizardPanel) -> None:
    assert panel.wizard.current.key == "model"
    assert not panel.next_button.isEnabled()
    assert not panel.back_button.isEnabled()
    _type(panel, "base_model", "not a model id!")
    assert "Hugging Face model id" in _error(panel, "base_model")
    assert not panel.next_button.isEnabled()
    _type(panel, "base_model", "Qwen/Qwen2.5-0.5B")
    assert _error(panel, "base_model") == ""
    assert panel.next_button.isEnabled()
    size = panel.pages[0].size_label.text()  # type: ignore[attr-defined]
    assert "490 million parameters (from the known-models table)" in size
    _type(panel, "params_b", "lots")
    assert _error(panel, "params_b") == "Enter a number (e.g. 0.0002 or 2e-4)."
    assert not panel.next_button.isEnabled()
    _type(panel, "params_b", "")
    assert panel.next_button.isEnabled()
    panel.next_button.click()
    assert panel.wizard.current.key == "dataset"


async def test_model_page_checks_a_local_folder(
    panel: WizardPanel, tmp_path: Path, tiny_model: Path
) -> None:
    page = panel.pages[0]
    panel.set_draft({"model_source": "local", "base_model": str(tmp_path), "params_b": 0.1})
    await page.check_folder()  # type: ignore[attr-defined]
    assert "no config.json" in _error(panel, "base_model")
    assert not panel.next_button.isEnabled()
    assert page.browse_button.isVisible()  # type: ignore[attr-defined]
    _type(panel, "base_model", str(tiny_model))
    await wait_until(lambda: page.folder_problem is None and page.checks >= 2, 5)  # type: ignore[attr-defined]
    assert _error(panel, "base_model") == ""
    assert panel.next_button.isEnabled()


async def test_dataset_page_previews_the_file(panel: WizardPanel, tmp_path: Path) -> None:
    panel.set_draft({"base_model": "Qwen/Qwen2.5-0.5B"})
    assert panel.go_next()
    page = panel.dataset_page
    assert not panel.next_button.isEnabled()
    _type(panel, "dataset_path", str(tmp_path / "missing.jsonl"))
    await page.read_preview()
    assert "does not exist" in _error(panel, "dataset_path")
    assert not panel.next_button.isEnabled()

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": \n')
    _type(panel, "dataset_path", str(broken))
    await page.read_preview()
    assert "line 2" in _error(panel, "dataset_path").lower()
    assert not panel.next_button.isEnabled()

    _type(panel, "dataset_path", str(demo_dataset_path()))
    await page.read_preview()
    assert _error(panel, "dataset_path") == ""
    assert "140 rows" in page.status.text() and "Alpaca" in page.status.text()
    assert page.table.rowCount() == 5
    headers = {page.table.horizontalHeaderItem(i).text() for i in range(page.table.columnCount())}
    assert {"instruction", "output"} <= headers
    assert "### Instruction" in page.samples.text() or page.samples.text()
    assert panel.next_button.isEnabled()

    # Asking for a field the rows do not have is an inline error.
    _type(panel, "text_field", "no_such_field")
    assert _error(panel, "dataset_path") or _error(panel, "text_field")
    assert not panel.next_button.isEnabled()
    _type(panel, "text_field", "")
    assert panel.next_button.isEnabled()


async def test_method_and_hyperparameter_pages(panel: WizardPanel) -> None:
    panel.set_draft({"base_model": "Qwen/Qwen2.5-0.5B", "dataset_path": "hf://tatsu-lab/alpaca"})
    assert panel.go_next() and panel.go_next()
    method = panel.method_page
    assert panel.wizard.current.key == "method"
    method.preset_buttons["quality"].click()
    assert panel.wizard.get("rank") == 64 and panel.wizard.get("target_modules") == ["all-linear"]
    assert "Quality" in method.preset_label.text()
    assert panel.hyper_page.editors["num_epochs"].value() == 3.0  # the next page shows it too
    # Counts are spin boxes; their lowest value is still a wrong one, marked on the field.
    _spin(panel, "rank", 0)
    assert _error(panel, "rank")
    assert not panel.next_button.isEnabled()
    _spin(panel, "rank", 16)
    assert panel.next_button.isEnabled() and "Custom" in method.preset_label.text()
    panel.next_button.click()

    assert panel.wizard.current.key == "hyperparameters"
    _type(panel, "learning_rate", "-1")
    assert _error(panel, "learning_rate") and not panel.next_button.isEnabled()
    _type(panel, "learning_rate", "2e-4")
    assert panel.next_button.isEnabled()
    env = panel.page.editors["tracker_env"].widget
    assert isinstance(env, TrackerEnvWidget)
    env.settings.setPlainText("not an assignment")
    assert "NAME=value" in _error(panel, "tracker_env") and not panel.next_button.isEnabled()
    env.settings.setPlainText("")
    assert panel.next_button.isEnabled()
    panel.back_button.click()
    assert panel.wizard.current.key == "method"


async def test_compute_page_plans_and_recommends(panel: WizardPanel) -> None:
    panel.set_draft(
        {
            "base_model": "meta-llama/Llama-3.1-8B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 2000,
            "resource_id": "gpu_1x_a10",
            "max_seq_length": 1024,
        }
    )
    assert panel.wizard.go_to("compute")
    panel._show_current()
    page = panel.compute_page
    # The recommended type (fits, has capacity) is pre-selected in place of the draft's A10.
    best = panel.wizard.recommended()
    assert best is not None and best.available and best.name != "gpu_1x_a10"
    assert panel.wizard.get("resource_id") == best.name
    assert "fits" in page.summary.text() and "$" in page.summary.text()
    assert panel.next_button.isEnabled()
    assert not page.recommend_button.isEnabled()  # already in use
    # The user picks the A10: 8B in 16 bit with 1k-token rows does not fit its 24 GB.
    combo = page.type_editor.widget
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("gpu_1x_a10"))
    assert page.type_chosen
    assert "GPU memory" in _error(panel, "resource_id")
    assert "does not fit" in page.summary.text()
    assert not panel.next_button.isEnabled()
    assert page.plans_table.rowCount() > 5
    # Back to the recommended type, which makes the step valid again.
    page.recommend_button.click()
    assert panel.wizard.get("resource_id") == best.name
    assert panel.next_button.isEnabled()
    # A region without capacity for the type is an error on the region field.
    page.region_editor.set_value("me-west-1")
    panel.wizard.set("region", "me-west-1")
    panel.revalidate()
    assert "no capacity" in _error(panel, "region") and not panel.next_button.isEnabled()
    panel.wizard.set("region", None)
    page.load()
    panel.revalidate()
    assert panel.next_button.isEnabled()
    panel.next_button.click()
    assert panel.wizard.current.key == "limits"
    panel.next_button.click()
    assert panel.wizard.current.key == "after"
    panel.next_button.click()
    assert panel.wizard.is_last and panel.next_button.text().startswith("Launch — about $")
    assert best.name in panel.review_page.summary_text()


async def test_limits_page_caps_divergence_and_self_termination(panel: WizardPanel) -> None:
    panel.set_draft(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 2000,
            "resource_id": "gpu_1x_a10",
        }
    )
    assert panel.wizard.go_to("limits")
    panel._show_current()
    page = panel.limits_page
    plan = panel.wizard.plan()
    assert plan is not None and plan.cost > 0
    assert f"${plan.cost:,.2f}" in page.cost_estimate.text()
    assert "run time" in page.runtime_estimate.text()
    # Empty caps mean no limit.
    assert page.editors["budget_usd"].value() is None
    assert panel.next_button.isEnabled()

    # A cap below the estimate is a warning beside the estimate; Next stays enabled.
    _type(panel, "budget_usd", f"{plan.cost / 4:.2f}")
    assert "below the estimated cost" in _error(panel, "budget_usd")
    assert panel.next_button.isEnabled()
    assert "below the estimated cost" in panel.status.text()
    _type(panel, "budget_usd", "nothing")
    assert _error(panel, "budget_usd") == "Enter a number (e.g. 0.0002 or 2e-4)."
    assert not panel.next_button.isEnabled()
    _type(panel, "budget_usd", "-3")
    assert "more than 0" in _error(panel, "budget_usd") and not panel.next_button.isEnabled()
    _type(panel, "budget_usd", "500")
    assert _error(panel, "budget_usd") == "" and panel.next_button.isEnabled()
    _type(panel, "max_runtime_minutes", "90")
    assert panel.wizard.get("max_runtime_minutes") == 90.0

    # The ratio and the grace period are editable only with their switch on.
    ratio = page.editors["divergence_ratio"].widget
    grace = page.editors["self_terminate_grace_minutes"].widget
    assert not ratio.isEnabled() and not grace.isEnabled()
    page.editors["stop_on_divergence"].widget.setChecked(True)  # type: ignore[attr-defined]
    assert ratio.isEnabled() and panel.wizard.get("stop_on_divergence") is True
    _spin(panel, "divergence_ratio", 1)
    assert "above 1" in _error(panel, "divergence_ratio") and not panel.next_button.isEnabled()
    _spin(panel, "divergence_ratio", 3)
    assert panel.next_button.isEnabled()

    # The self-termination opt-in says the risk plainly, in its label and tooltip.
    box = page.editors["self_terminate"].widget
    for text in (page.risk_label.text(), box.toolTip()):
        assert "API key is copied onto the instance" in text
        assert "Anyone with access to the instance can read it" in text
        assert "key you can revoke" in text
    assert page.risk_label.isVisible()
    box.setChecked(True)  # type: ignore[attr-defined]
    assert grace.isEnabled() and panel.wizard.get("self_terminate") is True
    _spin(panel, "self_terminate_grace_minutes", 20)

    panel.next_button.click()
    assert panel.wizard.current.key == "after"
    panel.next_button.click()
    assert panel.wizard.is_last
    summary = panel.review_page.summary_text()
    assert "run time up to 1 h 30 min, budget up to $500.00" in summary
    assert "stop when the loss reaches 3.0x its best" in summary
    assert "Self-termination: ON" in summary and "20.0 min" in summary
    config = panel.wizard.to_config()
    assert (config.budget_usd, config.max_runtime_minutes) == (500.0, 90.0)
    assert config.self_terminate and config.self_terminate_grace_minutes == 20.0
    assert config.stop_on_divergence and config.divergence_ratio == 3.0


async def test_save_and_load_config(
    panel: WizardPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel.set_draft({"base_model": "Qwen/Qwen2.5-0.5B", "rank": 32, "params_b": 0.5})
    target = tmp_path / "job.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(target), "")))
    await panel.save_config()
    saved = json.loads(target.read_text())
    assert saved["config"]["rank"] == 32 and saved["wizard"]["params_b"] == 0.5

    panel.set_draft({"base_model": "gpt2"})
    assert panel.wizard.get("rank") != 32
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(target), "")))
    await panel.load_config()
    assert panel.wizard.get("rank") == 32
    assert panel.pages[0].editors["base_model"].value() == "Qwen/Qwen2.5-0.5B"

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(bad), "")))
    reports: list[Any] = []
    panel.reporter.reported.connect(reports.append)
    await panel.load_config()
    assert reports and "not valid JSON" in reports[-1].text.message
    assert panel.wizard.get("rank") == 32
