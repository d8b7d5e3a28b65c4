"""Model sizes from the table and from names, and GPU-name normalisation."""

from __future__ import annotations

import pytest

from lambda_gui.assets import load_json
from lambda_gui.core.gpu_names import normalize_gpu_name, resource_gpu_name
from lambda_gui.core.known_models import (
    estimate_params,
    guess_shape,
    known_shape,
    params_from_name,
    shape_for,
)
from lambda_gui.core.models import Resource


@pytest.mark.parametrize(
    ("model_id", "params"),
    [
        ("meta-llama/Llama-2-7b-chat-hf", 6.74),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", 8.03),
        ("meta-llama/Llama-3.2-1B", 1.24),
        ("unsloth/llama-3-8b-bnb-4bit", 8.03),
        ("unsloth/Llama-3.2-3B-Instruct-unsloth-bnb-4bit", 3.21),
        ("mistralai/Mistral-7B-Instruct-v0.3", 7.24),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7),
        ("Qwen/Qwen2.5-0.5B-Instruct", 0.49),
        ("Qwen/Qwen2.5-72B", 72.7),
        ("google/gemma-2-9b-it", 9.24),
        ("microsoft/Phi-3-mini-4k-instruct", 3.82),
        ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1.10),
        ("unsloth/tinyllama-bnb-4bit", 1.10),
        ("HuggingFaceTB/SmolLM2-360M-Instruct", 0.362),
        ("gpt2", 0.124),
    ],
)
def test_table_knows_common_models_and_their_variants(model_id: str, params: float) -> None:
    assert estimate_params(model_id) == pytest.approx(params)
    assert known_shape(model_id) is not None


@pytest.mark.parametrize(
    ("model_id", "params"),
    [
        ("tiiuae/falcon-40b", 40.0),
        ("EleutherAI/pythia-1.4b-deduped", 1.4),
        ("someone/tiny-500M", 0.5),
        ("someone/Model_70B_ft", 70.0),
        ("someone/moe-4x2b", 8.0),
        ("/home/me/models/my-13B", 13.0),
    ],
)
def test_unknown_models_are_sized_from_their_names(model_id: str, params: float) -> None:
    assert known_shape(model_id) is None
    assert estimate_params(model_id) == pytest.approx(params)


@pytest.mark.parametrize("model_id", ["someone/model", "org/llama-3-bnb-4bit", "", "x/7bit"])
def test_names_without_a_size_give_none(model_id: str) -> None:
    assert params_from_name(model_id) is None
    assert estimate_params(model_id) is None


def test_guessed_shape_is_close_to_real_models() -> None:
    real = known_shape("meta-llama/Llama-2-7b-hf")
    assert real is not None
    guess = guess_shape(real.params_b)
    assert guess.guessed and not real.guessed
    # hidden * layers drives activation memory: the guess should be within 35%.
    ratio = guess.hidden_size * guess.num_layers / (real.hidden_size * real.num_layers)
    assert 0.65 < ratio < 1.35
    assert shape_for("x/unknown-3b") == guess_shape(3.0)
    assert shape_for("x/unknown") is None
    assert shape_for("x/unknown", params_b=2.0) == guess_shape(2.0)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("H100 (80 GB SXM5)", "H100 SXM"),
        ("gpu_1x_h100_sxm5", "H100 SXM"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("H100 (80 GB PCIe)", "H100 PCIe"),
        ("A100 (40 GB PCIe)", "A100 40GB"),
        ("A100 (80 GB SXM4)", "A100 80GB"),
        ("gpu_8x_a100_80gb_sxm4", "A100 80GB"),
        ("A10 (24 GB PCIe)", "A10"),
        ("A10G", "A10G"),
        ("RTX A6000", "A6000"),
        ("RTX 6000 (24 GB)", "RTX 6000"),
        ("Tesla V100 (16 GB)", "V100 16GB"),
        ("GH200 (96 GB)", "GH200"),
        ("gpu_1x_b200_sxm6", "B200"),
        ("L40S", "L40S"),
        ("L4", "L4"),
        ("RTX 4090", "RTX 4090"),
        ("CPU", None),
        ("", None),
    ],
)
def test_gpu_names_normalise(text: str, name: str | None) -> None:
    assert normalize_gpu_name(text) == name


def test_every_bundled_lambda_type_has_a_gpu_name() -> None:
    for row in load_json("lambda-catalog.json"):
        resource = Resource(
            name=row["name"],
            gpu_type=row.get("gpu_description") or "",
            gpu_count=row["gpus"],
            vram_gb=row["vram_gib_per_gpu"] or 0,
            vcpus=row["vcpus"],
            memory_gib=row["memory_gib"],
            storage_gib=row["storage_gib"] or 0,
            hourly_rate=row["price_cents_per_hour"] / 100,
            available=True,
            description=row["description"],
        )
        name = resource_gpu_name(resource)
        assert (name is None) == (row["gpus"] == 0), row["name"]
