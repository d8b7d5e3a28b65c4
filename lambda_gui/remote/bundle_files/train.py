#!/usr/bin/env python3
"""Fine-tune a causal LM with a LoRA-family adapter, as config.json in the job dir says.

Runs on the instance (never imports lambda_gui): `python3 train.py [JOB_DIR]`, or one process
per GPU under `accelerate launch` (bootstrap.sh, launcher.py): data-parallel, or FSDP when the
job asks for sharding; parallel.py says how the processes share the work (docs/scale-out.md).
Needs torch, transformers, peft, trl, datasets, accelerate (bitsandbytes for int4/int8; the
tracker's package for wandb/mlflow/tensorboard).
`python3 train.py --missing-requirements [JOB_DIR]` prints the pip specs still missing.

Writes into the job dir: metrics.jsonl (one JSON object per log event), output/ (adapter and
tokenizer), adapter.tar.gz + adapter.tar.gz.sha256, error.txt on failure, and exit_code last.
Prints `LGUI_STATUS {...}` and `LGUI_METRIC {...}` lines besides the trainer's own output.
Those names, the exit codes and config.json's schema come from protocol.py, shipped alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import shutil
import signal
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# Both shipped next to this file by the bundle. A type checker run on the package does not
# find them by these names, so it sees them as Any; tests/remote/test_protocol.py holds train.py
# and the app to the same protocol instead.
import after_training  # noqa: E402
import dataset_format as fmtlib  # noqa: E402
import gguf_export  # noqa: E402
import parallel  # noqa: E402
import protocol  # noqa: E402
from parallel import is_main_process, world_size  # noqa: E402
from protocol import JobConfig  # noqa: E402

# (import name, distribution, lowest version, first version not accepted)
Requirement = tuple[str, str, tuple[int, ...], tuple[int, ...]]
BASE_REQUIREMENTS: list[Requirement] = [
    ("transformers", "transformers", (4, 51), (6,)),
    ("peft", "peft", (0, 15), (1,)),
    ("trl", "trl", (0, 20), (2,)),
    ("datasets", "datasets", (3, 0), (6,)),
    ("accelerate", "accelerate", (1, 4), (2,)),
]
QUANT_REQUIREMENT: Requirement = ("bitsandbytes", "bitsandbytes", (0, 45), (1,))
# llama.cpp's converter (gguf_export.py): its Llama path imports sentencepiece, gguf-py yaml.
GGUF_REQUIREMENTS: list[Requirement] = [
    ("sentencepiece", "sentencepiece", (0, 1, 98), (0, 3)),
    ("yaml", "PyYAML", (5, 1), (7,)),
]
# FSDP as parallel.fsdp_config spells it (tested with transformers 5.24, accelerate 1.15 and
# torch 2.13): earlier releases spell its settings differently or lack FSDP2.
FSDP_REQUIREMENTS: list[Requirement] = [
    ("transformers", "transformers", (5, 24), (6,)),
    ("accelerate", "accelerate", (1, 15), (2,)),
]
TRACKER_REQUIREMENTS: dict[str, Requirement] = {
    "wandb": ("wandb", "wandb", (0, 18), (1,)),
    "mlflow": ("mlflow", "mlflow", (2, 16), (4,)),
    "tensorboard": ("tensorboard", "tensorboard", (2, 16), (3,)),
}
UNSLOTH_ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# An unsharded job's checkpoint keeps optimizer.pt, scheduler.pt, rng_state*.pth and
# trainer_state.json: what Trainer needs to resume exactly (the app's "Resume"); a sharded
# job's keeps the adapter and trainer_state.json. training_args.bin is a pickle.
CHECKPOINT_SKIP = ("training_args.bin",)
# Set by tests only (tests/remote/test_train_parallel.py): "R:S" makes training process R raise
# after step S, to check that one process's failure ends the whole job with its error.
TEST_FAULT_VAR = "LGUI_TEST_FAIL_AT"


class JobInputError(Exception):
    """The config, data or machine cannot run this job; the message says what to change."""


class Cancelled(Exception):
    """SIGTERM or SIGINT arrived (the app cancelled the job)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")


# --- small helpers -----------------------------------------------------------------------


def library(name: str) -> Any:
    """Import a training library as an untyped module: this script runs against a range of
    versions of each, so it is written against what they do, not one version's stubs."""
    return importlib.import_module(name)


def say(message: str) -> None:
    """One plain line in the log, from the main process only."""
    if is_main_process():
        print(message, flush=True)


