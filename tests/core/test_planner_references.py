"""The planner against published fine-tuning runs: medians and every row within its bound.

Tolerances: over all rows, the median |memory error| is at most 20% and the median throughput
ratio (max(estimate / measured, measured / estimate)) at most 2x; each row holds its own
stated bound (ReferenceRun.memory_bound, .throughput_bound), so a planner change that moves
one row shows there even while the medians hold. Under FSDP, a 70B 4-bit LoRA job's memory per
GPU is within 25% of the published measurement (2 GPUs), and a fit where a run is published to
have trained without a stated peak (4 and 8 GPUs).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from lambda_gui.core.planner import GPU_SPECS, USABLE_VRAM_FRACTION, memory_gib
from lambda_gui.core.planner_references import (
    HF_PEFT,
    REFERENCE_RUNS,
    ReferenceRun,
    compare,
    compare_all,
    estimated_memory_gib,
    markdown_table,
    median_memory_error,
    median_throughput_ratio,
    throughput_ratio,
)

MEDIAN_MEMORY_ERROR = 0.20
MEDIAN_THROUGHPUT_RATIO = 2.0


def test_enough_cited_runs() -> None:
    assert len(REFERENCE_RUNS) >= 8
    assert len({run.key for run in REFERENCE_RUNS}) == len(REFERENCE_RUNS)
    with_throughput = [run for run in REFERENCE_RUNS if run.measured_tokens_per_s is not None]
    assert len(with_throughput) >= 8
    assert len({run.source.url for run in REFERENCE_RUNS}) >= 5
    for run in REFERENCE_RUNS:
        assert run.source.url.startswith("https://") and run.source.title and run.source.date
        assert run.where and run.setup and run.stack
        assert run.measured_gib > 0 and 0 < run.memory_bound < 2
        if run.measured_tokens_per_s is not None:
            assert run.gpu_key in GPU_SPECS
            assert run.throughput_bound is not None and run.throughput_bound >= 1
            assert run.throughput_from


def test_medians_within_tolerance() -> None:
    comparisons = compare_all()
    assert median_memory_error(comparisons) <= MEDIAN_MEMORY_ERROR
    assert median_throughput_ratio(comparisons) <= MEDIAN_THROUGHPUT_RATIO


def test_hugging_face_runs_closer_still() -> None:
    # The rows run on the stack train.py uses (Transformers + PEFT): the planner models this.
    comparisons = [c for c in compare_all() if c.run.stack == HF_PEFT]
    assert len(comparisons) >= 8
    assert median_memory_error(comparisons) <= 0.10
    assert median_throughput_ratio(comparisons) <= 1.25


@pytest.mark.parametrize("run", REFERENCE_RUNS, ids=lambda run: run.key)
def test_each_run_within_its_bound(run: ReferenceRun) -> None:
    result = compare(run)
    assert result.memory_within_bound, (result.memory_error, run.memory_bound)
    assert result.throughput_within_bound, (result.throughput_ratio, run.throughput_bound)
    if run.measured_tokens_per_s is None:
        assert result.throughput_ratio is None


def test_memory_compared_with_what_the_source_measured() -> None:
    run = next(r for r in REFERENCE_RUNS if r.memory_kind == "device")
    weights, adapter, activations, overhead, need = memory_gib(run.job)
    assert estimated_memory_gib(run) == pytest.approx(need)
    allocated = replace(run, memory_kind="allocated")
    assert estimated_memory_gib(allocated) == pytest.approx(weights + adapter + activations)
    assert estimated_memory_gib(allocated) == pytest.approx(need - overhead)
    capacity = replace(run, memory_kind="capacity")
    assert estimated_memory_gib(capacity) == pytest.approx(need)


def test_errors_are_signed_for_memory_and_symmetric_for_throughput() -> None:
    run = REFERENCE_RUNS[0]
    estimate = estimated_memory_gib(run)
    over = compare(replace(run, measured_gib=estimate / 1.25))
    under = compare(replace(run, measured_gib=estimate / 0.8))
    assert over.memory_error == pytest.approx(0.25) and under.memory_error == pytest.approx(-0.2)
    assert throughput_ratio(100.0, 200.0) == throughput_ratio(200.0, 100.0) == 2.0
    assert throughput_ratio(150.0, 150.0) == 1.0


def test_runs_restated_as_planner_jobs() -> None:
    qwen = next(r for r in REFERENCE_RUNS if r.key == "qwen-7b-lora-2048")
    job = qwen.job
    assert (job.params_b, job.rank, job.seq_len, job.grad_accum) == (7.72, 64, 2048, 8)
    assert job.grad_ckpt and job.weight_quantization == "none"
    assert qwen.measured_tokens_per_s == pytest.approx(8 * 2048 / 5.2)
    qlora = next(r for r in REFERENCE_RUNS if r.key == "unsloth-hf-llama3.1-8b-qlora-80gb")
    assert qlora.job.weight_quantization == "int4"
    litgpt = next(r for r in REFERENCE_RUNS if r.key == "litgpt-llama2-7b-lora-mb1")
    assert litgpt.measured_gib == pytest.approx(21.30e9 / 2**30)


def test_markdown_table_has_a_line_per_run() -> None:
    comparisons = compare_all()
    table = markdown_table(comparisons).splitlines()
    assert len(table) == 2 + len(comparisons)
    for line, c in zip(table[2:], comparisons, strict=True):
        assert f"`{c.run.key}`" in line and c.run.source.url in line
        assert f"{c.memory_error:+.0%}" in line
        assert (c.throughput_ratio is None) == ("tok/s" not in line)
    assert all(math.isfinite(c.memory_error) for c in comparisons)


FSDP_70B_TOLERANCE = 0.25


def test_70b_qlora_sharded_over_2_4_and_8_gpus() -> None:
    runs = {r.key: r for r in REFERENCE_RUNS}
    # Measured: the PEFT docs' FSDP + QLoRA recipe, Llama-2 70B on 2 GPUs without CPU offload.
    two = compare(runs["peft-docs-llama2-70b-qlora-fsdp-2gpu"])
    assert (two.run.gpus, two.run.sharding, two.run.job.weight_quantization) == (2, "fsdp", "int4")
    assert abs(two.memory_error) <= FSDP_70B_TOLERANCE
    # Published to have trained, no peak stated: Answer.AI's hardware table on 4 and 8 cards
    # (and 2): the planner must call each a fit on its cards.
    ran = [c for c in compare_all() if c.run.memory_kind == "ran"]
    assert {c.run.gpus for c in ran} >= {2, 4, 8}
    for c in ran:
        assert c.run.sharding == "fsdp" and c.run.shape.params_b > 65
        assert c.estimated_gib <= c.measured_gib * USABLE_VRAM_FRACTION, c.run.key
        assert c.memory_within_bound, (c.run.key, c.memory_error)
    # Unsharded, the same jobs fit none of those cards.
    for c in ran:
        unsharded = replace(c.run, sharding="none")
        assert estimated_memory_gib(unsharded) > c.measured_gib, c.run.key


def test_ran_rows_are_bounds_left_out_of_the_medians() -> None:
    run = next(r for r in REFERENCE_RUNS if r.memory_kind == "ran")
    estimate = estimated_memory_gib(run)
    too_small = compare(replace(run, measured_gib=estimate / USABLE_VRAM_FRACTION * 0.99))
    assert not too_small.memory_within_bound  # the planner would not call it a fit
    roomy = compare(replace(run, measured_gib=estimate * 1.1))
    assert roomy.memory_within_bound
    measured = [c for c in compare_all() if c.run.memory_kind != "ran"]
    assert median_memory_error(compare_all()) == median_memory_error(measured)
