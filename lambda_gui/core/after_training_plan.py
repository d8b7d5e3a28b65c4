"""What each after-training step adds to a job: instance time, dollars and bytes to download.

The steps run on the instance after training, before the app downloads and terminates it, so
every second of them is billed at the instance's price, the download included (the instance
waits for it). Like the planner's, every number here is a rough estimate from a stated model,
built on the planner's own figures: the model's parameter count P (JobSize.params_b * 1e9), its
layer count, the precision its base trained in, and the chosen type's price.

Samples (docs/after-training.md): train.py answers N prompts with the tuned model still in
GPU memory, then again with its adapter switched off: 2 * N * T greedy decode steps for T =
sample_max_new_tokens (an upper bound: an answer may stop early). Decoding one token at batch 1
reads every weight once, so it is bound by memory bandwidth:
    seconds per token = 2P / (bandwidth * 0.6) + layers * 0.4 ms + 5 ms
with bandwidth from NVIDIA's data sheets (GPU_BANDWIDTH_GB_S), 60% of it reached at batch 1,
0.4 ms per layer of kernel launches in eager PyTorch (LoRA adds its own), and 5 ms of
generate()'s own work per token. A 4- or 8-bit base is dequantised per matmul: the time is
divided by the planner's speed factor for that precision (0.6, 0.35). The prompts' prefill is
left out (a forward pass each: well under a second). Plus 5 s to set up (the prompt rows, the
first call). Nothing to download but samples.json (a few KB).

Merge: the base reloaded in 16 bit on the CPU and the adapter merged (2P bytes at ~1 GB/s),
saved as safetensors (2P bytes written at ~1 GB/s), packed by train.py's package() into a plain
tar (no gzip: it would save ~20% at ~15 MB/s; the tar is one more copy at disk speed), its sha256
(~1 GB/s), plus 15 s of imports and model building; then 2P bytes downloaded.

GGUF (from the merged model, so it needs the merge): llama.cpp's convert_hf_to_gguf.py, with
60 s once to fetch the converter and its gguf package, and 10 s per file to start it. f16
writes 2P bytes, converting ~250 MB of 16-bit weights a second; q8_0 writes P * 34/32 bytes
(blocks of 32 int8 weights and one 16-bit scale), quantising in numpy at ~120 MB/s of 16-bit
weights; then each file's sha256 (~1 GB/s) and its download.

Download: the app's transfer manages 120-200 MB/s on a tuned channel
(docs/architecture.md#library-facts), so this computer's link is the bound: 50 MB/s (a
400 Mbit/s line) is assumed. A slower line takes proportionally longer, and bills meanwhile.

Dollars are the seconds at the type's price per hour. The whole job is billed by the minute,
so the steps' share is this, give or take the rounding of the job's last minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lambda_gui.core.gpu_names import resource_gpu_name
from lambda_gui.core.models import PricingInfo, Resource, TrainingConfig
from lambda_gui.core.planner import SPEED_FACTOR, JobSize

GIB = float(2**30)

# Peak memory bandwidth per GPU in GB/s (NVIDIA's data sheets); keys as in planner.GPU_SPECS.
GPU_BANDWIDTH_GB_S: dict[str, float] = {
    "B200": 8000.0,
    "GH200": 4000.0,
    "H200": 4800.0,
    "H100 SXM": 3350.0,
    "H100 PCIe": 2000.0,
    "H100": 2000.0,
    "A100 80GB": 2039.0,
    "A100 40GB": 1555.0,
    "L40S": 864.0,
    "RTX 6000 Ada": 960.0,
    "L40": 864.0,
    "A6000": 768.0,
    "A40": 696.0,
    "RTX 4090": 1008.0,
    "A10": 600.0,
    "L4": 300.0,
    "A10G": 600.0,
    "RTX 3090": 936.0,
    "RTX 6000": 672.0,
    "V100 16GB": 900.0,
    "V100 32GB": 900.0,
}
UNKNOWN_BANDWIDTH_GB_S = 600.0  # A10-class, as the planner assumes for an unknown GPU

DECODE_BANDWIDTH_EFFICIENCY = 0.6
DECODE_SECONDS_PER_LAYER = 0.0004
DECODE_SECONDS_PER_TOKEN = 0.005
SAMPLES_SETUP_SECONDS = 5.0
SAMPLES_BYTES_PER_PROMPT = 4096  # samples.json: a prompt, two answers and a reference

WEIGHT_BYTES_16BIT = 2.0
Q8_0_BYTES_PER_WEIGHT = 34.0 / 32.0
MERGE_BYTES_PER_S = 1e9
DISK_WRITE_BYTES_PER_S = 1e9
PACK_BYTES_PER_S = 1e9  # a plain tar: one more copy at disk speed
SHA256_BYTES_PER_S = 1e9
MERGE_FIXED_SECONDS = 15.0
GGUF_SETUP_SECONDS = 60.0
GGUF_FIXED_SECONDS = 10.0
GGUF_CONVERT_BYTES_PER_S = {"f16": 250e6, "q8_0": 120e6}
DOWNLOAD_BYTES_PER_S = 50e6

GGUF_KINDS = ("f16", "q8_0")
DEFAULT_SAMPLES = 5  # TrainingConfig's default
# Beyond these, the inputs are out of range (their fields say so): the estimate stays finite.
_MAX_PARAMS = 1e15
_MAX_COUNT = 10**6


@dataclass(frozen=True)
class Machine:
    """What the estimates need of an instance type: its name, GPU bandwidth and price."""

    resource_name: str
    gpu_name: str | None
    bandwidth_gb_s: float
    price_per_hour: float

    @classmethod
    def of(cls, resource: Resource, pricing: PricingInfo) -> Machine:
        """The type's GPU bandwidth (A10-class when unknown) and its price."""
        gpu = resource_gpu_name(resource)
        bandwidth = GPU_BANDWIDTH_GB_S.get(gpu or "", UNKNOWN_BANDWIDTH_GB_S)
        return cls(resource.name, gpu, bandwidth, pricing.price_per_hour)

    def dollars(self, seconds: float) -> float:
        """The price of `seconds` on this type, pro rata."""
        return seconds * self.price_per_hour / 3600.0


