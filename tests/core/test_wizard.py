"""The Qt-free job wizard: steps, validation, movement, planning, and JSON round trips."""

from __future__ import annotations

import json

import pytest

from lambda_gui.core.billing import BillingTerms
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.known_models import InferredShape, ModelShape
from lambda_gui.core.models import Region, Resource, TrainingConfig
from lambda_gui.core.planner import pricing_by_terms
from lambda_gui.core.wizard import STEPS, DatasetPreview, Wizard, draft_from_json

PRICING = pricing_by_terms(BillingTerms(60, 0, "test", "2026-11"))
A10 = Resource(
    "gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 30, 200, 1400, 1.29, True, (Region("us-east-1"),)
)
H100 = Resource(
    "gpu_1x_h100_sxm5",
    "H100 (80 GB SXM5)",
    1,
    80,
    26,
    225,
    2800,
    4.29,
    True,
    (Region("us-west-1"),),
)
BUSY = Resource("gpu_1x_a6000", "A6000 (48 GB)", 1, 48, 14, 100, 512, 1.09, False)
CATALOG = [A10, H100, BUSY]
ROWS = [{"instruction": f"Say {i}", "input": "", "output": f"{i}"} for i in range(20)]


def keys(errors: list) -> list[str]:
    return [e.field for e in errors if not e.warning]


def filled(**draft: object) -> Wizard:
    """A wizard with a valid draft and a preview, on the first step."""
    w = Wizard(resources=CATALOG, pricing_of=PRICING)
    w.update(
        {
            "base_model": "Qwen/Qwen2.5-0.5B",
            "dataset_path": "/data/train.jsonl",
            "resource_id": "gpu_1x_a10",
        }
    )
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 200))
    w.update(draft)
    return w


def test_steps_in_order_each_owning_fields() -> None:
    assert [s.key for s in STEPS] == [
        "model",
        "dataset",
        "method",
        "hyperparameters",
        "compute",
        "limits",
        "review",
    ]
    owned = [name for s in STEPS for name in s.field_names]
    assert len(owned) == len(set(owned))


def test_model_step_blocks_until_a_valid_model_is_named() -> None:
    w = Wizard()
    assert "base_model" in keys(w.errors())
    assert not w.next() and w.current.key == "model"
    w.set("base_model", "not a model id!")
    assert "base_model" in keys(w.errors())
    w.set("base_model", "meta-llama/Llama-3.2-1B")
    assert w.errors() == [] and w.next() and w.current.key == "dataset"


def test_unknown_model_size_is_a_warning_until_given() -> None:
    w = Wizard({"base_model": "someone/mystery-model"})
    errors = w.errors()
    assert [e.field for e in errors] == ["params_b"] and errors[0].warning
    assert w.can_advance()
    w.set("params_b", 3.0)
    assert w.errors() == [] and w.state.params_b == 3.0


def test_dataset_step_uses_the_preview() -> None:
    w = Wizard({"base_model": "gpt2"})
    w.next()
    assert "dataset_path" in keys(w.errors())
    w.set("dataset_path", "/data/train.jsonl")
    assert [e.message for e in w.errors()] == ["The file has not been read yet: load its preview."]
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", [{"foo": 1}], 1))
    assert "Cannot tell the dataset's layout" in w.errors()[0].message
    w.set_preview(DatasetPreview.failed("/data/train.jsonl", "Line 3 is not valid JSON"))
    assert w.errors()[0].message == "Line 3 is not valid JSON"
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 20))
    assert w.errors() == []
    # A preview of another file does not count.
    w.set("dataset_path", "/data/other.jsonl")
    assert not w.can_advance()


def test_text_field_change_redetects_the_format() -> None:
    rows = [{"body": "hello world"}, {"body": "more text"}]
    w = Wizard({"base_model": "gpt2", "dataset_path": "d.csv"})
    w.set_preview(DatasetPreview.from_rows("d.csv", rows, 2))
    assert w.go_to("dataset")
    assert keys(w.errors()) == ["dataset_path"]
    w.set("text_field", "body")
    assert w.errors() == []
    assert w.state.preview is not None and w.state.preview.format is not None
    assert w.state.preview.sample_texts(1) == ["hello world"]


def test_hub_dataset_needs_no_preview() -> None:
    w = Wizard({"base_model": "gpt2", "dataset_path": "hf://tatsu-lab/alpaca"})
    assert w.go_to("dataset")
    errors = w.errors()
    assert len(errors) == 1 and errors[0].warning and w.can_advance()


def test_validation_split_needs_rows_on_both_sides() -> None:
    w = filled(validation_split=0.5)
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS[:1], 1))
    assert w.go_to("dataset")
    assert "validation_split" in keys(w.errors())


def test_method_and_hyperparameter_errors_name_their_fields() -> None:
    w = filled(rank=0, target_modules="q_proj, v_proj")
    assert w.get("target_modules") == ["q_proj", "v_proj"]
    assert w.go_to("method")
    assert keys(w.errors()) == ["rank"]
    w.set("rank", 8)
    assert w.next() and w.current.key == "hyperparameters"
    w.set("validation_split", 0.0)  # the user turns off the default split (200 rows: 5%)
    w.set("eval_steps", 10)
    assert "eval_steps" in keys(w.errors())
    w.set("validation_split", 0.1)
    w.set("learning_rate", 5.0)
    assert keys(w.errors()) == ["learning_rate"]


