"""Will a job fit on an instance type, how long will it take, and what will it cost?

Every number here is an estimate from a simple model, stated so a user can check it.

Memory, per GPU, in GiB (2^30 bytes):
  weights     params * bytes/param: 2 for fp16/bf16. A 4- or 8-bit base quantises only its
              linear layers, at 0.55 bytes/param for int4 (NF4 is 0.5 byte; the rest covers
              the quantisation constants) and 1 for int8 (LLM.int8); its embeddings and LM head
              stay unquantised, and PEFT's prepare_model_for_kbit_training (which train.py calls)
              casts them to fp32: 4 bytes/param on vocab * hidden * 2 parameters (an untied
              head assumed, which errs large for tied ones). For Llama 3.1 8B that is 3.9 of
              the 7.5 GiB an int4 base needs. QLoRA left at "none" loads 4-bit.
  adapter     LoRA parameters * 16 bytes: fp32 weight, fp32 gradient, Adam's two fp32 moments.
              A LoRA pair on a d_in x d_out matrix holds rank * (d_in + d_out) parameters;
              attention projections are taken as h x h, MLP projections as h x 3.5h.
  activations per layer 34 * batch * seq * hidden bytes in 16 bit: Korthikanti et al. 2022,
              "Reducing Activation Recomputation in Large Transformer Models", §4.1, without
              the 5*a*s/h attention-score term, which fused (SDPA / flash) attention does not
              store. With gradient checkpointing only each layer's input (2 * b*s*h bytes) is
              kept, plus one layer's full activations while it is recomputed. The logits add
              batch * seq * vocab * 12 bytes: transformers computes the loss in fp32, so the
              forward holds the bf16 logits, their fp32 copy and log-softmax's saved fp32
              output (2 + 4 + 4), and the backward that output, its gradient and the logits'
              fp32 gradient (4 + 4 + 4). This dominates for long sequences with large
              vocabularies. Published Hugging Face runs on older transformers, whose loss kept
              more fp32 copies, grew by 14-18 bytes per token per vocabulary entry
              (core/planner_references.py), so at tens of thousands of tokens the need can be
              up to ~15% above this.
  overhead    1 GiB of CUDA context and workspaces, plus 10% of the above for allocator
              fragmentation.
  usable      95% of the type's VRAM per GPU (ECC and driver reservations).
A job fits when the need is at most the usable VRAM of one GPU. On a multi-GPU type the job
bundle runs one train.py process per GPU (bootstrap.sh, `accelerate launch`), each on
`batch_size` rows. With sharding "none" (data-parallel) every GPU holds the whole model, so the
need per GPU is the same as on one GPU: more GPUs buy speed, not memory. With sharding "fsdp"
(TrainingConfig.sharding: FSDP full-shard through accelerate, the FSDP + QLoRA recipe) on
n > 1 GPUs, the need per GPU is:
  weights     all of the base weights / n, plus what FSDP holds whole at the peak: the root
              unit (embeddings, final norm and LM head, which FSDP does not reshard between
              forward and backward) and two decoder layers (the one computing and the one
              prefetched; FSDP's rate limiter, limit_all_gathers, lets no more be gathered at
              once). A 4-bit base keeps its embeddings and head in 16 bit here, 2 bytes, not
              fp32: the recipe stores the 4-bit weights in the 16-bit compute dtype
              (bnb_4bit_quant_storage) and loads the model in it, so that FSDP can flatten them
              with the rest, and leaves out prepare_model_for_kbit_training's fp32 upcast (TRL's
              SFTTrainer skips it on a sharded QLoRA model).
  adapter     / n: the LoRA weights, gradients and Adam moments are sharded as well (full
              shard; PEFT's fsdp_auto_wrap_policy wraps the trainable weights in units of their
              own).
  activations as on one GPU, at the per-GPU batch.
  overhead    as on one GPU; the 1 GiB also covers NCCL's buffers (NCCL_BUFFSIZE, 4 MiB per
              channel and peer by default: tens to a few hundred MiB).
FSDP on a one-GPU type shards nothing, nor does it shard an 8-bit base (bitsandbytes stores
LLM.int8 weights as integers, which FSDP cannot flatten; config_validation refuses the pair):
those plans are the unsharded ones, and their notes say so.

Time: an optimizer step takes batch_size * gradient_accumulation_steps rows on each GPU.
Training costs about 4 * params FLOPs per token with LoRA (forward 2N, backward through
the frozen weights 2N; LoRA's own gradients are negligible), 6N with gradient checkpointing
(the forward runs twice). Tokens per second = peak dense fp16/bf16 tensor TFLOPS of the GPU
(NVIDIA's data sheets, table below) * an assumed utilisation of 45% for Hugging Face Trainer +
PEFT, lower for models under 1B parameters, which keep the GPU less busy; a 4-bit base trains
at 0.8x that (dequantisation per matmul, mostly hidden behind matmuls of batch * seq rows),
int8 at 0.35x, DoRA at 0.75x; n GPUs run at 0.9 * n times one GPU (gradient all-reduce), and
sharded with FSDP at 0.9 of that again: every micro-batch all-gathers each base weight twice
(forward, and backward with its recomputation), mostly hidden behind the matmuls. The 0.9 is
the slower of Answer.AI's two FSDP-versus-DDP measurements on full PCIe 4.0 x16 lanes without
NVLink (Llama-2 7B on two RTX 4090s: QLoRA 466 s vs 450 s, 16-bit LoRA 481 s vs 437 s;
AnswerDotAI/fsdp_qlora benchmarks_03_2024.md); with NVLink (Lambda's SXM types) they found
training compute-bound, so there the estimate errs slow.
The 45% and the 0.8 are set from published runs (core/planner_references.py: Qwen's LoRA
profiles on an A100 reach 34-53% by this count, LLaMA-Factory's 4-bit runs 36-41%); the
median estimate there is within 1.1x, and the furthest (torchtune's compiled runs on an RTX
4090) 2x under. Attention's own FLOPs (about 6 * seq * hidden * layers per token, 15% at 8k
tokens for a 7B model) are left out. Tokens per step take the full sequence length unless an
average row length is given, so time is an upper bound there.

Under FSDP, held against published runs (core/planner_references.py): the PEFT docs' FSDP +
QLoRA recipe (Llama-2 70B on 2 GPUs) measured 35.6 GB per GPU, this model 32.1 GiB (-10%);
Answer.AI's Llama-2 70B QLoRA runs on 2, 4 and 8 GPUs of 24-80 GB each, which trained, are
all fits here; their measured FSDP peaks of smaller models land within -4% to +13%.

Held against published runs (core/planner_references.py), this model replaced an earlier one
that took int4 as 0.55 bytes for every parameter (embeddings included), the logits as 10
bytes, 30% utilisation and 0.6x for 4-bit training: that one put Hugging Face QLoRA runs of
Llama 3.x up to 30% under their measured memory, and every measured throughput 1.1-3.9x
above its estimate (median 1.95x; now 1.1x, and memory's median error 10.5% -> 8.6%).

Overhead time (billed, since Lambda bills from launch): boot 5 min on one GPU and 15 min on
several (docs/architecture.md#lambda-cloud-facts: 3-5 and 10-15 min), 3 min of environment
set-up, the model download at 150 MiB/s, and 1 min to pack and fetch the adapter.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_gui.core.billing import BillingTerms, pricing_info
from lambda_gui.core.config_validation import SHARDING_MODES
from lambda_gui.core.gpu_names import resource_gpu_name
from lambda_gui.core.known_models import ModelShape, guess_shape
from lambda_gui.core.models import PricingInfo, Resource, TrainingConfig

GIB = float(2**30)

WEIGHT_BYTES_PER_PARAM = {"none": 2.0, "int8": 1.0, "int4": 0.55}
UNQUANTIZED_BYTES_PER_PARAM = 4.0
ADAPTER_BYTES_PER_PARAM = 16.0
ACTIVATION_BYTES_FACTOR = 34.0
CHECKPOINT_BYTES_FACTOR = 2.0
LOGIT_BYTES = 12.0
CUDA_CONTEXT_GIB = 1.0
FRAGMENTATION = 0.10
USABLE_VRAM_FRACTION = 0.95

BASE_UTILISATION = 0.45
# A quantised base's slow-down where each matmul is a single row (decoding at batch 1, which
# after_training_plan times), and where it is batch * seq rows (training).
SPEED_FACTOR = {"none": 1.0, "int8": 0.35, "int4": 0.6}
TRAINING_SPEED_FACTOR = {"none": 1.0, "int8": 0.35, "int4": 0.8}
DORA_SPEED_FACTOR = 0.75
DATA_PARALLEL_EFFICIENCY = 0.9

# FSDP (sharding "fsdp" on more than one GPU; the module docstring says why each).
FSDP_UNQUANTIZED_BYTES_PER_PARAM = 2.0
FSDP_GATHERED_LAYERS = 2
FSDP_COMMUNICATION_FACTOR = 0.9

BOOT_SECONDS_SINGLE_GPU = 300.0
BOOT_SECONDS_MULTI_GPU = 900.0
SETUP_SECONDS = 180.0
DOWNLOAD_MIB_PER_SECOND = 150.0
FINISH_SECONDS = 60.0

_MLP_MODULES = frozenset({"gate_proj", "up_proj", "down_proj", "fc1", "fc2", "w1", "w2", "w3"})
_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class GpuSpec:
    """Peak dense fp16/bf16 tensor throughput of a GPU model, from NVIDIA's data sheets."""

    tflops: float
    bf16: bool = True


