"""The job wizard without Qt: steps, their fields, validation, and the draft they fill in.

Steps run model -> dataset -> method -> hyperparameters -> compute -> limits -> review. Each step names
the fields it shows and validates the draft (a dict over TrainingConfig fields, plus the
wizard's own keys in WIZARD_KEYS). Field checks come from core.config_validation; the steps add
what needs more than the config: the dataset preview the GUI read, the live catalog, and the
planner's fit and cost. The GUI reads files and fills in a DatasetPreview; this module does no
I/O. Configs save and load as JSON text.

Sharding (TrainingConfig.sharding) is offered on the compute step only when the job needs it:
when the chosen multi-GPU type holds it only sharded with FSDP, or when sharding makes it fit
where no type with capacity did, or fit a cheaper one (sharding_advice). Until someone chooses
it, the draft's sharding follows that advice: "fsdp" when needed, "none" otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_gui.core import dataset_format as fmt
from lambda_gui.core.config_validation import LR_SCHEDULERS, SHARDING_MODES, config_errors
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.known_models import InferredShape, ModelShape, SizeSource, shape_of
from lambda_gui.core.models import (
    ALGORITHMS,
    MODEL_SOURCES,
    QUANTIZATIONS,
    REPORT_TO,
    Resource,
    TrainingConfig,
)
from lambda_gui.core.planner import (
    JobSize,
    Plan,
    PricingOf,
    plan_all,
    plan_job,
    recommend,
)
from lambda_gui.core.presets import apply_preset
from lambda_gui.core.tracker_secrets import without_secret_values
from lambda_gui.core.validation_default import INPUTS as VALIDATION_INPUTS
from lambda_gui.core.validation_default import validation_defaults

CONFIG_SCHEMA = "lambda-gui-config/1"
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(TrainingConfig))
# Wizard-only draft keys: a parameter count for models the table does not know, and a row
# count for Hub datasets the GUI could not preview.
WIZARD_KEYS = ("params_b", "dataset_rows")
ASSUMED_ROWS = 1000
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class FieldError:
    """A problem with one field; warnings inform but do not block advancing."""

    field: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class FieldSpec:
    """One input on a step: its draft key, label, kind and allowed choices."""

    name: str
    label: str
    kind: str  # text, path, choice, int, float, bool, list, dict
    choices: tuple[str, ...] = ()
    help: str = ""
    optional: bool = False  # a number that may be left empty (None: no limit)


@dataclass(frozen=True)
class DatasetPreview:
    """The first rows of a dataset as read by the GUI, with the detected layout."""

    path: str
    rows: tuple[Mapping[str, Any], ...]
    row_count: int
    format: fmt.DatasetFormat | None
    errors: tuple[str, ...] = ()
    avg_tokens_per_row: float | None = None

    @classmethod
    def from_rows(
        cls,
        path: str,
        rows: Sequence[Mapping[str, Any]],
        row_count: int,
        *,
        text_field: str | None = None,
        declared: str | None = None,
    ) -> DatasetPreview:
        """Detect the layout of rows already read; format problems land in `errors`."""
        try:
            detected = fmt.detect_format(rows, text_field=text_field, declared=declared)
        except fmt.DatasetFormatError as exc:
            return cls(path, tuple(rows), row_count, None, (str(exc),))
        lengths = [len(fmt.render_plain(r, detected)) for r in rows]
        avg = sum(lengths) / len(lengths) / CHARS_PER_TOKEN if lengths else None
        return cls(path, tuple(rows), row_count, detected, (), avg)

    @classmethod
    def failed(cls, path: str, error: str) -> DatasetPreview:
        """A preview of a file that could not be read or parsed."""
        return cls(path, (), 0, None, (error,))

    def sample_texts(self, count: int = 3) -> list[str]:
        """The first rows as the training text they become."""
        return fmt.preview(self.rows, self.format, count) if self.format else []


@dataclass
class WizardState:
    """Everything the steps validate: the draft and what the GUI loaded for it."""

    draft: dict[str, Any]
    preview: DatasetPreview | None = None
    resources: tuple[Resource, ...] = ()
    pricing_of: PricingOf | None = None
    # What the model's config.json (a local folder's, or the Hub's) says; services read it.
    model_shape: InferredShape | None = None
    # Draft keys the user, a loaded config or a preset set: defaults leave them alone.
    chosen: set[str] = dataclasses.field(default_factory=set)

    def config(self) -> TrainingConfig:
        """The draft as a TrainingConfig (wizard-only keys dropped)."""
        return TrainingConfig.from_dict(self.draft)

    @property
    def inferred(self) -> InferredShape | None:
        """The shape known for the model as named now: read from its config, else the table's
        or the one its name implies; None for a model nothing is known of."""
        model = str(self.draft.get("base_model") or "").strip()
        local = self.draft.get("model_source") == "local"
        if not model:
            return None
        read = self.model_shape
        if read is not None and read.is_for(model, local):
            return read
        return shape_of(model, local)

    @property
    def entered_params_b(self) -> float | None:
        """The parameter count the user typed for this model, if any."""
        given = self.draft.get("params_b")
        if isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0:
            return float(given)
        return None

    @property
    def params_b(self) -> float | None:
        """The model's size: the user's figure if given, else its config's, the table's or
        the one in its name."""
        given = self.entered_params_b
        if given is not None:
            return given
        inferred = self.inferred
        return inferred.shape.params_b if inferred is not None else None

    @property
    def size_source(self) -> SizeSource | None:
        """Where params_b comes from (core.known_models.SIZE_SOURCE_TEXT says it in words)."""
        if self.entered_params_b is not None:
            return "entered"
        inferred = self.inferred
        return inferred.source if inferred is not None else None

    @property
    def shape(self) -> ModelShape | None:
        """Hidden size, layers and vocabulary when a config or the table gives them."""
        inferred = self.inferred
        return inferred.shape if inferred is not None and inferred.source != "name" else None

    @property
    def dataset_rows(self) -> int | None:
        """Rows in the dataset: from the preview, else the user's figure."""
        if self.preview is not None and self.preview.path == self.draft.get("dataset_path"):
            return self.preview.row_count
        given = self.draft.get("dataset_rows")
        return int(given) if isinstance(given, int) and given > 0 else None

    def job_size(self) -> JobSize | None:
        """The planner's view of the draft, or None until the model's size is known."""
        size = self.params_b
        if size is None:
            return None
        preview = self.preview
        avg = preview.avg_tokens_per_row if preview and preview.format else None
        return JobSize.from_config(
            self.config(),
            params_b=size,
            dataset_rows=self.dataset_rows or ASSUMED_ROWS,
            shape=self.shape,
            avg_tokens_per_row=avg,
        )


