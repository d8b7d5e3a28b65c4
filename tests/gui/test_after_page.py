"""The wizard's After training step: samples on by default, merge and GGUF opt-in (GGUF needs
the merge), each with its estimate on the chosen type; typed prompts, field errors, the
review's rows and a saved config's round trip."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QFileDialog

from lambda_gui.core.after_training_plan import Machine, plan_after_training
from lambda_gui.gui.wizard.after_page import AfterPage, split_prompts
from lambda_gui.gui.wizard.after_step import estimate_job, sizing
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.connector import LambdaLabsConnector
from tests.gui.helpers import shown_wizard

DRAFT = {
    "base_model": "meta-llama/Llama-3.1-8B",
    "dataset_path": "hf://tatsu-lab/alpaca",
    "dataset_rows": 2000,
    "resource_id": "gpu_1x_h100_pcie",
    "max_seq_length": 1024,
}


@pytest.fixture
async def panel(gui_connector: LambdaLabsConnector, tmp_path: Path) -> AsyncIterator[WizardPanel]:
    async with shown_wizard(gui_connector, tmp_path) as wizard:
        yield wizard


def _open_after(panel: WizardPanel, **changes: object) -> AfterPage:
    panel.set_draft({**DRAFT, **changes})
    panel.compute_page.type_chosen = True  # keep the draft's type, not the recommended one
    assert panel.wizard.go_to("after"), panel.wizard.errors("compute")
    panel._show_current()
    assert panel.page is panel.after_page
    return panel.after_page


def _error(page: AfterPage, name: str) -> str:
    label = page.error_labels[name]
    return label.text() if label.isVisibleTo(page) else ""


def _box(page: AfterPage, name: str) -> QCheckBox:
    widget = page.editors[name].widget
    assert isinstance(widget, QCheckBox)
    return widget


async def test_the_step_sits_before_the_review(panel: WizardPanel) -> None:
    keys = [s.key for s in panel.wizard.steps]
    assert keys[-2:] == ["after", "review"] and keys.index("limits") == keys.index("after") - 1
    titles = [panel.step_list.item(i).text() for i in range(panel.step_list.count())]
    assert titles[-2:] == ["7. After training", "8. Review"]


async def test_defaults_samples_on_merge_and_gguf_off(panel: WizardPanel) -> None:
    page = _open_after(panel)
    samples = page.samples_editor
    assert samples.switch.isChecked() and samples.count.value() == 5 and samples.count.isEnabled()
    assert (samples.count.minimum(), samples.count.maximum()) == (1, 20)
    assert not _box(page, "merge").isChecked()
    assert not any(b.isChecked() for b in page.gguf_editor.boxes.values())
    assert page.prompts_editor.edit.toPlainText() == ""
    assert "held-out validation rows" in page.prompts_editor.edit.placeholderText()
    assert "Push to Hub" in page.intro.text() and "once the job completes" in page.intro.text()
    # Each option shows its estimate before it is chosen: time, type, dollars, download.
    assert page.samples_estimate.text().startswith("≈ ") and " s on gpu_1x_h100_pcie, $" in (
        page.samples_estimate.text()
    )
    assert "on gpu_1x_h100_pcie" in page.merge_estimate.text()
    assert "downloads 16.1 GB" in page.merge_estimate.text()
    assert "downloads 16.1 GB" in page.gguf_editor.estimates["f16"].text()
    assert "downloads 8.5 GB" in page.gguf_editor.estimates["q8_0"].text()
    assert page.total.text().startswith("<b>Chosen</b>: samples: about ")
    assert panel.next_button.isEnabled()
    cfg = panel.wizard.state.config()
    assert (cfg.samples, cfg.merge, cfg.gguf, cfg.sample_max_new_tokens) == (5, False, [], 64)


async def test_gguf_turns_merge_on_and_merge_off_turns_gguf_off(panel: WizardPanel) -> None:
    page = _open_after(panel)
    page.gguf_editor.boxes["q8_0"].setChecked(True)
    assert panel.wizard.get("gguf") == ["q8_0"] and panel.wizard.get("merge") is True
    assert _box(page, "merge").isChecked()
    assert page.note.isVisibleTo(page) and "converted from the merged model" in page.note.text()
    assert panel.next_button.isEnabled() and _error(page, "gguf") == ""
    assert "merge, GGUF q8_0" in page.total.text()

    page.gguf_editor.boxes["f16"].setChecked(True)
    assert panel.wizard.get("gguf") == ["f16", "q8_0"]
    _box(page, "merge").setChecked(False)
    assert panel.wizard.get("merge") is False and panel.wizard.get("gguf") == []
    assert not any(b.isChecked() for b in page.gguf_editor.boxes.values())
    assert "GGUF turned off" in page.note.text()
    assert panel.wizard.to_config().gguf == []


async def test_estimates_follow_the_instance_type(panel: WizardPanel) -> None:
    page = _open_after(panel)
    on_h100 = page.merge_estimate.text(), page.samples_estimate.text()
    assert panel.wizard.go_to("compute")
    panel._show_current()
    panel.compute_page.choose("gpu_1x_h100_sxm5")
    assert panel.wizard.go_to("after")
    panel._show_current()
    on_sxm = page.merge_estimate.text(), page.samples_estimate.text()
    assert all("gpu_1x_h100_sxm5" in text for text in on_sxm)
    assert on_sxm != on_h100
    # What the labels say is the planner's: the same numbers from core.after_training_plan.
    found = sizing(panel.wizard.state)
    assert found is not None and found.machine.resource_name == "gpu_1x_h100_sxm5"
    machine = Machine.of(found.resource, panel.pricing_of(found.resource))
    samples = plan_after_training(found.job, machine, panel.wizard.state.config()).steps[0]
    assert f"${samples.dollars:,.2f}" in page.samples_estimate.text()


async def test_no_estimate_without_a_model_size(panel: WizardPanel) -> None:
    page = _open_after(panel)
    panel.wizard.set("resource_id", "no_such_type")
    page.load()
    assert "choose the model and the instance type first" in page.merge_estimate.text()


async def test_typed_prompts_reach_the_config_and_set_the_count(panel: WizardPanel) -> None:
    page = _open_after(panel)
    page.prompts_editor.edit.setPlainText("What is 2 + 2?\n\nName a colour.\nJust one.\n  \n")
    assert panel.wizard.get("sample_prompts") == ["What is 2 + 2?", "Name a colour.\nJust one."]
    assert panel.wizard.get("samples") == 2
    assert page.samples_editor.count.value() == 2 and not page.samples_editor.count.isEnabled()
    tokens = page.editors["sample_max_new_tokens"].widget
    tokens.setValue(128)  # type: ignore[attr-defined]
    cfg = panel.wizard.to_config()
    assert cfg.sample_prompts == ["What is 2 + 2?", "Name a colour.\nJust one."]
    assert (cfg.samples, cfg.sample_max_new_tokens) == (2, 128)
    page.prompts_editor.edit.setPlainText("")
    assert panel.wizard.get("sample_prompts") == [] and page.samples_editor.count.isEnabled()
    assert split_prompts("a\r\n\r\nb") == ["a", "b"]


async def test_samples_off_and_field_errors(panel: WizardPanel) -> None:
    page = _open_after(panel)
    page.samples_editor.switch.setChecked(False)
    assert panel.wizard.get("samples") == 0
    assert not page.editors["sample_max_new_tokens"].widget.isEnabled()
    assert not page.prompts_editor.widget.isEnabled()
    assert "nothing after training" in page.total.text()
    # The count is kept while off, and comes back with the switch.
    page.samples_editor.switch.setChecked(True)
    assert panel.wizard.get("samples") == 5

    tokens = page.editors["sample_max_new_tokens"].widget
    tokens.setValue(0)  # type: ignore[attr-defined]
    assert "64 is usual" in _error(page, "sample_max_new_tokens")
    assert not panel.next_button.isEnabled()
    tokens.setValue(64)  # type: ignore[attr-defined]
    assert panel.next_button.isEnabled()

    # A loaded config with values out of range: marked on their fields.
    page = _open_after(panel, samples=50)
    assert page.samples_editor.count.value() == 50
    assert "0 (off) to 20" in _error(page, "samples")
    assert not panel.next_button.isEnabled()
    # More prompts than the count: only the first are answered, and the page says so.
    page = _open_after(panel, samples=1, sample_prompts=["a", "b"])
    assert "Only the first 1 of the 2 prompts" in _error(page, "sample_prompts")
    assert panel.next_button.isEnabled()  # a warning
    page = _open_after(panel, gguf=["q8_0"], merge=False)
    assert page.gguf_editor.boxes["q8_0"].isChecked() and not _box(page, "merge").isChecked()
    assert "turn on merging" in _error(page, "gguf")
    assert not panel.next_button.isEnabled()


async def test_a_cap_below_training_and_the_steps_is_flagged(panel: WizardPanel) -> None:
    page = _open_after(panel, merge=True)
    estimate = estimate_job(panel.wizard.state)
    assert estimate is not None
    budget = round((estimate.plan.cost + estimate.cost) / 2, 2)
    assert estimate.plan.cost < budget < estimate.cost
    panel.wizard.set("budget_usd", budget)
    panel.revalidate()
    assert page.limits_note.isVisibleTo(page) and "budget cap" in page.limits_note.text()
    assert not page.other_errors.isVisibleTo(page)
    assert panel.next_button.isEnabled()  # a warning


async def test_the_review_lists_the_steps_and_their_total(panel: WizardPanel) -> None:
    page = _open_after(panel)
    page.gguf_editor.boxes["q8_0"].setChecked(True)
    panel.next_button.click()
    assert panel.wizard.is_last
    summary = panel.review_page.summary_text()
    assert "After training: samples: 5 prompts from the dataset, up to 64 new tokens" in summary
    assert "; merge into the base weights (16-bit safetensors) (≈ " in summary
    assert "; GGUF q8_0 (≈ " in summary and "downloads 8.5 GB)" in summary
    estimate = estimate_job(panel.wizard.state)
    assert estimate is not None
    assert [s.key for s in estimate.after.steps] == ["samples", "merge", "gguf_q8_0"]
    assert "After-training estimate: about " in summary and "downloads 24.6 GB" in summary
    assert "Total estimate: about " in summary and f"${estimate.cost:,.2f}" in summary
    assert panel.next_button.text() == f"Launch — about ${estimate.cost:,.2f}"
    assert estimate.cost > estimate.plan.cost

    panel.set_draft({**DRAFT, "samples": 0})
    assert panel.wizard.go_to("review")
    panel._show_current()
    assert "After training: nothing: only the adapter is downloaded" in (
        panel.review_page.summary_text()
    )


async def test_save_and_load_round_trip(
    panel: WizardPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = _open_after(panel)
    page.prompts_editor.edit.setPlainText("First prompt.\n\nSecond prompt.")
    page.editors["sample_max_new_tokens"].widget.setValue(96)  # type: ignore[attr-defined]
    page.gguf_editor.boxes["f16"].setChecked(True)
    page.gguf_editor.boxes["q8_0"].setChecked(True)
    target = tmp_path / "job.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(target), "")))
    await panel.save_config()
    saved = json.loads(target.read_text())["config"]
    assert saved["samples"] == 2 and saved["sample_max_new_tokens"] == 96
    assert saved["sample_prompts"] == ["First prompt.", "Second prompt."]
    assert saved["merge"] is True and saved["gguf"] == ["f16", "q8_0"]

    panel.set_draft(DRAFT)
    assert panel.wizard.get("merge") is False
    await panel.load_config_file(target)
    assert [s.key for s in panel.wizard.steps][-2:] == ["after", "review"]
    assert panel.wizard.go_to("after")
    panel._show_current()
    page = panel.after_page
    assert page.samples_editor.switch.isChecked() and page.samples_editor.count.value() == 2
    assert page.prompts_editor.edit.toPlainText() == "First prompt.\n\nSecond prompt."
    assert page.editors["sample_max_new_tokens"].value() == 96
    assert _box(page, "merge").isChecked()
    assert all(b.isChecked() for b in page.gguf_editor.boxes.values())
    cfg = panel.wizard.to_config()
    assert (cfg.samples, cfg.merge, cfg.gguf) == (2, True, ["f16", "q8_0"])
    assert cfg.sample_prompts == ["First prompt.", "Second prompt."]
