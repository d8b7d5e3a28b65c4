"""Validation on by default: a held-out split and an eval interval when the dataset allows.

A draft whose validation split nobody chose (not the user, a loaded config or a preset) gets
AUTO_SPLIT when the dataset's preview shows at least AUTO_MIN_ROWS rows, else 0. Its eval
interval, unless chosen too, follows the run's length so that the eval curve gets about
AUTO_EVALS points, each on a logging step. The run's length is in optimizer steps, which on a
multi-GPU type (one training process per GPU, each on its own rows) are fewer by the GPU count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from typing import Any

AUTO_SPLIT = 0.05
AUTO_MIN_ROWS = 200
AUTO_EVALS = 10
MIN_EVAL_INTERVAL = 10
# The draft keys the defaults depend on: setting one recomputes them.
INPUTS = frozenset(
    {
        "dataset_path",
        "validation_split",
        "eval_steps",
        "batch_size",
        "gradient_accumulation_steps",
        "num_epochs",
        "max_steps",
        "logging_steps",
        "resource_id",
    }
)


MAX_STEPS = 10**9  # a bound on the estimate, so typed extremes stay numbers


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    number = float(value)
    return number if math.isfinite(number) else default


def held_out_rows(rows: int, split: float) -> int:
    """Rows train.py holds out for validation (split_datasets: at least one, rounded)."""
    return max(1, round(rows * split)) if split > 0 and rows > 0 else 0


def estimated_steps(draft: Mapping[str, Any], rows: int, gpus: int = 1) -> int:
    """Optimizer steps for `rows` rows over `gpus` training processes, each taking its own
    batch of rows per step (max_steps wins over epochs)."""
    max_steps = _number(draft.get("max_steps"), -1)
    if max_steps > 0:
        return int(min(max_steps, MAX_STEPS))
    train_rows = max(1, rows - held_out_rows(rows, _number(draft.get("validation_split"), 0)))
    batch = max(1, int(_number(draft.get("batch_size"), 1)))
    accum = max(1, int(_number(draft.get("gradient_accumulation_steps"), 1)))
    per_epoch = math.ceil(math.ceil(train_rows / (batch * max(1, gpus))) / accum)
    epochs = _number(draft.get("num_epochs"), 1.0) or 1.0
    return max(1, math.ceil(min(per_epoch * epochs, MAX_STEPS)))


def eval_interval(steps: int, logging_steps: int) -> int:
    """About AUTO_EVALS evaluations over `steps`, at least MIN_EVAL_INTERVAL steps apart (when
    the run is that long), each on a logging step."""
    log = max(1, logging_steps)
    want = max(1, math.ceil(steps / AUTO_EVALS), min(MIN_EVAL_INTERVAL, steps))
    return math.ceil(want / log) * log


def validation_defaults(
    draft: Mapping[str, Any],
    chosen: Set[str],
    preview_rows: int | None,
    rows: int | None,
    gpus: int = 1,
) -> dict[str, Any]:
    """The split and eval interval to set now; what was chosen is left out.

    `preview_rows`: rows the dataset's preview counted (None: not read, or a Hub dataset);
    `rows`: the dataset's rows as the planner knows them (the preview's, or the user's figure);
    `gpus`: training processes on the chosen type.
    """
    out: dict[str, Any] = {}
    split = _number(draft.get("validation_split"), 0.0)
    if "validation_split" not in chosen:
        split = AUTO_SPLIT if (preview_rows or 0) >= AUTO_MIN_ROWS else 0.0
        out["validation_split"] = split
    if "eval_steps" not in chosen:
        if split > 0 and rows:
            logging = int(_number(draft.get("logging_steps"), 1))
            steps = estimated_steps({**draft, **out}, rows, gpus)
            out["eval_steps"] = eval_interval(steps, logging)
        else:
            out["eval_steps"] = 0
    return out


def validation_note(draft: Mapping[str, Any], chosen: Set[str], preview_rows: int | None) -> str:
    """What the validation split does for this dataset, and why it is on or off."""
    split = _number(draft.get("validation_split"), 0.0)
    eval_steps = int(_number(draft.get("eval_steps"), 0))
    when = f"every {eval_steps:,} steps" if eval_steps > 0 else "after each epoch"
    if "validation_split" in chosen:
        if split <= 0 or not preview_rows:
            return ""
        held = held_out_rows(preview_rows, split)
        return f"{held:,} of {preview_rows:,} rows are held out; the eval loss is measured {when}."
    if preview_rows is None:
        return (
            f"Off until a dataset file is read: from {AUTO_MIN_ROWS} rows on, "
            f"{AUTO_SPLIT:.0%} are held out by default. Set a percentage to evaluate a Hub "
            "dataset."
        )
    if split > 0:
        held = held_out_rows(preview_rows, split)
        return (
            f"On by default: {held:,} of {preview_rows:,} rows are held out, and the eval loss "
            f"is measured {when}. Set 0 to train on every row."
        )
    return (
        f"Off: {preview_rows:,} rows are too few to spare a validation set (it is on by default "
        f"from {AUTO_MIN_ROWS} rows). Set a percentage to evaluate anyway."
    )
