"""Checks of a TrainingConfig, field by field, each failure naming the field and the fix.

Decisions recorded here:

- ``algorithm="qlora"`` with ``quantization="none"`` is accepted and trains on a 4-bit (nf4)
  base: QLoRA means a quantized base, so "none" there reads as "the default", int4.
  ``effective_quantization`` gives the quantization a job really uses. ``lora``/``dora``/
  ``rslora`` with int4/int8 are accepted too (the seed's own example is lora + int4).
- ``dataset_path`` is either a local .jsonl/.json/.csv file on the user's machine (uploaded by
  the services to ``data/`` in the job dir) or a Hub dataset written ``hf://org/name``
  (optionally ``?config=NAME&split=NAME``), loaded on the instance. See core.dataset_format.
- ``base_model`` is a Hub model id (``org/name``, or a bare legacy name such as ``gpt2``) when
  ``model_source="huggingface"``, or a folder path when ``model_source="local"``; whether that
  folder exists is the services' check, not this pure one.
- ``tracker_env`` holds settings and secrets for the tracker and the Hub; only names with the
  prefixes in TRACKER_ENV_PREFIXES are accepted, so it cannot set PATH, LD_PRELOAD or the like.
  ``tracker_secrets`` names secrets kept in the keyring instead (core/tracker_secrets.py); a
  tracker's required secret may be typed in ``tracker_env`` or named there.
- Every number has an upper bound (the MAX_* constants), far above any real run but low enough
  that no later arithmetic (the planner's floats, the trainer's seed) overflows: a value typed
  or loaded with hundreds of digits is a field error naming the allowed range. The seed's upper
  bound is numpy's (seeds are 32-bit).
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from typing import Any

from lambda_gui.core.dataset_format import (
    FILE_EXTENSIONS,
    FORMATS,
    DatasetFormatError,
    is_hub_path,
    parse_hub_path,
)
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import (
    ALGORITHMS,
    MODEL_SOURCES,
    QUANTIZATIONS,
    REPORT_TO,
    TrainingConfig,
)
from lambda_gui.core.tracker_secrets import is_secret_name

LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)
TRACKER_ENV_PREFIXES = ("WANDB_", "MLFLOW_", "HF_", "HUGGING_FACE_HUB_", "AWS_", "DATABRICKS_")
REQUIRED_TRACKER_ENV = {"wandb": ("WANDB_API_KEY",), "mlflow": ("MLFLOW_TRACKING_URI",)}
MAX_RANK = 1024
MAX_SEQ_LENGTH = 131072
MIN_SEQ_LENGTH = 16
MAX_ALPHA = 16 * MAX_RANK
MAX_STEPS = 10_000_000
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 4096
MAX_GRADIENT_ACCUMULATION = 1024
MAX_SEED = 2**32 - 1
MAX_WEIGHT_DECAY = 1.0
MAX_RUNTIME_MINUTES = 365 * 24 * 60
MAX_BUDGET_USD = 1_000_000
MAX_DIVERGENCE_RATIO = 1000
MAX_GRACE_MINUTES = 7 * 24 * 60
MAX_SAMPLES = 20
MAX_PROMPT_CHARS = 4000
MAX_SAMPLE_TOKENS = 1024
GGUF_TYPES = ("f16", "q8_0")
SHARDING_MODES = ("none", "fsdp")
_JOB_ID = re.compile(r"^[0-9a-f]{12}$")

_HUB_MODEL_ID = re.compile(
    r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
)
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FIELD_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")
# Values shown in messages: a 400-digit number or a deeply nested list is cut short, never
# printed whole (repr() of deep nesting would itself overflow the recursion limit).
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 2, 40, 24, 40


def effective_quantization(cfg: TrainingConfig) -> str:
    """The quantization a job trains with: "int4" for QLoRA left at "none", else as set."""
    if cfg.algorithm == "qlora" and cfg.quantization == "none":
        return "int4"
    return cfg.quantization


def validate_config(cfg: TrainingConfig) -> None:
    """Raise ConfigError for the first invalid field; return None when the config is usable."""
    _check_model(cfg)
    _check_method(cfg)
    _check_dataset(cfg)
    _check_schedule(cfg)
    _check_tracking(cfg)
    _check_after_training(cfg)
    _check_misc(cfg)


def config_errors(cfg: TrainingConfig) -> list[ConfigError]:
    """Every field error at once (the wizard marks them all), in field order."""
    errors: list[ConfigError] = []
    for check in (
        _check_model,
        _check_method,
        _check_dataset,
        _check_schedule,
        _check_tracking,
        _check_after_training,
        _check_misc,
    ):
        try:
            check(cfg)
        except ConfigError as exc:
            errors.append(exc)
    return errors


# --- groups of fields ----------------------------------------------------------------------


def _check_model(cfg: TrainingConfig) -> None:
    _choice(cfg.model_source, "model_source", MODEL_SOURCES)
    _text(cfg.base_model, "base_model", "Enter a model, e.g. meta-llama/Llama-3.2-1B.")
    model = cfg.base_model
    if cfg.model_source == "huggingface":
        if not _HUB_MODEL_ID.fullmatch(model) or ".." in model or "--" in model:
            raise ConfigError(
                "base_model",
                f"'{model}' is not a Hugging Face model id. Write it as org/name (letters, "
                "digits, '-', '_', '.'), e.g. meta-llama/Llama-3.2-1B, or choose model source "
                "'local' for a folder on this computer.",
            )
    elif "\x00" in model or "\n" in model:
        raise ConfigError("base_model", "The folder path contains a control character.")


def _check_method(cfg: TrainingConfig) -> None:
    _choice(cfg.algorithm, "algorithm", ALGORITHMS)
    _choice(cfg.quantization, "quantization", QUANTIZATIONS)
    rank = _integer(cfg.rank, "rank")
    if not 1 <= rank <= MAX_RANK:
        raise ConfigError("rank", f"must be between 1 and {MAX_RANK}; 8–64 is usual.")
    alpha = _number(cfg.alpha, "alpha")
    if not 0 < alpha <= MAX_ALPHA:
        raise ConfigError(
            "alpha",
            f"must be greater than 0 and at most {MAX_ALPHA:,}; twice the rank is a common choice.",
        )
    dropout = _number(cfg.dropout, "dropout")
    if not 0 <= dropout < 1:
        raise ConfigError("dropout", "must be at least 0 and below 1; 0.05 is usual.")
    modules = cfg.target_modules
    if not isinstance(modules, list) or not modules:
        raise ConfigError(
            "target_modules", "Name at least one module to adapt, e.g. q_proj and v_proj."
        )
    for name in modules:
        if not isinstance(name, str) or not (name == "all-linear" or _MODULE_NAME.fullmatch(name)):
            raise ConfigError(
                "target_modules",
                f"{_shown(name)} is not a module name. Use names such as q_proj, v_proj, "
                "self_attn.o_proj, or all-linear.",
            )
    if "all-linear" in modules and len(modules) > 1:
        raise ConfigError("target_modules", "all-linear already covers every linear layer alone.")
    if len(set(modules)) != len(modules):
        raise ConfigError("target_modules", "lists a module twice; remove the duplicate.")


def _check_dataset(cfg: TrainingConfig) -> None:
    path = _text(
        cfg.dataset_path,
        "dataset_path",
        "Choose a .jsonl, .json or .csv file, or a Hub dataset as hf://org/name.",
    )
    if is_hub_path(path):
        try:
            parse_hub_path(path)
        except DatasetFormatError as exc:
            raise ConfigError("dataset_path", str(exc)) from None
    elif not path.lower().endswith(FILE_EXTENSIONS):
        raise ConfigError(
            "dataset_path",
            "must be a .jsonl, .json or .csv file, or a Hub dataset written hf://org/name.",
        )
    elif "\x00" in path or "\n" in path:
        raise ConfigError("dataset_path", "The file path contains a control character.")
    if cfg.dataset_format is not None:
        _choice(cfg.dataset_format, "dataset_format", FORMATS)
    if cfg.text_field is not None:
        if not isinstance(cfg.text_field, str) or not _FIELD_NAME.fullmatch(cfg.text_field):
            raise ConfigError(
                "text_field", "must be the name of a column in the data (or left empty)."
            )
        if cfg.dataset_format not in (None, "text"):
            raise ConfigError(
                "text_field", "applies to the 'text' format only; clear it or pick 'text'."
            )
    split = _number(cfg.validation_split, "validation_split")
    if not 0 <= split <= 0.5:
        raise ConfigError(
            "validation_split", "must be between 0 and 0.5 (a fraction, e.g. 0.1 for 10%)."
        )
    length = _integer(cfg.max_seq_length, "max_seq_length")
    if not MIN_SEQ_LENGTH <= length <= MAX_SEQ_LENGTH:
        raise ConfigError(
            "max_seq_length",
            f"must be between {MIN_SEQ_LENGTH} and {MAX_SEQ_LENGTH} tokens; 512–4096 is usual.",
        )


def _check_schedule(cfg: TrainingConfig) -> None:
    lr = _number(cfg.learning_rate, "learning_rate")
    if not 0 < lr < 1:
        raise ConfigError(
            "learning_rate", "must be above 0 and below 1; LoRA usually uses 1e-5 to 5e-4."
        )
    epochs = _number(cfg.num_epochs, "num_epochs")
    steps = _integer(cfg.max_steps, "max_steps")
    if steps != -1 and not 1 <= steps <= MAX_STEPS:
        raise ConfigError(
            "max_steps",
            f"must be a number of steps from 1 to {MAX_STEPS:,}, or -1 to use epochs; got "
            f"{_shown(steps)}.",
        )
    if steps == -1 and not 0 < epochs <= MAX_EPOCHS:
        raise ConfigError(
            "num_epochs",
            f"must be above 0 (at most {MAX_EPOCHS}) when max_steps is -1; 1–3 is usual.",
        )
    if epochs < 0:
        raise ConfigError("num_epochs", "cannot be negative.")
    if epochs > MAX_EPOCHS:
        raise ConfigError("num_epochs", f"must be at most {MAX_EPOCHS}; 1–3 is usual.")
    for name, high in (
        ("batch_size", MAX_BATCH_SIZE),
        ("gradient_accumulation_steps", MAX_GRADIENT_ACCUMULATION),
        ("logging_steps", MAX_STEPS),
    ):
        value = _integer(getattr(cfg, name), name)
        if not 1 <= value <= high:
            raise ConfigError(name, f"must be from 1 to {high:,}; got {_shown(value)}.")
    for name, high in (("save_steps", MAX_STEPS), ("eval_steps", MAX_STEPS), ("seed", MAX_SEED)):
        value = _integer(getattr(cfg, name), name)
        if value < 0:
            raise ConfigError(name, "cannot be negative (0 turns it off / uses the default).")
        if value > high:
            raise ConfigError(name, f"must be from 0 to {high:,}; got {_shown(value)}.")
    warmup = _number(cfg.warmup_ratio, "warmup_ratio")
    if not 0 <= warmup < 1:
        raise ConfigError("warmup_ratio", "must be a fraction of the steps, at least 0, below 1.")
    decay = _number(cfg.weight_decay, "weight_decay")
    if decay < 0:
        raise ConfigError("weight_decay", "cannot be negative; 0 or 0.01 is usual.")
    if decay > MAX_WEIGHT_DECAY:
        raise ConfigError(
            "weight_decay", f"must be at most {MAX_WEIGHT_DECAY:g}; 0 or 0.01 is usual."
        )
    _choice(cfg.lr_scheduler, "lr_scheduler", LR_SCHEDULERS)


def _check_tracking(cfg: TrainingConfig) -> None:
    _choice(cfg.report_to, "report_to", REPORT_TO)
    env = cfg.tracker_env
    if not isinstance(env, dict):
        raise ConfigError("tracker_env", "must map variable names to values.")
    for key, value in env.items():
        _tracker_name(key)
        if not isinstance(value, str) or any(c in value for c in "\x00\r\n"):
            raise ConfigError("tracker_env", f"{key}'s value must be one line of text.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("tracker_env", f"{key}'s value is not valid text.") from None
    kept = cfg.tracker_secrets
    if not isinstance(kept, list):
        raise ConfigError("tracker_env", "The names of saved secrets must be a list.")
    for key in kept:
        _tracker_name(key)
        if not is_secret_name(key):
            raise ConfigError(
                "tracker_env", f"{key} is not a secret's name, so it is not kept in the keyring."
            )
    for key in REQUIRED_TRACKER_ENV.get(cfg.report_to, ()):
        if not env.get(key) and key not in kept:
            raise ConfigError(
                "tracker_env", f"Reporting to {cfg.report_to} needs {key}; enter it or choose none."
            )


def _tracker_name(key: object) -> None:
    if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
        raise ConfigError(
            "tracker_env", f"{_shown(key)} is not a variable name (capitals, digits and '_')."
        )
    if not key.startswith(TRACKER_ENV_PREFIXES):
        raise ConfigError(
            "tracker_env",
            f"{key} is not a tracker or Hub setting; names must start with "
            f"{', '.join(TRACKER_ENV_PREFIXES)}.",
        )


def _check_after_training(cfg: TrainingConfig) -> None:
    samples = _integer(cfg.samples, "samples")
    if not 0 <= samples <= MAX_SAMPLES:
        raise ConfigError("samples", f"must be 0 (off) to {MAX_SAMPLES}; 5 is usual.")
    prompts = cfg.sample_prompts
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise ConfigError("sample_prompts", "must be a list of prompts (text).")
    if len(prompts) > MAX_SAMPLES:
        raise ConfigError("sample_prompts", f"holds {len(prompts)} prompts; at most {MAX_SAMPLES}.")
    if any(not p.strip() or len(p) > MAX_PROMPT_CHARS for p in prompts):
        raise ConfigError(
            "sample_prompts",
            f"each prompt must hold some text and at most {MAX_PROMPT_CHARS:,} characters.",
        )
    tokens = _integer(cfg.sample_max_new_tokens, "sample_max_new_tokens")
    if not 1 <= tokens <= MAX_SAMPLE_TOKENS:
        raise ConfigError(
            "sample_max_new_tokens", f"must be 1 to {MAX_SAMPLE_TOKENS:,} tokens; 64 is usual."
        )
    if not isinstance(cfg.merge, bool):
        raise ConfigError("merge", "must be on or off.")
    if not isinstance(cfg.gguf, list) or any(g not in GGUF_TYPES for g in cfg.gguf):
        raise ConfigError("gguf", f"must name GGUF types among: {', '.join(GGUF_TYPES)}.")
    if len(set(cfg.gguf)) != len(cfg.gguf):
        raise ConfigError("gguf", "names a GGUF type twice.")
    if cfg.gguf and not cfg.merge:
        raise ConfigError(
            "gguf", "GGUF is converted from the merged model: turn on merging as well."
        )
    if cfg.sharding not in SHARDING_MODES:
        raise ConfigError(
            "sharding", f"{_shown(cfg.sharding)} is not one of: {', '.join(SHARDING_MODES)}."
        )
    if cfg.sharding == "fsdp" and effective_quantization(cfg) == "int8":
        raise ConfigError(
            "sharding",
            "8-bit base weights cannot be sharded with FSDP (bitsandbytes stores them as "
            "integers): choose QLoRA (4-bit) or no quantization, or turn sharding off.",
        )
    if cfg.resume_of is not None and (
        not isinstance(cfg.resume_of, str) or not _JOB_ID.fullmatch(cfg.resume_of)
    ):
        raise ConfigError("resume_of", f"{_shown(cfg.resume_of)} is not a job id.")


def _check_misc(cfg: TrainingConfig) -> None:
    _text(cfg.project_name, "project_name", "Enter a project name.")
    if len(cfg.project_name) > 128 or any(ord(c) < 32 for c in cfg.project_name):
        raise ConfigError("project_name", "must be one line of at most 128 characters.")
    _text(cfg.output_dir, "output_dir", "Enter an output folder name.")
    _text(cfg.resource_id, "resource_id", "Choose an instance type.")
    if cfg.provider != "lambda_labs":
        raise ConfigError("provider", f"{_shown(cfg.provider)} is not supported; use lambda_labs.")
    if cfg.bf16 is not None and not isinstance(cfg.bf16, bool):
        raise ConfigError("bf16", "must be on, off, or automatic.")
    for name in ("gradient_checkpointing", "use_chat_template"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(name, "must be on or off.")
    for name, high, unit in (
        ("max_runtime_minutes", MAX_RUNTIME_MINUTES, " minutes (a year)"),
        ("budget_usd", MAX_BUDGET_USD, " dollars"),
    ):
        value = getattr(cfg, name)
        if value is not None and not 0 < _number(value, name) <= high:
            raise ConfigError(
                name, f"must be more than 0 and at most {high:,}{unit}, or left empty for no limit."
            )
    for name in ("stop_on_divergence", "self_terminate"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(name, "must be on or off.")
    if not 1.0 < _number(cfg.divergence_ratio, "divergence_ratio") <= MAX_DIVERGENCE_RATIO:
        raise ConfigError(
            "divergence_ratio",
            f"must be above 1 and at most {MAX_DIVERGENCE_RATIO:,} (e.g. 2 = stop when the loss "
            "doubles its best).",
        )
    grace = _number(cfg.self_terminate_grace_minutes, "self_terminate_grace_minutes")
    if not 0 < grace <= MAX_GRACE_MINUTES:
        raise ConfigError(
            "self_terminate_grace_minutes",
            f"must be more than 0 and at most {MAX_GRACE_MINUTES:,} minutes (a week); 15 is a "
            "good value: a sleeping laptop stays silent a while.",
        )
    if not isinstance(cfg.extra, dict):
        raise ConfigError("extra", "must be a mapping of names to JSON values.")
    try:
        json.dumps(cfg.extra, allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigError("extra", "must hold only JSON values (text, numbers, lists).") from None
    except RecursionError:
        raise ConfigError(
            "extra", "is nested too deeply; keep it to a few levels of lists and mappings."
        ) from None


# --- value helpers ---------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """`value` as a short repr for a message."""
    return _SHORT.repr(value)


def _choice(value: Any, name: str, options: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in options:
        raise ConfigError(name, f"{_shown(value)} is not one of: {', '.join(options)}.")


def _text(value: Any, name: str, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(name, f"is empty. {fix}")
    return value.strip()


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be a whole number, got {_shown(value)}.")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"must be a number, got {_shown(value)}.")
    try:
        number = float(value)
    except OverflowError:
        # An int of hundreds of digits: no bound below could hold it.
        raise ConfigError(name, f"is far too large ({_shown(value)}).") from None
    if not math.isfinite(number):
        raise ConfigError(name, "must be a finite number.")
    return number
