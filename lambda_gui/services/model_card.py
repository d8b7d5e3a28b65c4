"""The README.md model card of an adapter pushed to the Hugging Face Hub: YAML front matter the
Hub reads (base model, library, tags, license), then the base model, the data, the method and
its settings, the final losses and the loss curve, the GPU, its hours and cost, and how to load
the adapter with PEFT.

Built only from what it is given. A local path never appears (a local dataset or base model is
named by its file or folder name), and neither does anything of the tracker settings: their
values may be secrets, and even their names say nothing about the model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import Any

from lambda_gui.core.dataset_format import DatasetFormatError, is_hub_path, parse_hub_path
from lambda_gui.core.gpu_names import normalize_gpu_name
from lambda_gui.core.models import TrainingConfig
from lambda_gui.core.run_compare import metric_number
from lambda_gui.services.costing import job_cost
from lambda_gui.services.store import JobRecord

LOSS_CURVE_FILE = "loss_curve.png"
BASE_TAGS = ("lora", "lambda-gui", "peft")
# A Hub repo id: "name" or "namespace/name" (letters, digits, "-", "_", "."; no "--" or "..").
_HUB_ID = re.compile(r"^(?!.*(--|\.\.))\w(?:[\w.-]{0,94}\w)?(?:/\w(?:[\w.-]{0,94}\w)?)?$", re.ASCII)
# A Hub license id ("apache-2.0", "llama3.1", "cc-by-nc-4.0", "other").
_LICENSE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")
_INSTANCE_GPUS = re.compile(r"gpu_(\d+)x_")
_METHODS = {"lora": "LoRA", "qlora": "QLoRA", "dora": "DoRA", "rslora": "rsLoRA"}
_QUANTIZATION = {"none": "none (16-bit base)", "int8": "8-bit base", "int4": "4-bit base (NF4)"}
# Characters Markdown could read as markup in text that came from the user (file names).
_MARKUP = re.compile(r"([\\`*_{}\[\]<>|#!~&])")


@dataclass(frozen=True)
class LossSeries:
    """Training and validation loss against step, in step order."""

    train: list[tuple[float, float]]
    eval: list[tuple[float, float]]

    @property
    def final_train(self) -> tuple[float, float] | None:
        """(step, loss) of the last training loss logged."""
        return self.train[-1] if self.train else None

    @property
    def final_eval(self) -> tuple[float, float] | None:
        """(step, loss) of the last validation loss logged."""
        return self.eval[-1] if self.eval else None

    def __bool__(self) -> bool:
        return bool(self.train or self.eval)


def loss_series(metrics: Iterable[Mapping[str, Any]]) -> LossSeries:
    """The `loss` and `eval_loss` points of metrics records (read_metrics), finite ones only."""
    train: list[tuple[float, float]] = []
    evals: list[tuple[float, float]] = []
    for index, entry in enumerate(metrics):
        if not isinstance(entry, Mapping):
            continue
        step = metric_number(entry.get("step"))
        x = step if step is not None else float(index)
        for key, into in (("loss", train), ("eval_loss", evals)):
            value = metric_number(entry.get(key))
            if value is not None:
                into.append((x, value))
    # Stable: a resumed job's repeated steps keep their logged order.
    return LossSeries(sorted(train, key=lambda p: p[0]), sorted(evals, key=lambda p: p[0]))


def build_model_card(
    job: JobRecord,
    metrics: Sequence[Mapping[str, Any]],
    *,
    repo_id: str | None = None,
    license_id: str | None = None,
    loss_curve: bool = True,
) -> str:
    """README.md for the job's adapter; `loss_curve` says whether loss_curve.png sits beside it."""
    cfg = job.config
    series = loss_series(metrics)
    base = _base_model(cfg)
    sections = [
        _front_matter(cfg, base, _license(cfg, license_id)),
        _title(job, repo_id, base),
        _data_section(cfg),
        _method_section(cfg, _gpu_count(job.instance_type)),
        _results_section(series, metrics, loss_curve and bool(series)),
        _compute_section(job),
        _usage_section(cfg, base, repo_id),
        f"Trained with Lambda GUI (job {_code(job.id)}).\n",
    ]
    return "\n".join(s for s in sections if s)


# -- front matter ----------------------------------------------------------------------------


