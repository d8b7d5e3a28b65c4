from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lambda_gui.core.config_validation import (
    config_errors,
    effective_quantization,
    validate_config,
)
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig


def good(**changes: Any) -> TrainingConfig:
    base = TrainingConfig(base_model="meta-llama/Llama-3.2-1B", dataset_path="/data/train.jsonl")
    return dataclasses.replace(base, **changes)


def field_of(cfg: TrainingConfig) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert isinstance(info.value, ValueError)  # the seed's "invalid config -> ValueError"
    assert len(str(info.value)) > len(info.value.field) + 10  # a message, not just a name
    return info.value.field


def test_defaults_with_model_and_dataset_are_valid() -> None:
    validate_config(good())
    assert config_errors(good()) == []


def test_the_seeds_example_is_valid() -> None:
    cfg = TrainingConfig(
        base_model="unsloth/llama-2-7b-bnb-4bit",
        model_source="huggingface",
        algorithm="lora",
        rank=16,
        alpha=32,
        dropout=0.1,
        target_modules=["q_proj", "v_proj"],
        quantization="int4",
        provider="lambda_labs",
        resource_id="gpu_1x_a100",
        dataset_path="/data/train.json",
        project_name="my-project",
        output_dir="/workspace/output",
    )
    validate_config(cfg)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"algorithm": "lorax"}, "algorithm"),
        ({"quantization": "int3"}, "quantization"),
        ({"rank": 0}, "rank"),
        ({"rank": 4096}, "rank"),
        ({"rank": 8.0}, "rank"),
        ({"rank": True}, "rank"),
        ({"alpha": 0}, "alpha"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"target_modules": []}, "target_modules"),
        ({"target_modules": ["q_proj; rm -rf /"]}, "target_modules"),
        ({"target_modules": ["q_proj", "q_proj"]}, "target_modules"),
        ({"target_modules": ["all-linear", "q_proj"]}, "target_modules"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": 2.0}, "learning_rate"),
        ({"num_epochs": 0, "max_steps": -1}, "num_epochs"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": -5}, "max_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"max_seq_length": 8}, "max_seq_length"),
        ({"validation_split": 0.6}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"lr_scheduler": "sawtooth"}, "lr_scheduler"),
        ({"report_to": "comet"}, "report_to"),
        ({"report_to": "wandb"}, "tracker_env"),
        ({"report_to": "mlflow", "tracker_env": {"MLFLOW_TRACKING_URI": ""}}, "tracker_env"),
        ({"tracker_env": {"PATH": "/evil"}}, "tracker_env"),
        ({"tracker_env": {"LD_PRELOAD": "x.so"}}, "tracker_env"),
        ({"tracker_env": {"wandb_api_key": "x"}}, "tracker_env"),
        ({"tracker_env": {"WANDB_API_KEY": "a\nb"}}, "tracker_env"),
        ({"tracker_env": {"WANDB_API_KEY": "\ud800"}}, "tracker_env"),
        ({"model_source": "s3"}, "model_source"),
        ({"base_model": ""}, "base_model"),
        ({"base_model": "  "}, "base_model"),
        ({"base_model": "org/name/extra"}, "base_model"),
        ({"base_model": "org/../name"}, "base_model"),
        ({"base_model": "$(reboot)"}, "base_model"),
        ({"base_model": "gpt2\n"}, "base_model"),
        ({"base_model": " org/name"}, "base_model"),
        ({"target_modules": ["q_proj\n"]}, "target_modules"),
        ({"tracker_env": {"HF_TOKEN\n": "x"}}, "tracker_env"),
        ({"dataset_path": ""}, "dataset_path"),
        ({"dataset_path": "/data/train.parquet"}, "dataset_path"),
        ({"dataset_path": "hf://"}, "dataset_path"),
        ({"dataset_path": "hf://org/name?split=a;b"}, "dataset_path"),
        ({"dataset_path": "hf://org/name?subset=x"}, "dataset_path"),
        ({"dataset_format": "sharegpt"}, "dataset_format"),
        ({"text_field": "body", "dataset_format": "chat"}, "text_field"),
        ({"text_field": ""}, "text_field"),
        ({"project_name": ""}, "project_name"),
        ({"project_name": "a\nb"}, "project_name"),
        ({"provider": "runpod"}, "provider"),
        ({"resource_id": ""}, "resource_id"),
        ({"bf16": "yes"}, "bf16"),
        ({"extra": {"x": object()}}, "extra"),
        ({"extra": {"x": float("inf")}}, "extra"),
        ({"save_steps": -1}, "save_steps"),
        ({"weight_decay": -0.01}, "weight_decay"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, Any], field: str) -> None:
    assert field_of(good(**changes)) == field


@pytest.mark.parametrize(
    "changes",
    [
        {"base_model": "gpt2"},
        {"base_model": "Qwen/Qwen2.5-0.5B-Instruct"},
        {"model_source": "local", "base_model": "/home/me/models/my model (v2)"},
        {"model_source": "local", "base_model": "C:\\models\\llama"},
        {"dataset_path": "hf://tatsu-lab/alpaca"},
        {"dataset_path": "hf://imdb"},
        {"dataset_path": "hf://org/name?config=en&split=train"},
        {"dataset_path": "C:\\data\\my data.CSV"},
        {"target_modules": ["all-linear"]},
        {"target_modules": ["self_attn.q_proj", "mlp.down_proj"]},
        {"max_steps": 100, "num_epochs": 0},
        {"report_to": "wandb", "tracker_env": {"WANDB_API_KEY": "k'$(x)`y`"}},
        {"report_to": "mlflow", "tracker_env": {"MLFLOW_TRACKING_URI": "http://m:5000"}},
        {"report_to": "tensorboard"},
        {"tracker_env": {"HF_TOKEN": "hf_x"}},
        {"text_field": "body", "dataset_format": "text"},
        {"validation_split": 0.5},
        {"algorithm": "qlora"},
        {"algorithm": "dora", "quantization": "int4"},
        {"algorithm": "rslora", "quantization": "int8"},
        {"bf16": False},
        {"extra": {"note": ["a", 1, None]}},
    ],
)
def test_valid_variants_pass(changes: dict[str, Any]) -> None:
    validate_config(good(**changes))


