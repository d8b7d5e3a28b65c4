"""Fuzzing config loading: TrainingConfig.from_dict + validate_config, and draft loading
(saved JSON text into the wizard, every step validated and planned). Whatever a file holds,
the answer is a config, a draft, or a ConfigError / ValueError: never an OverflowError,
RecursionError, TypeError or KeyError.

Bounded for CI: FUZZ_EXAMPLES examples per test (200 by default)."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gui.core.billing import BillingTerms
from lambda_gui.core.config_validation import LR_SCHEDULERS, config_errors, validate_config
from lambda_gui.core.dataset_format import FORMATS
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import (
    ALGORITHMS,
    MODEL_SOURCES,
    QUANTIZATIONS,
    REPORT_TO,
    Region,
    Resource,
    TrainingConfig,
)
from lambda_gui.core.planner import pricing_by_terms
from lambda_gui.core.wizard import CONFIG_FIELDS, CONFIG_SCHEMA, STEPS, Wizard

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PRICING = pricing_by_terms(BillingTerms(60, 0, "fuzz", "2026-11"))
CATALOG = [
    Resource("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 30, 200, 1400, 1.29, True, (Region("r"),)),
    Resource("gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 8, 80, 200, 1800, 20000, 23.92, True),
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
choices = st.sampled_from(
    [*MODEL_SOURCES, *ALGORITHMS, *QUANTIZATIONS, *REPORT_TO, *LR_SCHEDULERS, *FORMATS]
)
# Plausible values for each field (so validation runs past the first check) and any others.
field_values = (
    json_values
    | choices
    | st.sampled_from(["Qwen/Qwen2.5-0.5B", "/data/train.jsonl", "hf://org/name", "lambda_labs"])
    | st.lists(st.sampled_from(["q_proj", "v_proj", "all-linear", "x.y"]), max_size=3)
    | st.dictionaries(st.sampled_from(["WANDB_API_KEY", "HF_TOKEN", "PATH"]), st.text(max_size=5))
)
config_dicts = st.fixed_dictionaries(
    {"base_model": st.text(max_size=30) | st.just("Qwen/Qwen2.5-0.5B")},
    optional={name: field_values for name in CONFIG_FIELDS if name != "base_model"},
)


def nest(depth: int, inner: Any) -> Any:
    """`inner` inside `depth` lists, built without recursion."""
    value = inner
    for _ in range(depth):
        value = [value]
    return value


def load_config(data: Any) -> None:
    """from_dict then validate_config: a config, or a ConfigError."""
    try:
        cfg = TrainingConfig.from_dict(data, source="fuzz.json")
    except ConfigError:
        return
    try:
        validate_config(cfg)
    except ConfigError as exc:
        assert exc.field and str(exc)
    for error in config_errors(cfg):
        assert isinstance(error, ConfigError) and len(str(error)) < 1000


def load_draft(text: str) -> None:
    """draft_from_json into a wizard, validated and planned at every step."""
    try:
        wizard = Wizard.from_json(text, resources=CATALOG, pricing_of=PRICING, source="f.json")
    except ConfigError as exc:
        assert "f.json" in str(exc) or exc.field
        return
    for step in STEPS:
        wizard.errors(step.key)
    wizard.plans()
    wizard.recommended()
    try:
        wizard.to_json()
    except ValueError:
        pass  # NaN/inf loaded from the file: JSON cannot save them (and validation says so)


@FUZZ
@given(config_dicts | st.dictionaries(st.sampled_from(CONFIG_FIELDS), json_values))
def test_from_dict_and_validation_raise_only_config_errors(data: dict[str, Any]) -> None:
    load_config(data)


@FUZZ
@given(json_values)
def test_from_dict_of_any_json_value_raises_only_config_errors(data: Any) -> None:
    load_config(data)


@FUZZ
@given(config_dicts, st.booleans(), st.dictionaries(st.text(max_size=12), json_values))
def test_draft_loading_raises_only_config_errors(
    body: dict[str, Any], wrapped: bool, wizard: dict[str, Any]
) -> None:
    doc: Any = {"schema": CONFIG_SCHEMA, "config": body, "wizard": wizard} if wrapped else body
    load_draft(json.dumps(doc))


@FUZZ
@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_draft_loading_of_any_text_raises_only_config_errors(text: str) -> None:
    load_draft(text)


@FUZZ
@given(
    st.integers(min_value=1, max_value=100_000),
    st.sampled_from(CONFIG_FIELDS),
    st.sampled_from(["text", "value"]),
)
def test_deep_nesting_in_a_file_or_a_field_raises_only_config_errors(
    depth: int, name: str, where: str
) -> None:
    # Built here, not drawn: Hypothesis would recurse printing a 100,000-deep example.
    if where == "text":
        load_draft("[" * depth + "]" * depth)
        load_draft('{"base_model": "m", "' + name + '": ' + "[" * depth + "]" * depth + "}")
    else:
        load_config({"base_model": "Qwen/Qwen2.5-0.5B", name: nest(depth, 1)})
