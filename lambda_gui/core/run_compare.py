"""Several runs side by side: their loss curves against the step, the tokens seen or the
dollars spent, and their hyperparameters with the differences flagged.

Pure: the metrics come in as the records of a job's metrics.jsonl (or its log's metric lines),
the job's facts as plain numbers (`RunFacts`).

Dollars at a logged point are what the instance had cost by then: its hourly price times the
time since it started billing (the launch, as the app's cost meter counts), pro rata. Lambda
bills per started minute, so an invoice can be up to a minute's price above a curve's point.
The time of a point is the record's wall-clock "time" (train.py writes it); records without one
(a running job read back from its log) are placed by step, between the logged points that have
a time or, when none has, proportionally over the training's span: from the instance becoming
active to the job's end (or now), which includes set-up and download, so the dollars then are
an approximation that `RunCurves.exact` and `note` say.

Tokens seen come from the trainer's "num_tokens" when it logged them; otherwise they are an
upper bound, step x batch x gradient accumulation x GPUs x max sequence length (every sequence
counted at full length), which the note says too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_gui.core.models import TrainingConfig

STEP, TOKENS, DOLLARS = "step", "tokens", "dollars"
X_AXES: tuple[tuple[str, str], ...] = (
    (STEP, "Step"),
    (TOKENS, "Tokens seen"),
    (DOLLARS, "Dollars spent"),
)
_GPUS = re.compile(r"^gpu_(\d+)x_")


@dataclass(frozen=True)
class RunFacts:
    """What places a run's steps on the tokens and dollars axes.

    Times are epoch seconds: `billing_started_at` when the instance may have started billing
    (the launch), `active_at` when it became usable, `ended_at` when the job ended (None while
    it runs: `now` stands in)."""

    price_cents_per_hour: int
    tokens_per_step: int
    billing_started_at: float | None = None
    active_at: float | None = None
    ended_at: float | None = None


def gpus_of(instance_type: str) -> int:
    """GPUs of a Lambda instance type from its name ("gpu_8x_a100" -> 8; 1 when unnamed)."""
    match = _GPUS.match(instance_type)
    return max(1, int(match.group(1))) if match else 1


def tokens_per_step(config: TrainingConfig, gpus: int = 1) -> int:
    """The most tokens one optimizer step can see: every sequence at its full length."""
    return (
        max(1, config.batch_size)
        * max(1, config.gradient_accumulation_steps)
        * max(1, gpus)
        * max(1, config.max_seq_length)
    )


def run_facts(
    config: TrainingConfig,
    *,
    instance_type: str,
    price_cents_per_hour: int,
    launch_sent_at: float | None,
    started_at: float | None,
    ended_at: float | None,
) -> RunFacts:
    """A job's facts from its config and record (launch sent, instance active, ended)."""
    return RunFacts(
        price_cents_per_hour=price_cents_per_hour,
        tokens_per_step=tokens_per_step(config, gpus_of(instance_type)),
        billing_started_at=launch_sent_at if launch_sent_at is not None else started_at,
        active_at=started_at,
        ended_at=ended_at,
    )


@dataclass(frozen=True)
class Series:
    """One curve's points, x ascending with the step."""

    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class RunCurves:
    """A run's train and eval loss against one x axis; `exact` is False when x is estimated
    (then `note` says how), and the curves are empty when x cannot be known (`note` says why)."""

    train: Series
    eval: Series
    exact: bool = True
    note: str = ""


@dataclass(frozen=True)
class _Point:
    step: float
    loss: float | None
    eval_loss: float | None
    time: float | None
    tokens: float | None


def metric_number(value: Any) -> float | None:
    """A finite float from a metrics record's value, else None (transformers 5 prints the log
    dict's values as strings, '5.738'; older versions as floats)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _points(records: Iterable[Mapping[str, Any]]) -> list[_Point]:
    points: list[_Point] = []
    for record in records:
        step = metric_number(record.get("step"))
        if step is None or step < 0:
            continue
        points.append(
            _Point(
                step=step,
                loss=metric_number(record.get("loss")),
                eval_loss=metric_number(record.get("eval_loss")),
                time=metric_number(record.get("time")),
                tokens=metric_number(record.get("num_tokens")),
            )
        )
    return points


def loss_points(
    records: Iterable[Mapping[str, Any]],
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, train loss) and (step, eval loss) pairs, each with strictly growing steps (a
    step logged again, as after a reattach, keeps its first value)."""
    train, evals = _split(_points(records))
    return [(p.step, v) for p, v in train], [(p.step, v) for p, v in evals]


