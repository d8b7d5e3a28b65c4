"""The seed's public data types: TrainingConfig, JobStatus, Resource, PricingInfo, JobPhase."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lambda_gui.core.errors import ConfigError


class JobStatus(Enum):
    """The seed's job states; `.value` is the string the seed's API returned."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPhase(Enum):
    """The finer phases of a job's life (docs/architecture.md#phases), shown in the GUI."""

    QUEUED = "queued"
    PENDING = "pending"
    PROVISIONING = "provisioning"
    BOOTING = "booting"
    SETTING_UP = "setting_up"
    RUNNING = "running"
    # After training, still on the instance (docs/after-training.md): samples, then merge/GGUF.
    SAMPLING = "sampling"
    EXPORTING = "exporting"
    DOWNLOADING = "downloading"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def status(self) -> JobStatus:
        """The seed's coarser status for this phase."""
        return _PHASE_STATUS[self]

    @property
    def is_terminal(self) -> bool:
        """True once the job can change no more."""
        return self in (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED)


_PHASE_STATUS = {
    JobPhase.QUEUED: JobStatus.PENDING,
    JobPhase.PENDING: JobStatus.PENDING,
    JobPhase.PROVISIONING: JobStatus.PENDING,
    JobPhase.BOOTING: JobStatus.PENDING,
    JobPhase.SETTING_UP: JobStatus.RUNNING,
    JobPhase.RUNNING: JobStatus.RUNNING,
    JobPhase.SAMPLING: JobStatus.RUNNING,
    JobPhase.EXPORTING: JobStatus.RUNNING,
    JobPhase.DOWNLOADING: JobStatus.RUNNING,
    JobPhase.COMPLETED: JobStatus.COMPLETED,
    JobPhase.FAILED: JobStatus.FAILED,
    JobPhase.CANCELLED: JobStatus.CANCELLED,
}