Check = Callable[[WizardState], list[FieldError]]


def _no_checks(state: WizardState) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class Step:
    """One page of the wizard."""

    key: str
    title: str
    fields: tuple[FieldSpec, ...]
    check: Check = _no_checks

    @property
    def field_names(self) -> frozenset[str]:
        """The draft keys this step owns."""
        return frozenset(f.name for f in self.fields)

    def validate(self, state: WizardState) -> list[FieldError]:
        """Config errors on this step's fields, then the step's own checks."""
        found = [
            FieldError(e.field, e.message)
            for e in config_errors(state.config())
            if e.field in self.field_names
        ]
        found += self.check(state)
        return list(dict.fromkeys(found))

    def can_advance(self, state: WizardState) -> bool:
        """True when no error (warnings aside) is left on this step."""
        return not any(not e.warning for e in self.validate(state))


# --- the steps' own checks ---------------------------------------------------------------


def _check_model(state: WizardState) -> list[FieldError]:
    if not str(state.draft.get("base_model", "")).strip() or state.params_b is not None:
        return []
    return [
        FieldError(
            "params_b",
            "The model's size is not known: enter its parameter count (billions) so memory, "
            "time and cost can be estimated.",
            warning=True,
        )
    ]


def _check_dataset(state: WizardState) -> list[FieldError]:
    path = str(state.draft.get("dataset_path", "")).strip()
    if not path:
        return []
    preview = state.preview
    if preview is None or preview.path != path:
        if fmt.is_hub_path(path):
            return [
                FieldError(
                    "dataset_path",
                    "Hub dataset: its rows are checked on the instance when training starts.",
                    warning=True,
                )
            ]
        return [FieldError("dataset_path", "The file has not been read yet: load its preview.")]
    if preview.errors:
        return [FieldError("dataset_path", e) for e in preview.errors]
    errors: list[FieldError] = []
    if preview.row_count <= 0:
        errors.append(FieldError("dataset_path", "The dataset has no rows."))
    split = state.draft.get("validation_split", 0.0)
    if isinstance(split, (int, float)) and 0 < split <= 0.5 and preview.row_count > 0:
        held_out = int(-(-preview.row_count * split // 1))
        if held_out < 1 or preview.row_count - held_out < 1:
            errors.append(
                FieldError(
                    "validation_split",
                    f"{preview.row_count} rows cannot be split into training and validation "
                    "rows; add rows or set the split to 0.",
                )
            )
    return errors


def _check_hyperparameters(state: WizardState) -> list[FieldError]:
    d = state.draft
    if d.get("eval_steps", 0) and not d.get("validation_split", 0.0):
        return [
            FieldError(
                "eval_steps",
                "Evaluation needs held-out rows: set a validation split, or eval steps to 0.",
            )
        ]
    return []


def _resource_named(state: WizardState) -> Resource | None:
    name = state.draft.get("resource_id")
    return next((r for r in state.resources if r.name == name), None)


def gpu_count(state: WizardState) -> int:
    """Training processes the chosen type runs: one per GPU (1 until a GPU type is chosen)."""
    resource = _resource_named(state)
    return resource.gpu_count if resource is not None and resource.gpu_count > 1 else 1


@dataclass(frozen=True)
class ShardingAdvice:
    """Whether the compute step offers FSDP sharding, and why.

    `needed` when the chosen multi-GPU type holds the job only sharded (`for_chosen`), or
    when, among the types with capacity now (all types, when none has), sharding makes the job
    fit where nothing did, or fit a cheaper type (`best_sharded` against `best_unsharded`, the
    cheapest fitting plans each way). Sharding only ever helps by making a multi-GPU type fit:
    where the job fits unsharded, FSDP is the same memory per GPU at best and slower, so a
    job that one GPU holds cheapest (any small model) is never asked. `offered`: needed, or
    the draft asks for FSDP already (so it can be turned off). `sharded_types`: every
    multi-GPU type the job fits only when sharded.
    """

    needed: bool
    offered: bool
    sharded_types: tuple[str, ...] = ()
    for_chosen: bool = False
    best_sharded: Plan | None = None
    best_unsharded: Plan | None = None


def sharding_advice(state: WizardState) -> ShardingAdvice:
    """The compute step's sharding offer for the draft (ShardingAdvice)."""
    asked = state.draft.get("sharding") == "fsdp"
    job = state.job_size()
    pricing_of = state.pricing_of
    if job is None or pricing_of is None:
        return ShardingAdvice(False, asked)
    plain = dataclasses.replace(job, sharding="none")
    sharded = dataclasses.replace(job, sharding="fsdp")
    gpu_types = [r for r in state.resources if r.gpu_count > 0]
    plain_plans = {r.name: plan_job(plain, r, pricing_of(r)) for r in gpu_types}
    sharded_plans = {r.name: plan_job(sharded, r, pricing_of(r)) for r in gpu_types}
    gains = [
        r.name for r in gpu_types if sharded_plans[r.name].fits and not plain_plans[r.name].fits
    ]
    pool = [r.name for r in gpu_types if r.available] or [r.name for r in gpu_types]

    def cheapest(plans: Mapping[str, Plan]) -> Plan | None:
        fitting = [plans[name] for name in pool if plans[name].fits]
        return min(fitting, key=lambda p: (p.cost, p.resource_name), default=None)

    best_plain, best_sharded = cheapest(plain_plans), cheapest(sharded_plans)
    cheaper = best_sharded is not None and best_sharded.resource_name in gains
    if best_plain is not None and best_sharded is not None:
        cheaper = cheaper and best_sharded.cost < best_plain.cost
    for_chosen = state.draft.get("resource_id") in gains
    needed = for_chosen or cheaper
    return ShardingAdvice(
        needed, needed or asked, tuple(gains), for_chosen, best_sharded, best_plain
    )


def _check_compute(state: WizardState) -> list[FieldError]:
    name = state.draft.get("resource_id")
    if not state.resources:
        return [
            FieldError(
                "resource_id",
                "Instance types are not loaded (offline?): fit and cost are not checked.",
                warning=True,
            )
        ]
    resource = next((r for r in state.resources if r.name == name), None)
    if resource is None:
        return [FieldError("resource_id", f"'{name}' is not in Lambda's catalog: choose a type.")]
    if resource.gpu_count <= 0:
        return [FieldError("resource_id", "This type has no GPU: choose a GPU instance type.")]
    errors: list[FieldError] = []
    region = state.draft.get("region")
    if not resource.available:
        errors.append(
            FieldError("resource_id", "No region has capacity for this type now.", warning=True)
        )
    elif region and region not in {r.name for r in resource.regions}:
        errors.append(
            FieldError(
                "region",
                f"{region} has no capacity for {resource.name} now; choose a listed region "
                "or leave it automatic.",
            )
        )
    job = state.job_size()
    if job is None or state.pricing_of is None:
        return errors
    pricing = state.pricing_of(resource)
    plan = plan_job(job, resource, pricing)
    if not plan.fits:
        remedy = (
            "Choose a larger GPU, 4-bit quantization, a smaller batch or sequence length, or "
            "gradient checkpointing."
        )
        if job.sharding != "fsdp" and resource.gpu_count > 1:
            sharded = plan_job(dataclasses.replace(job, sharding="fsdp"), resource, pricing)
            if sharded.fits:
                remedy = (
                    f"Shard the model over the GPUs (FSDP): then it needs about "
                    f"{sharded.need_gib:.1f} GiB per GPU and fits. Or "
                    + remedy[0].lower()
                    + remedy[1:]
                )
        errors.append(
            FieldError(
                "resource_id",
                f"The job needs about {plan.need_gib:.1f} GiB of GPU memory per GPU; "
                f"{resource.name} has {plan.usable_gib:.1f} GiB usable per GPU. {remedy}",
            )
        )
    if job.sharding == "fsdp" and resource.gpu_count == 1:
        errors.append(
            FieldError(
                "sharding",
                f"FSDP shards over several GPUs; {resource.name} has one, so the job runs "
                "unsharded on it.",
                warning=True,
            )
        )
    return errors


def _planned(state: WizardState) -> Plan | None:
    name = state.draft.get("resource_id")
    resource = next((r for r in state.resources if r.name == name), None)
    job = state.job_size()
    if resource is None or job is None or state.pricing_of is None:
        return None
    return plan_job(job, resource, state.pricing_of(resource))


def _check_limits(state: WizardState) -> list[FieldError]:
    plan = _planned(state)
    if plan is None:
        return []
    errors: list[FieldError] = []
    budget = state.draft.get("budget_usd")
    if isinstance(budget, (int, float)) and 0 < budget < plan.cost:
        errors.append(
            FieldError(
                "budget_usd",
                f"The cap (${budget:,.2f}) is below the estimated cost (${plan.cost:,.2f}): the "
                "job will probably be stopped before it finishes (the log and the last "
                "checkpoint are kept).",
                warning=True,
            )
        )
    minutes = state.draft.get("max_runtime_minutes")
    if isinstance(minutes, (int, float)) and 0 < minutes * 60 < plan.total_seconds:
        errors.append(
            FieldError(
                "max_runtime_minutes",
                f"The cap ({minutes:g} min) is below the estimated run time "
                f"({plan.total_seconds / 60:.0f} min): the job will probably be stopped before "
                "it finishes.",
                warning=True,
            )
        )
    return errors


def _check_review(state: WizardState) -> list[FieldError]:
    errors: list[FieldError] = []
    for step in STEPS[:-1]:
        errors.extend(e for e in step.validate(state) if not e.warning)
    fields_seen = {e.field for e in errors}
    for e in config_errors(state.config()):
        if e.field not in fields_seen:
            errors.append(FieldError(e.field, e.message))
    return errors


STEPS: tuple[Step, ...] = (
    Step(
        "model",
        "Base model",
        (
            FieldSpec("model_source", "Source", "choice", MODEL_SOURCES),
            FieldSpec("base_model", "Model", "text", help="A Hub id such as Qwen/Qwen2.5-0.5B"),
            FieldSpec(
                "params_b",
                "Parameters (billions)",
                "float",
                help="Empty: the model's own size",
            ),
        ),
        _check_model,
    ),
    Step(
        "dataset",
        "Dataset",
        (
            FieldSpec("dataset_path", "File or hf://org/name", "path"),
            FieldSpec("dataset_format", "Format", "choice", ("",) + fmt.FORMATS),
            FieldSpec("text_field", "Text field", "text"),
            FieldSpec("use_chat_template", "Use the model's chat template", "bool"),
            FieldSpec("validation_split", "Validation split", "float"),
            FieldSpec("dataset_rows", "Rows (Hub datasets)", "int"),
        ),
        _check_dataset,
    ),
    Step(
        "method",
        "Method",
        (
            FieldSpec("algorithm", "Method", "choice", ALGORITHMS),
            FieldSpec("quantization", "Quantization", "choice", QUANTIZATIONS),
            FieldSpec("rank", "Rank", "int"),
            FieldSpec("alpha", "Alpha", "int"),
            FieldSpec("dropout", "Dropout", "float"),
            FieldSpec("target_modules", "Target modules", "list"),
        ),
    ),
    Step(
        "hyperparameters",
        "Hyperparameters",
        (
            FieldSpec("learning_rate", "Learning rate", "float"),
            FieldSpec("num_epochs", "Epochs", "float"),
            FieldSpec("max_steps", "Max steps (-1: use epochs)", "int"),
            FieldSpec("batch_size", "Batch size", "int"),
            FieldSpec("gradient_accumulation_steps", "Gradient accumulation", "int"),
            FieldSpec("max_seq_length", "Max sequence length", "int"),
            FieldSpec("warmup_ratio", "Warm-up ratio", "float"),
            FieldSpec("lr_scheduler", "Scheduler", "choice", LR_SCHEDULERS),
            FieldSpec("weight_decay", "Weight decay", "float"),
            FieldSpec("gradient_checkpointing", "Gradient checkpointing", "bool"),
            FieldSpec("logging_steps", "Log every", "int"),
            FieldSpec("eval_steps", "Evaluate every (0: never)", "int"),
            FieldSpec("save_steps", "Save every (0: at the end)", "int"),
            FieldSpec("seed", "Seed", "int"),
            FieldSpec("report_to", "Report to", "choice", REPORT_TO),
            FieldSpec("tracker_env", "Tracker settings", "dict"),
        ),
        _check_hyperparameters,
    ),
    Step(
        "compute",
        "Instance",
        (
            FieldSpec("resource_id", "Instance type", "choice"),
            FieldSpec("region", "Region (empty: any with capacity)", "choice"),
            FieldSpec(
                "sharding",
                "Shard the model over the GPUs (FSDP)",
                "choice",
                SHARDING_MODES,
                help="none: every GPU holds the whole model; fsdp: each holds a share of it",
            ),
        ),
        _check_compute,
    ),
    Step(
        "limits",
        "Limits and safety",
        (
            FieldSpec(
                "max_runtime_minutes",
                "Maximum run time (minutes)",
                "float",
                help="Empty: no limit",
                optional=True,
            ),
            FieldSpec(
                "budget_usd", "Budget cap ($)", "float", help="Empty: no limit", optional=True
            ),
            FieldSpec("stop_on_divergence", "Stop when the loss diverges", "bool"),
            FieldSpec(
                "divergence_ratio",
                "Divergence ratio",
                "float",
                help="2 = stop when the loss reaches twice its best",
            ),
            FieldSpec("self_terminate", "Instance terminates itself", "bool"),
            FieldSpec("self_terminate_grace_minutes", "Grace period (minutes)", "float"),
        ),
        _check_limits,
    ),
    Step(
        "review",
        "Review",
        (
            # output_dir is not asked for: the adapter always lands in the job folder's
            # output/ on the instance (remote/bundle_files/train.py), so a name here would do
            # nothing; TrainingConfig keeps the field for the library API.
            FieldSpec("project_name", "Project name", "text"),
        ),
        _check_review,
    ),
)


OPTIONAL_FIELDS = frozenset(spec.name for step in STEPS for spec in step.fields if spec.optional)


# --- JSON ----------------------------------------------------------------------------------


def config_to_json(cfg: TrainingConfig, wizard: Mapping[str, Any] | None = None) -> str:
    """A saved config: the TrainingConfig's fields and the wizard's own keys."""
    # Secret values never go to a file: only their names (core/tracker_secrets.py).
    doc: dict[str, Any] = {"schema": CONFIG_SCHEMA, "config": without_secret_values(cfg).to_dict()}
    extra = {k: v for k, v in (wizard or {}).items() if k in WIZARD_KEYS and v is not None}
    if extra:
        doc["wizard"] = extra
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)


def draft_from_json(text: str, *, source: str | None = None) -> dict[str, Any]:
    """A draft from saved JSON: our wrapper, or a bare TrainingConfig dict (a job's config.json).

    ConfigError (naming `source`, the file, when given) for anything the wizard cannot hold:
    not JSON, nested too deeply, a field of the wrong type or an unknown choice. Values out of
    range load, and the steps mark them, so a half-finished config can be fixed.
    """
    the_file = f"The file {source}" if source else "The file"
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ConfigError("config", f"{the_file} is JSON nested too deeply to read.") from None
    except ValueError as exc:
        # Also a number of thousands of digits (Python refuses to convert those).
        detail = str(exc)[:160]
        raise ConfigError("config", f"{the_file} is not valid JSON ({detail}).") from None
    if not isinstance(doc, dict):
        raise ConfigError("config", f"{the_file} does not hold a config object.")
    if "schema" in doc:
        if doc["schema"] != CONFIG_SCHEMA:
            shown = str(doc["schema"])[:60] if isinstance(doc["schema"], str) else "?"
            raise ConfigError("config", f"{the_file} has an unknown config format '{shown}'.")
        body, wizard = doc.get("config"), doc.get("wizard", {})
    else:
        body, wizard = doc, {}
    if not isinstance(body, dict) or not isinstance(wizard, dict):
        raise ConfigError("config", f"{the_file}'s config section is not an object.")
    if not isinstance(body.get("base_model"), str):
        raise ConfigError("base_model", f"{the_file} names no base model.")
    cfg = TrainingConfig.from_dict(body, source=source)
    _check_loaded(cfg, the_file)
    try:
        draft = cfg.to_dict()
    except (RecursionError, TypeError, ValueError) as exc:
        raise ConfigError("config", f"{the_file} cannot be read ({exc}).") from None
    for key in WIZARD_KEYS:
        value = wizard.get(key)
        if value is not None and not _is_number(value):
            raise ConfigError(key, f"{the_file} holds a {key} that is not a number.")
    draft.update({k: v for k, v in wizard.items() if k in WIZARD_KEYS})
    return draft


# The draft's choice fields, shown as drop-down lists: a loaded value must be one of them.
_LOADED_CHOICES: dict[str, tuple[str | None, ...]] = {
    "model_source": MODEL_SOURCES,
    "algorithm": ALGORITHMS,
    "quantization": QUANTIZATIONS,
    "lr_scheduler": LR_SCHEDULERS,
    "report_to": REPORT_TO,
    "dataset_format": (None, *fmt.FORMATS),
    "sharding": SHARDING_MODES,
}
# TrainingConfig's field types as written in models.py (annotations are strings there).
LOADED_KINDS = frozenset(
    {"int", "float", "str", "bool", "list[str]", "dict[str, str]", "dict[str, Any]"}
)


_KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "list[str]": "a list of texts",
    "dict[str, str]": "an object of texts",
    "dict[str, Any]": "an object",
}