def _front_matter(cfg: TrainingConfig, base: str | None, license_id: str | None) -> str:
    lines = ["---"]
    if base is not None:
        lines.append(f"base_model: {_yaml(base)}")
    lines.append("library_name: peft")
    if license_id:
        lines.append(f"license: {_yaml(license_id)}")
    dataset = _hub_dataset(cfg.dataset_path)
    if dataset is not None:
        lines += ["datasets:", f"- {_yaml(dataset)}"]
    lines.append("pipeline_tag: text-generation")
    tags = list(BASE_TAGS)
    if cfg.algorithm in _METHODS and cfg.algorithm not in tags:
        tags.append(cfg.algorithm)
    if base is not None:
        tags.append(f"base_model:adapter:{base}")
    lines.append("tags:")
    lines += [f"- {_yaml(tag)}" for tag in tags]
    lines.append("---")
    return "\n".join(lines) + "\n"


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(text, ensure_ascii=True)


def _license(cfg: TrainingConfig, given: str | None) -> str | None:
    value = given if given is not None else cfg.extra.get("license")
    if isinstance(value, str) and _LICENSE.fullmatch(value.strip().lower()):
        return value.strip().lower()
    return None


# -- sections --------------------------------------------------------------------------------


def _title(job: JobRecord, repo_id: str | None, base: str | None) -> str:
    name = repo_id.rsplit("/", 1)[-1] if repo_id else f"Adapter of job {job.id}"
    method = _METHODS.get(job.config.algorithm, job.config.algorithm)
    on = _base_text(job.config, base)
    gpus = _gpu_text(job)
    return (
        f"# {_md(name)}\n\n"
        f"A {_md(method)} adapter for {on}, fine-tuned with Lambda GUI on a Lambda Cloud "
        f"instance ({gpus}).\n"
    )


def _data_section(cfg: TrainingConfig) -> str:
    rows = [("Dataset", _dataset_text(cfg.dataset_path))]
    if cfg.dataset_format:
        rows.append(("Layout", _md(cfg.dataset_format)))
    if cfg.validation_split > 0:
        rows.append(("Held out for validation", f"{cfg.validation_split:.0%}"))
    rows.append(("Max sequence length", f"{cfg.max_seq_length} tokens"))
    rows.append(("Chat template", "applied" if cfg.use_chat_template else "not applied"))
    return "## Training data\n\n" + _table(("Setting", "Value"), rows)


def _method_section(cfg: TrainingConfig, gpus: int) -> str:
    accumulation = max(1, cfg.gradient_accumulation_steps)
    rows = [
        ("Method", _md(_METHODS.get(cfg.algorithm, cfg.algorithm))),
        ("Quantization", _md(_QUANTIZATION.get(cfg.quantization, cfg.quantization))),
        ("Rank (r)", str(cfg.rank)),
        ("Alpha", str(cfg.alpha)),
        ("Dropout", f"{cfg.dropout:g}"),
        ("Target modules", ", ".join(_code(m) for m in cfg.target_modules) or "default"),
        ("Learning rate", f"{cfg.learning_rate:g}"),
        ("Scheduler", f"{_md(cfg.lr_scheduler)}, warmup ratio {cfg.warmup_ratio:g}"),
        ("Weight decay", f"{cfg.weight_decay:g}"),
        ("Epochs", f"{cfg.num_epochs:g}" if cfg.max_steps <= 0 else "set by max steps"),
        ("Max steps", str(cfg.max_steps) if cfg.max_steps > 0 else "none (by epochs)"),
        ("Batch size per GPU", str(cfg.batch_size)),
        ("Gradient accumulation", str(accumulation)),
        ("Effective batch size", str(cfg.batch_size * accumulation * max(1, gpus))),
        ("Precision", _precision(cfg.bf16)),
        ("Gradient checkpointing", "on" if cfg.gradient_checkpointing else "off"),
        ("Seed", str(cfg.seed)),
    ]
    if cfg.resume_of:
        rows.append(("Resumed from", f"job {_code(cfg.resume_of)}"))
    return "## Method and hyperparameters\n\n" + _table(("Setting", "Value"), rows)


def _results_section(
    series: LossSeries, metrics: Sequence[Mapping[str, Any]], with_curve: bool
) -> str:
    rows: list[tuple[str, str]] = []
    if series.final_train is not None:
        step, loss = series.final_train
        rows.append(("Final training loss", f"{loss:.4f} (step {step:g})"))
    if series.final_eval is not None:
        step, loss = series.final_eval
        rows.append(("Final validation loss", f"{loss:.4f} (step {step:g})"))
    steps = [
        s for s in (metric_number(m.get("step")) for m in metrics if isinstance(m, Mapping)) if s
    ]
    epochs = [
        e for e in (metric_number(m.get("epoch")) for m in metrics if isinstance(m, Mapping)) if e
    ]
    if steps:
        rows.append(("Steps trained", f"{max(steps):g}"))
    if epochs:
        rows.append(("Epochs trained", f"{max(epochs):.2f}"))
    if not rows:
        return "## Results\n\nNo training metrics were recorded for this job.\n"
    text = "## Results\n\n" + _table(("Metric", "Value"), rows)
    if with_curve:
        text += f"\n![Training and validation loss against step]({LOSS_CURVE_FILE})\n"
    return text


