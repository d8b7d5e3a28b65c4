"""The planner: memory by precision, fit per GPU, steps, time, cost and the recommendation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lambda_gui.core.billing import BillingTerms
from lambda_gui.core.known_models import ModelShape, known_shape, shape_from_config
from lambda_gui.core.models import PricingInfo, Region, Resource, TrainingConfig
from lambda_gui.core.planner import (
    BOOT_SECONDS_MULTI_GPU,
    BOOT_SECONDS_SINGLE_GPU,
    JobSize,
    lora_params,
    memory_gib,
    plan,
    plan_all,
    plan_job,
    pricing_by_terms,
    recommend,
    total_steps,
)

PER_MINUTE = BillingTerms(60, 0, "test", "2026-11")
pricing_of = pricing_by_terms(PER_MINUTE)
LLAMA7 = known_shape("meta-llama/Llama-2-7b-hf")
LLAMA70 = known_shape("meta-llama/Llama-3.1-70B")
LLAMA65 = ModelShape(65.2, 8192, 80, 32000)  # LLaMA-65B, as in the QLoRA paper


def gpu(
    name: str, gpu_type: str, count: int, vram: int, rate: float, available: bool = True
) -> Resource:
    regions = (Region("us-east-1", "Virginia"),) if available else ()
    return Resource(name, gpu_type, count, vram, 8, 64, 512, rate, available, regions)


A10 = gpu("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 1.29)
A6000 = gpu("gpu_1x_a6000", "A6000 (48 GB)", 1, 48, 1.09)
H100 = gpu("gpu_1x_h100_sxm5", "H100 (80 GB SXM5)", 1, 80, 4.29)
A100x8 = gpu("gpu_8x_a100", "A100 (40 GB SXM4)", 8, 40, 15.92)
V100x8 = gpu("gpu_8x_v100", "Tesla V100 (16 GB)", 8, 16, 6.32)
CPU = Resource("cpu_4x_general", "CPU", 0, 0, 4, 16, 100, 0.2, True)


def job(**kw: object) -> JobSize:
    base = JobSize(params_b=6.74, shape=LLAMA7, batch_size=4, seq_len=512, dataset_rows=1000)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_weights_by_precision() -> None:
    fp16 = memory_gib(job())[0]
    int8 = memory_gib(job(quantization="int8"))[0]
    int4 = memory_gib(job(quantization="int4"))[0]
    assert fp16 == pytest.approx(6.74e9 * 2 / 2**30)
    # A quantised base quantises its linear layers; the embeddings and LM head (2 * vocab *
    # hidden parameters) stay unquantised and PEFT casts them to fp32.
    embeddings = 2 * 32000 * 4096
    linear = 6.74e9 - embeddings
    assert int8 == pytest.approx((linear * 1.0 + embeddings * 4) / 2**30)
    assert int4 == pytest.approx((linear * 0.55 + embeddings * 4) / 2**30)
    assert int4 < int8 < fp16


def test_qlora_left_at_none_loads_4bit_and_qlora_int8_stays_int8() -> None:
    assert job(algorithm="qlora").weight_quantization == "int4"
    assert job(algorithm="qlora", quantization="int8").weight_quantization == "int8"
    assert job(algorithm="lora", quantization="none").weight_quantization == "none"


def test_lora_parameter_count_matches_peft_for_llama2_7b() -> None:
    # PEFT reports 4,194,304 trainable parameters for r=8 on q_proj and v_proj of Llama-2-7B.
    assert LLAMA7 is not None
    assert lora_params(LLAMA7, 8, ["q_proj", "v_proj"]) == 4_194_304
    assert lora_params(LLAMA7, 8, ["all-linear"]) > 4 * lora_params(LLAMA7, 8, ["q_proj"])


def test_activations_grow_with_batch_and_shrink_with_checkpointing() -> None:
    small = memory_gib(job(batch_size=1))[2]
    large = memory_gib(job(batch_size=8))[2]
    ckpt = memory_gib(job(batch_size=8, grad_ckpt=True))[2]
    assert large == pytest.approx(8 * small)
    assert ckpt < large / 4


def test_multi_gpu_types_run_data_parallel() -> None:
    # Every GPU holds the whole model: 70B in bf16 fits no 40 GB GPU, however many there are.
    big = job(params_b=70.6, shape=LLAMA70, batch_size=1, grad_ckpt=True)
    p = plan_job(big, A100x8, pricing_of(A100x8))
    assert not p.fits and p.usable_gib == pytest.approx(40 * 0.95)
    assert p.data_parallel and p.need_gib == plan_job(big, A10, pricing_of(A10)).need_gib
    # More GPUs mean fewer, larger steps and more tokens per second.
    small = job(dataset_rows=8000)
    one = plan_job(small, A6000, pricing_of(A6000))
    eight = plan_job(small, replace(A100x8, gpu_type="A6000 (48 GB)"), pricing_of(A100x8))
    assert one.steps == 2000 and eight.steps == 250
    assert eight.tokens_per_step == 8 * one.tokens_per_step
    assert eight.tokens_per_second == pytest.approx(8 * 0.9 * one.tokens_per_second)
    assert eight.train_seconds == pytest.approx(one.train_seconds / (8 * 0.9))


def test_known_fits_from_practice() -> None:
    # LoRA on a 7B model in bf16 fits a 24 GB card at batch 1; at batch 8 x 2048 it does not.
    assert plan_job(job(batch_size=1), A10, pricing_of(A10)).fits
    assert not plan_job(job(batch_size=8, seq_len=2048), A10, pricing_of(A10)).fits
    # The QLoRA paper fine-tunes LLaMA-65B (32k vocabulary) on one 48 GB GPU (with
    # checkpointing).
    qlora65 = job(params_b=65.2, shape=LLAMA65, algorithm="qlora", batch_size=1, grad_ckpt=True)
    assert plan_job(qlora65, A6000, pricing_of(A6000)).fits
    assert not plan_job(replace(qlora65, algorithm="lora"), A6000, pricing_of(A6000)).fits
    # Llama 3.x 70B's 128k-vocabulary embeddings and head, in fp32 under PEFT, tip it over:
    # Unsloth's benchmarks report Hugging Face QLoRA of Llama 3.3 70B out of memory on 48 GB.
    qlora70 = replace(qlora65, params_b=70.6, shape=LLAMA70)
    assert not plan_job(qlora70, A6000, pricing_of(A6000)).fits


def test_cpu_types_never_fit() -> None:
    p = plan_job(job(), CPU, pricing_of(CPU))
    assert not p.fits
    assert any("GPU" in n for n in p.notes)


def test_steps_follow_hf_trainer() -> None:
    assert total_steps(job(dataset_rows=1000, batch_size=4, grad_accum=2, epochs=2)) == 250
    assert total_steps(job(dataset_rows=1000, batch_size=4, max_steps=30, epochs=3)) == 30
    # 10% held out: 900 training rows -> 225 batches.
    assert total_steps(job(dataset_rows=1000, batch_size=4, validation_split=0.1)) == 225
    assert total_steps(job(dataset_rows=3, batch_size=4, grad_accum=8)) == 1
    assert total_steps(job(dataset_rows=1000, batch_size=4, epochs=0.5)) == 125
    assert total_steps(job(dataset_rows=1000, batch_size=4), gpu_count=2) == 125


def test_time_depends_on_gpu_precision_and_row_length() -> None:
    j = job(dataset_rows=20_000)
    on_a10 = plan_job(j, A10, pricing_of(A10))
    on_h100 = plan_job(j, H100, pricing_of(H100))
    assert on_h100.train_seconds < on_a10.train_seconds / 5
    qlora = plan_job(replace(j, algorithm="qlora"), A10, pricing_of(A10))
    assert qlora.tokens_per_second < on_a10.tokens_per_second
    short_rows = plan_job(replace(j, avg_tokens_per_row=128), A10, pricing_of(A10))
    assert short_rows.train_seconds == pytest.approx(on_a10.train_seconds / 4)


def test_overhead_and_cost() -> None:
    one = plan_job(job(), A10, pricing_of(A10))
    many = plan_job(job(), A100x8, pricing_of(A100x8))
    assert many.overhead_seconds - one.overhead_seconds == pytest.approx(
        BOOT_SECONDS_MULTI_GPU - BOOT_SECONDS_SINGLE_GPU
    )
    assert one.total_seconds == pytest.approx(one.train_seconds + one.overhead_seconds)
    assert one.cost == pricing_of(A10).cost_for(one.total_seconds)
    hourly = PricingInfo("gpu_1x_a10", 1.29, 3600, 3600)
    assert plan_job(job(), A10, hourly).cost == pytest.approx(1.29 * -(-one.total_seconds // 3600))


def test_gpus_without_bf16_and_unknown_gpus_are_noted() -> None:
    assert any("bf16" in n for n in plan_job(job(), V100x8, pricing_of(V100x8)).notes)
    odd = gpu("gpu_1x_mystery", "Mystery (32 GB)", 1, 32, 1.0)
    assert any("No throughput figure" in n for n in plan_job(job(), odd, pricing_of(odd)).notes)


def test_plan_by_fields_matches_plan_job() -> None:
    by_fields = plan(
        6.74, "lora", "none", 16, 4, 512, False, 1000, A10, pricing_of(A10), shape=LLAMA7
    )
    assert by_fields == plan_job(job(), A10, pricing_of(A10))


def test_job_size_from_config() -> None:
    cfg = TrainingConfig(base_model="x", algorithm="qlora", rank=32, max_seq_length=1024)
    size = JobSize.from_config(cfg, params_b=7.0, dataset_rows=500)
    assert (size.rank, size.seq_len, size.weight_quantization) == (32, 1024, "int4")


def test_recommend_picks_cheapest_that_fits_and_has_capacity() -> None:
    small = job(batch_size=1)
    catalog = [H100, A10, A6000, CPU]
    # A6000 is cheapest per hour and fits.
    assert recommend(catalog, pricing_of, small) == A6000
    # Without capacity there it moves on.
    busy = replace(A6000, available=False, regions=())
    assert recommend([H100, A10, busy], pricing_of, small) in (A10, H100)
    # A job that needs more than 48 GB lands on the H100.
    large = job(batch_size=4, seq_len=2048)
    assert recommend(catalog, pricing_of, large) == H100
    assert recommend([A10, CPU], pricing_of, large) is None


def test_plan_all_orders_fitting_available_types_by_cost() -> None:
    plans = plan_all([H100, A10, A6000, CPU], pricing_of, job(batch_size=1))
    assert [p.resource_name for p in plans][0] == "gpu_1x_a6000"
    assert "cpu_4x_general" not in [p.resource_name for p in plans]
    costs = [p.cost for p in plans if p.fits and p.available]
    assert costs == sorted(costs)


# --- a draft planned before validation: numbers the arithmetic cannot hold -----------------


@pytest.mark.parametrize(
    "changes",
    [
        {"max_steps": 10**400},
        {"epochs": float("inf")},
        {"epochs": float("nan")},
        {"batch_size": 10**400, "seq_len": 10**400},
        {"params_b": 1e308},
        {"params_b": 0.0},
        {"rank": 10**400, "grad_accum": 10**400},
        {"dataset_rows": 10**400, "validation_split": float("nan"), "eval_steps": 1},
        {"avg_tokens_per_row": float("inf"), "download_gib": float("inf")},
    ],
)
def test_extreme_values_plan_finite_not_overflow(changes: dict[str, object]) -> None:
    job = replace(JobSize(params_b=0.5), **changes)
    result = plan_job(job, A10, pricing_of(A10))
    assert result.total_seconds < float("inf") and result.cost < float("inf")
    assert result.steps >= 1


def test_ordinary_values_are_planned_unchanged() -> None:
    job = JobSize(params_b=0.5, max_steps=200, batch_size=8)
    assert plan_job(job, A10, pricing_of(A10)).steps == total_steps(job) == 200


LLAMA31_8B_CONFIG = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}


@pytest.mark.parametrize(
    ("config", "params_b", "table"),
    [
        (LLAMA31_8B_CONFIG, 8.03, "meta-llama/Llama-3.1-8B"),
        (
            {
                "model_type": "qwen2",
                "hidden_size": 896,
                "intermediate_size": 4864,
                "num_hidden_layers": 24,
                "num_attention_heads": 14,
                "num_key_value_heads": 2,
                "vocab_size": 151936,
                "tie_word_embeddings": True,
            },
            0.49,
            "Qwen/Qwen2.5-0.5B",
        ),
        (
            {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257},
            0.124,
            "gpt2",
        ),
        (
            {
                **LLAMA31_8B_CONFIG,
                "model_type": "mixtral",
                "vocab_size": 32000,
                "num_local_experts": 8,
            },
            46.7,
            "mistralai/Mixtral-8x7B-v0.1",
        ),
        ({"model_type": "llava", "text_config": LLAMA31_8B_CONFIG}, 8.03, "meta-llama/Llama-3-8B"),
    ],
)
def test_shape_from_config_counts_parameters_as_the_table_does(
    config: dict[str, object], params_b: float, table: str
) -> None:
    shape = shape_from_config(config)
    known = known_shape(table)
    assert shape is not None and known is not None
    assert shape.params_b == pytest.approx(params_b, rel=0.01)
    assert (shape.hidden_size, shape.num_layers, shape.vocab_size) == (
        known.hidden_size,
        known.num_layers,
        known.vocab_size,
    )


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"hidden_size": 4096},
        {**LLAMA31_8B_CONFIG, "hidden_size": "4096"},
        {**LLAMA31_8B_CONFIG, "num_hidden_layers": True},
        {**LLAMA31_8B_CONFIG, "vocab_size": 10**40},
    ],
)
def test_shape_from_config_refuses_what_is_not_a_size(config: dict[str, object]) -> None:
    assert shape_from_config(config) is None


# --- sharding: FSDP over the GPUs of one type -------------------------------------------------

A6000x2 = gpu("gpu_2x_a6000", "A6000 (48 GB)", 2, 48, 2.18)
A6000x4 = gpu("gpu_4x_a6000", "A6000 (48 GB)", 4, 48, 4.36)


def qlora70(**kw: object) -> JobSize:
    base = job(
        params_b=70.6,
        shape=LLAMA70,
        algorithm="qlora",
        batch_size=2,
        seq_len=2048,
        grad_ckpt=True,
        rank=8,
        target_modules=("all-linear",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_job_size_carries_the_sharding() -> None:
    cfg = TrainingConfig(base_model="x", sharding="fsdp")
    assert JobSize.from_config(cfg, params_b=70.6, dataset_rows=10).sharding == "fsdp"
    assert JobSize(params_b=1.0).sharding == "none"


def test_fsdp_memory_per_gpu_is_the_shard_plus_what_is_held_whole() -> None:
    assert LLAMA70 is not None
    sharded = qlora70(sharding="fsdp")
    weights, adapter, activations, _overhead, _need = memory_gib(sharded, 4)
    # Embeddings and LM head in bf16 (the FSDP + QLoRA recipe stores everything in bf16), the
    # decoder layers' linear weights in 4 bit.
    embeddings = 2 * 128256 * 8192 * 2.0 / 2**30
    layers = (70.6e9 - 2 * 128256 * 8192) * 0.55 / 2**30
    assert weights == pytest.approx((embeddings + layers) / 4 + embeddings + 2 * layers / 80)
    unsharded = memory_gib(qlora70(), 4)
    assert adapter == pytest.approx(unsharded[1] / 4)  # LoRA weights, grads, Adam: sharded
    assert activations == pytest.approx(unsharded[2])  # the per-GPU batch's, as before
    # More GPUs, less per GPU; never below what is held whole.
    needs = [memory_gib(sharded, n)[4] for n in (2, 4, 8)]
    assert needs == sorted(needs, reverse=True)
    assert memory_gib(sharded, 8)[0] > embeddings + 2 * layers / 80


def test_a_70b_qlora_job_fits_48gb_gpus_only_sharded() -> None:
    unsharded = qlora70()
    for resource in (A6000, A6000x2, A6000x4):
        assert not plan_job(unsharded, resource, pricing_of(resource)).fits
    sharded = qlora70(sharding="fsdp")
    two = plan_job(sharded, A6000x2, pricing_of(A6000x2))
    four = plan_job(sharded, A6000x4, pricing_of(A6000x4))
    assert two.fits and four.fits and two.sharding == four.sharding == "fsdp"
    assert four.need_gib < two.need_gib < two.usable_gib
    assert any(n.startswith("Sharded with FSDP over 2 GPUs") for n in two.notes)
    assert not any(n.startswith("Data-parallel") for n in two.notes)
    assert recommend([A6000, A6000x2, A6000x4], pricing_of, sharded) == A6000x2
    assert recommend([A6000, A6000x2, A6000x4], pricing_of, unsharded) is None


def test_fsdp_speed_is_data_parallel_less_the_gathers() -> None:
    plain = plan_job(qlora70(), A6000x2, pricing_of(A6000x2))
    sharded = plan_job(qlora70(sharding="fsdp"), A6000x2, pricing_of(A6000x2))
    assert sharded.tokens_per_second == pytest.approx(0.9 * plain.tokens_per_second)
    assert sharded.steps == plain.steps and sharded.tokens_per_step == plain.tokens_per_step
    assert sharded.train_seconds == pytest.approx(plain.train_seconds / 0.9)


def test_fsdp_on_one_gpu_shards_nothing_and_says_so() -> None:
    plain = plan_job(qlora70(), H100, pricing_of(H100))
    one = plan_job(qlora70(sharding="fsdp"), H100, pricing_of(H100))
    assert one.sharding == "none" and one.need_gib == plain.need_gib
    assert one.tokens_per_second == plain.tokens_per_second
    assert "FSDP needs more than one GPU: on this type the job runs unsharded." in one.notes


def test_sharding_none_plans_as_before_and_unknown_modes_as_none() -> None:
    data_parallel = plan_job(qlora70(), A6000x2, pricing_of(A6000x2))
    assert data_parallel.sharding == "none" and data_parallel.data_parallel
    assert data_parallel.need_gib == plan_job(qlora70(), A6000, pricing_of(A6000)).need_gib
    odd = plan_job(qlora70(sharding="zero3"), A6000x2, pricing_of(A6000x2))
    assert odd.need_gib == data_parallel.need_gib and odd.sharding == "none"


def test_an_8bit_base_is_never_sharded() -> None:
    int8 = qlora70(algorithm="lora", quantization="int8", sharding="fsdp")
    plan = plan_job(int8, A6000x4, pricing_of(A6000x4))
    assert plan.sharding == "none"
    assert (
        plan.need_gib
        == plan_job(replace(int8, sharding="none"), A6000x4, pricing_of(A6000x4)).need_gib
    )
    assert any(n.startswith("FSDP cannot shard 8-bit base weights") for n in plan.notes)
