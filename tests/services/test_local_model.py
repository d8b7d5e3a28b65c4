"""The check of a local model folder: in the wizard, at submit, and as the upload walks it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services.local_inputs import check_local_inputs
from lambda_gui.services.local_model import model_files, model_folder_problem
from tests.remote.test_local_tree import hf_cache_snapshot


async def test_model_folder_problems(tmp_path: Path) -> None:
    assert "not a folder" in (await model_folder_problem(str(tmp_path / "nope")) or "")
    assert "config.json" in (await model_folder_problem(str(tmp_path)) or "")
    (tmp_path / "config.json").write_text("{}")
    assert "no weights" in (await model_folder_problem(str(tmp_path)) or "")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert await model_folder_problem(str(tmp_path)) is None


async def test_submit_check_requires_weights(tmp_path: Path) -> None:
    """Before: the submit check looked for config.json only, and a folder without weights
    launched, booted and failed on the instance."""
    (tmp_path / "config.json").write_text("{}")
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "a"}\n')
    cfg = TrainingConfig(
        base_model=str(tmp_path), model_source="local", dataset_path=str(data), text_field="text"
    )
    with pytest.raises(ConfigError, match="no weights") as caught:
        await check_local_inputs(cfg)
    assert caught.value.field == "base_model"


def test_hf_cache_snapshot_is_a_model_folder(tmp_path: Path) -> None:
    snapshot = hf_cache_snapshot(
        tmp_path, {"config.json": b"{}", "model.safetensors": b"w", "tokenizer.json": b"{}"}
    )
    assert [f.rel for f in model_files(str(snapshot))] == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]


def test_sharded_weights_must_all_be_there(tmp_path: Path) -> None:
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"w")
    with pytest.raises(ConfigError, match="lacks model-00002-of-00002.safetensors"):
        model_files(str(tmp_path))
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"w")
    assert len(model_files(str(tmp_path))) == 4
    (tmp_path / "model.safetensors.index.json").write_text("[")
    with pytest.raises(ConfigError, match="not a readable weight index"):
        model_files(str(tmp_path))


def test_a_bad_name_is_refused_with_the_field(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"w")
    (tmp_path / "notes (copy).txt").write_text("x")
    with pytest.raises(ConfigError, match="Rename it") as caught:
        model_files(str(tmp_path))
    assert caught.value.field == "base_model"
