"""Reading a dataset for the wizard's preview: rows, count, layout, and errors in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_gui.services import dataset_preview
from lambda_gui.services.dataset_preview import PREVIEW_ROWS, read_dataset_preview
from lambda_gui.simulator.tiny_model import demo_dataset_path


async def test_demo_dataset() -> None:
    preview = await read_dataset_preview(str(demo_dataset_path()))
    assert not preview.errors
    assert preview.row_count == 140 and len(preview.rows) == 140
    assert preview.format is not None and preview.format.kind == "alpaca"


async def test_counts_every_row_but_keeps_a_few(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n\n" for i in range(1000)))
    preview = await read_dataset_preview(str(path))
    assert preview.row_count == 1000 and len(preview.rows) == PREVIEW_ROWS

    csv_path = tmp_path / "rows.csv"
    csv_path.write_text('text\n"a, with comma"\n"multi\nline"\nplain\n')
    preview = await read_dataset_preview(str(csv_path))
    assert preview.row_count == 3 and preview.format is not None

    json_path = tmp_path / "rows.json"
    json_path.write_text(json.dumps([{"text": str(i)} for i in range(300)]))
    preview = await read_dataset_preview(str(json_path))
    assert preview.row_count == 300 and len(preview.rows) == PREVIEW_ROWS


async def test_problems_are_errors_not_exceptions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = await read_dataset_preview(str(tmp_path / "none.jsonl"))
    assert missing.errors and "does not exist" in missing.errors[0]
    wrong_kind = await read_dataset_preview(str(tmp_path / "data.parquet"))
    assert wrong_kind.errors and ".jsonl" in wrong_kind.errors[0]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\nnot json\n')
    preview = await read_dataset_preview(str(broken))
    assert preview.errors and "broken.jsonl" in preview.errors[0]
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "caf\xe9"}\n')
    assert (await read_dataset_preview(str(latin))).errors
    hub = await read_dataset_preview("hf://tatsu-lab/alpaca")
    assert hub.errors and "instance" in hub.errors[0]

    big_json = tmp_path / "huge.json"
    big_json.write_text("[]")
    monkeypatch.setattr(dataset_preview, "MAX_JSON_BYTES", 1)
    preview = await read_dataset_preview(str(big_json))
    assert preview.errors and "JSONL" in preview.errors[0]