@dataclass(frozen=True)
class StepEstimate:
    """One after-training step: billed seconds on the instance, their price, bytes fetched."""

    key: str  # "samples", "merge", "gguf_f16", "gguf_q8_0"
    title: str
    seconds: float
    dollars: float
    download_bytes: int
    resource_name: str


@dataclass(frozen=True)
class AfterTrainingPlan:
    """The after-training steps a config asks for, each with its estimate, and their sum."""

    steps: tuple[StepEstimate, ...]

    @property
    def seconds(self) -> float:
        """Billed seconds of every step together."""
        return sum(s.seconds for s in self.steps)

    @property
    def dollars(self) -> float:
        """Their price."""
        return sum(s.dollars for s in self.steps)

    @property
    def download_bytes(self) -> int:
        """Bytes the app downloads for them."""
        return sum(s.download_bytes for s in self.steps)


def _count(value: object) -> int:
    """A count from a draft value: 0 for anything but a number, bounded."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0
    return int(max(0, min(_MAX_COUNT, value)))


def _params(job: JobSize) -> float:
    p = job.params_b
    if not isinstance(p, (int, float)) or p != p or p <= 0:
        return 0.0
    return min(float(p) * 1e9, _MAX_PARAMS)


def _layers(job: JobSize) -> int:
    return max(1, min(_MAX_COUNT, job.model_shape.num_layers))


def _estimate(
    key: str, title: str, seconds: float, download: float, machine: Machine
) -> StepEstimate:
    return StepEstimate(
        key, title, seconds, machine.dollars(seconds), int(download), machine.resource_name
    )


def sample_count(cfg: TrainingConfig) -> int:
    """Prompts the instance answers: the typed ones (at most `samples`), else `samples` rows."""
    samples = _count(cfg.samples)
    prompts = cfg.sample_prompts if isinstance(cfg.sample_prompts, list) else []
    return min(samples, len(prompts)) if prompts else samples


def decode_seconds_per_token(job: JobSize, machine: Machine) -> float:
    """One greedy decode step at batch 1:
    (2P / (bandwidth * 0.6) + layers * 0.4 ms + 5 ms) / speed factor of the base's precision."""
    read = _params(job) * WEIGHT_BYTES_16BIT / (machine.bandwidth_gb_s * 1e9)
    seconds = read / DECODE_BANDWIDTH_EFFICIENCY
    seconds += _layers(job) * DECODE_SECONDS_PER_LAYER + DECODE_SECONDS_PER_TOKEN
    return seconds / SPEED_FACTOR.get(job.weight_quantization, 1.0)


def samples_estimate(
    job: JobSize, machine: Machine, prompts: int, max_new_tokens: int
) -> StepEstimate:
    """5 s + 2 models * prompts * max_new_tokens * decode_seconds_per_token; samples.json."""
    tokens = 2 * _count(prompts) * _count(max_new_tokens)
    seconds = SAMPLES_SETUP_SECONDS + tokens * decode_seconds_per_token(job, machine)
    download = _count(prompts) * SAMPLES_BYTES_PER_PROMPT
    return _estimate("samples", "Samples", seconds, download, machine)


def merged_bytes(job: JobSize) -> float:
    """The merged model's weights in 16 bit: 2P bytes."""
    return _params(job) * WEIGHT_BYTES_16BIT