# Keys are gpu_names.normalize_gpu_name() results.
GPU_SPECS: dict[str, GpuSpec] = {
    "B200": GpuSpec(2250.0),
    "GH200": GpuSpec(989.0),
    "H200": GpuSpec(989.0),
    "H100 SXM": GpuSpec(989.0),
    "H100 PCIe": GpuSpec(756.0),
    "H100": GpuSpec(756.0),
    "A100 80GB": GpuSpec(312.0),
    "A100 40GB": GpuSpec(312.0),
    "L40S": GpuSpec(362.0),
    "RTX 6000 Ada": GpuSpec(364.0),
    "L40": GpuSpec(181.0),
    "A6000": GpuSpec(155.0),
    "A40": GpuSpec(150.0),
    "RTX 4090": GpuSpec(165.0),
    "A10": GpuSpec(125.0),
    "L4": GpuSpec(121.0),
    "A10G": GpuSpec(70.0),
    "RTX 3090": GpuSpec(71.0),
    # Turing and Volta have no bf16: training falls back to fp16 mixed precision.
    "RTX 6000": GpuSpec(130.0, bf16=False),
    "V100 16GB": GpuSpec(125.0, bf16=False),
    "V100 32GB": GpuSpec(125.0, bf16=False),
}
UNKNOWN_GPU = GpuSpec(125.0)