def _known(
    points: Iterable[_Point], pick: Callable[[_Point], float | None]
) -> list[tuple[float, float]]:
    """(step, value) where the value is known, by step, one value per step (the first)."""
    pairs: dict[float, float] = {}
    for point in points:
        value = pick(point)
        if value is not None and point.step not in pairs:
            pairs[point.step] = value
    return sorted(pairs.items())


def interpolate(step: float, known: Sequence[tuple[float, float]]) -> float:
    """The value at `step`: linear between known (step, value) pairs, held at the ends."""
    if not known:
        raise ValueError("nothing known to interpolate from")
    if step <= known[0][0]:
        return known[0][1]
    if step >= known[-1][0]:
        return known[-1][1]
    lo, hi = 0, len(known) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if known[mid][0] <= step:
            lo = mid
        else:
            hi = mid
    (s0, v0), (s1, v1) = known[lo], known[hi]
    return v0 + (v1 - v0) * (step - s0) / (s1 - s0)


def _tokens_mapper(points: list[_Point], facts: RunFacts) -> tuple[Callable[[_Point], float], str]:
    known = _known(points, lambda p: p.tokens)
    if known:
        last_step, last_tokens = known[-1]
        anchored = [(0.0, 0.0), *known] if known[0][0] > 0 else known

        def from_log(point: _Point) -> float:
            if point.tokens is not None:
                return point.tokens
            if point.step > last_step and last_step > 0:
                return last_tokens * point.step / last_step  # past the last count: its pace
            return interpolate(point.step, anchored)

        return from_log, ""
    per_step = float(facts.tokens_per_step)
    return (
        lambda point: point.step * per_step,
        f"upper bound: {facts.tokens_per_step:,} tokens a step "
        "(batch x accumulation x GPUs x max sequence length)",
    )


def _clock_mapper(
    points: list[_Point], facts: RunFacts, now: float
) -> tuple[Callable[[_Point], float] | None, bool, str]:
    """A point -> epoch seconds, whether that is measured (not spread over the run), a note."""
    known = _known(points, lambda p: p.time)
    if known:
        drawn = (p for p in points if p.loss is not None or p.eval_loss is not None)
        missing = any(p.time is None for p in drawn)
        note = "some points placed by step between the logged times" if missing else ""

        def logged(point: _Point) -> float:
            return point.time if point.time is not None else interpolate(point.step, known)

        return logged, True, note
    begin = facts.active_at if facts.active_at is not None else facts.billing_started_at
    if begin is None:
        return None, False, "no times were logged and the job has no start time"
    end = facts.ended_at if facts.ended_at is not None else now
    last = max((p.step for p in points), default=0.0)
    span = max(0.0, end - begin)

    def spread(point: _Point) -> float:
        return begin + (span * point.step / last if last > 0 else 0.0)

    return spread, False, "estimated: no times were logged, so the steps are spread over the run"


def _dollars_mapper(
    points: list[_Point], facts: RunFacts, now: float
) -> tuple[Callable[[_Point], float] | None, bool, str]:
    if facts.price_cents_per_hour <= 0:
        return None, False, "its hourly price is unknown"
    start = facts.billing_started_at
    if start is None:
        return None, False, "it has no billing start (no instance was launched)"
    clock, exact, note = _clock_mapper(points, facts, now)
    if clock is None:
        return None, False, note
    per_second = facts.price_cents_per_hour / 360000.0

    def dollars(point: _Point) -> float:
        return max(0.0, clock(point) - start) * per_second

    return dollars, exact, note