def status(phase: str, **data: Any) -> None:
    """One `LGUI_STATUS {json}` line: the job's phase and facts about it."""
    if is_main_process():
        print(protocol.STATUS_MARKER + json.dumps({"phase": phase, **data}), flush=True)


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the whole new content."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def version_tuple(text: str) -> tuple[int, ...]:
    """(2, 13, 0) from "2.13.0+cpu" or "1.0.0rc1"."""
    parts: list[int] = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def load_config(job_dir: Path) -> JobConfig:
    """config.json of the job, as the app wrote it, checked."""
    path = job_dir / protocol.CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobInputError(f"{path} is missing: the job bundle was not uploaded.") from None
    except ValueError as exc:
        raise JobInputError(f"{path} is not valid JSON ({exc}).") from None
    try:
        return JobConfig.from_dict(data)
    except ValueError as exc:
        raise JobInputError(f"{path} cannot be used: {exc}") from None


# --- requirements (bootstrap.sh asks before training) --------------------------------------


def requirements(config: JobConfig) -> list[Requirement]:
    """Every package this job needs, with its accepted version range."""
    needed = list(BASE_REQUIREMENTS)
    if config.effective_quantization in ("int4", "int8"):
        needed.append(QUANT_REQUIREMENT)
    tracker = TRACKER_REQUIREMENTS.get(config.report_to)
    if tracker:
        needed.append(tracker)
    if config.gguf:
        needed.extend(GGUF_REQUIREMENTS)
    if config.sharding == "fsdp" and config.gpu_count > 1:
        needed.extend(FSDP_REQUIREMENTS)
    return needed


def pip_spec(dist: str, low: tuple[int, ...], high: tuple[int, ...]) -> str:
    """A pip requirement string such as "trl>=0.20,<2"."""
    return f"{dist}>={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"