@dataclass(frozen=True)
class JobSize:
    """The parts of a job that decide its memory and time."""

    params_b: float
    algorithm: str = "lora"
    quantization: str = "none"
    rank: int = 16
    batch_size: int = 4
    seq_len: int = 512
    grad_ckpt: bool = False
    dataset_rows: int = 1000
    epochs: float = 1.0
    max_steps: int = -1
    grad_accum: int = 1
    validation_split: float = 0.0
    eval_steps: int = 0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    avg_tokens_per_row: float | None = None
    shape: ModelShape | None = None
    download_gib: float | None = None
    sharding: str = "none"

    @property
    def weight_quantization(self) -> str:
        """The precision the base weights load in: QLoRA left at "none" means 4-bit.

        The same rule as config_validation.effective_quantization, restated here so the planner
        also sizes jobs that have no TrainingConfig yet.
        """
        if self.algorithm == "qlora" and self.quantization == "none":
            return "int4"
        return self.quantization

    @property
    def model_shape(self) -> ModelShape:
        """The given shape, or one guessed from the parameter count."""
        return self.shape if self.shape is not None else guess_shape(self.params_b)

    @classmethod
    def from_config(
        cls,
        cfg: TrainingConfig,
        params_b: float,
        dataset_rows: int,
        shape: ModelShape | None = None,
        avg_tokens_per_row: float | None = None,
    ) -> JobSize:
        """The job size of a TrainingConfig."""
        return cls(
            params_b=params_b,
            algorithm=cfg.algorithm,
            quantization=cfg.quantization,
            rank=cfg.rank,
            batch_size=cfg.batch_size,
            seq_len=cfg.max_seq_length,
            grad_ckpt=cfg.gradient_checkpointing,
            dataset_rows=dataset_rows,
            epochs=cfg.num_epochs,
            max_steps=cfg.max_steps,
            grad_accum=cfg.gradient_accumulation_steps,
            validation_split=cfg.validation_split,
            eval_steps=cfg.eval_steps,
            target_modules=tuple(cfg.target_modules),
            avg_tokens_per_row=avg_tokens_per_row,
            shape=shape,
            sharding=cfg.sharding,
        )


