"""Checking a local model folder for the wizard (on disk, so in an executor)."""

from __future__ import annotations

import asyncio
from pathlib import Path


async def model_folder_problem(path: str) -> str | None:
    """Why `path` cannot be used as a local model folder, or None when it can."""
    return await asyncio.to_thread(_problem, path)


def _problem(path: str) -> str | None:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return f"{folder} is not a folder on this computer."
    if not (folder / "config.json").is_file():
        return (
            f"{folder} has no config.json: choose the folder save_pretrained wrote (with "
            "config.json and the weights)."
        )
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        return f"{folder} holds no weights (*.safetensors or *.bin)."
    return None