def _json_kind(value: object) -> str:
    """What a loaded JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list" if all(isinstance(v, str) for v in value) else "a list holding non-text"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind_ok(value: object, kind: str) -> bool:
    """Whether `value` can sit in a field of type `kind` (any number in a number field: the
    steps mark a fraction in a whole-number field, as when typed)."""
    if kind.endswith(" | None"):
        return value is None or _kind_ok(value, kind.removesuffix(" | None"))
    if kind in ("int", "float"):
        return _is_number(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "dict[str, str]":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    if kind == "dict[str, Any]":
        return isinstance(value, dict)
    return True  # a type this check does not know: left to validate_config


def _check_loaded(cfg: TrainingConfig, the_file: str) -> None:
    """ConfigError for a field the wizard's widgets and planner cannot hold."""
    for f in dataclasses.fields(TrainingConfig):
        value = getattr(cfg, f.name)
        kind = str(f.type)
        if not _kind_ok(value, kind):
            wanted = _KIND_WORDS.get(kind.removesuffix(" | None"), kind)
            if kind.endswith(" | None"):
                wanted += " or null"
            raise ConfigError(
                f.name,
                f"{the_file} holds {_json_kind(value)} where {wanted} belongs; fix or remove "
                "this field in the file.",
            )
        choices = _LOADED_CHOICES.get(f.name)
        if choices is not None and value not in choices:
            offered = ", ".join(c for c in choices if c is not None)
            raise ConfigError(
                f.name, f"{the_file} holds {str(value)[:40]!r}, which is not one of: {offered}."
            )