@dataclass(frozen=True)
class Plan:
    """The estimate for one job on one instance type."""

    resource_name: str
    gpu_name: str | None
    gpu_count: int
    weight_quantization: str
    lora_params_m: float
    weights_gib: float
    adapter_gib: float
    activations_gib: float
    overhead_gib: float
    need_gib: float
    usable_gib: float
    fits: bool
    data_parallel: bool
    sharding: str  # "fsdp" when the job is sharded over this type's GPUs, else "none"
    steps: int
    tokens_per_step: int
    tokens_per_second: float
    train_seconds: float
    overhead_seconds: float
    total_seconds: float
    price_per_hour: float
    cost: float
    available: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def headroom_gib(self) -> float:
        """Usable VRAM left over (negative when the job does not fit)."""
        return self.usable_gib - self.need_gib


def lora_params(shape: ModelShape, rank: int, target_modules: Sequence[str]) -> float:
    """Trainable parameters of a LoRA adapter on the given modules of every layer."""
    modules = _ALL_LINEAR if list(target_modules) == ["all-linear"] else tuple(target_modules)
    h = float(shape.hidden_size)
    per_layer = 0.0
    for name in modules:
        width = 4.5 * h if name.split(".")[-1] in _MLP_MODULES else 2.0 * h
        per_layer += rank * width
    return per_layer * shape.num_layers


def shard_count(job: JobSize, gpu_count: int) -> int:
    """Over how many GPUs the base weights are split: the GPU count under FSDP, else 1 (also
    for an 8-bit base, which FSDP cannot shard: bitsandbytes stores it as integers)."""
    can_shard = job.sharding == "fsdp" and job.weight_quantization != "int8"
    return gpu_count if can_shard and gpu_count > 1 else 1


def weight_parts_gib(job: JobSize, sharded: bool = False) -> tuple[float, float]:
    """(embeddings and LM head, decoder layers) in GiB as the base loads: 16 bit, or the
    linear layers quantised and the embeddings and head in fp32 (bf16 when `sharded`)."""
    params = job.params_b * 1e9
    quantization = job.weight_quantization
    shape = job.model_shape
    embeddings = min(params, 2.0 * shape.vocab_size * shape.hidden_size)
    layers = params - embeddings
    if quantization == "none":
        per_param = WEIGHT_BYTES_PER_PARAM["none"]
        return embeddings * per_param / GIB, layers * per_param / GIB
    unquantized = FSDP_UNQUANTIZED_BYTES_PER_PARAM if sharded else UNQUANTIZED_BYTES_PER_PARAM
    return embeddings * unquantized / GIB, layers * WEIGHT_BYTES_PER_PARAM[quantization] / GIB


def base_weights_gib(job: JobSize, sharded: bool = False) -> float:
    """GiB of base weights: 16 bit, or quantised linear layers plus fp32 embeddings and head
    (bf16 under FSDP)."""
    return sum(weight_parts_gib(job, sharded))


def sharded_weights_gib(job: JobSize, shards: int) -> float:
    """Base weights per GPU under FSDP over `shards` GPUs: every weight / shards, plus the root
    unit (embeddings and head) and FSDP_GATHERED_LAYERS decoder layers held whole."""
    embeddings, layers = weight_parts_gib(job, sharded=True)
    per_layer = layers / max(1, job.model_shape.num_layers)
    gathered = min(layers, FSDP_GATHERED_LAYERS * per_layer)
    return (embeddings + layers) / shards + embeddings + gathered


