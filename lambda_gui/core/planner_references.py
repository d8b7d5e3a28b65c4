"""Published fine-tuning runs the planner is held against: peak memory and tokens per second.

Each ReferenceRun is one measured LoRA/QLoRA run from a public source (its URL, title, date and
the table or row it comes from), restated in the planner's terms (JobSize), with what the
planner does not model about it. compare() runs the planner on a row and returns its estimate,
the measurement and the error; tests/core/test_planner_references.py holds every row and the
medians within stated bounds, and markdown_table() writes the table the benchmarks document
shows.

What a source measured decides what the estimate is compared with (MemoryKind):
  "device"    the GPU's memory in use (nvidia-smi or the allocator's reserve): the planner's
              whole need, CUDA context and fragmentation included.
  "allocated" PyTorch's peak of allocated (or active) bytes, which leaves out the CUDA context
              and the allocator's slack: the planner's need less its overhead term.
  "capacity"  the longest sequence that still fit a card of the stated size: the peak at that
              length is (just under) the card's memory, so the need is compared with that.
  "ran"       the run trained on cards of the stated size, and the source states no peak: the
              need must be within the card's usable memory (the planner calls it a fit) and is
              compared with the card's size. Such a row bounds the estimate from above rather
              than measuring it, so it is left out of the memory medians.
Units are restated as GiB: a source's "GB" is converted from 10^9 bytes where its code divides
by 1e9 (LitGPT, torchtune before 2024-09) and taken as GiB where it reports GiB, nvidia-smi or
a card's size (Qwen, LLaMA-Factory, Unsloth, torchtune from 2024-09).

Throughput is tokens per second per GPU, padding included where the source pads: stated
directly (torchtune, LLaMA-Factory's "TGS") or derived from seconds per optimizer step as
batch * gradient accumulation * sequence length / seconds (Qwen), or from a whole run's time as
rows * tokens per row / seconds / GPUs (Answer.AI), said per row.

Multi-GPU rows (gpus > 1) are planned on that many GPUs with the row's sharding: memory per
GPU, and the planner's throughput over all of them divided by their number.

Errors: memory as (estimate - measured) / measured, signed; throughput as the ratio
max(estimate / measured, measured / estimate), 1.0 when exact, so a factor of two either way
reads 2.0.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lambda_gui.core.known_models import ModelShape, known_shape
from lambda_gui.core.planner import (
    GPU_SPECS,
    USABLE_VRAM_FRACTION,
    JobSize,
    memory_gib,
    tokens_per_second,
)

GIB = float(2**30)
GB_IN_GIB = 1e9 / GIB

MemoryKind = Literal["device", "allocated", "capacity", "ran"]


@dataclass(frozen=True)
class Source:
    """Where a measurement was published."""

    title: str
    url: str
    date: str


@dataclass(frozen=True)
class ReferenceRun:
    """One published run and the planner's view of it.

    memory_bound is the largest relative memory error this row may show (|error|), and
    throughput_bound the largest throughput ratio; both are the error the planner shows today
    plus a margin, so a change to the planner that moves one row by more shows up there.
    """

    key: str
    source: Source
    where: str
    stack: str
    model: str
    shape: ModelShape
    method: str
    rank: int
    target_modules: tuple[str, ...]
    gpu: str
    batch_size: int
    grad_accum: int
    seq_len: int
    grad_ckpt: bool
    measured_gib: float
    memory_kind: MemoryKind
    memory_bound: float
    measured_tokens_per_s: float | None = None
    throughput_bound: float | None = None
    setup: str = ""
    throughput_from: str = ""
    not_modelled: tuple[str, ...] = ()
    gpu_key: str | None = None
    gpus: int = 1
    sharding: str = "none"

    @property
    def job(self) -> JobSize:
        """The run as the planner sizes it."""
        return JobSize(
            params_b=self.shape.params_b,
            algorithm=self.method,
            rank=self.rank,
            batch_size=self.batch_size,
            seq_len=self.seq_len,
            grad_ckpt=self.grad_ckpt,
            grad_accum=self.grad_accum,
            target_modules=self.target_modules,
            shape=self.shape,
            sharding=self.sharding,
        )


@dataclass(frozen=True)
class Comparison:
    """The planner's estimate for one reference run against what was measured."""

    run: ReferenceRun
    estimated_gib: float
    measured_gib: float
    memory_error: float
    estimated_tokens_per_s: float | None
    measured_tokens_per_s: float | None
    throughput_ratio: float | None

    @property
    def memory_within_bound(self) -> bool:
        """True when the memory error is within the row's stated bound; for a "ran" row, when
        the planner also calls the run a fit on its cards."""
        if self.run.memory_kind == "ran":
            fits = self.estimated_gib <= self.measured_gib * USABLE_VRAM_FRACTION
            return fits and self.memory_error >= -self.run.memory_bound
        return abs(self.memory_error) <= self.run.memory_bound

    @property
    def throughput_within_bound(self) -> bool:
        """True when the throughput ratio is within the row's bound (or not compared)."""
        if self.throughput_ratio is None or self.run.throughput_bound is None:
            return True
        return self.throughput_ratio <= self.run.throughput_bound


