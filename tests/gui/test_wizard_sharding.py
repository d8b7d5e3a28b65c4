"""Sharding in the wizard: a 70B 4-bit LoRA job that only the largest GPUs hold is offered FSDP,
on by default, and finds the 2-, 4- and 8-GPU types it fits sharded, with their cost; a
multi-GPU type chosen for a job it does not hold unsharded turns it on; a 1B job is never
asked. The effective batch and the review count the GPUs and say how the model sits on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambda_gui.gui.wizard.compute_page import SHARD_TEXT, ComputePage
from lambda_gui.gui.wizard.hyper_page import HyperPage
from lambda_gui.gui.wizard.wizard_panel import WizardPanel
from lambda_gui.services.connector import LambdaLabsConnector
from tests.gui.helpers import shown_wizard

LLAMA_70B_QLORA = {
    "base_model": "meta-llama/Llama-3.1-70B",
    "algorithm": "qlora",
    "dataset_path": "hf://tatsu-lab/alpaca",
    "dataset_rows": 1000,
}
# The PEFT docs' FSDP + QLoRA recipe (docs/planner-references.md): it fits one 80 GB GPU
# unsharded, but not 40 or 48 GB ones.
RECIPE = {
    **LLAMA_70B_QLORA,
    "batch_size": 2,
    "gradient_accumulation_steps": 2,
    "max_seq_length": 2048,
    "gradient_checkpointing": True,
    "rank": 8,
    "target_modules": ["all-linear"],
}


@pytest.fixture
async def panel(gui_connector: LambdaLabsConnector, tmp_path: Path) -> AsyncIterator[WizardPanel]:
    async with shown_wizard(gui_connector, tmp_path) as wizard:
        yield wizard


def _compute(panel: WizardPanel) -> ComputePage:
    assert panel.wizard.go_to("compute"), panel.wizard.errors()
    panel._show_current()
    assert panel.page is panel.compute_page
    return panel.compute_page


def _table(page: ComputePage) -> dict[str, list[str]]:
    table = page.plans_table
    rows: dict[str, list[str]] = {}
    for i in range(table.rowCount()):
        cells = [table.item(i, j) for j in range(table.columnCount())]
        texts = [cell.text() if cell is not None else "" for cell in cells]
        rows[texts[0]] = texts
    return rows


def _gpus(name: str) -> int:
    return int(name.split("_")[1].removesuffix("x"))


async def test_a_70b_qlora_job_is_offered_fsdp_and_finds_multi_gpu_types(
    panel: WizardPanel,
) -> None:
    panel.set_draft(LLAMA_70B_QLORA)
    page = _compute(panel)
    # About 99 GiB per GPU unsharded at the wizard's batch 4 x 512 without checkpointing: of
    # the types with capacity only 8x B200 (180 GB each) holds it. Sharded it fits 4- and
    # 8-GPU types of 80 GB for less: the box shows, on, saying so.
    assert page.shard_row.isVisibleTo(page)
    assert page.shard_box.text() == SHARD_TEXT and page.shard_box.isChecked()
    assert "Sharded, it fits" in page.shard_note.text()
    assert "the cheapest type that holds it is gpu_8x_b200_sxm6" in page.shard_note.text()
    assert panel.wizard.get("sharding") == "fsdp"
    rows = _table(page)
    fitting = {name: cells for name, cells in rows.items() if cells[3] == "yes"}
    assert {"gpu_4x_h100_sxm5", "gpu_8x_a100_80gb_sxm4", "gpu_8x_h100_sxm5"} <= set(fitting)
    assert "the multi-GPU ones sharded with FSDP" in page.table_label.text()
    plans = {p.resource_name: p for p in panel.wizard.plans()}
    for name, cells in fitting.items():
        assert plans[name].sharding == "fsdp" and cells[5].startswith("$"), (name, cells)
        assert float(cells[5].removeprefix("$").replace(",", "")) > 0
    assert all(cells[3] == "no" for name, cells in rows.items() if _gpus(name) == 1)
    # The recommended type is one of them, chosen for the user, and its plan says sharded.
    sharded = panel.wizard.plan()
    assert sharded is not None and sharded.fits and sharded.sharding == "fsdp"
    assert sharded.resource_name in fitting and sharded.gpu_count > 1
    summary = page.summary.text()
    assert "per GPU (sharded with FSDP)" in summary
    assert f"Sharded with FSDP over {sharded.gpu_count} GPUs" in summary
    assert panel.wizard.errors() == []

    # Off: the user's choice stands (the box stays, to turn it back on), and the type follows
    # the plan: the B200s, dearer.
    page.shard_box.setChecked(False)
    assert panel.wizard.get("sharding") == "none" and "sharding" in panel.wizard.state.chosen
    assert page.shard_row.isVisibleTo(page)
    unsharded = panel.wizard.plan()
    assert unsharded is not None and unsharded.resource_name == "gpu_8x_b200_sxm6"
    assert unsharded.fits and unsharded.cost > sharded.cost
    assert all(p.sharding == "none" for p in panel.wizard.plans())
    assert "sharded" not in page.table_label.text()
    page.shard_box.setChecked(True)
    assert panel.wizard.get("sharding") == "fsdp"
    assert panel.wizard.get("resource_id") == sharded.resource_name

    # The review says it, and the effective batch counts the GPUs.
    assert panel.wizard.go_to("review")
    panel._show_current()
    text = panel.review_page.summary_text()
    gpus = sharded.gpu_count
    assert f"Sharding: FSDP: the model's weights are split over the {gpus} GPUs" in text
    assert f"batch 4 per GPU × {gpus} GPUs × 1 accumulation = {4 * gpus} rows per step" in text
    assert "GiB per GPU, fits" in text
    assert panel.wizard.to_config().sharding == "fsdp"


async def test_a_multi_gpu_type_the_job_does_not_fit_unsharded_turns_fsdp_on(
    panel: WizardPanel,
) -> None:
    panel.set_draft(RECIPE)
    page = _compute(panel)
    # One 80 GB GPU holds it: no box, no sharding, a single GPU recommended.
    assert not page.shard_row.isVisibleTo(page)
    assert panel.wizard.get("sharding") == "none"
    plan = panel.wizard.plan()
    assert plan is not None and plan.fits and plan.gpu_count == 1

    # 8x A100 40 GB: 62 GiB per GPU unsharded does not fit 40 GB; sharded it does.
    page.choose("gpu_8x_a100")
    assert page.shard_row.isVisibleTo(page) and page.shard_box.isChecked()
    assert "does not fit the GPUs of gpu_8x_a100" in page.shard_note.text()
    plan = panel.wizard.plan()
    assert plan is not None and plan.fits and plan.sharding == "fsdp"
    assert plan.need_gib < 38 and panel.wizard.errors() == []
    rows = _table(page)
    for name in ("gpu_2x_a6000", "gpu_2x_h100_sxm5", "gpu_4x_a100", "gpu_8x_a100"):
        assert rows[name][3] == "yes" and rows[name][5].startswith("$"), rows[name]
    assert {p.resource_name for p in panel.wizard.plans() if p.sharding == "fsdp"} >= {
        "gpu_2x_a6000",
        "gpu_4x_a100",
        "gpu_8x_a100",
    }
    assert rows["gpu_1x_a100_sxm4"][3] == "no"  # 40 GB alone: sharding needs several GPUs

    # The user turns it off: the type no longer fits, and the error offers sharding back.
    page.shard_box.setChecked(False)
    errors = [e for e in panel.wizard.errors() if not e.warning]
    assert errors and errors[0].field == "resource_id"
    assert "Shard the model over the GPUs (FSDP): then it needs about" in errors[0].message
    assert not panel.next_button.isEnabled()


async def test_a_1b_job_is_never_asked_and_data_parallel_is_said(panel: WizardPanel) -> None:
    panel.set_draft(
        {
            "base_model": "meta-llama/Llama-3.2-1B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "dataset_rows": 1000,
            "batch_size": 2,
            "gradient_accumulation_steps": 4,
        }
    )
    page = _compute(panel)
    assert not page.shard_row.isVisibleTo(page)
    page.choose("gpu_8x_a100")
    assert not page.shard_row.isVisibleTo(page)
    assert panel.wizard.get("sharding") == "none" and panel.wizard.errors() == []
    plan = panel.wizard.plan()
    assert plan is not None and plan.fits and plan.sharding == "none" and plan.data_parallel

    assert panel.wizard.go_to("hyperparameters")
    panel._show_current()
    hyper = panel.hyper_page
    assert isinstance(hyper, HyperPage)
    text = hyper.effective_batch.text()
    assert "2 per GPU × 8 GPUs × 4 accumulation = <b>64 rows</b>" in text
    assert "8 training processes" in text and "data-parallel" in text
    assert panel.wizard.go_to("review")
    panel._show_current()
    summary = panel.review_page.summary_text()
    assert "Sharding: none: data-parallel, each of the 8 GPUs holds the whole model" in summary
    assert "batch 2 per GPU × 8 GPUs × 4 accumulation = 64 rows per step" in summary
    assert panel.wizard.to_config().sharding == "none"