def missing_requirements(config: JobConfig) -> list[str]:
    """pip specs of the packages that are absent or outside their accepted range."""
    missing: list[str] = []
    for module, dist, low, high in requirements(config):
        if importlib.util.find_spec(module) is None:
            missing.append(pip_spec(dist, low, high))
            continue
        try:
            installed = version_tuple(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            continue  # importable without metadata (a distro package): accept it
        if not (low <= installed < high):
            missing.append(pip_spec(dist, low, high))
    return missing


# --- model -----------------------------------------------------------------------------------


def model_source(config: JobConfig, job_dir: Path) -> str:
    """Where the base model loads from: the uploaded model/ folder or a Hub id."""
    if config.model_dir:
        path = job_dir / config.model_dir
        # A Hugging Face model folder's own config.json, not the job's.
        if not (path / "config.json").is_file():
            raise JobInputError(
                f"The local model was not found in {path} (no config.json): upload the model "
                "folder again."
            )
        return str(path)
    hub_id: str = config.base_model
    return hub_id


def unsloth_choice(config: JobConfig, cuda: bool) -> tuple[bool, str]:
    """Whether to train with Unsloth, and the line that explains a fallback to PEFT."""
    if not config.base_model.lower().startswith("unsloth/"):
        return False, ""
    if config.model_dir:
        return False, ""
    if config.algorithm == "dora":
        return False, "Unsloth does not train DoRA adapters: training with PEFT instead."
    if not cuda:
        return False, "Unsloth needs a CUDA GPU: training with PEFT instead."
    if world_size() > 1:
        return False, "Unsloth trains on one GPU: training with PEFT on all GPUs instead."
    if importlib.util.find_spec("unsloth") is None:
        return False, "Unsloth is not installed here: training with PEFT instead."
    try:
        import unsloth  # noqa: F401  (must come before transformers to patch it)
    except Exception as exc:  # Unsloth fails in many ways on unsupported set-ups
        return False, f"Unsloth cannot be used here ({exc}): training with PEFT instead."
    return True, "Training with Unsloth."


def precision(config: JobConfig, cuda: bool, bf16_ok: bool) -> str:
    """ "bf16", "fp16" or "fp32": bf16 where the GPU has it, fp32 on CPU or when turned off."""
    wanted = config.bf16
    if not cuda:
        if wanted:
            say("bf16 was asked for but there is no CUDA GPU here: training in fp32.")
        return "fp32"
    if wanted is False:
        return "fp32"
    if bf16_ok:
        return "bf16"
    if wanted:
        say("This GPU has no bf16 support: training in fp16 mixed precision instead.")
    return "fp16"


def check_quantization(quant: str, cuda: bool) -> None:
    """Fail early, with the fix, when int4/int8 cannot work on this machine."""
    if quant not in ("int4", "int8"):
        return
    if not cuda:
        raise JobInputError(
            f"Quantization {quant} (QLoRA) needs an NVIDIA GPU with bitsandbytes; this machine "
            "has no CUDA GPU. Choose quantization none with LoRA, or run on a GPU instance."
        )
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:
        raise JobInputError(
            f"bitsandbytes cannot be loaded ({exc}); it is needed for {quant} quantization. "
            "Choose quantization none, or check the CUDA set-up of the instance."
        ) from None


def sharded(config: JobConfig) -> bool:
    """Whether this job shards its base weights over its processes (FSDP)."""
    return bool(config.sharding == "fsdp" and world_size() > 1)


def check_sharding(config: JobConfig, quant: str) -> None:
    """Say how the processes share the job; refuse what FSDP cannot shard."""
    count = world_size()
    if count == 1:
        if config.sharding == "fsdp":
            say("Sharding (FSDP) was asked for, but this job runs in one process: not sharding.")
        return
    if config.sharding != "fsdp":
        say(
            f"Data-parallel over {count} processes: each holds the whole model and trains on "
            "its share of every batch; rank 0 logs and saves."
        )
        return
    if quant == "int8":
        raise JobInputError(
            "8-bit base weights cannot be sharded with FSDP (bitsandbytes stores them as "
            "integers). Choose QLoRA (4-bit) or no quantization with sharding, or turn "
            "sharding off."
        )
    say(
        f"FSDP over {count} processes: the base weights are sharded (FULL_SHARD), each process "
        "trains on its share of every batch; the adapter is gathered on rank 0 to be saved."
    )


def quiet_other_processes() -> None:
    """Only rank 0 shows the libraries' progress bars and warnings: every process would print
    the same ones. Errors are still printed by each (see fail)."""
    if is_main_process():
        return
    import warnings

    warnings.filterwarnings("ignore")
    library("datasets").disable_progress_bars()
    logging = library("transformers").utils.logging
    logging.set_verbosity_error()
    logging.disable_progress_bar()


def check_tracker_env(config: JobConfig) -> None:
    """Every tracker setting the app sent (by name in config.json) is in the environment;
    the values came on the start command's stdin and are never printed."""
    missing = [name for name in config.tracker_env_keys if not os.environ.get(name)]
    if missing:
        raise JobInputError(
            f"The tracker settings {', '.join(missing)} did not reach the training process; "
            "start the job again from the app."
        )
    if config.tracker_env_keys:
        say(f"Tracker settings in the environment: {', '.join(config.tracker_env_keys)}.")


def dtype_kwargs(prec: str) -> dict[str, Any]:
    """from_pretrained's dtype argument for `prec` (named torch_dtype before transformers 4.56)."""
    import torch

    transformers = library("transformers")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[prec]
    dtype_key = "dtype" if version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
    return {dtype_key: dtype}


def load_model_peft(config: JobConfig, source: str, quant: str, prec: str) -> Any:
    """The base model with a PEFT adapter (LoRA / DoRA / rsLoRA, quantized base for QLoRA)."""
    import torch

    transformers = library("transformers")
    peft = library("peft")
    kwargs = dtype_kwargs(prec)
    dtype_key, dtype = next(iter(kwargs.items()))
    shard = sharded(config)
    if quant in ("int4", "int8"):
        compute = dtype if prec != "fp32" else torch.float16
        if quant == "int4":
            # FSDP-QLoRA (parallel.fsdp_config): the 4-bit weights stored in the compute dtype,
            # which the whole model is loaded in, so that FSDP can shard them like the rest.
            storage = {"bnb_4bit_quant_storage": compute} if shard else {}
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute,
                **storage,
            )
        else:
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(load_in_8bit=True)
        if shard:
            kwargs[dtype_key] = compute  # FSDP moves each process's shard to its GPU
        else:
            kwargs["device_map"] = {"": parallel.local_rank()}
    model = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
    gradient_checkpointing = config.gradient_checkpointing
    quantized = bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
    )
    if quantized and not shard:
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
    elif quantized and gradient_checkpointing:
        # prepare_model_for_kbit_training would cast the norms to fp32, and FSDP shards only
        # units of one dtype; checkpointing still needs inputs that require grad.
        model.enable_input_require_grads()
    modules = list(config.target_modules)
    lora = peft.LoraConfig(
        r=config.rank,
        lora_alpha=float(config.alpha),
        lora_dropout=float(config.dropout),
        target_modules="all-linear" if modules == ["all-linear"] else modules,
        bias="none",
        task_type="CAUSAL_LM",
        use_dora=config.algorithm == "dora",
        use_rslora=config.algorithm == "rslora",
    )
    try:
        model = peft.get_peft_model(model, lora)
    except ValueError as exc:
        raise JobInputError(
            f"The adapter cannot be attached ({exc}). Check target_modules against the model's "
            "layer names (e.g. q_proj, v_proj for Llama-style models), or use all-linear."
        ) from None
    return model