def _compute_section(job: JobRecord) -> str:
    rows = [("GPU", _gpu_text(job))]
    cost = job_cost(job, job.ended_at or job.updated_at)
    if cost.seconds > 0:
        hours = cost.seconds / 3600
        rows.append(("Instance hours billed", f"{hours:.2f}"))
        rows.append(("GPU-hours", f"{hours * _gpu_count(job.instance_type):.2f}"))
        price = job.price_cents_per_hour / 100
        rows.append(
            ("Cost", f"${cost.dollars:,.2f} (at ${price:,.2f}/h, Lambda's on-demand price)")
        )
    return "## Compute\n\n" + _table(("Item", "Value"), rows)


def _usage_section(cfg: TrainingConfig, base: str | None, repo_id: str | None) -> str:
    base_ref = base if base is not None else "path/to/the/base/model"
    adapter_ref = repo_id or "path/to/this/adapter"
    note = ""
    if base is None:
        note = (
            f"The base model was a local folder ({_md(_leaf(cfg.base_model))}); load the same "
            "weights where the example says so.\n\n"
        )
    if cfg.quantization == "int4":
        note += (
            "It was trained on the base loaded in 4 bits (QLoRA); it also loads on a 16-bit "
            "base, as below.\n\n"
        )
    return (
        "## How to use\n\n"
        f"{note}"
        "```python\n"
        "from peft import PeftModel\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'base = AutoModelForCausalLM.from_pretrained({json.dumps(base_ref)}, device_map="auto")\n'
        f"model = PeftModel.from_pretrained(base, {json.dumps(adapter_ref)})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(adapter_ref)})\n"
        "```\n\n"
        "To ship a single model, merge the adapter into the base weights: "
        "`model = model.merge_and_unload()`.\n"
    )


# -- pieces ----------------------------------------------------------------------------------


def _base_model(cfg: TrainingConfig) -> str | None:
    """The base model's Hub id, or None when it was a local folder (never written as a path)."""
    name = cfg.base_model.strip()
    if cfg.model_source == "local" or not _HUB_ID.fullmatch(name):
        return None
    return name


def _base_text(cfg: TrainingConfig, base: str | None) -> str:
    if base is None:
        return f"a local base model ({_md(_leaf(cfg.base_model))})"
    return f"[{base}](https://huggingface.co/{base})"


def _hub_dataset(path: str) -> str | None:
    if not is_hub_path(path):
        return None
    try:
        return parse_hub_path(path).repo_id
    except DatasetFormatError:
        return None


def _dataset_text(path: str) -> str:
    if not path.strip():
        return "not recorded"
    if is_hub_path(path):
        try:
            hub = parse_hub_path(path)
        except DatasetFormatError:
            return "a Hub dataset"
        where = f"split {_code(hub.split)}" + (
            f", config {_code(hub.config)}" if hub.config else ""
        )
        return f"[{hub.repo_id}](https://huggingface.co/datasets/{hub.repo_id}) ({where})"
    return f"{_code(_leaf(path))} (a local file)"


def _leaf(path: str) -> str:
    """The last part of a path written the POSIX or the Windows way."""
    return PureWindowsPath(path.strip().rstrip("/\\")).name or "unnamed"


def _gpu_count(instance_type: str) -> int:
    match = _INSTANCE_GPUS.search(instance_type)
    return int(match.group(1)) if match else 1


def _gpu_text(job: JobRecord) -> str:
    name = normalize_gpu_name(job.instance_type) or "GPU"
    return f"{_gpu_count(job.instance_type)}× {_md(name)}, {_code(job.instance_type)}"


def _table(header: tuple[str, str], rows: Sequence[tuple[str, str]]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split())


def _md(text: str) -> str:
    """User text on one line, with the characters Markdown reads as markup escaped."""
    return _MARKUP.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """User text as an inline code span (no backticks inside; pipes escaped for tables)."""
    return "`" + " ".join(str(text).replace("`", "'").split()).replace("|", "\\|") + "`"


def _precision(bf16: bool | None) -> str:
    if bf16 is None:
        return "automatic (bf16 where the GPU has it, else fp16)"
    return "bf16" if bf16 else "fp32"
