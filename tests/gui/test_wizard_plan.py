"""The wizard as a practitioner uses it: the plan follows the model (its config.json, the
known-models table), the instance page pre-selects the recommended type and fits a small
window, and the pages show spin boxes, the effective batch, steps with errors, a primary
Launch with its cost, and an aligned review."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QLineEdit,
    QScrollArea,
    QSpinBox,
)

from lambda_gui.core.planner import Plan
from lambda_gui.gui.style import MIN_CONTRAST, contrast_ratio
from lambda_gui.gui.wizard import wizard_panel as panel_module
from lambda_gui.gui.wizard.after_step import estimate_job
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.connector import LambdaLabsConnector
from tests.core.test_planner import LLAMA31_8B_CONFIG
from tests.gui.helpers import shown_wizard

TINY_CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": 1000,
    "tie_word_embeddings": True,
}
# What the demo's draft carries: a size entered for its tiny model.
DEMO_LIKE_PARAMS_B = 0.00013344


def _model_folder(root: Path, name: str, config: dict[str, object]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


@pytest.fixture
async def panel(gui_connector: LambdaLabsConnector, tmp_path: Path) -> AsyncIterator[WizardPanel]:
    async with shown_wizard(gui_connector, tmp_path) as wizard:
        yield wizard


def _type(panel: WizardPanel, name: str, text: str) -> None:
    widget = panel.page.editors[name].widget
    assert isinstance(widget, QLineEdit)
    widget.setText(text)


def _choose(panel: WizardPanel, name: str, data: str) -> None:
    widget = panel.page.editors[name].widget
    assert isinstance(widget, QComboBox)
    widget.setCurrentIndex(widget.findData(data))


def _a10_plan(panel: WizardPanel) -> Plan:
    a10 = next(r for r in panel.wizard.state.resources if r.name == "gpu_1x_a10")
    plan = panel.wizard.plan(a10)
    assert plan is not None
    return plan


async def test_plan_follows_the_model(panel: WizardPanel, tmp_path: Path) -> None:
    tiny = _model_folder(tmp_path, "tiny", TINY_CONFIG)
    big = _model_folder(tmp_path, "my-finetune", LLAMA31_8B_CONFIG)
    panel.set_draft(
        {
            "model_source": "local",
            "base_model": str(tiny),
            "params_b": DEMO_LIKE_PARAMS_B,
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 1000,
            "resource_id": "gpu_1x_a10",
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_seq_length": 2048,
            "algorithm": "lora",
            "quantization": "none",
        }
    )
    page = panel.model_page
    await page.check_folder()
    assert "(entered by you)" in page.size_label.text()
    small = _a10_plan(panel)
    assert small.fits

    # A local folder holding an 8B Llama's config.json: the entered size goes, the config's
    # size, layers, hidden size and vocabulary come in, and the plan follows them.
    _type(panel, "base_model", str(big))
    assert panel.wizard.get("params_b") is None
    assert panel.page.editors["params_b"].value() is None
    await page.check_folder()
    assert page.folder_problem is None
    assert panel.wizard.state.size_source == "config"
    text = page.size_label.text()
    assert "8.03 billion parameters (from config.json)" in text
    assert "32 layers, hidden size 4,096, vocabulary 128,256" in text
    local_plan = _a10_plan(panel)
    # 8B LoRA in bf16 at batch 4 and 2048 tokens does not fit a 24 GB GPU.
    assert not local_plan.fits and local_plan.need_gib > 24
    assert local_plan.weights_gib > 14
    assert local_plan.cost > small.cost and local_plan.total_seconds > small.total_seconds

    # The instance page agrees: the A10 row says "no"; the pre-selected type fits.
    assert panel.wizard.go_to("compute")
    panel._show_current()
    compute = panel.compute_page
    table = compute.plans_table
    rows = {table.item(i, 0).text(): i for i in range(table.rowCount())}
    assert table.item(rows["gpu_1x_a10"], 3).text() == "no"
    chosen = panel.wizard.plan()
    assert chosen is not None and chosen.fits and chosen.resource_name != "gpu_1x_a10"
    assert chosen.need_gib == pytest.approx(local_plan.need_gib)
    assert f"{chosen.need_gib:.1f} GiB" in compute.summary.text()

    # A known Hub id (no Hub here): the known-models table answers, and says so.
    assert panel.wizard.go_to("model")
    panel._show_current()
    _choose(panel, "model_source", "huggingface")
    _type(panel, "base_model", "meta-llama/Llama-3.1-8B-Instruct")
    await page.check_folder()
    assert panel.wizard.state.size_source == "known"
    assert "(from the known-models table)" in page.size_label.text()
    hub_plan = _a10_plan(panel)
    assert not hub_plan.fits and hub_plan.need_gib > 24
    assert hub_plan.need_gib == pytest.approx(local_plan.need_gib, rel=0.02)

    # A size the user types wins, and says so.
    _type(panel, "params_b", "7")
    assert "7 billion parameters (entered by you)" in page.size_label.text()
    assert "known-models table it would be 8.03 billion" in page.size_label.text()


async def test_instance_page_at_900x600(panel: WizardPanel) -> None:
    panel.resize(900, 470)  # what a 900x600 window leaves the tab
    panel.set_draft(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 300,
            "resource_id": "gpu_1x_a10",
        }
    )
    assert panel.wizard.go_to("compute")
    panel._show_current()
    page = panel.compute_page
    best = panel.wizard.recommended()
    assert best is not None and panel.wizard.get("resource_id") == best.name
    assert "is the recommended type" in page.recommend_label.text()
    # A short job says so, instead of "about 0 s of training".
    summary = page.summary.text()
    assert "under a minute of training" in summary and " 0 s" not in summary
    # Capacity names its regions.
    table = page.plans_table
    capacity = [table.item(i, 6).text() for i in range(table.rowCount())]
    assert any("us-" in c for c in capacity) and "yes" not in capacity
    # One scroll bar: the page's. The table shows all its rows, and no column is cut off.
    scroll = panel.stack.currentWidget()
    assert isinstance(scroll, QScrollArea)
    assert table.verticalScrollBar().isHidden() or not table.verticalScrollBar().isVisible()
    rows_height = sum(table.rowHeight(i) for i in range(table.rowCount()))
    assert table.viewport().height() >= rows_height
    widths = sum(table.columnWidth(j) for j in range(table.columnCount()))
    assert widths <= table.viewport().width() + 1
    await asyncio.sleep(0.1)  # the scroll area lays out on the loop's next pass
    assert scroll.horizontalScrollBar().maximum() == 0
    assert not scroll.horizontalScrollBar().isVisible()
    for editor in (page.type_editor, page.region_editor):
        combo = editor.widget
        assert combo.width() >= combo.minimumSizeHint().width()
        assert combo.geometry().right() <= page.width()


async def test_layout_spin_boxes_and_effective_batch(panel: WizardPanel) -> None:
    panel.resize(1100, 1000)
    panel.set_draft(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "batch_size": 4,
            "gradient_accumulation_steps": 4,
        }
    )
    # No big gaps in a tall window: heading, intro and the first field sit together.
    page = panel.model_page
    assert page.intro.geometry().top() - page.heading.geometry().bottom() < 24
    first_field = page.form.itemAt(0, QFormLayout.ItemRole.FieldRole).widget()
    assert first_field.geometry().top() - page.intro.geometry().bottom() < 40

    assert panel.wizard.go_to("hyperparameters")
    panel._show_current()
    hyper = panel.hyper_page
    for name in ("batch_size", "gradient_accumulation_steps", "max_seq_length", "seed"):
        assert isinstance(hyper.editors[name].widget, QSpinBox), name
    assert isinstance(hyper.editors["learning_rate"].widget, QLineEdit)  # 2e-4 is typed
    assert "4 × 4 accumulation = <b>16 rows</b>" in hyper.effective_batch.text()
    batch = hyper.editors["batch_size"].widget
    assert isinstance(batch, QAbstractSpinBox)
    batch.setValue(8)  # type: ignore[attr-defined]
    assert "8 × 4 accumulation = <b>32 rows</b>" in hyper.effective_batch.text()
    batch.setValue(0)  # type: ignore[attr-defined]
    assert hyper.error_labels["batch_size"].isVisibleTo(hyper)
    assert not panel.next_button.isEnabled()
    batch.setValue(8)  # type: ignore[attr-defined]
    multi = next(r for r in panel.wizard.state.resources if r.gpu_count == 8)
    panel.wizard.set("resource_id", multi.name)
    hyper.load()
    text = hyper.effective_batch.text()
    assert "8 per GPU × 8 GPUs × 4 accumulation = <b>256 rows</b>" in text
    assert "8 training processes" in text


async def test_step_list_marks_steps_with_errors(panel: WizardPanel) -> None:
    panel.set_draft({"base_model": "Qwen/Qwen2.5-0.5B"})
    assert panel.step_list.item(0).text() == "✓ 1. Base model"
    assert panel.go_next() and panel.wizard.current.key == "dataset"
    assert panel.step_list.item(1).text().startswith("✗ 2.")  # no dataset yet
    assert panel.go_back()
    item = panel.step_list.item(1)
    assert item.text() == "✗ 2. Dataset" and item.toolTip()
    assert panel.step_list.item(2).text() == "3. Method"  # not visited: no mark
    _type(panel, "base_model", "not a model id!")
    assert panel.step_list.item(0).text().startswith("✗ 1.")


async def test_launch_is_primary_with_its_cost_and_review_is_aligned(panel: WizardPanel) -> None:
    panel.set_draft(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 2000,
        }
    )
    assert panel.wizard.go_to("compute")
    panel._show_current()
    assert panel.next_button.text() == "Next" and panel.next_button.styleSheet() == ""
    assert panel.wizard.go_to("review")
    panel._show_current()
    plan = panel.wizard.plan()
    assert plan is not None
    # The cost on Launch is training's plus the after-training steps' (samples by default).
    estimate = estimate_job(panel.wizard.state)
    assert estimate is not None and estimate.cost >= plan.cost
    assert estimate.seconds == pytest.approx(plan.total_seconds + estimate.after.seconds)
    assert panel.next_button.text() == f"Launch — about ${estimate.cost:,.2f}"
    assert panel_module.PRIMARY_BACKGROUND in panel.next_button.styleSheet()
    for text, background in (
        (panel_module.PRIMARY_TEXT, panel_module.PRIMARY_BACKGROUND),
        (panel_module.PRIMARY_DISABLED_TEXT, panel_module.PRIMARY_DISABLED_BACKGROUND),
    ):
        assert contrast_ratio(text, background) >= MIN_CONTRAST

    review = panel.review_page
    form = review.summary_form
    labels = [form.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text() for i in range(3)]
    assert labels == ["Model:", "Dataset:", "Method:"]
    values = [
        form.itemAt(i, QFormLayout.ItemRole.FieldRole).widget() for i in range(form.rowCount())
    ]
    lefts = {v.geometry().left() for v in values}
    assert len(lefts) == 1  # one column of values
    assert "Model: Qwen/Qwen2.5-0.5B (Hugging Face Hub); 490 million parameters" in (
        review.summary_text()
    )
    assert "= 4 rows per step" in review.summary_text()
    # No "Output folder" to fill in: train.py always writes the job's output/ (it did nothing).
    assert "output_dir" not in review.editors
