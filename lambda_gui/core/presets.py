"""Hyperparameter presets: a quick smoke test, a balanced default, and a slower, better run.

Each preset is a dict over TrainingConfig fields; applying one changes only those fields.
The values follow common LoRA practice (PEFT and TRL examples, QLoRA paper): alpha = 2 * rank,
learning rate 2e-4 for small ranks and lower for large ones, a short warm-up, cosine decay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A named set of TrainingConfig values with a one-line description."""

    key: str
    title: str
    description: str
    values: Mapping[str, Any]


PRESETS: dict[str, Preset] = {
    "quick_test": Preset(
        key="quick_test",
        title="Quick test",
        description="30 steps at a small rank: checks the data and set-up end to end in minutes.",
        values=MappingProxyType(
            {
                "rank": 8,
                "alpha": 16,
                "dropout": 0.05,
                "target_modules": ["q_proj", "v_proj"],
                "learning_rate": 2e-4,
                "num_epochs": 1.0,
                "max_steps": 30,
                "batch_size": 4,
                "gradient_accumulation_steps": 1,
                "max_seq_length": 512,
                "warmup_ratio": 0.0,
                "lr_scheduler": "constant",
                "validation_split": 0.0,
                "eval_steps": 0,
                "save_steps": 0,
                "logging_steps": 1,
                "gradient_checkpointing": False,
            }
        ),
    ),
    "balanced": Preset(
        key="balanced",
        title="Balanced",
        description="One epoch, rank 16 on the attention projections: a sound first real run.",
        values=MappingProxyType(
            {
                "rank": 16,
                "alpha": 32,
                "dropout": 0.05,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                "learning_rate": 2e-4,
                "num_epochs": 1.0,
                "max_steps": -1,
                "batch_size": 4,
                "gradient_accumulation_steps": 4,
                "max_seq_length": 1024,
                "warmup_ratio": 0.03,
                "lr_scheduler": "cosine",
                "validation_split": 0.05,
                "eval_steps": 50,
                "save_steps": 0,
                "logging_steps": 5,
                "gradient_checkpointing": False,
            }
        ),
    ),
    "quality": Preset(
        key="quality",
        title="Quality",
        description="Three epochs, rank 64 on every linear layer, longer sequences: slower, better.",
        values=MappingProxyType(
            {
                "rank": 64,
                "alpha": 128,
                "dropout": 0.05,
                "target_modules": ["all-linear"],
                "learning_rate": 1e-4,
                "num_epochs": 3.0,
                "max_steps": -1,
                "batch_size": 8,
                "gradient_accumulation_steps": 4,
                "max_seq_length": 2048,
                "warmup_ratio": 0.05,
                "lr_scheduler": "cosine",
                "validation_split": 0.05,
                "eval_steps": 100,
                "save_steps": 500,
                "logging_steps": 10,
                "gradient_checkpointing": True,
            }
        ),
    ),
}


def preset_values(key: str) -> dict[str, Any]:
    """A fresh copy of a preset's values (lists copied, so callers may change them)."""
    try:
        preset = PRESETS[key]
    except KeyError:
        raise KeyError(f"Unknown preset '{key}'; known: {', '.join(PRESETS)}") from None
    return {k: list(v) if isinstance(v, list) else v for k, v in preset.values.items()}


def apply_preset(draft: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`draft` with the preset's fields replaced; every other field is kept."""
    return {**draft, **preset_values(key)}


def matching_preset(draft: Mapping[str, Any]) -> str | None:
    """The key of the preset whose every value `draft` carries, if any."""
    for key, preset in PRESETS.items():
        if all(draft.get(name) == value for name, value in preset.values.items()):
            return key
    return None