def load_model_unsloth(config: JobConfig, source: str, quant: str) -> tuple[Any, Any]:
    """Model and tokenizer through Unsloth's FastLanguageModel."""
    fast_language_model = library("unsloth").FastLanguageModel
    model, tokenizer = fast_language_model.from_pretrained(
        model_name=source,
        max_seq_length=config.max_seq_length,
        dtype=None,
        load_in_4bit=quant == "int4",
        load_in_8bit=quant == "int8",
    )
    modules = list(config.target_modules)
    model = fast_language_model.get_peft_model(
        model,
        r=config.rank,
        target_modules=UNSLOTH_ALL_LINEAR if modules == ["all-linear"] else modules,
        lora_alpha=float(config.alpha),
        lora_dropout=float(config.dropout),
        bias="none",
        use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False,
        random_state=config.seed,
        use_rslora=config.algorithm == "rslora",
    )
    return model, tokenizer


def load_tokenizer(source: str) -> Any:
    """The model's tokenizer, with a pad token (eos when it has none) and right padding."""
    try:
        tokenizer = library("transformers").AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise JobInputError(
            f"The model {source} cannot be loaded ({exc}). Check the model id, and for a gated "
            "model (e.g. Llama) accept its licence on the Hub and add HF_TOKEN to the tracker "
            "settings."
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


# --- data ------------------------------------------------------------------------------------


def load_rows(config: JobConfig, job_dir: Path) -> Any:
    """The dataset's rows: the uploaded file under data/, or a Hub dataset (hf://...)."""
    if config.dataset_file:
        path = job_dir / config.dataset_file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise JobInputError(f"The dataset {path} was not uploaded.") from None
        except UnicodeDecodeError as exc:
            raise JobInputError(
                f"The dataset is not UTF-8 text ({exc}). Save it as UTF-8."
            ) from None
        return fmtlib.parse_rows(text, path.name)
    path_text = config.dataset_path
    if not fmtlib.is_hub_path(path_text):
        raise JobInputError("config.json names no dataset file and no hf:// dataset.")
    hub = fmtlib.parse_hub_path(path_text)
    datasets = library("datasets")
    say(f"Loading Hub dataset {hub.repo_id} (config {hub.config or 'default'}, {hub.split}).")
    try:
        return datasets.load_dataset(hub.repo_id, hub.config, split=hub.split)
    except Exception as exc:
        raise JobInputError(
            f"The Hub dataset {hub.repo_id} cannot be loaded ({exc}). Check its name, config "
            "and split, and HF_TOKEN for a gated dataset."
        ) from None


def training_texts(config: JobConfig, rows: Any, tokenizer: Any) -> list[str]:
    """Each row as one training text (chat template when the tokenizer has one)."""
    fmt = fmtlib.detect_format(rows, text_field=config.text_field, declared=config.dataset_format)
    templated = config.use_chat_template and bool(getattr(tokenizer, "chat_template", None))
    how = "the tokenizer's chat template" if templated else "a plain template"
    if fmt.kind == "text":
        how = "as it is"
    say(f"Dataset: {fmt.describe()}; formatting {how}.")
    status(protocol.PHASE_DATASET, format=fmt.kind, rows=fmt.rows_checked, chat_template=templated)
    texts: list[str] = []
    for index, row in enumerate(rows, start=1):
        if fmt.kind == "text":
            texts.append(str(row[fmt.field]))
        elif templated:
            messages = fmtlib.to_messages(row, fmt, index)
            try:
                texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
            except Exception as exc:  # jinja2 TemplateError and the like, from the model's repo
                raise JobInputError(
                    f"The model's chat template refused row {index} ({exc}). Fix the row, or "
                    "turn off 'use chat template' to train with a plain template."
                ) from None
        else:
            texts.append(fmtlib.render_plain(row, fmt))
    return texts


def split_datasets(config: JobConfig, texts: list[str]) -> tuple[Any, Any]:
    """Train and validation datasets (validation None when the split is 0)."""
    data = library("datasets").Dataset.from_dict({"text": texts})
    fraction = float(config.validation_split)
    if fraction <= 0:
        return data, None
    held_out = max(1, round(len(texts) * fraction))
    if len(texts) - held_out < 1:
        raise JobInputError(
            f"{len(texts)} rows are too few for a validation split of {fraction}: add rows or "
            "set the validation split to 0."
        )
    parts = data.train_test_split(test_size=held_out, seed=config.seed)
    return parts["train"], parts["test"]


# --- trainer ---------------------------------------------------------------------------------


def make_metrics_callback(job_dir: Path, config: JobConfig, base_bytes: int) -> Any:
    """A TrainerCallback writing metrics.jsonl and LGUI_METRIC / LGUI_STATUS lines; when the
    base weights are sharded, each process also says how much of them it holds."""
    trainer_callback: Any = library("transformers").TrainerCallback
    metrics_path = job_dir / protocol.METRICS_FILE

    class MetricsCallback(trainer_callback):  # type: ignore[misc]
        def on_train_begin(
            self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
        ) -> None:
            # After the Trainer prepared the model: under FSDP, each process holds its shards.
            if sharded(config) and model is not None:
                share = parallel.WeightShare(
                    parallel.rank(), parallel.held_base_bytes(model), base_bytes
                )
                print(share.sentence(), flush=True)
            if state.is_world_process_zero:
                per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
                status(
                    protocol.PHASE_TRAINING,
                    max_steps=state.max_steps,
                    num_train_epochs=args.num_train_epochs,
                    world_size=world_size(),
                    sharding="fsdp" if sharded(config) else "none",
                    effective_batch=per_step * world_size(),
                )

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if not state.is_world_process_zero or not logs:
                return
            record: dict[str, Any] = {
                "step": state.global_step,
                "epoch": state.epoch,
                "max_steps": state.max_steps,
                "time": round(time.time(), 3),
            }
            for key, value in logs.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                record[key] = value if math.isfinite(value) else None
            line = json.dumps(record)
            with metrics_path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
            print(protocol.METRIC_MARKER + line, flush=True)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                status(protocol.PHASE_CHECKPOINT, step=state.global_step)

    return MetricsCallback()


def make_fault_callback(spec: str) -> Any:
    """The TrainerCallback that raises as TEST_FAULT_VAR's "RANK:STEP" says."""
    trainer_callback: Any = library("transformers").TrainerCallback
    which, _, step = spec.partition(":")
    if not (which.isdigit() and step.isdigit()):
        raise JobInputError(f"{TEST_FAULT_VAR} must be RANK:STEP, got {spec!r}.")

    class FaultCallback(trainer_callback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if parallel.rank() == int(which) and state.global_step == int(step):
                raise RuntimeError(
                    f"injected failure in process {which} after step {step} ({TEST_FAULT_VAR})"
                )

    return FaultCallback()


def trainer_arguments(config: JobConfig, job_dir: Path, prec: str, has_eval: bool) -> Any:
    """SFTConfig for this job, spelled for the installed TRL / transformers."""
    sft_config = library("trl").SFTConfig
    fields = {f.name for f in dataclasses.fields(sft_config)}
    report_to = config.report_to
    project = config.project_name or "lambda-gui"
    runs_dir = str(job_dir / protocol.OUTPUT_DIR / "runs")
    if report_to == "wandb":
        os.environ.setdefault("WANDB_PROJECT", project)
    if report_to == "mlflow":
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", project)
    if report_to == "tensorboard":
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", runs_dir)
    save_steps = config.save_steps
    eval_steps = config.eval_steps
    kwargs: dict[str, Any] = {
        "output_dir": str(job_dir / protocol.CHECKPOINTS_DIR),
        "run_name": f"{project}-{config.job_id}",
        "learning_rate": float(config.learning_rate),
        # 0 epochs only comes with max_steps set, which then decides alone.
        "num_train_epochs": float(config.num_epochs or 1.0),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "lr_scheduler_type": config.lr_scheduler,
        "weight_decay": float(config.weight_decay),
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        # Log a NaN/inf loss as it is: by default the trainer logs the window's average
        # instead (0.0 once every step is NaN), which hides divergence from the app's guard.
        "logging_nan_inf_filter": False,
        "save_strategy": "steps" if save_steps > 0 else "no",
        "save_total_limit": 3,
        # Optimizer, scheduler and RNG state too, so "Resume" continues exactly; a sharded
        # job's checkpoints keep the gathered adapter only (its optimizer state is sharded).
        "save_only_model": sharded(config),
        "seed": config.seed,
        "bf16": prec == "bf16",
        "fp16": prec == "fp16",
        "report_to": [] if report_to == "none" else [report_to],
        "dataset_text_field": "text",
        "packing": False,
        "dataloader_pin_memory": prec != "fp32",
    }
    if save_steps > 0:
        kwargs["save_steps"] = save_steps
    checkpointing_key = (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )
    kwargs[checkpointing_key] = config.gradient_checkpointing
    warmup = float(config.warmup_ratio)
    kwargs["warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"] = warmup
    length_key = "max_length" if "max_length" in fields else "max_seq_length"
    kwargs[length_key] = config.max_seq_length
    if has_eval:
        strategy_key = "eval_strategy" if "eval_strategy" in fields else "evaluation_strategy"
        kwargs[strategy_key] = "steps" if eval_steps > 0 else "epoch"
        if eval_steps > 0:
            kwargs["eval_steps"] = eval_steps
    if world_size() > 1:
        kwargs["ddp_find_unused_parameters"] = False
        if config.gradient_checkpointing:
            # Reentrant checkpointing runs a layer's backward twice per step under DDP/FSDP.
            kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    if sharded(config):
        kwargs["fsdp"] = True
        kwargs["fsdp_config"] = parallel.fsdp_config(config.effective_quantization)
    if report_to == "tensorboard" and "logging_dir" in fields:
        kwargs["logging_dir"] = runs_dir
    return sft_config(**{k: v for k, v in kwargs.items() if k in fields})


def build_trainer(
    config: JobConfig,
    job_dir: Path,
    model: Any,
    tokenizer: Any,
    train: Any,
    evaluation: Any,
    prec: str,
    base_bytes: int,
) -> Any:
    """An SFTTrainer wired to our metrics callback."""
    import inspect

    sft_trainer = library("trl").SFTTrainer
    args = trainer_arguments(config, job_dir, prec, evaluation is not None)
    params = inspect.signature(sft_trainer.__init__).parameters
    tokenizer_key = "processing_class" if "processing_class" in params else "tokenizer"
    callbacks = [make_metrics_callback(job_dir, config, base_bytes)]
    if os.environ.get(TEST_FAULT_VAR):
        callbacks.append(make_fault_callback(os.environ[TEST_FAULT_VAR]))
    return sft_trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        callbacks=callbacks,
        **{tokenizer_key: tokenizer},
    )


# --- packaging -------------------------------------------------------------------------------


def _tar_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def package(
    job_dir: Path, source: Path, archive_name: str = protocol.ARTIFACT_FILE, *, gzip: bool = True
) -> str:
    """`archive_name` (adapter.tar.gz) of `source`'s regular files (relative names) and its .sha256;
    the digest. training_args.bin (a pickle, never needed to resume) is left out."""
    archive = job_dir / archive_name
    partial = archive.with_name(archive.name + ".tmp")
    with tarfile.open(partial, "w:gz" if gzip else "w") as tar:
        for path in sorted(source.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(source).as_posix()
            if any(part.startswith(CHECKPOINT_SKIP) for part in name.split("/")):
                continue
            tar.add(path, arcname=name, recursive=False, filter=_tar_member)
    digest = hashlib.sha256()
    with partial.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    os.replace(partial, archive)
    write_atomic(job_dir / (archive_name + ".sha256"), f"{digest.hexdigest()}  {archive_name}\n")
    return digest.hexdigest()


def latest_checkpoint(job_dir: Path) -> Path | None:
    """The newest checkpoints/checkpoint-N folder holding an adapter, if any."""
    found: list[tuple[int, Path]] = []
    for path in (job_dir / protocol.CHECKPOINTS_DIR).glob("checkpoint-*"):
        suffix = path.name.rpartition("-")[2]
        if suffix.isdigit() and (path / "adapter_config.json").is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


# --- the job -----------------------------------------------------------------------------


def train(job_dir: Path) -> None:
    """Run the whole job; raises on any failure."""
    config = load_config(job_dir)
    quant = config.effective_quantization
    status(protocol.PHASE_STARTING, job_id=config.job_id, algorithm=config.algorithm)
    quiet_other_processes()
    check_tracker_env(config)
    import torch

    cuda = torch.cuda.is_available()
    use_unsloth, note = unsloth_choice(config, cuda)
    if note:
        say(note)
    check_quantization(quant, cuda)
    check_sharding(config, quant)
    if sharded(config) and not cuda:
        parallel.allow_fsdp_on_cpu()
        say(
            "No CUDA here: accelerate runs FSDP only on GPUs, so train.py turns its FSDP on for "
            "these CPU processes (gloo); the rest is accelerate's own FSDP path."
        )
    prec = precision(config, cuda, cuda and torch.cuda.is_bf16_supported())
    source = model_source(config, job_dir)
    devices = f"{torch.cuda.device_count()} CUDA GPU(s)" if cuda else "CPU"
    say(f"Training on {devices} in {prec}; method {config.algorithm}, base {source}.")

    library("transformers").set_seed(config.seed)
    status(protocol.PHASE_LOADING_MODEL, source=source, precision=prec, quantization=quant)
    if use_unsloth:
        model, tokenizer = load_model_unsloth(config, source, quant)
    else:
        tokenizer = load_tokenizer(source)
    status(protocol.PHASE_LOADING_DATASET)
    rows = load_rows(config, job_dir)
    texts = training_texts(config, rows, tokenizer)
    train_set, eval_set = split_datasets(config, texts)
    if not use_unsloth:
        model = load_model_peft(config, source, quant, prec)
    base_bytes = parallel.base_weight_bytes(model)  # whole, before the Trainer shards it
    if is_main_process():
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        say(f"Trainable parameters: {trainable:,} of {total:,}.")

    trainer = build_trainer(
        config, job_dir, model, tokenizer, train_set, eval_set, prec, base_bytes
    )
    resume = resume_checkpoint(config, job_dir)
    if resume is not None:
        if (resume / "optimizer.pt").is_file():
            say(f"Resuming from {resume.name}: weights, optimizer, scheduler and RNG state.")
        else:
            say(
                f"Resuming from {resume.name}: the adapter's weights only (the checkpoint "
                "holds no optimizer state); the optimizer and the schedule start afresh."
            )
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    evaluated = any(
        "eval_loss" in entry and entry.get("step") == trainer.state.global_step
        for entry in trainer.state.log_history
    )
    if eval_set is not None and not evaluated:
        status(protocol.PHASE_EVALUATING)
        trainer.evaluate()

    status(protocol.PHASE_SAVING)
    output = job_dir / protocol.OUTPUT_DIR
    # Every process: a sharded adapter is gathered, and rank 0 alone writes it.
    trainer.save_model(str(output))
    digest = ""
    if is_main_process():
        tokenizer.save_pretrained(str(output))
        summary = {
            "job_id": config.job_id,
            "base_model": config.base_model,
            "algorithm": config.algorithm,
            "quantization": quant,
            "world_size": world_size(),
            "sharding": "fsdp" if sharded(config) else "none",
            "global_step": trainer.state.global_step,
            "log_history": trainer.state.log_history,
        }
        write_atomic(output / protocol.SUMMARY_FILE, json.dumps(summary, indent=1, default=str))
        status(protocol.PHASE_PACKAGING)
        digest = package(job_dir, output)
    problems = run_samples(config, job_dir, trainer.model, tokenizer, rows)
    if not is_main_process():
        return  # the rest is rank 0's: the others exit, which the launcher waits for
    problems += run_exports(config, job_dir, source, prec)
    status(protocol.PHASE_COMPLETED, sha256=digest, after_training_problems=problems)


def run_samples(
    config: JobConfig, job_dir: Path, model: Any, tokenizer: Any, rows: Any
) -> list[str]:
    """Samples (the adapter is already packaged: a failure here is reported and skipped).
    Rank 0 alone generates, except under FSDP, where every process takes part in each forward
    pass and rank 0 writes the file. Returns the problems, in words."""
    if config.samples <= 0 or not (is_main_process() or sharded(config)):
        return []
    status(protocol.PHASE_SAMPLING, prompts=config.samples)
    try:
        fmt = fmtlib.detect_format(
            rows, text_field=config.text_field, declared=config.dataset_format
        )
        templated = config.use_chat_template and bool(getattr(tokenizer, "chat_template", None))
        context, generator = parallel.generation_model(model)
        with context:
            count = after_training.write_samples(
                config,
                job_dir,
                generator,
                tokenizer,
                rows,
                fmt,
                templated,
                say,
                synced=sharded(config),
                save=is_main_process(),
            )
        say(f"{count} samples written to {protocol.SAMPLES_FILE}.")
    except Exception as exc:  # a sample must never cost the adapter
        say(f"Samples could not be generated: {type(exc).__name__}: {exc}")
        return [f"samples failed: {type(exc).__name__}: {exc}"]
    return []


def run_exports(config: JobConfig, job_dir: Path, source: str, prec: str) -> list[str]:
    """The opt-in merge, then GGUF, on rank 0 (the base reloaded from disk, so any sharding
    of the trained model does not matter); each failure is reported and skipped."""
    problems: list[str] = []
    if config.merge:
        status(protocol.PHASE_EXPORTING, step="merge")
        try:
            merged = job_dir / protocol.MERGED_DIR
            after_training.merge(
                source, job_dir / protocol.OUTPUT_DIR, merged, dtype_kwargs(prec), say
            )
            package(job_dir, merged, protocol.MERGED_ARTIFACT_FILE, gzip=False)
        except Exception as exc:
            problems.append(f"merge failed: {type(exc).__name__}: {exc}")
            say(f"The merge failed: {type(exc).__name__}: {exc}")
            return problems  # GGUF is converted from the merged model
    for kind in config.gguf:
        status(protocol.PHASE_EXPORTING, step=f"gguf_{kind}")
        try:
            converter = gguf_export.fetch_converter(gguf_export.default_cache_dir(), say)
            gguf_export.export_kind(job_dir, kind, converter, say)
        except Exception as exc:
            problems.append(f"GGUF {kind} failed: {type(exc).__name__}: {exc}")
            say(f"The GGUF {kind} export failed: {type(exc).__name__}: {exc}")
    return problems


def resume_checkpoint(config: JobConfig, job_dir: Path) -> Path | None:
    """The checkpoint the app uploaded to resume from (resume.tar.gz), unpacked; None if none."""
    if not config.resume_file:
        return None
    archive = job_dir / str(config.resume_file)
    if not archive.is_file():
        raise JobInputError(f"The checkpoint to resume from ({archive.name}) was not uploaded.")
    # One copy per process (by global rank: the machines of a job may share a disk): each
    # reads its own while the others may still be unpacking theirs.
    target: Path = job_dir / protocol.CHECKPOINTS_DIR / f"resumed-from-{parallel.rank()}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter=tarfile.data_filter)
    if not (target / "trainer_state.json").is_file():
        raise JobInputError(
            "The checkpoint to resume from has no trainer_state.json: it was saved by an older "
            "version without optimizer and scheduler state. Start a new job instead."
        )
    if sharded(config):
        # FSDP reads its own sharded optimizer files; an unsharded job's state cannot be
        # loaded into it, so a sharded job resumes from the adapter's weights alone.
        for path in target.iterdir():
            if path.name.startswith(("optimizer", "scheduler", "rng_state", "scaler")):
                path.unlink()
    return target


def fail(job_dir: Path, code: int, exc: BaseException) -> int:
    """Report a failure; returns the job's exit code.

    Rank 0: the message and traceback in the log and error.txt, the latest checkpoint packaged,
    the failed status line; when it only stopped because another process failed (the launcher
    stopped it, or a collective operation lost that process), that process's error instead.
    Another process: its error in the log and, unless it was only stopped, in its
    error-rank-N.txt for rank 0 (parallel.py)."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, (JobInputError, fmtlib.DatasetFormatError)):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    if not is_main_process():
        if isinstance(exc, Cancelled):
            return code  # stopped by the launcher or the app: the cause is reported elsewhere
        print(trace, file=sys.stderr, flush=True)
        print(
            f"Error in training process {parallel.rank()} of {world_size()}: {message}",
            file=sys.stderr,
            flush=True,
        )
        parallel.write_rank_error(job_dir, code, message, trace)
        return code
    peer = None
    if world_size() > 1 and (isinstance(exc, Cancelled) or parallel.is_communication_error(exc)):
        peer = parallel.peer_failure(job_dir)
    if peer is not None:
        print(
            f"Rank 0 stopped ({message}): training process {peer.rank} failed.",
            file=sys.stderr,
            flush=True,
        )
        return report_failure(job_dir, peer.code, peer.sentence(), peer.trace)
    print(trace, file=sys.stderr, flush=True)
    return report_failure(job_dir, code, message, trace)


def report_failure(job_dir: Path, code: int, message: str, trace: str) -> int:
    """The job failed (rank 0): error.txt, the latest checkpoint packaged as the artifact, the
    failed status line; returns `code`."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    write_atomic(job_dir / protocol.ERROR_FILE, f"{message}\n\n{trace}")
    checkpoint = latest_checkpoint(job_dir)
    packaged = None
    if checkpoint is not None:
        try:
            package(job_dir, checkpoint)
            packaged = checkpoint.name
            say(f"Packaged the latest checkpoint ({checkpoint.name}) as {protocol.ARTIFACT_FILE}.")
        except OSError as pack_error:
            say(f"The latest checkpoint could not be packaged: {pack_error}")
    status(protocol.PHASE_FAILED, exit_code=code, error=message, checkpoint=packaged)
    return code


def report_rank_failure(job_dir: Path) -> int:
    """bootstrap.sh's fallback when the launcher ended without exit_code: a process's recorded
    error reported as the job's, as rank 0 would have (rank 0 was killed before it could).
    Writes exit_code; returns the exit code (1 when no process recorded an error)."""
    failed: int = protocol.EXIT_TRAINING_FAILED
    done = job_dir / protocol.EXIT_CODE_FILE
    if done.is_file():
        first = done.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        return int(first) if first.lstrip("-").isdigit() else failed
    peer = parallel.peer_failure(job_dir)
    if peer is None:
        return failed
    code = report_failure(job_dir, peer.code, peer.sentence(), peer.trace)
    write_atomic(done, f"{code}\n")
    return code


def _raise_cancelled(signum: int, _frame: Any) -> None:
    raise Cancelled(signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code it also writes to exit_code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_dir", nargs="?", default=str(HERE))
    parser.add_argument("--missing-requirements", action="store_true")
    parser.add_argument("--report-rank-failure", action="store_true")
    args = parser.parse_args(argv)
    job_dir = Path(args.job_dir).resolve()
    if args.missing_requirements:
        for spec in missing_requirements(load_config(job_dir)):
            print(spec)
        return 0
    if args.report_rank_failure:
        return report_rank_failure(job_dir)

    signal.signal(signal.SIGTERM, _raise_cancelled)
    signal.signal(signal.SIGINT, _raise_cancelled)
    code: int
    try:
        train(job_dir)
        code = protocol.EXIT_OK
    except Cancelled as exc:
        code = (
            protocol.EXIT_CANCELLED if exc.signum == signal.SIGTERM else protocol.EXIT_INTERRUPTED
        )
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = fail(job_dir, code, exc)
    except (JobInputError, fmtlib.DatasetFormatError) as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = fail(job_dir, protocol.EXIT_BAD_INPUT, exc)
    except Exception as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = fail(job_dir, protocol.EXIT_TRAINING_FAILED, exc)
    if is_main_process():
        write_atomic(job_dir / protocol.EXIT_CODE_FILE, f"{code}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