def throughput_ratio(estimate: float, measured: float) -> float:
    """How many times off an estimate is, either way: 1.0 when exact, 2.0 at half or double."""
    return max(estimate / measured, measured / estimate)


def estimated_memory_gib(run: ReferenceRun) -> float:
    """The planner's memory figure that matches what the source measured (see MemoryKind)."""
    weights, adapter, activations, _overhead, need = memory_gib(run.job, run.gpus)
    if run.memory_kind == "allocated":
        return weights + adapter + activations
    return need


def compare(run: ReferenceRun) -> Comparison:
    """The planner's estimate for `run`, the measurement, and the error (module docstring)."""
    estimate = estimated_memory_gib(run)
    error = (estimate - run.measured_gib) / run.measured_gib
    speed: float | None = None
    ratio: float | None = None
    if run.measured_tokens_per_s is not None and run.gpu_key is not None:
        speed = tokens_per_second(run.job, GPU_SPECS[run.gpu_key], run.gpus) / run.gpus
        ratio = throughput_ratio(speed, run.measured_tokens_per_s)
    return Comparison(
        run=run,
        estimated_gib=estimate,
        measured_gib=run.measured_gib,
        memory_error=error,
        estimated_tokens_per_s=speed,
        measured_tokens_per_s=run.measured_tokens_per_s,
        throughput_ratio=ratio,
    )


def compare_all(runs: Sequence[ReferenceRun] | None = None) -> list[Comparison]:
    """compare() over `runs` (every reference run when None)."""
    return [compare(run) for run in (REFERENCE_RUNS if runs is None else runs)]


def median_memory_error(comparisons: Sequence[Comparison]) -> float:
    """The median of |memory error| over the comparisons with a measured peak ("ran" rows,
    bounds rather than measurements, are left out)."""
    return statistics.median(abs(c.memory_error) for c in comparisons if c.run.memory_kind != "ran")


def median_throughput_ratio(comparisons: Sequence[Comparison]) -> float:
    """The median throughput ratio over the comparisons that have a measured throughput."""
    return statistics.median(c.throughput_ratio for c in comparisons if c.throughput_ratio)