@dataclass(frozen=True)
class Region:
    """A Lambda region code and its description."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Resource:
    """One Lambda instance type as the catalog shows it."""

    name: str
    gpu_type: str
    gpu_count: int
    vram_gb: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    hourly_rate: float
    available: bool
    regions: tuple[Region, ...] = ()
    description: str = ""

    @property
    def price_cents_per_hour(self) -> int:
        """The price as Lambda states it, in US cents per hour."""
        return round(self.hourly_rate * 100)

    @property
    def total_vram_gb(self) -> int:
        """VRAM over all GPUs."""
        return self.vram_gb * self.gpu_count


@dataclass(frozen=True)
class PricingInfo:
    """Price and billing terms of one instance type, with where the terms come from."""

    resource_id: str
    price_per_hour: float
    billing_increment_seconds: int
    minimum_charge_seconds: int
    currency: str = "USD"
    billing_source: str = ""
    billing_as_of: str = ""

    def cost_for(self, seconds: float) -> float:
        """Dollars billed for a run of `seconds`, by the increment and minimum."""
        billed = max(seconds, float(self.minimum_charge_seconds))
        inc = max(1, self.billing_increment_seconds)
        increments = -(-int(billed) // inc) if billed > 0 else 0
        return round(increments * inc / 3600.0 * self.price_per_hour, 6)


ALGORITHMS = ("lora", "qlora", "dora", "rslora")
QUANTIZATIONS = ("none", "int8", "int4")
MODEL_SOURCES = ("huggingface", "local")
REPORT_TO = ("none", "wandb", "mlflow", "tensorboard")


@dataclass(frozen=True)
class Sample:
    """One prompt answered by the base model and by the tuned one (greedy, same template)."""

    prompt: str
    base: str
    tuned: str
    reference: str | None = None  # the dataset's answer, when the prompt came from a row


@dataclass
class TrainingConfig:
    """Everything a fine-tuning job needs. The seed's fields come first; defaults are sane.

    Every user-entered value travels to the instance inside config.json, never on a command
    line (docs/architecture.md#on-the-instance).
    """

    base_model: str
    model_source: str = "huggingface"
    algorithm: str = "lora"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    quantization: str = "none"
    provider: str = "lambda_labs"
    resource_id: str = "gpu_1x_a10"
    dataset_path: str = ""
    project_name: str = "lambda-gui"
    output_dir: str = "output"
    # Beyond the seed:
    region: str | None = None
    learning_rate: float = 2e-4
    num_epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_seq_length: int = 512
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    validation_split: float = 0.0
    logging_steps: int = 1
    save_steps: int = 0
    eval_steps: int = 0
    seed: int = 42
    text_field: str | None = None
    dataset_format: str | None = None
    report_to: str = "none"
    tracker_env: dict[str, str] = field(default_factory=dict)
    # Names of tracker secrets whose values are in the OS keyring, not in this config
    # (core/tracker_secrets.py): what the job store and saved configs hold instead of values.
    tracker_secrets: list[str] = field(default_factory=list)
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    use_chat_template: bool = True
    # Limits (issue "never lose a dollar"): None = no limit.
    max_runtime_minutes: float | None = None
    budget_usd: float | None = None
    stop_on_divergence: bool = False
    divergence_ratio: float = 2.0
    # Opt-in: the API key goes onto the instance so it can terminate itself (see Settings).
    self_terminate: bool = False
    self_terminate_grace_minutes: float = 15.0
    # After training, on the instance before teardown (docs/after-training.md). Samples: this
    # many prompts answered by the base model and by the tuned one (0 = off); the prompts are
    # `sample_prompts` when given, else held-out validation rows, else the dataset's last rows.
    samples: int = 5
    sample_prompts: list[str] = field(default_factory=list)
    sample_max_new_tokens: int = 64
    # Opt-in exports: the adapter merged into the base weights (safetensors), and GGUF files
    # ("f16", "q8_0") converted from the merged model by llama.cpp's converter.
    merge: bool = False
    gguf: list[str] = field(default_factory=list)
    # Resume: the job whose last checkpoint (with optimizer, scheduler and RNG state) this
    # job continues from; its step numbers go on from there.
    resume_of: str | None = None
    # Scale-out (docs/scale-out.md): "none" runs data-parallel on a multi-GPU instance (each
    # GPU holds the whole model); "fsdp" shards the frozen base weights over the GPUs (FSDP
    # through accelerate), for models that do not fit one GPU.
    sharding: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> TrainingConfig:
        """Build from a dict, ignoring unknown keys; ConfigError naming `source` if unreadable."""
        # Older or newer config files carry keys this version does not know: ignored. Values
        # are checked by validate_config, except what would break before it could run: a
        # missing base model, and nesting deep enough to overflow asdict() or json.dumps().
        where = f" in {source}" if source else ""
        if not isinstance(data, Mapping):
            raise ConfigError(
                "config", f"The config{where} is {type(data).__name__}, not an object of fields."
            )
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "base_model" not in values:
            raise ConfigError("base_model", f"The config{where} names no base model.")
        for name, value in values.items():
            if _nested_deeper_than(value, MAX_CONFIG_NESTING):
                raise ConfigError(
                    name,
                    f"is nested more than {MAX_CONFIG_NESTING} levels deep{where}; a config "
                    "holds text, numbers and short lists. Fix or remove this field in the file.",
                )
        try:
            return cls(**values)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            raise ConfigError("config", f"The config{where} cannot be read ({exc}).") from None


# Config values nest a level or two (extra's JSON values); anything deeper is a broken or
# hostile file, and past about a thousand levels asdict() and json.dumps() overflow the stack.
MAX_CONFIG_NESTING = 32


def _nested_deeper_than(value: object, limit: int) -> bool:
    """True when lists/dicts nest more than `limit` levels in `value`; walked without
    recursion, so any depth is safe to check (a list holding itself counts as too deep)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth >= limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False