def test_go_to_refuses_to_skip_invalid_steps() -> None:
    w = Wizard()
    assert not w.go_to("review")
    assert w.go_to("model") and w.current.key == "model"


def test_presets_apply_to_the_draft() -> None:
    w = filled()
    w.apply_preset("quick_test")
    assert w.get("max_steps") == 30 and w.get("base_model") == "Qwen/Qwen2.5-0.5B"


def test_compute_step_plans_fit_capacity_and_region() -> None:
    w = filled()
    assert w.go_to("compute")
    assert w.errors() == []
    plan = w.plan()
    assert plan is not None and plan.fits and plan.cost > 0
    w.set("region", "eu-central-1")
    assert keys(w.errors()) == ["region"]
    w.set("region", "")
    assert w.get("region") is None
    w.set("resource_id", "gpu_1x_a6000")
    assert [e.warning for e in w.errors()] == [True]
    w.set("resource_id", "gpu_9x_nothing")
    assert keys(w.errors()) == ["resource_id"]
    # A 70B model in bf16 fits nowhere in this catalog.
    w.update({"base_model": "meta-llama/Llama-3.1-70B", "resource_id": "gpu_1x_h100_sxm5"})
    assert "GiB of GPU memory" in w.errors()[0].message
    assert w.recommended() is None
    w.set("algorithm", "qlora")
    w.set("gradient_checkpointing", True)
    w.set("batch_size", 1)
    assert w.errors() == [] and w.recommended() == H100


def test_recommendation_and_plans_follow_the_catalog() -> None:
    w = filled()
    assert w.recommended() == A10
    assert [p.resource_name for p in w.plans()][:2] == ["gpu_1x_a10", "gpu_1x_h100_sxm5"]
    offline = filled()
    offline.set_catalog([], None)
    assert offline.plan() is None and offline.recommended() is None
    assert offline.go_to("compute")
    assert [e.warning for e in offline.errors()] == [True]


def test_limits_step_warns_when_a_cap_is_below_the_estimate() -> None:
    w = filled()
    assert w.go_to("limits")
    assert w.errors() == []
    plan = w.plan()
    assert plan is not None
    w.set("budget_usd", round(plan.cost / 2, 2))
    w.set("max_runtime_minutes", plan.total_seconds / 120)
    errors = w.errors()
    assert {e.field for e in errors} == {"budget_usd", "max_runtime_minutes"}
    assert all(e.warning for e in errors) and w.can_advance()
    budget = next(e for e in errors if e.field == "budget_usd")
    assert f"${plan.cost:,.2f}" in budget.message and "below the estimated cost" in budget.message
    w.update({"budget_usd": plan.cost * 2, "max_runtime_minutes": plan.total_seconds / 30})
    assert w.errors() == []
    # Empty means no limit; zero, a ratio of 1 or a zero grace period are errors.
    w.update({"budget_usd": "", "max_runtime_minutes": ""})
    assert w.get("budget_usd") is None and w.get("max_runtime_minutes") is None
    assert w.errors() == []
    w.update({"budget_usd": 0.0, "divergence_ratio": 1.0, "self_terminate_grace_minutes": 0.0})
    assert set(keys(w.errors())) == {"budget_usd"}
    w.set("budget_usd", None)
    assert keys(w.errors()) == ["divergence_ratio"]
    w.set("divergence_ratio", 3.0)
    assert keys(w.errors()) == ["self_terminate_grace_minutes"]
    w.set("self_terminate_grace_minutes", 10.0)
    assert w.errors() == [] and w.next() and w.current.key == "review"


def test_walk_to_review_and_produce_the_config() -> None:
    w = filled(project_name="demo")
    while w.next():
        pass
    assert w.is_last and w.current.key == "review"
    cfg = w.to_config()
    assert isinstance(cfg, TrainingConfig)
    assert (cfg.base_model, cfg.resource_id, cfg.project_name) == (
        "Qwen/Qwen2.5-0.5B",
        "gpu_1x_a10",
        "demo",
    )
    w.set("project_name", "")
    assert "project_name" in keys(w.errors())
    with pytest.raises(ConfigError) as info:
        w.to_config()
    assert info.value.field == "project_name"


def test_review_reports_errors_from_every_step() -> None:
    w = filled(rank=0, learning_rate=-1.0)
    assert {"rank", "learning_rate"} <= set(keys(w.errors("review")))


def test_json_round_trip_keeps_config_and_wizard_keys() -> None:
    w = filled(params_b=0.5, rank=32, target_modules=["q_proj"])
    text = w.to_json()
    doc = json.loads(text)
    assert doc["schema"] == "lambda-gui-config/1" and doc["wizard"] == {"params_b": 0.5}
    back = Wizard.from_json(text, resources=CATALOG, pricing_of=PRICING)
    assert back.draft == w.draft
    # A job's bare config.json loads too.
    bare = json.dumps(TrainingConfig(base_model="gpt2", rank=4).to_dict())
    assert draft_from_json(bare)["rank"] == 4


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"schema": "other/9", "config": {}}',
        '{"rank": 4}',
        '{"schema": "lambda-gui-config/1", "config": 5}',
    ],
)
def test_bad_json_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        draft_from_json(text)