def test_config_errors_collects_one_error_per_group() -> None:
    errors = config_errors(good(rank=0, dataset_path="", learning_rate=-1, report_to="x"))
    assert [e.field for e in errors] == ["rank", "dataset_path", "learning_rate", "report_to"]


def test_qlora_left_at_none_trains_on_int4() -> None:
    assert effective_quantization(good(algorithm="qlora")) == "int4"
    assert effective_quantization(good(algorithm="qlora", quantization="int8")) == "int8"
    assert effective_quantization(good(algorithm="lora")) == "none"
    assert effective_quantization(good(algorithm="lora", quantization="int4")) == "int4"


def test_messages_say_the_fix() -> None:
    with pytest.raises(ConfigError, match="org/name"):
        validate_config(good(base_model="not a model id"))
    with pytest.raises(ConfigError, match="WANDB_API_KEY"):
        validate_config(good(report_to="wandb"))
    with pytest.raises(ConfigError, match=r"hf://org/name"):
        validate_config(good(dataset_path="train.txt"))


# --- upper bounds: no number is unbounded, and none overflows on its way ------------------

HUGE = 10**400  # what a 401-digit value in a loaded config becomes


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"max_steps": HUGE}, "max_steps", "from 1 to 10,000,000, or -1"),
        ({"max_steps": 10_000_001}, "max_steps", "from 1 to 10,000,000, or -1"),
        ({"seed": 2**32}, "seed", "from 0 to 4,294,967,295"),
        ({"seed": HUGE}, "seed", "from 0 to 4,294,967,295"),
        ({"logging_steps": HUGE}, "logging_steps", "from 1 to 10,000,000"),
        ({"save_steps": 10**8}, "save_steps", "from 0 to 10,000,000"),
        ({"eval_steps": 10**8}, "eval_steps", "from 0 to 10,000,000"),
        ({"batch_size": 4097}, "batch_size", "from 1 to 4,096"),
        ({"gradient_accumulation_steps": HUGE}, "gradient_accumulation_steps", "from 1 to 1,024"),
        ({"rank": HUGE}, "rank", "between 1 and 1024"),
        ({"max_seq_length": HUGE}, "max_seq_length", "between 16 and 131072"),
        ({"alpha": 16385}, "alpha", "at most 16,384"),
        ({"alpha": HUGE}, "alpha", "far too large"),
        ({"learning_rate": HUGE}, "learning_rate", "far too large"),
        ({"num_epochs": 1001.0, "max_steps": 100}, "num_epochs", "at most 1000"),
        ({"num_epochs": 1e308}, "num_epochs", "at most 1000"),
        ({"weight_decay": 2.0}, "weight_decay", "at most 1"),
        ({"max_runtime_minutes": 1e9}, "max_runtime_minutes", "at most 525,600"),
        ({"budget_usd": HUGE}, "budget_usd", "far too large"),
        ({"budget_usd": 1e7}, "budget_usd", "at most 1,000,000"),
        ({"divergence_ratio": 1e4}, "divergence_ratio", "at most 1,000"),
        (
            {"self_terminate_grace_minutes": 1e6},
            "self_terminate_grace_minutes",
            "at most 10,080",
        ),
    ],
)
def test_every_number_has_an_upper_bound_named_in_the_message(
    changes: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(good(**changes))
    assert info.value.field == field and says in str(info.value)
    assert len(str(info.value)) < 300  # a 400-digit value is cut short, not printed whole


@pytest.mark.parametrize(
    "changes",
    [
        {"max_steps": 10_000_000},
        {"seed": 2**32 - 1},
        {"logging_steps": 10_000_000},
        {"batch_size": 4096, "gradient_accumulation_steps": 1024},
        {"num_epochs": 1000.0},
        {"max_runtime_minutes": 525_600, "budget_usd": 1_000_000},
    ],
)
def test_the_bounds_themselves_are_allowed(changes: dict[str, Any]) -> None:
    validate_config(good(**changes))


def test_deep_values_are_config_errors_not_recursion_errors() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert field_of(good(extra={"x": deep})) == "extra"
    assert field_of(good(provider=deep)) == "provider"  # type: ignore[arg-type]
    assert field_of(good(target_modules=[deep])) == "target_modules"
    assert field_of(good(rank=deep)) == "rank"  # type: ignore[arg-type]
    assert field_of(good(report_to=deep)) == "report_to"  # type: ignore[arg-type]


def test_fsdp_cannot_shard_an_8bit_base() -> None:
    validate_config(good(sharding="fsdp"))
    validate_config(good(sharding="fsdp", algorithm="qlora"))  # 4-bit: the FSDP-QLoRA recipe
    assert field_of(good(sharding="fsdp", quantization="int8")) == "sharding"
    assert field_of(good(sharding="fsdp", algorithm="qlora", quantization="int8")) == "sharding"
    validate_config(good(sharding="none", quantization="int8"))