def markdown_table(comparisons: Sequence[Comparison]) -> str:
    """The comparisons as a Markdown table, one line per run, for the benchmarks document."""
    lines = [
        "| Run | Source | Setup | Measured | Estimated | Error (bound) |",
        "|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        run = c.run
        gpus = run.gpu if run.gpus == 1 else f"{run.gpus}x {run.gpu}"
        if run.sharding == "fsdp":
            gpus += " sharded (FSDP)"
        setup = (
            f"{run.model}, {run.method} r={run.rank} on {', '.join(run.target_modules)}, "
            f"{gpus}, batch {run.batch_size} x {run.seq_len} tokens"
            f"{' per GPU' if run.gpus > 1 else ''}, "
            f"checkpointing {'on' if run.grad_ckpt else 'off'}"
        )
        estimated = f"{c.estimated_gib:.1f} GiB"
        if run.memory_kind == "ran":
            measured = f"ran on {c.measured_gib:.0f} GiB cards"
            fit = "fits" if c.memory_within_bound else "DOES NOT FIT"
            error = f"{c.memory_error:+.0%} (down to -{run.memory_bound:.0%}; {fit})"
        else:
            measured = f"{c.measured_gib:.1f} GiB ({run.memory_kind})"
            error = f"{c.memory_error:+.0%} (±{run.memory_bound:.0%})"
        if c.measured_tokens_per_s is not None and c.estimated_tokens_per_s is not None:
            measured += f"; {c.measured_tokens_per_s:,.0f} tok/s"
            estimated += f"; {c.estimated_tokens_per_s:,.0f} tok/s"
            error += f"; x{c.throughput_ratio:.2f} (x{run.throughput_bound:.1f})"
        source = f"[{run.source.title}]({run.source.url}), {run.source.date}: {run.where}"
        lines.append(f"| `{run.key}` | {source} | {setup} | {measured} | {estimated} | {error} |")
    return "\n".join(lines)


# --- the runs ---------------------------------------------------------------------------------


def _known(model_id: str) -> ModelShape:
    shape = known_shape(model_id)
    if shape is None:  # pragma: no cover - the table holds every model named below
        raise KeyError(model_id)
    return shape


# Qwen (1.0) models are not in the known-models table: their shapes from their config.json
# (hidden_size, num_hidden_layers, vocab_size; an untied LM head), parameters counted as
# known_models.shape_from_config does, with the MLP width intermediate_size / 2 (Qwen's
# config states the two gate halves together).
QWEN_1_8B = ModelShape(1.84, 2048, 24, 151936)
QWEN_7B = ModelShape(7.72, 4096, 32, 151936)
QWEN_14B = ModelShape(14.17, 5120, 40, 152064)
QWEN_72B = ModelShape(72.29, 8192, 80, 152064)
# LLaMA 2 13B as LitGPT builds it (the table's entry: hidden 5120, 40 layers, 32k vocabulary).
LLAMA2_7B = _known("meta-llama/Llama-2-7b-hf")
LLAMA2_13B = _known("meta-llama/Llama-2-13b-hf")
LLAMA31_8B = _known("meta-llama/Llama-3.1-8B")
LLAMA33_70B = _known("meta-llama/Llama-3.3-70B")

HF_PEFT = "Hugging Face Transformers + PEFT"  # the stack train.py runs
TORCHTUNE_STACK = "torchtune"
LITGPT_STACK = "LitGPT (Lightning Fabric)"

ALL_LINEAR = ("all-linear",)
QUERY_VALUE = ("q_proj", "v_proj")

QWEN = Source(
    "Qwen (Qwen-1) README: Profiling of Memory and Speed",
    "https://github.com/QwenLM/Qwen/blob/main/README.md#profiling-of-memory-and-speed",
    "2023-10-07",
)
QWEN_SETUP = (
    "1x A100-SXM4-80G, PyTorch 2.0, FlashAttention 2, batch 1, gradient accumulation 8, rows "
    "right-padded to the length (finetune.py); LoRA r=64 on c_attn, c_proj, w1, w2 "
    "(finetune.py defaults), gradient checkpointing on (finetune_lora_single_gpu.sh)"
)
QWEN_THROUGHPUT = "8 rows x 2048 tokens per optimizer step / the table's s/it"
QWEN_NOT_MODELLED = (
    "Qwen's own modelling code computes the loss on 16-bit logits (about half the bytes the "
    "planner's fp32 loss takes)",
)
QWEN_QLORA_NOT_MODELLED = (
    *QWEN_NOT_MODELLED,
    "Q-LoRA here loads Qwen's GPTQ Int4 checkpoints (auto-gptq kernels, fp16): PEFT does not "
    "upcast a GPTQ model's embeddings to fp32 as it does for bitsandbytes",
)

TORCHTUNE = Source(
    "torchtune README: Memory and training speed (Llama 3.1)",
    "https://github.com/pytorch/torchtune/blob/30b8519e8/README.md#memory-and-training-speed",
    "2024-09-24",
)
TORCHTUNE_SETUP = (
    "1x RTX 4090, batch 2, no gradient accumulation, dataset packed to 2048 tokens, "
    "torch.compile on; recipe configs llama3_1/8B_{lora,qlora}_single_device: activation "
    "checkpointing on, chunked cross-entropy"
)
TORCHTUNE_NOT_MODELLED = (
    "chunked cross-entropy (CEWithChunkedOutputLoss): the fp32 logits exist a chunk at a time",
    "torch.compile",
    "the README reports the allocator's peak, not the device total",
)

LLAMA_FACTORY = Source(
    "LLaMA-Factory wiki: Performance comparison (FlashAttention2 rows)",
    "https://github.com/hiyouga/LLaMA-Factory/wiki/Performance-comparison",
    "2024-04-15",
)
LLAMA_FACTORY_SETUP = (
    "1x A100 40GB, LLaMA2-7B, Hugging Face + FlashAttention 2, 4-bit (bitsandbytes), batch 1, "
    "gradient accumulation 4, LoRA r=8 on all modules; gradient checkpointing is "
    "LLaMA-Factory's default (on), the page does not say otherwise"
)
LLAMA_FACTORY_NOT_MODELLED = (
    "LLaMA-Factory does not cast the embeddings and LM head to fp32 as PEFT's "
    "prepare_model_for_kbit_training does",
)

UNSLOTH = Source(
    "Unsloth docs: Unsloth Benchmarks, context length tables (Hugging Face + FA2 column)",
    "https://docs.unsloth.ai/basics/unsloth-benchmarks",
    "2024-12 (Llama 3.3 release)",
)
UNSLOTH_SETUP = (
    "Hugging Face + FlashAttention 2 baseline, 4-bit QLoRA on q,k,v,o,gate,up,down, r=32, "
    "batch 1, rows padded to the length; the longest length that fit the card"
)
UNSLOTH_NOT_MODELLED = (
    "the source states the longest length that fit, so the true peak lies between the card's "
    "size and the next length tried",
    "gradient checkpointing assumed on (without it these lengths could not fit)",
)

LITGPT = Source(
    "LitGPT tutorials/resource-tables.md: Finetuning with LoRA on 1 GPU",
    "https://github.com/Lightning-AI/litgpt/blob/main/tutorials/resource-tables.md",
    "2023-10-20",
)
LITGPT_SETUP = (
    "1x A100-SXM4-40GB, bf16-true, Alpaca, finetune_lora defaults (r=8 on query and value), "
    "no activation checkpointing on one GPU; the first step runs the longest Alpaca example "
    "(1304 Llama 2 tokens), so the peak is at that length"
)
LITGPT_NOT_MODELLED = (
    "bf16-true: LoRA weights and AdamW moments in bf16 (the planner counts fp32; a few MB here)",
    "LitGPT's chunked LM head and 16-bit cross-entropy",
    "the peak is torch.cuda.max_memory_allocated() / 1e9",
)

PEFT_FSDP = Source(
    'PEFT docs: Fully Sharded Data Parallel, "Use PEFT QLoRA and FSDP for finetuning large '
    'models on multiple GPUs", Memory usage',
    "https://huggingface.co/docs/peft/accelerate/fsdp"
    "#use-peft-qlora-and-fsdp-for-finetuning-large-models-on-multiple-gpus",
    "2024-03-13 (huggingface/peft commit 6008f272a, PR #1550)",
)
PEFT_FSDP_SETUP = (
    "examples/sft/run_peft_qlora_fsdp.sh with configs/fsdp_config_qlora.yaml: accelerate FSDP, "
    "FULL_SHARD, TRANSFORMER_BASED_WRAP, BACKWARD_PRE prefetch, use_orig_params false, 2 "
    "processes; Llama-2-70b-hf in 4-bit NF4 with nested quantisation, quant storage and model "
    "dtype bf16; LoRA r=8 on all-linear; per-device batch 2, gradient accumulation 2, packed to "
    "2048 tokens, FlashAttention 2, gradient checkpointing (reentrant); the row is the "
    "docs' figure with CPU offloading disabled (the GPUs are not named: 35.6 GB does not fit "
    "the section's 2x 24 GB)"
)
PEFT_FSDP_NOT_MODELLED = (
    'the docs do not say how the 35.6 GB was measured; like their LoRA figure ("72-80 GB '
    '(90-98%)" of an 80 GB card) it is read as device memory and taken as GiB: as 10^9 bytes '
    "(33.2 GiB) the estimate would be 3% under instead of 10%",
    "the chatml special tokens resize the embeddings by a few rows",
)

ANSWER_AI = Source(
    "Answer.AI fsdp_qlora: Benchmarking QLoRA+FSDP (benchmarks_03_2024.md)",
    "https://github.com/AnswerDotAI/fsdp_qlora/blob/main/benchmarks_03_2024.md",
    "2024-05-03 (benchmarked February-March 2024)",
)
ANSWER_AI_STACK = "Answer.AI fsdp_qlora train.py (PyTorch FSDP, Transformers, PEFT, bitsandbytes)"
ANSWER_AI_SETUP = (
    "train.py with --train_type qlora (or lora), FSDP full shard of each decoder layer and LoRA "
    "layer, use_orig_params false, limit_all_gathers; its defaults of the time: LoRA r=64 on "
    'q, k, v, gate, up, down ("all"), precision bf16 (pure: LoRA weights and AdamW moments in '
    "bf16), dummy rows truncated to the context length; gradient checkpointing (the case "
    "studies pass --reentrant_checkpointing True); CPU offload off in these rows. Peak "
    "memory is torch.cuda.max_memory_reserved in GiB"
)
ANSWER_AI_HARDWARE_SETUP = (
    'the "Recommendations for Different Hardware Configurations" table (Llama-2 70B QLoRA, '
    "context length 2048, the fastest settings found for an effective batch of about 32, "
    "CPU and activation offload off in these rows); train.py's defaults as in the case "
    "studies (LoRA r=64 on q, k, v, gate, up, down; pure bf16), gradient checkpointing "
    "assumed on (a 70B model's activations at these batches could not fit without it)"
)
ANSWER_AI_THROUGHPUT = (
    "1,024 rows x 2,048 tokens (the table's note: its cost is for training 1,024 samples at "
    "2,048 tokens) / the table's time / GPUs"
)
ANSWER_AI_NOT_MODELLED = (
    "pure bf16: LoRA weights, gradients and AdamW moments take 8 bytes per trainable "
    "parameter, the planner counts 16 (fp32 weight, gradient and moments, as train.py keeps "
    "them)",
    "the LoRA pairs' shapes are approximated (attention h x h; Llama-2 70B's and Yi's k and v "
    "projections are 8x narrower with grouped-query attention)",
)
ANSWER_AI_HARDWARE_NOT_MODELLED = (
    *ANSWER_AI_NOT_MODELLED,
    "the table gives each setup's batch, not its peak: the need is only known to be under "
    "the card's memory",
    "the time may include loading and quantising the model, and the table does not restate "
    "its row count (1,024 is from its cost note)",
)

LLAMA2_70B = _known("meta-llama/Llama-2-70b-hf")
# 01-ai/Yi-34B's config.json: hidden 7168, 60 layers, vocabulary 64000, MLP 20480, 8 key/value
# heads; 34.39B parameters counted as known_models.shape_from_config does.
YI_34B = ModelShape(34.39, 7168, 60, 64000)
ANSWER_AI_LORA = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj")


def _answer_ai_70b(
    key: str,
    where: str,
    *,
    gpu: str,
    card_gib: float,
    gpus: int,
    batch: int,
    bound: float,
    gpu_key: str | None = None,
    seconds: float | None = None,
    throughput_bound: float | None = None,
) -> ReferenceRun:
    """One row of Answer.AI's hardware table: Llama-2 70B QLoRA, 2048 tokens, on `gpus` cards."""
    return ReferenceRun(
        key=key,
        source=ANSWER_AI,
        where=where,
        stack=ANSWER_AI_STACK,
        model="meta-llama/Llama-2-70b-hf",
        shape=LLAMA2_70B,
        method="qlora",
        rank=64,
        target_modules=ANSWER_AI_LORA,
        gpu=gpu,
        gpu_key=gpu_key,
        gpus=gpus,
        sharding="fsdp",
        batch_size=batch,
        grad_accum=max(1, 32 // (batch * gpus)),
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=card_gib,
        memory_kind="ran",
        memory_bound=bound,
        measured_tokens_per_s=None if seconds is None else 1024 * 2048 / seconds / gpus,
        throughput_bound=throughput_bound,
        setup=ANSWER_AI_HARDWARE_SETUP,
        throughput_from=ANSWER_AI_THROUGHPUT if seconds is not None else "",
        not_modelled=ANSWER_AI_HARDWARE_NOT_MODELLED,
    )


REFERENCE_RUNS: tuple[ReferenceRun, ...] = (
    ReferenceRun(
        key="qwen-1.8b-lora-2048",
        source=QWEN,
        where="1.8B, LoRA, sequence length 2048: 11.0G / 1.7 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-1_8B-Chat",
        shape=QWEN_1_8B,
        method="lora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=11.0,
        memory_kind="device",
        memory_bound=0.15,
        measured_tokens_per_s=8 * 2048 / 1.7,
        throughput_bound=1.6,
        setup=QWEN_SETUP,
        throughput_from=QWEN_THROUGHPUT,
        not_modelled=QWEN_NOT_MODELLED,
    ),
    ReferenceRun(
        key="qwen-7b-lora-2048",
        source=QWEN,
        where="7B, LoRA, sequence length 2048: 23.8G / 5.2 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-7B-Chat",
        shape=QWEN_7B,
        method="lora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=23.8,
        memory_kind="device",
        memory_bound=0.10,
        measured_tokens_per_s=8 * 2048 / 5.2,
        throughput_bound=1.3,
        setup=QWEN_SETUP,
        throughput_from=QWEN_THROUGHPUT,
        not_modelled=QWEN_NOT_MODELLED,
    ),
    ReferenceRun(
        key="qwen-7b-lora-8192",
        source=QWEN,
        where="7B, LoRA, sequence length 8192: 36.6G / 21.3 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-7B-Chat",
        shape=QWEN_7B,
        method="lora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=8192,
        grad_ckpt=True,
        measured_gib=36.6,
        memory_kind="device",
        memory_bound=0.15,
        measured_tokens_per_s=8 * 8192 / 21.3,
        throughput_bound=1.3,
        setup=QWEN_SETUP,
        throughput_from="8 rows x 8192 tokens per optimizer step / the table's s/it",
        not_modelled=QWEN_NOT_MODELLED,
    ),
    ReferenceRun(
        key="qwen-14b-lora-2048",
        source=QWEN,
        where="14B, LoRA, sequence length 2048: 37.4G / 8.4 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-14B-Chat",
        shape=QWEN_14B,
        method="lora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=37.4,
        memory_kind="device",
        memory_bound=0.15,
        measured_tokens_per_s=8 * 2048 / 8.4,
        throughput_bound=1.4,
        setup=QWEN_SETUP,
        throughput_from=QWEN_THROUGHPUT,
        not_modelled=QWEN_NOT_MODELLED,
    ),
    ReferenceRun(
        key="qwen-7b-qlora-2048",
        source=QWEN,
        where="7B, Q-LoRA, sequence length 2048: 13.9G / 7.0 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-7B-Chat-Int4",
        shape=QWEN_7B,
        method="qlora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=13.9,
        memory_kind="device",
        memory_bound=0.30,
        measured_tokens_per_s=8 * 2048 / 7.0,
        throughput_bound=1.3,
        setup=QWEN_SETUP,
        throughput_from=QWEN_THROUGHPUT,
        not_modelled=QWEN_QLORA_NOT_MODELLED,
    ),
    ReferenceRun(
        key="qwen-72b-qlora-2048",
        source=QWEN,
        where="72B, Q-LoRA, sequence length 2048: 64.1G / 59.5 s/it",
        stack=HF_PEFT,
        model="Qwen/Qwen-72B-Chat-Int4",
        shape=QWEN_72B,
        method="qlora",
        rank=64,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        gpu_key="A100 80GB",
        batch_size=1,
        grad_accum=8,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=64.1,
        memory_kind="device",
        memory_bound=0.20,
        measured_tokens_per_s=8 * 2048 / 59.5,
        throughput_bound=1.3,
        setup=QWEN_SETUP,
        throughput_from=QWEN_THROUGHPUT,
        not_modelled=QWEN_QLORA_NOT_MODELLED,
    ),
    ReferenceRun(
        key="torchtune-llama3.1-8b-lora-4090",
        source=TORCHTUNE,
        where="Llama 3.1 8B, LoRA, 1x 4090: 16.2 GiB, 3083 tokens/s",
        stack=TORCHTUNE_STACK,
        model="meta-llama/Llama-3.1-8B-Instruct",
        shape=LLAMA31_8B,
        method="lora",
        rank=8,
        target_modules=QUERY_VALUE,
        gpu="RTX 4090",
        gpu_key="RTX 4090",
        batch_size=2,
        grad_accum=1,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=16.2,
        memory_kind="allocated",
        memory_bound=0.45,
        measured_tokens_per_s=3083.0,
        throughput_bound=2.3,
        setup=TORCHTUNE_SETUP,
        throughput_from="stated (tokens/sec over one epoch)",
        not_modelled=TORCHTUNE_NOT_MODELLED,
    ),
    ReferenceRun(
        key="torchtune-llama3.1-8b-qlora-4090",
        source=TORCHTUNE,
        where="Llama 3.1 8B, QLoRA, 1x 4090: 7.4 GiB, 2413 tokens/s",
        stack=TORCHTUNE_STACK,
        model="meta-llama/Llama-3.1-8B-Instruct",
        shape=LLAMA31_8B,
        method="qlora",
        rank=8,
        target_modules=ALL_LINEAR,
        gpu="RTX 4090",
        gpu_key="RTX 4090",
        batch_size=2,
        grad_accum=1,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=7.4,
        memory_kind="allocated",
        memory_bound=1.15,
        measured_tokens_per_s=2413.0,
        throughput_bound=2.2,
        setup=TORCHTUNE_SETUP,
        throughput_from="stated (tokens/sec over one epoch)",
        not_modelled=(
            *TORCHTUNE_NOT_MODELLED,
            "torchao's NF4 keeps the embeddings and LM head in bf16 (no fp32 upcast)",
        ),
    ),
    ReferenceRun(
        key="llamafactory-llama2-7b-qlora-2048",
        source=LLAMA_FACTORY,
        where="FlashAttention2 row, length 2,048: 7GB, 2,741 TGS",
        stack=HF_PEFT,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="qlora",
        rank=8,
        target_modules=ALL_LINEAR,
        gpu="A100 40GB",
        gpu_key="A100 40GB",
        batch_size=1,
        grad_accum=4,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=7.0,
        memory_kind="device",
        memory_bound=0.20,
        measured_tokens_per_s=2741.0,
        throughput_bound=1.3,
        setup=LLAMA_FACTORY_SETUP,
        throughput_from="stated (TGS: tokens per GPU per second)",
        not_modelled=LLAMA_FACTORY_NOT_MODELLED,
    ),
    ReferenceRun(
        key="llamafactory-llama2-7b-qlora-8192",
        source=LLAMA_FACTORY,
        where="FlashAttention2 row, length 8,192: 12GB, 3,128 TGS",
        stack=HF_PEFT,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="qlora",
        rank=8,
        target_modules=ALL_LINEAR,
        gpu="A100 40GB",
        gpu_key="A100 40GB",
        batch_size=1,
        grad_accum=4,
        seq_len=8192,
        grad_ckpt=True,
        measured_gib=12.0,
        memory_kind="device",
        memory_bound=0.15,
        measured_tokens_per_s=3128.0,
        throughput_bound=1.4,
        setup=LLAMA_FACTORY_SETUP,
        throughput_from="stated (TGS: tokens per GPU per second)",
        not_modelled=LLAMA_FACTORY_NOT_MODELLED,
    ),
    ReferenceRun(
        key="unsloth-hf-llama3.1-8b-qlora-24gb",
        source=UNSLOTH,
        where="Llama 3.1 (8B) max. context length, 24 GB: Hugging Face + FA2 5,789",
        stack=HF_PEFT,
        model="meta-llama/Llama-3.1-8B-Instruct",
        shape=LLAMA31_8B,
        method="qlora",
        rank=32,
        target_modules=ALL_LINEAR,
        gpu="24 GB card",
        batch_size=1,
        grad_accum=1,
        seq_len=5789,
        grad_ckpt=True,
        measured_gib=24.0,
        memory_kind="capacity",
        memory_bound=0.15,
        setup=UNSLOTH_SETUP,
        not_modelled=UNSLOTH_NOT_MODELLED,
    ),
    ReferenceRun(
        key="unsloth-hf-llama3.1-8b-qlora-80gb",
        source=UNSLOTH,
        where="Llama 3.1 (8B) max. context length, 80 GB: Hugging Face + FA2 28,454",
        stack=HF_PEFT,
        model="meta-llama/Llama-3.1-8B-Instruct",
        shape=LLAMA31_8B,
        method="qlora",
        rank=32,
        target_modules=ALL_LINEAR,
        gpu="80 GB card",
        batch_size=1,
        grad_accum=1,
        seq_len=28454,
        grad_ckpt=True,
        measured_gib=80.0,
        memory_kind="capacity",
        memory_bound=0.25,
        setup=UNSLOTH_SETUP,
        not_modelled=UNSLOTH_NOT_MODELLED,
    ),
    ReferenceRun(
        key="unsloth-hf-llama3.3-70b-qlora-80gb",
        source=UNSLOTH,
        where="Llama 3.3 (70B) max. context length, 80 GB A100: Hugging Face + FA2 6,916",
        stack=HF_PEFT,
        model="meta-llama/Llama-3.3-70B-Instruct",
        shape=LLAMA33_70B,
        method="qlora",
        rank=32,
        target_modules=ALL_LINEAR,
        gpu="A100 80GB",
        batch_size=1,
        grad_accum=1,
        seq_len=6916,
        grad_ckpt=True,
        measured_gib=80.0,
        memory_kind="capacity",
        memory_bound=0.10,
        setup=UNSLOTH_SETUP,
        not_modelled=UNSLOTH_NOT_MODELLED,
    ),
    ReferenceRun(
        key="litgpt-llama2-7b-lora-mb1",
        source=LITGPT,
        where="7 B Llama 2, quantization None, microbatch 1: 21.30 GB",
        stack=LITGPT_STACK,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="lora",
        rank=8,
        target_modules=QUERY_VALUE,
        gpu="A100 40GB",
        batch_size=1,
        grad_accum=128,
        seq_len=1304,
        grad_ckpt=False,
        measured_gib=21.30 * GB_IN_GIB,
        memory_kind="allocated",
        memory_bound=0.15,
        setup=LITGPT_SETUP,
        not_modelled=LITGPT_NOT_MODELLED,
    ),
    ReferenceRun(
        key="litgpt-llama2-7b-lora-mb2",
        source=LITGPT,
        where="7 B Llama 2, quantization None, microbatch 2: 29.07 GB",
        stack=LITGPT_STACK,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="lora",
        rank=8,
        target_modules=QUERY_VALUE,
        gpu="A100 40GB",
        batch_size=2,
        grad_accum=64,
        seq_len=1304,
        grad_ckpt=False,
        measured_gib=29.07 * GB_IN_GIB,
        memory_kind="allocated",
        memory_bound=0.15,
        setup=LITGPT_SETUP,
        not_modelled=LITGPT_NOT_MODELLED,
    ),
    ReferenceRun(
        key="litgpt-llama2-7b-qlora-mb1",
        source=LITGPT,
        where="7 B Llama 2, quantization bnb.nf4, microbatch 1: 14.14 GB",
        stack=LITGPT_STACK,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="qlora",
        rank=8,
        target_modules=QUERY_VALUE,
        gpu="A100 40GB",
        batch_size=1,
        grad_accum=128,
        seq_len=1304,
        grad_ckpt=False,
        measured_gib=14.14 * GB_IN_GIB,
        memory_kind="allocated",
        memory_bound=0.30,
        setup=LITGPT_SETUP,
        not_modelled=(
            *LITGPT_NOT_MODELLED,
            "LitGPT's bnb.nf4 quantises the LM head too and keeps the embedding in bf16",
        ),
    ),
    ReferenceRun(
        key="litgpt-llama2-13b-lora-mb1",
        source=LITGPT,
        where="13 B Llama 2, quantization None, microbatch 1: 38.12 GB",
        stack=LITGPT_STACK,
        model="meta-llama/Llama-2-13b-hf",
        shape=LLAMA2_13B,
        method="lora",
        rank=8,
        target_modules=QUERY_VALUE,
        gpu="A100 40GB",
        batch_size=1,
        grad_accum=128,
        seq_len=1304,
        grad_ckpt=False,
        measured_gib=38.12 * GB_IN_GIB,
        memory_kind="allocated",
        memory_bound=0.15,
        setup=LITGPT_SETUP,
        not_modelled=LITGPT_NOT_MODELLED,
    ),
    ReferenceRun(
        key="peft-docs-llama2-70b-qlora-fsdp-2gpu",
        source=PEFT_FSDP,
        where='Memory usage: "When disabling CPU offloading, the GPU memory usage is 35.6 GB/ GPU"',
        stack=HF_PEFT,
        model="meta-llama/Llama-2-70b-hf",
        shape=LLAMA2_70B,
        method="qlora",
        rank=8,
        target_modules=ALL_LINEAR,
        gpu="GPU (not named)",
        gpus=2,
        sharding="fsdp",
        batch_size=2,
        grad_accum=2,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=35.6,
        memory_kind="device",
        memory_bound=0.25,
        setup=PEFT_FSDP_SETUP,
        not_modelled=PEFT_FSDP_NOT_MODELLED,
    ),
    ReferenceRun(
        key="answerai-yi-34b-qlora-fsdp-2x4090",
        source=ANSWER_AI,
        where="Yi 34B with Context Length of 2048, QLoRA, CPU Offload False, batch 2: 23.05 GiB",
        stack=ANSWER_AI_STACK,
        model="01-ai/Yi-34B",
        shape=YI_34B,
        method="qlora",
        rank=64,
        target_modules=ANSWER_AI_LORA,
        gpu="RTX 3090 / RTX 4090 (24 GB)",
        gpus=2,
        sharding="fsdp",
        batch_size=2,
        grad_accum=1,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=23.05,
        memory_kind="device",
        memory_bound=0.25,
        setup=ANSWER_AI_SETUP,
        not_modelled=ANSWER_AI_NOT_MODELLED,
    ),
    ReferenceRun(
        key="answerai-llama2-7b-qlora-fsdp-2x3090-b10",
        source=ANSWER_AI,
        where="Llama-2 7B with Context Length of 2048, QLoRA, batch 10: 20.97 GiB",
        stack=ANSWER_AI_STACK,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="qlora",
        rank=64,
        target_modules=ANSWER_AI_LORA,
        gpu="RTX 3090",
        gpus=2,
        sharding="fsdp",
        batch_size=10,
        grad_accum=1,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=20.97,
        memory_kind="device",
        memory_bound=0.15,
        setup=ANSWER_AI_SETUP,
        not_modelled=ANSWER_AI_NOT_MODELLED,
    ),
    ReferenceRun(
        key="answerai-llama2-7b-lora-fsdp-2x3090-b6",
        source=ANSWER_AI,
        where="Llama-2 7B with Context Length of 2048, LoRA, batch 6: 21.35 GiB",
        stack=ANSWER_AI_STACK,
        model="meta-llama/Llama-2-7b-hf",
        shape=LLAMA2_7B,
        method="lora",
        rank=64,
        target_modules=ANSWER_AI_LORA,
        gpu="RTX 3090",
        gpus=2,
        sharding="fsdp",
        batch_size=6,
        grad_accum=1,
        seq_len=2048,
        grad_ckpt=True,
        measured_gib=21.35,
        memory_kind="device",
        memory_bound=0.15,
        setup=ANSWER_AI_SETUP,
        not_modelled=ANSWER_AI_NOT_MODELLED,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-4xa5000",
        "A5000 24GB, 4 GPUs, batch 1: 4,829 s",
        gpu="A5000 24GB",
        card_gib=24.0,
        gpus=4,
        batch=1,
        bound=0.25,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-8xa5000",
        "A5000 24GB, 8 GPUs, batch 1: 2,613 s",
        gpu="A5000 24GB",
        card_gib=24.0,
        gpus=8,
        batch=1,
        bound=0.55,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-2xa6000ada",
        "A6000 Ada 48GB, 2 GPUs, batch 2: 5,867 s",
        gpu="RTX 6000 Ada 48GB",
        gpu_key="RTX 6000 Ada",
        card_gib=48.0,
        gpus=2,
        batch=2,
        seconds=5867.0,
        bound=0.35,
        throughput_bound=1.7,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-4xa6000ada",
        "A6000 Ada 48GB, 4 GPUs, batch 3: 2,904 s",
        gpu="RTX 6000 Ada 48GB",
        gpu_key="RTX 6000 Ada",
        card_gib=48.0,
        gpus=4,
        batch=3,
        seconds=2904.0,
        bound=0.55,
        throughput_bound=1.7,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-2xa100",
        "A100 40GB SMX, 2 GPUs, batch 1: 3,277 s",
        gpu="A100 40GB SXM",
        gpu_key="A100 40GB",
        card_gib=40.0,
        gpus=2,
        batch=1,
        seconds=3277.0,
        bound=0.30,
        throughput_bound=1.8,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-4xa100",
        "A100 40GB SMX, 4 GPUs, batch 4: 1,266 s",
        gpu="A100 40GB SXM",
        gpu_key="A100 40GB",
        card_gib=40.0,
        gpus=4,
        batch=4,
        seconds=1266.0,
        bound=0.30,
        throughput_bound=2.2,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-8xa100",
        "A100 40GB SMX, 8 GPUs, batch 4: 672 s",
        gpu="A100 40GB SXM",
        gpu_key="A100 40GB",
        card_gib=40.0,
        gpus=8,
        batch=4,
        seconds=672.0,
        bound=0.45,
        throughput_bound=2.1,
    ),
    _answer_ai_70b(
        "answerai-llama2-70b-qlora-fsdp-4xh100",
        "H100 80GB SXM, 4 GPUs, batch 8: 667 s",
        gpu="H100 80GB SXM",
        gpu_key="H100 SXM",
        card_gib=80.0,
        gpus=4,
        batch=8,
        seconds=667.0,
        bound=0.45,
        throughput_bound=1.4,
    ),
)