def merge_estimate(job: JobSize, machine: Machine) -> StepEstimate:
    """15 s + 2P/1 GB/s (load, merge) + 2P/1 GB/s (save) + 2P/1 GB/s (tar) + 2P/1 GB/s
    (sha256) + 2P/50 MB/s (download); downloads 2P bytes."""
    size = merged_bytes(job)
    seconds = MERGE_FIXED_SECONDS + size / MERGE_BYTES_PER_S + size / DISK_WRITE_BYTES_PER_S
    seconds += size / PACK_BYTES_PER_S + size / SHA256_BYTES_PER_S
    seconds += size / DOWNLOAD_BYTES_PER_S
    return _estimate("merge", "Merge", seconds, size, machine)


def gguf_bytes(job: JobSize, kind: str) -> float:
    """A GGUF file's size: 2P bytes for f16, P * 34/32 for q8_0."""
    per_weight = Q8_0_BYTES_PER_WEIGHT if kind == "q8_0" else WEIGHT_BYTES_16BIT
    return _params(job) * per_weight


def gguf_estimate(job: JobSize, machine: Machine, kind: str, setup: bool = True) -> StepEstimate:
    """(60 s to fetch the converter, when `setup`) + 10 s + 2P / conversion rate (250 MB/s f16,
    120 MB/s q8_0) + size/1 GB/s (sha256) + size/50 MB/s (download); downloads its size.
    The merge it starts from is not included."""
    size = gguf_bytes(job, kind)
    rate = GGUF_CONVERT_BYTES_PER_S.get(kind, GGUF_CONVERT_BYTES_PER_S["q8_0"])
    seconds = (GGUF_SETUP_SECONDS if setup else 0.0) + GGUF_FIXED_SECONDS
    seconds += merged_bytes(job) / rate
    seconds += size / SHA256_BYTES_PER_S + size / DOWNLOAD_BYTES_PER_S
    return _estimate(f"gguf_{kind}", f"GGUF {kind}", seconds, size, machine)


def option_estimates(
    job: JobSize, machine: Machine, cfg: TrainingConfig, prompts_when_off: int = DEFAULT_SAMPLES
) -> dict[str, StepEstimate]:
    """Every option's estimate, chosen or not (what the wizard shows beside each): samples
    at the config's count and length (`prompts_when_off` when samples are off), merge, and
    each GGUF type on its own (with the converter's set-up, without the merge)."""
    prompts = sample_count(cfg) or prompts_when_off
    found = {
        "samples": samples_estimate(job, machine, prompts, _count(cfg.sample_max_new_tokens)),
        "merge": merge_estimate(job, machine),
    }
    for kind in GGUF_KINDS:
        found[f"gguf_{kind}"] = gguf_estimate(job, machine, kind)
    return found


def plan_after_training(job: JobSize, machine: Machine, cfg: TrainingConfig) -> AfterTrainingPlan:
    """The steps `cfg` asks for, in the order they run (samples, merge, GGUF), estimated;
    the converter is fetched once for all GGUF types."""
    steps: list[StepEstimate] = []
    prompts = sample_count(cfg)
    if prompts > 0:
        steps.append(samples_estimate(job, machine, prompts, _count(cfg.sample_max_new_tokens)))
    if cfg.merge is True:
        steps.append(merge_estimate(job, machine))
    kinds: Sequence[object] = cfg.gguf if isinstance(cfg.gguf, list) else []
    chosen = [k for k in GGUF_KINDS if k in kinds]
    for i, kind in enumerate(chosen):
        steps.append(gguf_estimate(job, machine, kind, setup=i == 0))
    return AfterTrainingPlan(tuple(steps))


def space_warnings(job: JobSize, resource: Resource, cfg: TrainingConfig) -> list[str]:
    """What the instance may lack for the merge and GGUF: RAM for the 16-bit base (merged on
    the CPU, 2P bytes + 10%) and disk for the base, the merged model, its archive and the
    GGUF files together."""
    if cfg.merge is not True:
        return []
    found: list[str] = []
    size = merged_bytes(job)
    ram = size * 1.1 / GIB
    if resource.memory_gib > 0 and ram > resource.memory_gib:
        found.append(
            f"The merge loads the base in 16 bit into the instance's memory: about {ram:,.0f} "
            f"GiB, and {resource.name} has {resource.memory_gib:,} GiB. Choose a type with more "
            "memory, or leave the merge off."
        )
    kinds = cfg.gguf if isinstance(cfg.gguf, list) else []
    disk = (3 * size + sum(gguf_bytes(job, k) for k in GGUF_KINDS if k in kinds)) / GIB
    if resource.storage_gib > 0 and disk > resource.storage_gib:
        found.append(
            f"The base, the merged model, its archive and the GGUF files need about "
            f"{math.ceil(disk):,} GiB of disk; {resource.name} has {resource.storage_gib:,} GiB."
        )
    return found
