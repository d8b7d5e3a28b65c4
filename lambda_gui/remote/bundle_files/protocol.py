"""The contract between the app and a job on the instance: the job dir's file names, the exit
codes, the status lines and config.json's schema, written down once for both sides.

Stdlib only, Python 3.8+: the bundle uploads this file next to train.py, which imports it as
`protocol`; the app imports it as `lambda_gui.remote.bundle_files.protocol`. bootstrap.sh and
the bundle's shell commands spell the same names in shell; the tests hold them to these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

BUNDLE_VERSION = 3

# Where the jobs live, relative to the login home: one dir per job id.
JOBS_ROOT = "lambda-gui/jobs"

# --- the job dir (names relative to it) -------------------------------------------------------

# Uploaded by the app.
CONFIG_FILE = "config.json"
BOOTSTRAP_FILE = "bootstrap.sh"
TRAIN_FILE = "train.py"
PROTOCOL_FILE = "protocol.py"
FORMAT_FILE = "dataset_format.py"
PARALLEL_FILE = "parallel.py"  # train.py's helpers for several processes (data-parallel, FSDP)
LAUNCHER_FILE = "launcher.py"  # accelerate launch's arguments, for bootstrap.sh and several nodes
DATA_DIR = "data"
MODEL_DIR = "model"
# Written on the instance.
STARTED_FILE = "started"
PID_FILE = "pid"
LOG_FILE = "train.log"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
OUTPUT_DIR = "output"
SUMMARY_FILE = "lgui_training.json"  # inside OUTPUT_DIR
ARTIFACT_FILE = "adapter.tar.gz"
ARTIFACT_SHA256_FILE = ARTIFACT_FILE + ".sha256"
ERROR_FILE = "error.txt"
# A training process other than rank 0 that fails writes its exit code, message and traceback
# here before it exits; rank 0 (or bootstrap.sh) reports it as the job's error.
RANK_ERROR_PATTERN = "error-rank-{rank}.txt"
# After training (optional steps, each packaged with its .sha256 next to it).
AFTER_TRAINING_FILE = "after_training.py"  # uploaded with train.py
GGUF_EXPORT_FILE = "gguf_export.py"  # uploaded with train.py: llama.cpp's converter, run
SAMPLES_FILE = "samples.json"  # {"samples": [{"prompt", "base", "tuned", "reference"}]}
MERGED_DIR = "merged"
# Not compressed: safetensors weights shrink ~20% under gzip, which runs at ~15 MB/s (an 8B
# model: 13 billed minutes); a plain tar costs nothing to write.
MERGED_ARTIFACT_FILE = "merged.tar"
RESUME_FILE = "resume.tar.gz"  # uploaded by the app: the checkpoint a resumed job continues
GGUF_FILE_PATTERN = "model-{kind}.gguf"  # kind: f16, q8_0
EXIT_CODE_FILE = "exit_code"  # written last: its first line is one of EXIT_CODES

# --- exit codes ---------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_TRAINING_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_GPU_UNUSABLE = 3  # bootstrap.sh
EXIT_SETUP_FAILED = 4  # bootstrap.sh
EXIT_INTERRUPTED = 130  # SIGINT
EXIT_CANCELLED = 143  # SIGTERM: the app's cancel command

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "completed",
    EXIT_TRAINING_FAILED: "training failed (see the log)",
    EXIT_BAD_INPUT: "the configuration or the dataset cannot be used (see the log)",
    EXIT_GPU_UNUSABLE: "the GPU is not usable (CUDA check failed)",
    EXIT_SETUP_FAILED: "setting up Python on the instance failed",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_CANCELLED: "cancelled",
}

# --- lines in train.log besides the trainer's own output ----------------------------------------

STATUS_MARKER = "LGUI_STATUS "  # + {"phase": ..., facts about it}
METRIC_MARKER = "LGUI_METRIC "  # + one metrics.jsonl record

# The phases of the status lines, in the order a job goes through them.
PHASE_SETTING_UP = "setting_up"  # bootstrap.sh; its "step": start, venv, install, cuda_check, ready
PHASE_STARTING = "starting"
PHASE_LOADING_MODEL = "loading_model"
PHASE_LOADING_DATASET = "loading_dataset"
PHASE_DATASET = "dataset"
PHASE_TRAINING = "training"
PHASE_CHECKPOINT = "checkpoint"
PHASE_EVALUATING = "evaluating"
PHASE_SAVING = "saving"
PHASE_PACKAGING = "packaging"
PHASE_SAMPLING = "sampling"  # after training: base and tuned answer the sample prompts
PHASE_EXPORTING = "exporting"  # after training: merge (and GGUF); its "step" says which
PHASE_COMPLETED = "completed"
PHASE_FAILED = "failed"  # train.py and bootstrap.sh, with "exit_code" and "error"

# --- what the app's status command prints (one line) --------------------------------------------

STATE_MISSING = "missing"  # no job dir
STATE_NOT_STARTED = "not-started"
STATE_STARTING = "starting"  # the start command ran, bootstrap.sh has not written pid yet
STATE_RUNNING = "running"
STATE_STOPPED = "stopped"  # the process is gone without writing exit_code
STATE_EXITED = "exit_code"  # followed by the code: "exit_code 0"

# --- config.json ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """What train.py reads from config.json, typed.

    config.json also records the user's other settings (provider, region, limits...), which
    mean nothing on the instance: `from_dict` ignores keys not named here, and rejects a
    missing key or a value of the wrong type.
    """

    # Job facts the app adds.
    bundle_version: int
    job_id: str
    gpu_count: int
    dataset_file: str | None  # relative to the job dir; None for a Hub dataset
    model_dir: str | None  # relative to the job dir; None for a Hub model
    effective_quantization: str  # "int4" for QLoRA left at "none", else `quantization`
    tracker_env_keys: list[str]  # names in the environment (values never enter config.json)
    resume_file: str | None  # relative to the job dir: the checkpoint archive to resume from
    # The user's settings.
    base_model: str
    algorithm: str
    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]
    quantization: str
    dataset_path: str
    dataset_format: str | None
    text_field: str | None
    use_chat_template: bool
    validation_split: float
    max_seq_length: int
    project_name: str
    learning_rate: float
    num_epochs: float
    max_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    warmup_ratio: float
    lr_scheduler: str
    weight_decay: float
    logging_steps: int
    save_steps: int
    eval_steps: int
    seed: int
    report_to: str
    bf16: bool | None
    gradient_checkpointing: bool
    samples: int
    sample_prompts: list[str]
    sample_max_new_tokens: int
    merge: bool
    gguf: list[str]
    sharding: str  # "none" (data-parallel) or "fsdp"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobConfig:
        """Check and build from config.json's object (ValueError saying what is wrong)."""
        if not isinstance(data, Mapping):
            raise ValueError("config.json must hold a JSON object.")
        names = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"config.json lacks {', '.join(missing)}.")
        values: dict[str, Any] = {
            field.name: _checked(field.name, str(field.type), data[field.name])
            for field in dataclasses.fields(cls)
        }
        if values["bundle_version"] != BUNDLE_VERSION:
            raise ValueError(
                f"config.json is for bundle version {values['bundle_version']}; this train.py "
                f"reads version {BUNDLE_VERSION}. Start the job again from the app."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready fields, as config.json holds them."""
        return dataclasses.asdict(self)


_KINDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "list[str]": "a list of strings",
}


def _checked(name: str, annotation: str, value: Any) -> Any:
    """`value` if it fits the field's annotation (ints pass as floats), else ValueError."""
    optional = annotation.endswith(" | None")
    kind = annotation[: -len(" | None")] if optional else annotation
    if kind not in _KINDS:
        raise TypeError(f"JobConfig.{name}: no check for the type {annotation}")
    if value is None and optional:
        return None
    if kind == "bool":
        fits = isinstance(value, bool)
    elif kind in ("int", "float"):
        allowed = int if kind == "int" else (int, float)
        fits = isinstance(value, allowed) and not isinstance(value, bool)
    elif kind == "str":
        fits = isinstance(value, str)
    else:
        fits = isinstance(value, list) and all(isinstance(item, str) for item in value)
    if not fits:
        nullable = " or null" if optional else ""
        raise ValueError(f"config.json: {name} must be {_KINDS[kind]}{nullable}, got {value!r}.")
    return list(value) if kind == "list[str]" else value