def memory_gib(job: JobSize, gpu_count: int = 1) -> tuple[float, float, float, float, float]:
    """(weights, adapter, activations, overhead, need) in GiB per GPU, on `gpu_count` GPUs
    (which matters only under FSDP: see shard_count)."""
    shape = job.model_shape
    shards = shard_count(job, gpu_count)
    adapter = lora_params(shape, job.rank, job.target_modules) * ADAPTER_BYTES_PER_PARAM / GIB
    if shards > 1:
        weights = sharded_weights_gib(job, shards)
        adapter /= shards
    else:
        weights = base_weights_gib(job)
    tokens = float(job.batch_size * job.seq_len)
    per_layer = tokens * shape.hidden_size
    if job.grad_ckpt:
        layers = per_layer * (CHECKPOINT_BYTES_FACTOR * shape.num_layers + ACTIVATION_BYTES_FACTOR)
    else:
        layers = per_layer * ACTIVATION_BYTES_FACTOR * shape.num_layers
    logits = tokens * shape.vocab_size * LOGIT_BYTES
    activations = (layers + logits) / GIB
    overhead = CUDA_CONTEXT_GIB + FRAGMENTATION * (weights + adapter + activations)
    need = weights + adapter + activations + overhead
    return weights, adapter, activations, overhead, need


def total_steps(job: JobSize, gpu_count: int = 1) -> int:
    """Optimizer steps the Trainer will run (max_steps wins over epochs, as in HF Trainer).

    With n GPUs each process sees 1/n of the rows per epoch.
    """
    if job.max_steps > 0:
        return job.max_steps
    held_out = math.ceil(job.dataset_rows * job.validation_split) if job.validation_split else 0
    train_rows = max(0, job.dataset_rows - held_out)
    batches = math.ceil(train_rows / (max(1, job.batch_size) * max(1, gpu_count)))
    per_epoch = max(1, batches // max(1, job.grad_accum))
    return max(1, math.ceil(job.epochs * per_epoch))


def tokens_per_row(job: JobSize) -> float:
    """Tokens a row costs: its average length when known, else the full sequence length."""
    if job.avg_tokens_per_row is None:
        return float(job.seq_len)
    return min(float(job.seq_len), max(1.0, job.avg_tokens_per_row))


def tokens_per_second(job: JobSize, spec: GpuSpec, gpu_count: int = 1) -> float:
    """Estimated training throughput over `gpu_count` GPUs (see the module docstring)."""
    flops_per_token = (6.0 if job.grad_ckpt else 4.0) * job.params_b * 1e9
    utilisation = BASE_UTILISATION * min(1.0, math.sqrt(max(job.params_b, 0.01)))
    speed = TRAINING_SPEED_FACTOR[job.weight_quantization]
    if job.algorithm == "dora":
        speed *= DORA_SPEED_FACTOR
    if gpu_count > 1:
        speed *= gpu_count * DATA_PARALLEL_EFFICIENCY
    if shard_count(job, gpu_count) > 1:
        speed *= FSDP_COMMUNICATION_FACTOR
    return spec.tflops * 1e12 * utilisation * speed / flops_per_token


def _overhead_seconds(job: JobSize, gpu_count: int) -> float:
    boot = BOOT_SECONDS_SINGLE_GPU if gpu_count <= 1 else BOOT_SECONDS_MULTI_GPU
    download_gib = job.download_gib if job.download_gib is not None else job.params_b * 2e9 / GIB
    download = download_gib * 1024.0 / DOWNLOAD_MIB_PER_SECOND
    return boot + SETUP_SECONDS + download + FINISH_SECONDS


def _eval_seconds(job: JobSize, steps: int, train_tokens_per_s: float) -> float:
    if job.validation_split <= 0 or job.eval_steps <= 0:
        return 0.0
    val_rows = math.ceil(job.dataset_rows * job.validation_split)
    evals = steps // job.eval_steps
    # A forward pass costs about a third of a training step's 6N (or half of 4N).
    forward_share = 1.0 / 3.0 if job.grad_ckpt else 0.5
    return evals * val_rows * tokens_per_row(job) * forward_share / train_tokens_per_s


# A draft is planned before validation has had its say: a step count typed or loaded with
# hundreds of digits, inf, NaN or no number at all would overflow the float arithmetic below.
# Such values are brought within these bounds (name: low, high, stand-in when not a number):
# the estimate means little, but it stays finite while the field's error tells the user.
_PLAN_MAX_COUNT = 10**12
_PLAN_BOUNDS: dict[str, tuple[float, float, Any]] = {
    "params_b": (1e-6, 1e6, 1.0),
    "rank": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 16),
    "batch_size": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 4),
    "seq_len": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 512),
    "dataset_rows": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 1000),
    "epochs": (-1e12, 1e12, 1.0),
    "max_steps": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, -1),
    "grad_accum": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 1),
    "validation_split": (0.0, 1.0, 0.0),
    "eval_steps": (-_PLAN_MAX_COUNT, _PLAN_MAX_COUNT, 0),
    "avg_tokens_per_row": (0.0, 1e12, None),
    "download_gib": (0.0, 1e12, None),
}
_ENUM_DEFAULTS: dict[str, tuple[tuple[str, ...], str]] = {"sharding": (SHARDING_MODES, "none")}