def test_set_rejects_unknown_fields() -> None:
    with pytest.raises(KeyError):
        Wizard().set("no_such_field", 1)


# --- loading hostile or broken files --------------------------------------------------------


def saved(**changes: object) -> str:
    """A saved config (as Save writes it) with some config fields changed."""
    w = filled()
    doc = json.loads(w.to_json())
    doc["config"].update(changes)
    return json.dumps(doc)


def test_a_loaded_401_digit_max_steps_is_a_field_error_not_an_overflow() -> None:
    text = saved(max_steps=10**400)
    w = Wizard.from_json(text, resources=CATALOG, pricing_of=PRICING, source="big.json")
    errors = [e for e in w.errors("hyperparameters") if e.field == "max_steps"]
    assert errors and "from 1 to 10,000,000" in errors[0].message
    # The compute and limits steps plan the draft as it is: finite numbers, no OverflowError.
    for step in STEPS:
        w.errors(step.key)
    plans = w.plans()
    assert plans and all(p.total_seconds < float("inf") and p.cost >= 0 for p in plans)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("num_epochs", float("inf")),
        ("num_epochs", float("nan")),
        ("num_epochs", 1e308),
        ("batch_size", 10**300),
        ("rank", 10**300),
        ("dataset_rows", 10**300),
        ("params_b", 1e308),
        ("validation_split", float("nan")),
    ],
)
def test_typed_extreme_numbers_never_break_the_plan(name: str, value: float) -> None:
    w = filled()
    w.set(name, value)
    for step in STEPS:
        w.errors(step.key)
    assert w.plans()


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("[" * 100_000 + "]" * 100_000, "config", "nested too deeply"),
        ('{"base_model": "m", "rank": ' + "9" * 5000 + "}", "config", "not valid JSON"),
        ('{"base_model": "m", "extra": ' + "[" * 50 + "]" * 50 + "}", "extra", "levels deep"),
        ('{"base_model": "m", "max_steps": "many"}', "max_steps", "text where a whole number"),
        ('{"base_model": "m", "target_modules": 5}', "target_modules", "a list of texts"),
        ('{"base_model": "m", "target_modules": [1]}', "target_modules", "a list of texts"),
        ('{"base_model": "m", "batch_size": null}', "batch_size", "null where"),
        ('{"base_model": "m", "quantization": "int3"}', "quantization", "not one of"),
        ('{"base_model": "m", "tracker_env": {"A": 1}}', "tracker_env", "an object of texts"),
        (
            '{"schema": "lambda-gui-config/1", "config": {"base_model": "m"}, '
            '"wizard": {"params_b": "7B"}}',
            "params_b",
            "not a number",
        ),
    ],
)
def test_a_file_the_wizard_cannot_hold_is_a_config_error_naming_the_file(
    text: str, field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Wizard.from_json(text, resources=CATALOG, pricing_of=PRICING, source="/tmp/draft.json")
    assert info.value.field == field and says in str(info.value)
    assert "/tmp/draft.json" in str(info.value) and len(str(info.value)) < 400


def test_size_follows_the_model_and_says_where_it_came_from() -> None:
    w = filled(params_b=0.5)
    assert (w.state.params_b, w.state.size_source) == (0.5, "entered")
    # A figure entered for one model does not stick to the next.
    w.set("base_model", "meta-llama/Llama-3.1-8B-Instruct")
    assert w.get("params_b") is None
    assert w.state.size_source == "known" and w.state.params_b == pytest.approx(8.03)
    w.set("base_model", "someone/mystery-13b")
    assert w.state.size_source == "name" and w.state.params_b == 13.0
    assert w.state.shape is None  # guessed from the size by the planner
    # A config read for this model wins over the table; one read for another model does not.
    w.set("base_model", "meta-llama/Llama-3.1-8B-Instruct")
    read = InferredShape(
        "meta-llama/Llama-3.1-8B-Instruct", False, ModelShape(8.0, 4096, 32, 128256), "hub"
    )
    w.set_model_shape(read)
    assert w.state.size_source == "hub" and w.state.params_b == 8.0
    w.set("model_source", "local")
    assert w.state.size_source == "known"
    w.set("model_source", "huggingface")
    w.set("params_b", 7.5)
    assert w.state.size_source == "entered" and w.state.params_b == 7.5
    assert w.state.shape == read.shape


def test_plan_follows_the_model() -> None:
    w = filled(batch_size=4, max_seq_length=2048, params_b=0.0002)
    small = w.plan()
    assert small is not None and small.fits
    w.set("base_model", "meta-llama/Llama-3.1-8B-Instruct")
    big = w.plan()
    assert big is not None and not big.fits and big.need_gib > 24
    assert big.cost > small.cost
    assert "resource_id" in keys(w.errors("compute"))
