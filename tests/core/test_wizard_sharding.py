"""The wizard's sharding offer (core.wizard.sharding_advice): FSDP offered and on by default only
when the job needs it (the chosen multi-GPU type holds it only sharded, or sharding makes it
fit where nothing did, or fit a cheaper type), off and never offered for a small model; a
choice stands; the compute step explains a misfit; a loaded config's sharding is checked."""

from __future__ import annotations

import json

import pytest

from lambda_gui.core.billing import BillingTerms
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import Region, Resource
from lambda_gui.core.planner import pricing_by_terms
from lambda_gui.core.wizard import Wizard, draft_from_json

PRICING = pricing_by_terms(BillingTerms(60, 0, "test", "2026-11"))


def gpu(name: str, gpu_type: str, count: int, vram: int, rate: float) -> Resource:
    return Resource(name, gpu_type, count, vram, 8, 64, 512, rate, True, (Region("us-east-1"),))


A10 = gpu("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 1.29)
A6000 = gpu("gpu_1x_a6000", "A6000 (48 GB)", 1, 48, 1.09)
H100 = gpu("gpu_1x_h100_sxm5", "H100 (80 GB SXM5)", 1, 80, 4.29)
A6000x2 = gpu("gpu_2x_a6000", "A6000 (48 GB)", 2, 48, 2.18)
A6000x4 = gpu("gpu_4x_a6000", "A6000 (48 GB)", 4, 48, 4.36)
A100x8 = gpu("gpu_8x_a100", "A100 (40 GB SXM4)", 8, 40, 15.92)
H100x8 = gpu("gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 8, 80, 31.92)
CATALOG = [A10, A6000, H100, A6000x2, A6000x4, A100x8, H100x8]

LLAMA_70B_QLORA = {
    "base_model": "meta-llama/Llama-3.1-70B",
    "algorithm": "qlora",
    "dataset_path": "hf://tatsu-lab/alpaca",
    "dataset_rows": 1000,
}
# The PEFT docs' FSDP + QLoRA recipe: one 80 GB GPU holds it unsharded (about 62 GiB).
RECIPE = {
    **LLAMA_70B_QLORA,
    "batch_size": 2,
    "max_seq_length": 2048,
    "gradient_checkpointing": True,
    "rank": 8,
    "target_modules": ["all-linear"],
}


def wizard(draft: dict[str, object], catalog: list[Resource] = CATALOG) -> Wizard:
    return Wizard(draft, resources=catalog, pricing_of=PRICING)


def test_a_small_model_is_never_offered_sharding() -> None:
    w = wizard({"base_model": "meta-llama/Llama-3.2-1B", "resource_id": "gpu_8x_a100"})
    advice = w.sharding_advice()
    assert not advice.needed and not advice.offered and advice.sharded_types == ()
    assert w.get("sharding") == "none"
    plan = w.plan()
    assert plan is not None and plan.fits and plan.sharding == "none" and plan.data_parallel


def test_a_job_no_single_gpu_holds_turns_fsdp_on_and_finds_its_types() -> None:
    # The wizard's batch 4 x 512 without checkpointing: about 99 GiB per GPU unsharded.
    w = wizard(LLAMA_70B_QLORA)
    advice = w.sharding_advice()
    assert advice.needed and advice.offered and advice.best_unsharded is None
    assert w.get("sharding") == "fsdp"
    best = w.recommended()
    assert best == H100x8 and advice.best_sharded is not None
    assert advice.best_sharded.resource_name == best.name
    fitting = [p for p in w.plans() if p.fits]
    assert [p.resource_name for p in fitting] == ["gpu_8x_h100_sxm5"]
    assert fitting[0].sharding == "fsdp" and fitting[0].cost > 0


def test_a_chosen_multi_gpu_type_that_holds_it_only_sharded_turns_fsdp_on() -> None:
    w = wizard({**RECIPE, "resource_id": "gpu_1x_h100_sxm5"})
    advice = w.sharding_advice()
    # One H100 holds it, for less than any sharded type: not asked.
    assert not advice.needed and not advice.offered and w.get("sharding") == "none"
    assert set(advice.sharded_types) == {"gpu_2x_a6000", "gpu_4x_a6000", "gpu_8x_a100"}
    w.set("resource_id", "gpu_8x_a100")
    advice = w.sharding_advice()
    assert advice.needed and advice.for_chosen and w.get("sharding") == "fsdp"
    assert w.go_to("compute") and w.errors() == []
    plans = {p.resource_name: p for p in w.plans()}
    assert all(plans[name].fits for name in ("gpu_2x_a6000", "gpu_4x_a6000", "gpu_8x_a100"))
    assert not plans["gpu_1x_a6000"].fits  # one 48 GB GPU: nothing to shard over
    # Back on the single H100: sharding follows, off again.
    w.set("resource_id", "gpu_1x_h100_sxm5")
    assert w.get("sharding") == "none"


def test_a_choice_stands_and_the_misfit_names_the_remedy() -> None:
    w = wizard({**RECIPE, "resource_id": "gpu_8x_a100"})
    assert w.get("sharding") == "fsdp"
    w.set("sharding", "none")
    w.set("batch_size", 1)  # any later change leaves the user's choice alone
    assert w.get("sharding") == "none" and w.sharding_advice().offered
    assert w.go_to("compute")
    errors = [e for e in w.errors() if not e.warning]
    assert [e.field for e in errors] == ["resource_id"]
    assert "Shard the model over the GPUs (FSDP): then it needs about" in errors[0].message
    # A config that names its sharding is a choice too.
    loaded = wizard({**RECIPE, "resource_id": "gpu_8x_a100", "sharding": "none"})
    assert loaded.get("sharding") == "none"


def test_fsdp_on_a_one_gpu_type_is_a_warning() -> None:
    w = wizard({**RECIPE, "resource_id": "gpu_1x_h100_sxm5", "sharding": "fsdp"})
    assert w.sharding_advice().offered  # asked for: shown, so it can be turned off
    assert w.go_to("compute")
    errors = w.errors()
    assert [(e.field, e.warning) for e in errors] == [("sharding", True)]
    assert "runs unsharded" in errors[0].message


def test_the_default_waits_for_the_catalog_and_the_model() -> None:
    w = Wizard(LLAMA_70B_QLORA)
    assert w.get("sharding") == "none"  # nothing to plan against yet
    w.set_catalog(CATALOG, PRICING)
    assert w.get("sharding") == "fsdp"
    w.set("base_model", "meta-llama/Llama-3.2-1B")
    assert w.get("sharding") == "none"


def test_eval_interval_follows_the_chosen_types_gpus() -> None:
    w = wizard(
        {
            "base_model": "meta-llama/Llama-3.2-1B",
            "dataset_path": "hf://tatsu-lab/alpaca",
            "resource_id": "gpu_1x_a10",
        }
    )
    w.update({"dataset_rows": 2000, "validation_split": 0.05})
    assert w.get("eval_steps") == 48  # 1,900 rows / batch 4 = 475 steps: about 10 evaluations
    w.set("resource_id", "gpu_8x_a100")
    assert w.get("eval_steps") == 10  # 8 processes, each on its own rows: 60 steps


def test_a_loaded_config_with_an_unknown_sharding_is_refused() -> None:
    text = json.dumps({"base_model": "gpt2", "sharding": "zero3"})
    with pytest.raises(ConfigError) as info:
        draft_from_json(text, source="job.json")
    assert info.value.field == "sharding" and "job.json" in str(info.value)
    assert draft_from_json(json.dumps({"base_model": "gpt2", "sharding": "fsdp"}))["sharding"] == (
        "fsdp"
    )


def test_an_8bit_job_is_not_offered_sharding_and_refused_with_it() -> None:
    w = wizard({**LLAMA_70B_QLORA, "algorithm": "lora", "quantization": "int8"})
    assert not w.sharding_advice().needed and w.get("sharding") == "none"
    w.update({"sharding": "fsdp", "resource_id": "gpu_8x_h100_sxm5"})
    assert w.go_to("compute")
    errors = [e for e in w.errors() if e.field == "sharding"]
    assert len(errors) == 1 and not errors[0].warning
    assert "8-bit base weights cannot be sharded" in errors[0].message