def _bounded(value: object, low: float, high: float, stand_in: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return stand_in  # not a number, or NaN
    if isinstance(value, int):
        return max(int(low), min(int(high), value))
    return max(low, min(high, value))


def _plannable(job: JobSize) -> JobSize:
    """`job` with every number within what the planner's arithmetic can hold."""
    changes = {}
    for name, (low, high, stand_in) in _PLAN_BOUNDS.items():
        value = getattr(job, name)
        bounded = _bounded(value, low, high, stand_in)
        if bounded is not value and bounded != value:
            changes[name] = bounded
    for name, (allowed, stand_in) in _ENUM_DEFAULTS.items():
        if getattr(job, name) not in allowed:
            changes[name] = stand_in
    return dataclasses.replace(job, **changes) if changes else job


def plan_job(job: JobSize, resource: Resource, pricing: PricingInfo) -> Plan:
    """The plan for `job` on `resource` at `pricing`."""
    job = _plannable(job)
    notes: list[str] = []
    gpu_name = resource_gpu_name(resource)
    spec = GPU_SPECS.get(gpu_name or "")
    if spec is None:
        spec = UNKNOWN_GPU
        if resource.gpu_count > 0:
            notes.append(
                f"No throughput figure for GPU '{resource.gpu_type}'; assumed A10-class speed."
            )
    if resource.gpu_count > 0 and not spec.bf16:
        notes.append(f"{gpu_name} has no bf16: training uses fp16 mixed precision.")
    gpus = max(1, resource.gpu_count)
    shards = shard_count(job, resource.gpu_count)
    weights, adapter, activations, overhead, need = memory_gib(job, resource.gpu_count)
    usable = resource.vram_gb * USABLE_VRAM_FRACTION
    fits = resource.gpu_count > 0 and need <= usable
    if resource.gpu_count <= 0:
        notes.append("CPU-only instance type: LoRA training needs a GPU.")
    elif not fits:
        notes.append(
            f"Needs about {need:.1f} GiB per GPU; this type has {usable:.1f} GiB usable per GPU."
        )
    if shards > 1:
        whole = base_weights_gib(job, sharded=True)
        notes.append(
            f"Sharded with FSDP over {shards} GPUs: each holds 1/{shards} of the base weights "
            f"({whole:.1f} GiB in all), the embeddings and the layers being computed whole "
            f"({weights - whole / shards:.1f} GiB), and {job.batch_size} rows per micro-batch; "
            "gathering the weights costs about a tenth of the speed."
        )
    elif resource.gpu_count > 1:
        notes.append(
            f"Data-parallel over {resource.gpu_count} GPUs: each holds the whole model and "
            f"{job.batch_size} rows per micro-batch."
        )
    if job.sharding == "fsdp" and resource.gpu_count == 1:
        notes.append("FSDP needs more than one GPU: on this type the job runs unsharded.")
    elif job.sharding == "fsdp" and job.weight_quantization == "int8":
        notes.append(
            "FSDP cannot shard 8-bit base weights (bitsandbytes stores them as integers): "
            "planned unsharded; choose 4-bit or no quantization to shard."
        )
    if job.model_shape.guessed:
        notes.append("Model shape guessed from its size: the memory estimate is rougher.")
    steps = total_steps(job, gpus)
    per_row = tokens_per_row(job)
    tokens_per_step = int(round(job.batch_size * job.grad_accum * gpus * per_row))
    speed = tokens_per_second(job, spec, gpus)
    train_seconds = steps * tokens_per_step / speed
    train_seconds += _eval_seconds(job, steps, speed)
    overhead_seconds = _overhead_seconds(job, resource.gpu_count)
    total_seconds = train_seconds + overhead_seconds
    return Plan(
        resource_name=resource.name,
        gpu_name=gpu_name,
        gpu_count=resource.gpu_count,
        weight_quantization=job.weight_quantization,
        lora_params_m=lora_params(job.model_shape, job.rank, job.target_modules) / 1e6,
        weights_gib=weights,
        adapter_gib=adapter,
        activations_gib=activations,
        overhead_gib=overhead,
        need_gib=need,
        usable_gib=usable,
        fits=fits,
        data_parallel=resource.gpu_count > 1,
        sharding="fsdp" if shards > 1 else "none",
        steps=steps,
        tokens_per_step=tokens_per_step,
        tokens_per_second=speed,
        train_seconds=train_seconds,
        overhead_seconds=overhead_seconds,
        total_seconds=total_seconds,
        price_per_hour=pricing.price_per_hour,
        cost=pricing.cost_for(total_seconds),
        available=resource.available,
        notes=tuple(notes),
    )


def plan(
    params_b: float,
    algorithm: str,
    quantization: str,
    rank: int,
    batch_size: int,
    seq_len: int,
    grad_ckpt: bool,
    dataset_rows: int,
    resource: Resource,
    pricing: PricingInfo,
    *,
    epochs: float = 1.0,
    max_steps: int = -1,
    grad_accum: int = 1,
    validation_split: float = 0.0,
    eval_steps: int = 0,
    target_modules: Sequence[str] = ("q_proj", "v_proj"),
    avg_tokens_per_row: float | None = None,
    shape: ModelShape | None = None,
    sharding: str = "none",
) -> Plan:
    """The plan for a job given field by field (see JobSize for the fields)."""
    job = JobSize(
        params_b=params_b,
        algorithm=algorithm,
        quantization=quantization,
        rank=rank,
        batch_size=batch_size,
        seq_len=seq_len,
        grad_ckpt=grad_ckpt,
        dataset_rows=dataset_rows,
        epochs=epochs,
        max_steps=max_steps,
        grad_accum=grad_accum,
        validation_split=validation_split,
        eval_steps=eval_steps,
        target_modules=tuple(target_modules),
        avg_tokens_per_row=avg_tokens_per_row,
        shape=shape,
        sharding=sharding,
    )
    return plan_job(job, resource, pricing)


PricingOf = Callable[[Resource], PricingInfo]


def pricing_by_terms(terms: BillingTerms) -> PricingOf:
    """A pricing_of for recommend(): each type's own price under the same billing terms."""

    def pricing_of(resource: Resource) -> PricingInfo:
        return pricing_info(resource.name, resource.price_cents_per_hour, terms)

    return pricing_of


def plan_all(resources: Iterable[Resource], pricing_of: PricingOf, job: JobSize) -> list[Plan]:
    """Plans for every GPU type, cheapest first among those that fit and have capacity."""
    plans = [plan_job(job, r, pricing_of(r)) for r in resources if r.gpu_count > 0]
    return sorted(plans, key=lambda p: (not (p.fits and p.available), p.cost, p.resource_name))


def recommend(
    resources: Iterable[Resource], pricing_of: PricingOf, job: JobSize
) -> Resource | None:
    """The type with the lowest estimated total cost that fits the job and has capacity now."""
    pool = [r for r in resources if r.gpu_count > 0 and r.available]
    by_name = {r.name: r for r in pool}
    for candidate in plan_all(pool, pricing_of, job):
        if candidate.fits:
            return by_name[candidate.resource_name]
    return None
