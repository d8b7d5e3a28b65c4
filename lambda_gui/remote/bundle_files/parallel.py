"""What train.py needs when several processes train one job (docs/scale-out.md): which process
this is, FSDP's settings, how much of the base weights each process holds, and how the error of
a process that fails reaches the app.

Shipped next to train.py (stdlib only at import time, Python 3.8+); never imports lambda_gui.
`accelerate launch` (bootstrap.sh, launcher.py) starts one train.py per GPU with RANK,
LOCAL_RANK and WORLD_SIZE in the environment; without them this is the only process.

Failures: a process other than rank 0 that fails writes `error-rank-N.txt` (exit code, message,
traceback) before it exits. The launcher then stops the others (SIGTERM), or their next
collective operation fails; rank 0 reads the file and reports that process's error as the
job's (`peer_failure`), so the app sees the cause, not "cancelled" or a broken connection. When
rank 0 cannot report it either (killed), bootstrap.sh runs `train.py --report-rank-failure`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import protocol


def rank() -> int:
    """This process's rank among all of the job's processes (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's rank on its machine: the GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """How many training processes the launcher started (1 without one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on the process that writes files and logs (rank 0, or the only one)."""
    return rank() == 0


# --- FSDP -----------------------------------------------------------------------------------


def fsdp_config(quantization: str) -> dict[str, Any]:
    """TrainingArguments.fsdp_config for `sharding="fsdp"`: every parameter sharded over the
    processes (FULL_SHARD), one FSDP unit per decoder layer (FSDP2 keeps a layer's trainable
    LoRA parameters in its unit), and the adapter gathered whole on rank 0 at each save, so a
    checkpoint and output/ are the files PeftModel.from_pretrained loads.
    `cpu_ram_efficient_loading`: the model goes to the meta device before it is sharded and
    each process gets its shards from rank 0's weights, so no GPU ever holds the whole model.

    A 4-bit base (QLoRA) follows the FSDP-QLoRA recipe (bitsandbytes' docs "FSDP-QLoRA"; PEFT's
    examples/sft/configs/fsdp_config_qlora.yaml): FSDP1 with flat parameters, since FSDP2 loses
    the 4-bit weights' quantization state when it shards them (bitsandbytes issue 1945), the
    LoRA layers in units of their own (the Trainer's PEFT wrap policy: a flat parameter is all
    trainable or all frozen), and rank 0's weights broadcast to the others
    (`sync_module_states`)."""
    if quantization == "int4":
        return {
            "version": 1,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "reshard_after_forward": "full_shard",
            "use_orig_params": False,
            "sync_module_states": True,
            "cpu_ram_efficient_loading": True,
            "state_dict_type": "FULL_STATE_DICT",
        }
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": True,
        "cpu_ram_efficient_loading": True,
        "state_dict_type": "FULL_STATE_DICT",
    }


_fsdp_on_cpu = False  # allow_fsdp_on_cpu ran


def allow_fsdp_on_cpu() -> None:
    """Let accelerate run FSDP on CPU processes (gloo), as on GPUs.

    accelerate turns FSDP on only for accelerator devices: AcceleratorState.__init__ sets the
    distributed type to FSDP when it is MULTI_GPU (or NPU, XPU, ...), so on CPU a job asking for
    FSDP would silently train data-parallel, each process holding the whole model. torch's FSDP2
    itself runs on CPU over gloo. Used only where there is no CUDA GPU (the simulator's
    instances): after accelerate set its state up, a MULTI_CPU state with an FSDP plugin
    becomes FSDP, and everything after that (wrapping, saving, the optimizer) is accelerate's
    and the Trainer's own FSDP path. Calling it twice changes nothing."""
    global _fsdp_on_cpu
    if _fsdp_on_cpu:
        return
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    state_class: Any = AcceleratorState
    original = state_class.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        plugin = kwargs.get("fsdp_plugin")
        if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = plugin
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    state_class.__init__ = init
    _fsdp_on_cpu = True


@dataclass(frozen=True)
class WeightShare:
    """How much of the frozen base weights one process holds."""

    rank: int
    held_bytes: int
    total_bytes: int

    @property
    def percent(self) -> float:
        """The share held, in percent of the whole base."""
        return 100.0 * self.held_bytes / self.total_bytes if self.total_bytes else 0.0

    def sentence(self) -> str:
        """The log line, e.g. "Rank 0 holds 50.0% of the base weights (0.27 MB of 0.53 MB)."."""
        return (
            f"Rank {self.rank} holds {self.percent:.1f}% of the base weights "
            f"({size_text(self.held_bytes)} of {size_text(self.total_bytes)})."
        )


