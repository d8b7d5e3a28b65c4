"""The wizard's check of a local model folder."""

from __future__ import annotations

from pathlib import Path

from lambda_gui.services.local_model import model_folder_problem


async def test_model_folder_problems(tmp_path: Path) -> None:
    assert "not a folder" in (await model_folder_problem(str(tmp_path / "nope")) or "")
    assert "config.json" in (await model_folder_problem(str(tmp_path)) or "")
    (tmp_path / "config.json").write_text("{}")
    assert "no weights" in (await model_folder_problem(str(tmp_path)) or "")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert await model_folder_problem(str(tmp_path)) is None