def run_curves(
    records: Iterable[Mapping[str, Any]], axis: str, facts: RunFacts, now: float
) -> RunCurves:
    """A run's train and eval loss against `axis` ("step", "tokens" or "dollars")."""
    points = _points(records)
    train, evals = _split(points)
    if axis == STEP:
        return RunCurves(_series(train, _step), _series(evals, _step))
    if axis == TOKENS:
        to_tokens, note = _tokens_mapper(points, facts)
        return RunCurves(_series(train, to_tokens), _series(evals, to_tokens), not note, note)
    if axis == DOLLARS:
        to_dollars, exact, note = _dollars_mapper(points, facts, now)
        if to_dollars is None:
            return RunCurves(Series(), Series(), False, note)
        return RunCurves(_series(train, to_dollars), _series(evals, to_dollars), exact, note)
    raise ValueError(f"unknown x axis {axis!r}; use one of {', '.join(k for k, _ in X_AXES)}")


def _split(points: list[_Point]) -> tuple[list[tuple[_Point, float]], list[tuple[_Point, float]]]:
    train: list[tuple[_Point, float]] = []
    evals: list[tuple[_Point, float]] = []
    for point in points:
        for into, value in ((train, point.loss), (evals, point.eval_loss)):
            if value is not None and (not into or point.step > into[-1][0].step):
                into.append((point, value))
    return train, evals


def _step(point: _Point) -> float:
    return point.step


def _series(pairs: Sequence[tuple[_Point, float]], to_x: Callable[[_Point], float]) -> Series:
    return Series(tuple(to_x(point) for point, _ in pairs), tuple(value for _, value in pairs))


def dollars_at(time: float, facts: RunFacts) -> float:
    """What the instance had cost at epoch second `time`, pro rata at its hourly price."""
    if facts.billing_started_at is None or facts.price_cents_per_hour <= 0:
        return 0.0
    return max(0.0, time - facts.billing_started_at) * facts.price_cents_per_hour / 360000.0


# -- hyperparameters -------------------------------------------------------------------------

# The config fields that change what a run learns or what it costs, as a person names them.
COMPARED_FIELDS: tuple[tuple[str, str], ...] = (
    ("base_model", "Base model"),
    ("algorithm", "Method"),
    ("rank", "LoRA rank"),
    ("alpha", "LoRA alpha"),
    ("dropout", "LoRA dropout"),
    ("target_modules", "Target modules"),
    ("quantization", "Quantization"),
    ("learning_rate", "Learning rate"),
    ("lr_scheduler", "LR scheduler"),
    ("warmup_ratio", "Warmup ratio"),
    ("weight_decay", "Weight decay"),
    ("num_epochs", "Epochs"),
    ("max_steps", "Max steps"),
    ("batch_size", "Batch size per GPU"),
    ("gradient_accumulation_steps", "Gradient accumulation"),
    ("max_seq_length", "Max sequence length"),
    ("dataset_path", "Dataset"),
    ("validation_split", "Validation split"),
    ("bf16", "bf16"),
    ("gradient_checkpointing", "Gradient checkpointing"),
    ("use_chat_template", "Chat template"),
    ("resource_id", "Instance type"),
    ("sharding", "Sharding"),
    ("seed", "Seed"),
    ("resume_of", "Resumed from"),
)


@dataclass(frozen=True)
class HyperRow:
    """One config field across the runs: its values as shown, and whether they differ."""

    field: str
    label: str
    values: tuple[str, ...]
    differs: bool


def _comparable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_comparable(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def format_value(field: str, value: Any) -> str:
    """A config value as the table shows it."""
    if field == "max_steps" and isinstance(value, int) and value <= 0:
        return "— (epochs decide)"
    if field == "bf16" and value is None:
        return "auto"
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def hyperparameter_table(
    configs: Sequence[TrainingConfig],
    fields: Sequence[tuple[str, str]] = COMPARED_FIELDS,
) -> list[HyperRow]:
    """One row per compared field; `differs` when the runs do not all agree on it."""
    rows: list[HyperRow] = []
    for name, label in fields:
        raw = [getattr(config, name) for config in configs]
        distinct = {repr(_comparable(value)) for value in raw}
        rows.append(
            HyperRow(
                field=name,
                label=label,
                values=tuple(format_value(name, value) for value in raw),
                differs=len(distinct) > 1,
            )
        )
    return rows


def differing_fields(rows: Iterable[HyperRow]) -> list[str]:
    """The fields whose values differ across the runs."""
    return [row.field for row in rows if row.differs]