def base_weight_bytes(model: Any) -> int:
    """Bytes of the model's frozen parameters (the base weights; LoRA's are trainable), each
    shared tensor counted once. Call before sharding: it counts whole tensors."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)


def held_base_bytes(model: Any) -> int:
    """Bytes of the frozen parameters this process holds in memory now: an FSDP2 parameter
    (a DTensor) counts its local shard, an FSDP1 flat parameter is its local shard already,
    and a plain tensor counts whole."""
    held = 0
    for param in model.parameters():
        if param.requires_grad:
            continue
        local = param.to_local() if hasattr(param, "to_local") else param
        held += local.numel() * local.element_size()
    return held


def size_text(count: int) -> str:
    """Bytes in MB or GB, two significant decimals for small sizes."""
    if count >= 10**9:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.2f} MB" if count < 10**7 else f"{count / 1e6:.0f} MB"


def is_fsdp1(model: Any) -> bool:
    """Whether `model` is wrapped by FSDP1 (FullyShardedDataParallel)."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def generation_model(model: Any) -> tuple[Any, Any]:
    """(a context to generate in, the module whose generate() to call) for a trained model.

    FSDP2 gathers each unit's weights in its forward: generate on the model itself, every rank
    in step (synced_gpus). FSDP1's root unit gathers its own weights (embeddings, head) only in
    the root's forward, which generate() does not go through: gather those for the duration
    (recurse=False keeps the decoder layers sharded)."""
    import contextlib

    if is_fsdp1(model):
        from torch.distributed.fsdp import FullyShardedDataParallel

        context = FullyShardedDataParallel.summon_full_params(model, writeback=False, recurse=False)
        return context, model.module
    return contextlib.nullcontext(), model


# --- failures of one process ---------------------------------------------------------------


def rank_error_path(job_dir: Path, which: int) -> Path:
    """Where process `which` writes its error when it fails."""
    return job_dir / str(protocol.RANK_ERROR_PATTERN.format(rank=which))


def write_rank_error(job_dir: Path, code: int, message: str, trace: str) -> None:
    """This process failed: one JSON line (rank, world size, exit code, message), then the
    traceback, for rank 0."""
    path = rank_error_path(job_dir, rank())
    partial = path.with_name(path.name + ".tmp")
    head = {"rank": rank(), "world_size": world_size(), "exit_code": code, "message": message}
    partial.write_text(json.dumps(head) + "\n" + trace, encoding="utf-8")
    os.replace(partial, path)


@dataclass(frozen=True)
class PeerFailure:
    """The error another process of the job wrote before it exited."""

    rank: int
    world_size: int
    code: int
    message: str
    trace: str

    def sentence(self) -> str:
        """The job's error as the app shows it."""
        return f"Training process {self.rank} of {self.world_size} failed: {self.message}"


def peer_failure(job_dir: Path) -> PeerFailure | None:
    """The failure another process recorded (the one written first), or None."""
    found: list[tuple[float, PeerFailure]] = []
    for path in job_dir.glob(protocol.RANK_ERROR_PATTERN.format(rank="*")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            written = path.stat().st_mtime
            head_line, _, trace = text.partition("\n")
            head = json.loads(head_line)
            failure = PeerFailure(
                int(head["rank"]),
                int(head["world_size"]),
                int(head["exit_code"]),
                str(head["message"]),
                trace,
            )
        except (OSError, ValueError, TypeError, KeyError):
            continue  # unreadable: not a record this version wrote
        found.append((written, failure))
    if not found:
        return None
    return min(found, key=lambda item: (item[0], item[1].rank))[1]


def is_communication_error(exc: BaseException) -> bool:
    """Whether `exc` is what a collective operation raises when another process is gone."""
    import torch.distributed as dist

    kinds = tuple(
        kind
        for kind in (getattr(dist, "DistError", None), getattr(dist, "DistBackendError", None))
        if isinstance(kind, type)
    )
    if kinds and isinstance(exc, kinds):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        word in text for word in ("gloo", "Gloo", "NCCL", "Connection closed", "Connection reset")
    )