# --- the wizard ------------------------------------------------------------------------------


class Wizard:
    """Steps over one draft: set fields, validate, move on, and produce the TrainingConfig."""

    def __init__(
        self,
        draft: Mapping[str, Any] | None = None,
        *,
        resources: Sequence[Resource] = (),
        pricing_of: PricingOf | None = None,
    ) -> None:
        start = TrainingConfig(base_model="").to_dict()
        start.update(draft or {})
        self.state = WizardState(start, None, tuple(resources), pricing_of)
        self.state.chosen.update(draft or {})
        self.steps = STEPS
        self.index = 0
        self._default_sharding()

    @property
    def draft(self) -> dict[str, Any]:
        """A copy of the draft."""
        return dict(self.state.draft)

    @property
    def current(self) -> Step:
        """The step on show."""
        return self.steps[self.index]

    @property
    def is_last(self) -> bool:
        """True on the review step."""
        return self.index == len(self.steps) - 1

    def get(self, name: str) -> Any:
        """One draft value."""
        return self.state.draft.get(name)

    def set(self, name: str, value: Any) -> None:
        """Set one draft value (a comma-separated string for a list field becomes a list)."""
        if name not in CONFIG_FIELDS and name not in WIZARD_KEYS:
            raise KeyError(f"'{name}' is not a config field")
        if name == "target_modules" and isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if name in ("region", "text_field", "dataset_format") and value == "":
            value = None
        if value == "" and name in OPTIONAL_FIELDS:
            value = None
        if name in ("base_model", "model_source") and value != self.state.draft.get(name):
            # A size typed for one model is wrong for the next: the new model's is inferred.
            self.state.draft["params_b"] = None
        self.state.draft[name] = value
        self.state.chosen.add(name)
        if name in ("text_field", "dataset_format"):
            self._redetect()
        if name in VALIDATION_INPUTS:
            self._default_validation()
        if name != "sharding":
            self._default_sharding()

    def update(self, values: Mapping[str, Any]) -> None:
        """Set several draft values."""
        for name, value in values.items():
            self.set(name, value)

    def apply_preset(self, key: str) -> None:
        """Replace the hyperparameters with a preset's (core.presets)."""
        self.state.draft = apply_preset(self.state.draft, key)
        self.state.chosen.update(apply_preset({}, key))  # the preset's own fields
        self._default_validation()
        self._default_sharding()

    def set_preview(self, preview: DatasetPreview | None) -> None:
        """The GUI read the dataset (or failed to); the dataset step checks this."""
        self.state.preview = preview
        self._default_validation()

    def preview_rows(self) -> int | None:
        """Rows the current dataset's preview counted; None when it was not read."""
        preview = self.state.preview
        if preview is None or preview.errors or preview.path != self.get("dataset_path"):
            return None
        return preview.row_count

    def _default_validation(self) -> None:
        """Validation on by default where the dataset allows (core.validation_default)."""
        state = self.state
        found = validation_defaults(
            state.draft, state.chosen, self.preview_rows(), state.dataset_rows, gpu_count(state)
        )
        state.draft.update(found)

    def _default_sharding(self) -> None:
        """FSDP on while the job needs it, off otherwise, until someone chooses it (module
        docstring)."""
        if "sharding" in self.state.chosen:
            return
        wanted = "fsdp" if sharding_advice(self.state).needed else "none"
        self.state.draft["sharding"] = wanted

    def sharding_advice(self) -> ShardingAdvice:
        """Whether the compute step offers sharding, and whether the job needs it."""
        return sharding_advice(self.state)

    def set_model_shape(self, inferred: InferredShape | None) -> None:
        """What the model's config.json says (it counts while the model is still the same)."""
        self.state.model_shape = inferred
        self._default_sharding()

    def set_catalog(self, resources: Sequence[Resource], pricing_of: PricingOf | None) -> None:
        """The live catalog the compute step plans against."""
        self.state.resources = tuple(resources)
        self.state.pricing_of = pricing_of
        self._default_validation()
        self._default_sharding()

    def _redetect(self) -> None:
        preview = self.state.preview
        if preview is None or not preview.rows:
            return
        self.state.preview = DatasetPreview.from_rows(
            preview.path,
            list(preview.rows),
            preview.row_count,
            text_field=self.get("text_field"),
            declared=self.get("dataset_format"),
        )

    # validation and movement

    def errors(self, key: str | None = None) -> list[FieldError]:
        """Errors and warnings of one step (the current one by default)."""
        step = self.current if key is None else self._step(key)
        return step.validate(self.state)

    def can_advance(self) -> bool:
        """True when the current step has no errors."""
        return self.current.can_advance(self.state)

    def next(self) -> bool:
        """Move to the next step if this one is valid; False when it stays."""
        if self.is_last or not self.can_advance():
            return False
        self.index += 1
        return True

    def back(self) -> bool:
        """Move to the previous step; False on the first."""
        if self.index == 0:
            return False
        self.index -= 1
        return True

    def go_to(self, key: str) -> bool:
        """Jump to a step if every step before it is valid."""
        target = self.steps.index(self._step(key))
        if any(not s.can_advance(self.state) for s in self.steps[:target]):
            return False
        self.index = target
        return True

    def _step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(f"No wizard step '{key}'")

    # planning

    def plan(self, resource: Resource | None = None) -> Plan | None:
        """The plan for the chosen (or given) type, when size and pricing are known."""
        if resource is None:
            return _planned(self.state)
        job = self.state.job_size()
        pricing_of = self.state.pricing_of
        if job is None or pricing_of is None:
            return None
        return plan_job(job, resource, pricing_of(resource))

    def plans(self) -> list[Plan]:
        """Plans for every GPU type, cheapest fitting and available first."""
        job = self.state.job_size()
        if job is None or self.state.pricing_of is None:
            return []
        return plan_all(self.state.resources, self.state.pricing_of, job)

    def recommended(self) -> Resource | None:
        """The cheapest type that fits and has capacity now."""
        job = self.state.job_size()
        if job is None or self.state.pricing_of is None:
            return None
        return recommend(self.state.resources, self.state.pricing_of, job)

    # result

    def to_config(self) -> TrainingConfig:
        """The finished TrainingConfig; raises ConfigError naming the first invalid field."""
        for e in self._step("review").validate(self.state):
            if not e.warning:
                raise ConfigError(e.field, e.message)
        return self.state.config()

    def to_json(self) -> str:
        """The draft as saved-config JSON (valid or not, so work in progress can be saved)."""
        return config_to_json(self.state.config(), self.state.draft)

    @classmethod
    def from_json(
        cls,
        text: str,
        *,
        resources: Sequence[Resource] = (),
        pricing_of: PricingOf | None = None,
        source: str | None = None,
    ) -> Wizard:
        """A wizard on a saved config; `source` (the file) is named in its errors."""
        return cls(draft_from_json(text, source=source), resources=resources, pricing_of=pricing_of)
