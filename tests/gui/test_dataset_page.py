"""The dataset page: what training sees (the model's chat template when ticked), the token
lengths and the rows the max length cuts, and the validation split in percent, on by default
for a large enough dataset."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel

from lambda_gui.core.wizard import STEPS, Wizard
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.wizard.dataset_page import SPLIT_LABEL, DatasetPage
from lambda_gui.simulator.tiny_model import demo_dataset_path
from tests.gui.helpers import wait_until

PageOf = Callable[..., DatasetPage]


@pytest.fixture
async def make_page() -> AsyncIterator[PageOf]:
    pages: list[DatasetPage] = []

    def make(**draft: Any) -> DatasetPage:
        page = DatasetPage(STEPS[1], Wizard(draft), ErrorReporter(None, dialogs=False))
        page.resize(900, 900)
        page.show()
        page.load()
        pages.append(page)
        return page

    try:
        yield make
    finally:
        await cancel_slot_tasks()
        for page in pages:
            page.close()
            page.deleteLater()


async def _rendered(page: DatasetPage, before: int) -> None:
    await wait_until(lambda: page.renders > before, 10, "the training text")


async def test_training_text_is_the_models_chat_template(
    make_page: PageOf, tiny_model: Path
) -> None:
    page = make_page(
        model_source="local", base_model=str(tiny_model), dataset_path=str(demo_dataset_path())
    )
    assert page.wizard.get("use_chat_template") is True
    await page.read_preview()
    assert page.renders == 1
    sample = page.samples.text()
    assert sample.startswith("<|user|>\n") and "</s>" in sample and "### Instruction" not in sample
    assert "chat template (from chat_template.jinja)" in page.how_label.text()
    assert page.samples.isVisible() and page.how_label.isVisible()
    # Tokens counted with the tiny model's tokenizer, drawn as a histogram.
    assert "counted with the model's tokenizer, 140 rows" in page.lengths_label.text()
    assert page.histogram.isVisible() and "tokens: " in page.histogram.toolTip()
    assert "No row is longer than the max sequence length (512)" in page.cut_label.text()

    # Unticked: the plain template train.py falls back to.
    box = page.editors["use_chat_template"].widget
    assert isinstance(box, QCheckBox)
    box.setChecked(False)
    await _rendered(page, 1)
    assert page.samples.text().startswith("### Instruction:\n")
    assert "is off" in page.how_label.text()

    # A shorter max sequence length (set on a later step) is counted when the page shows again.
    page.wizard.set("max_seq_length", 20)
    page.enter()
    await _rendered(page, 2)
    assert "longer than the max sequence length (20) and will be cut" in page.cut_label.text()
    assert page.cut_label.isVisible()


async def test_a_hub_model_says_where_its_template_is_applied(
    make_page: PageOf, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    page = make_page(base_model="Qwen/Qwen2.5-0.5B", dataset_path=str(demo_dataset_path()))
    await page.read_preview()
    assert "applied on the instance" in page.how_label.text()
    assert page.samples.text().startswith("[user]\n")
    assert "estimated at about 4 characters per token" in page.lengths_label.text()


def _dataset(path: Path, rows: int) -> Path:
    lines = (json.dumps({"text": "word " * (5 + i % 40)}) for i in range(rows))
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_validation_split_in_percent_and_on_by_default(
    make_page: PageOf, tmp_path: Path
) -> None:
    page = make_page(base_model="Qwen/Qwen2.5-0.5B", max_seq_length=32)
    form = page.form
    labels = [form.itemAt(i, QFormLayout.ItemRole.LabelRole) for i in range(form.rowCount())]
    texts = [item.widget().text() for item in labels if item is not None]
    assert SPLIT_LABEL in texts and SPLIT_LABEL == "Validation split (% of rows)"
    spin = page.editors["validation_split"].widget
    assert isinstance(spin, QDoubleSpinBox) and spin.suffix() == " %"

    # A dataset of 1,000 rows: 5 % held out and evaluated about ten times.
    page.editors["dataset_path"].widget.setText(str(_dataset(tmp_path / "big.jsonl", 1000)))
    await page.read_preview()
    assert page.wizard.get("validation_split") == 0.05 and spin.value() == 5.0
    assert page.wizard.get("eval_steps") == 24
    note = page.findChild(QLabel, "validation_note")
    assert note is not None and note.isVisible()
    assert note.text().startswith("On by default: 50 of 1,000 rows are held out")
    assert "every 24 steps" in note.text()
    # The rows longer than 32 tokens (estimated: the model is not here) are counted.
    assert "of the first" not in page.cut_label.text()
    assert "are longer than the max sequence length (32)" in page.cut_label.text()

    # The user's 0 stays 0, and the eval interval goes with it.
    spin.setValue(0.0)
    assert page.wizard.get("validation_split") == 0.0 and page.wizard.get("eval_steps") == 0
    spin.setValue(10.0)
    assert page.wizard.get("validation_split") == 0.1
    assert "100 of 1,000 rows are held out" in note.text()


async def test_a_small_dataset_keeps_validation_off_and_says_why(make_page: PageOf) -> None:
    page = make_page(base_model="Qwen/Qwen2.5-0.5B", dataset_path=str(demo_dataset_path()))
    await page.read_preview()
    assert page.wizard.get("validation_split") == 0.0 and page.wizard.get("eval_steps") == 0
    note = page.findChild(QLabel, "validation_note")
    assert note is not None and note.isVisible()
    assert "140 rows are too few" in note.text() and "from 200 rows" in note.text()


async def test_a_loaded_split_out_of_range_shows_in_percent(make_page: PageOf) -> None:
    page = make_page(
        base_model="Qwen/Qwen2.5-0.5B", dataset_path="hf://tatsu-lab/alpaca", validation_split=0.7
    )
    spin = page.editors["validation_split"].widget
    assert isinstance(spin, QDoubleSpinBox) and spin.value() == 70.0
    page.show_errors(page.wizard.errors("dataset"))
    error = page.error_labels["validation_split"]
    assert error.isVisible() and error.text() == "Enter 0 to 50 % of rows."


async def test_the_plan_uses_the_counted_tokens(make_page: PageOf, tiny_model: Path) -> None:
    page = make_page(
        model_source="local", base_model=str(tiny_model), dataset_path=str(demo_dataset_path())
    )
    await page.read_preview()
    preview = page.wizard.state.preview
    stats = page.texts.stats if page.texts is not None else None
    assert preview is not None and stats is not None and not stats.estimated
    assert preview.avg_tokens_per_row == pytest.approx(stats.mean)
    assert "tokens per row" not in page.status.text()  # one count on the page: the histogram's
