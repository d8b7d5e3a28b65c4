"""After-training estimates: samples from memory bandwidth, merge and GGUF from bytes, each in
instance seconds, dollars at the type's price, and bytes to download."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from lambda_gui.core.after_training_plan import (
    DOWNLOAD_BYTES_PER_S,
    GGUF_SETUP_SECONDS,
    GPU_BANDWIDTH_GB_S,
    UNKNOWN_BANDWIDTH_GB_S,
    Machine,
    decode_seconds_per_token,
    gguf_bytes,
    gguf_estimate,
    merge_estimate,
    merged_bytes,
    option_estimates,
    plan_after_training,
    sample_count,
    samples_estimate,
    space_warnings,
)
from lambda_gui.core.known_models import ModelShape, known_shape
from lambda_gui.core.models import PricingInfo, Region, Resource, TrainingConfig
from lambda_gui.core.planner import GPU_SPECS, JobSize


def gpu(name: str, gpu_type: str, rate: float, memory: int = 200, disk: int = 1024) -> Resource:
    return Resource(name, gpu_type, 1, 80, 26, memory, disk, rate, True, (Region("us-east-1"),))


H100_PCIE = gpu("gpu_1x_h100_pcie", "H100 (80 GB PCIe)", 3.29)
H100_SXM = gpu("gpu_1x_h100_sxm5", "H100 (80 GB SXM5)", 4.29)
A10 = gpu("gpu_1x_a10", "A10 (24 GB PCIe)", 1.29, memory=200, disk=1400)


def machine(resource: Resource) -> Machine:
    return Machine.of(resource, PricingInfo(resource.name, resource.hourly_rate, 60, 0))


TINY = JobSize(params_b=0.00013344, shape=ModelShape(0.00013344, 64, 2, 1000))
LLAMA_8B = JobSize(params_b=8.03, shape=known_shape("meta-llama/Llama-3.1-8B"))
EVERYTHING = TrainingConfig(base_model="m", merge=True, gguf=["f16", "q8_0"])


def test_every_gpu_the_planner_knows_has_a_bandwidth() -> None:
    assert set(GPU_SPECS) <= set(GPU_BANDWIDTH_GB_S)
    assert machine(H100_PCIE).bandwidth_gb_s == 2000.0
    assert machine(H100_SXM).bandwidth_gb_s == 3350.0
    odd = gpu("gpu_1x_mystery", "Mystery GPU", 1.0)
    assert machine(odd).bandwidth_gb_s == UNKNOWN_BANDWIDTH_GB_S


def test_decode_rate_from_bandwidth() -> None:
    h100 = machine(H100_PCIE)
    # 8B in 16 bit: 16.06 GB read per token at 60% of 2 TB/s, 32 layers * 0.4 ms, 5 ms.
    expected = 16.06e9 / (2000e9 * 0.6) + 32 * 0.0004 + 0.005
    assert decode_seconds_per_token(LLAMA_8B, h100) == pytest.approx(expected)
    assert 20 < 1 / expected < 40  # tokens/s: what HF generate manages at batch 1
    assert decode_seconds_per_token(LLAMA_8B, machine(H100_SXM)) < expected
    # A 4-bit base is dequantised per matmul: slower, by the planner's factor.
    qlora = replace(LLAMA_8B, algorithm="qlora")
    assert decode_seconds_per_token(qlora, h100) == pytest.approx(expected / 0.6)
    # The tiny model is bound by per-token overheads, not bytes.
    assert decode_seconds_per_token(TINY, h100) == pytest.approx(2 * 0.0004 + 0.005, rel=1e-3)


def test_samples_for_the_tiny_and_an_8b_model_on_an_h100() -> None:
    h100 = machine(H100_PCIE)
    cfg = TrainingConfig(base_model="m")  # samples on: 5 prompts, 64 tokens
    tiny = plan_after_training(TINY, h100, cfg)
    assert [s.key for s in tiny.steps] == ["samples"]
    # 5 s + 2 * 5 * 64 tokens * 5.8 ms
    assert tiny.seconds == pytest.approx(5 + 640 * 0.0058, rel=1e-3)
    big = plan_after_training(LLAMA_8B, h100, cfg).steps[0]
    assert big.seconds == pytest.approx(5 + 640 * decode_seconds_per_token(LLAMA_8B, h100))
    assert 15 < big.seconds < 40  # seconds, as the issue says
    assert big.dollars == pytest.approx(big.seconds * 3.29 / 3600)
    assert big.dollars < 0.05
    assert big.download_bytes < 1e6  # samples.json only
    assert big.resource_name == "gpu_1x_h100_pcie"


def test_samples_grow_with_prompts_and_tokens() -> None:
    h100 = machine(H100_PCIE)
    by_prompts = [samples_estimate(LLAMA_8B, h100, n, 64).seconds for n in range(0, 21)]
    by_tokens = [samples_estimate(LLAMA_8B, h100, 5, t).seconds for t in (1, 16, 64, 256, 1024)]
    for series in (by_prompts, by_tokens):
        assert all(a < b for a, b in zip(series, series[1:], strict=False))
    # Linear beyond the set-up: twice the prompts, twice the decoding.
    base = samples_estimate(LLAMA_8B, h100, 0, 64).seconds
    five = samples_estimate(LLAMA_8B, h100, 5, 64).seconds - base
    ten = samples_estimate(LLAMA_8B, h100, 10, 64).seconds - base
    assert ten == pytest.approx(2 * five)


def test_merge_and_gguf_sizes() -> None:
    assert merged_bytes(LLAMA_8B) == pytest.approx(16.06e9)
    assert gguf_bytes(LLAMA_8B, "f16") == pytest.approx(16.06e9)
    assert gguf_bytes(LLAMA_8B, "q8_0") == pytest.approx(8.03e9 * 34 / 32)
    h100 = machine(H100_PCIE)
    merge = merge_estimate(LLAMA_8B, h100)
    assert merge.download_bytes == pytest.approx(16.06e9, rel=1e-6)
    # Download alone at the assumed 50 MB/s: 321 s; gzip packing dominates the rest.
    assert merge.seconds > 16.06e9 / DOWNLOAD_BYTES_PER_S
    # Dominated by the 16 GB download at 50 MB/s (321 s): about 6.7 min in all.
    assert 5 * 60 < merge.seconds < 10 * 60
    assert merge.dollars == pytest.approx(merge.seconds * 3.29 / 3600)
    q8 = gguf_estimate(LLAMA_8B, h100, "q8_0")
    f16 = gguf_estimate(LLAMA_8B, h100, "f16")
    assert q8.download_bytes < f16.download_bytes
    assert q8.seconds < f16.seconds  # half the download outweighs the slower quantisation
    tiny_merge = merge_estimate(TINY, h100)
    assert tiny_merge.download_bytes == round(2 * 133_440) and tiny_merge.seconds < 20


def test_a_plan_holds_the_chosen_steps_in_order_with_the_converter_once() -> None:
    h100 = machine(H100_PCIE)
    after = plan_after_training(LLAMA_8B, h100, EVERYTHING)
    assert [s.key for s in after.steps] == ["samples", "merge", "gguf_f16", "gguf_q8_0"]
    alone = option_estimates(LLAMA_8B, h100, EVERYTHING)
    assert after.steps[3].seconds == pytest.approx(alone["gguf_q8_0"].seconds - GGUF_SETUP_SECONDS)
    assert after.seconds == pytest.approx(sum(s.seconds for s in after.steps))
    assert after.dollars == pytest.approx(after.seconds * 3.29 / 3600)
    assert after.download_bytes == sum(s.download_bytes for s in after.steps)
    assert after.download_bytes == pytest.approx(16.06e9 * 2 + 8.03e9 * 34 / 32, rel=1e-3)
    nothing = TrainingConfig(base_model="m", samples=0)
    assert plan_after_training(LLAMA_8B, h100, nothing).steps == ()
    # The same steps cost more on a dearer type and less on a faster one for sampling.
    sxm = plan_after_training(LLAMA_8B, machine(H100_SXM), EVERYTHING)
    assert sxm.steps[0].seconds < after.steps[0].seconds
    assert sxm.steps[1].dollars > after.steps[1].dollars


def test_typed_prompts_and_the_count() -> None:
    assert sample_count(TrainingConfig(base_model="m")) == 5
    assert sample_count(TrainingConfig(base_model="m", samples=0, sample_prompts=["a"])) == 0
    typed = TrainingConfig(base_model="m", samples=5, sample_prompts=["a", "b"])
    assert sample_count(typed) == 2  # the instance answers the typed prompts, at most `samples`
    assert sample_count(TrainingConfig(base_model="m", samples=2, sample_prompts=list("abc"))) == 2
    shown = option_estimates(LLAMA_8B, machine(A10), TrainingConfig(base_model="m", samples=0))
    assert shown["samples"].seconds == pytest.approx(
        samples_estimate(LLAMA_8B, machine(A10), 5, 64).seconds
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"samples": "many"},
        {"samples": 10**400},
        {"sample_max_new_tokens": float("nan")},
        {"gguf": "f16"},
        {"merge": "yes"},
        {"sample_prompts": "one prompt"},
    ],
)
def test_values_out_of_range_give_finite_estimates(changes: dict[str, object]) -> None:
    cfg = replace(EVERYTHING, **changes)  # type: ignore[arg-type]
    after = plan_after_training(LLAMA_8B, machine(H100_PCIE), cfg)
    assert all(math.isfinite(s.seconds) and math.isfinite(s.dollars) for s in after.steps)
    huge = replace(LLAMA_8B, params_b=float("inf"))
    assert all(math.isfinite(s.seconds) for s in plan_after_training(huge, machine(A10), cfg).steps)


def test_space_warnings_for_ram_and_disk() -> None:
    llama_70b = JobSize(params_b=70.6, shape=known_shape("meta-llama/Llama-3.1-70B"))
    small = gpu("gpu_1x_small", "A10 (24 GB PCIe)", 1.0, memory=100, disk=200)
    found = space_warnings(llama_70b, small, EVERYTHING)
    assert len(found) == 2
    assert "memory" in found[0] and "100 GiB" in found[0]
    assert "disk" in found[1] and "200 GiB" in found[1]
    assert space_warnings(llama_70b, small, TrainingConfig(base_model="m")) == []  # no merge
    assert space_warnings(LLAMA_8B, H100_PCIE, EVERYTHING) == []
