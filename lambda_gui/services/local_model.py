"""Checking a local model folder (before launch, in the wizard and at upload): the files the
upload will send (remote/local_tree.py), with a config.json and complete weights among them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lambda_gui.core.errors import ConfigError
from lambda_gui.remote.local_tree import TreeError, TreeFile, walk_tree

WEIGHT_SUFFIXES = (".safetensors", ".bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# An index file lists shard names; anything larger is not one.
MAX_INDEX_BYTES = 64 * 1024 * 1024


def model_files(path: str) -> list[TreeFile]:
    """The files a local model upload sends; ConfigError (field base_model) saying what is
    wrong with the folder. Blocking: call it in an executor."""
    folder = Path(path).expanduser()
    try:
        files = walk_tree(folder)
    except TreeError as exc:
        raise ConfigError("base_model", str(exc)) from None
    top = {f.rel: f for f in files if "/" not in f.rel}
    if "config.json" not in top:
        raise ConfigError(
            "base_model",
            f"{folder} has no config.json: choose the folder save_pretrained wrote (with "
            "config.json and the weights), or use a Hugging Face Hub id.",
        )
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in top):
        raise ConfigError(
            "base_model",
            f"{folder} holds no weights (*.safetensors or *.bin next to config.json). Choose "
            "the folder with the weights, or download the model again.",
        )
    for index in INDEX_FILES:
        if index in top:
            _check_shards(folder, top[index], top)
    return files


def _check_shards(folder: Path, index: TreeFile, top: dict[str, TreeFile]) -> None:
    """Every shard a sharded checkpoint's index names is in the folder."""
    if index.size > MAX_INDEX_BYTES:
        raise ConfigError("base_model", f"{index.rel} in {folder} is too large to be an index.")
    try:
        data = json.loads(index.source.read_bytes())
        shards = set(data["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise ConfigError(
            "base_model",
            f"{index.rel} in {folder} is not a readable weight index; download the model again.",
        ) from None
    missing = sorted(str(s) for s in shards if s not in top)
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise ConfigError(
            "base_model",
            f"{folder} lacks {shown}, which its {index.rel} names (an interrupted download?). "
            "Download the model again.",
        )


async def model_folder_problem(path: str) -> str | None:
    """Why `path` cannot be used as a local model folder, or None when it can."""
    try:
        await asyncio.to_thread(model_files, path)
    except ConfigError as exc:
        return str(exc).removeprefix(f"{exc.field}: ")
    return None
