"""Reading a dataset for the wizard's preview: rows, count, layout, and errors in words."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from lambda_gui.core.dataset_format import parse_rows
from lambda_gui.core.wizard import DatasetPreview
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


async def test_problems_are_errors_not_exceptions(tmp_path: Path) -> None:
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
    latin_preview = await read_dataset_preview(str(latin))
    assert latin_preview.errors and "as UTF-8" in latin_preview.errors[0]
    hub = await read_dataset_preview("hf://tatsu-lab/alpaca")
    assert hub.errors and "instance" in hub.errors[0]


MiB = 1024 * 1024


def _peak(action: Callable[[], object]) -> tuple[object, int, float]:
    """What `action` returns, the peak of Python memory it took, and its time."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1], time.perf_counter() - started
    finally:
        tracemalloc.stop()


def test_rows_are_counted_in_chunks_whatever_the_line_length(tmp_path: Path) -> None:
    """Three rows, then 64 MiB without a line break (a sparse file: written in no time)."""
    path = tmp_path / "tail.jsonl"
    with path.open("wb") as fh:
        fh.write(b'{"text": "a"}\n' * 3)
        fh.truncate(64 * MiB)
    with path.open("rb") as fh:
        count, peak, elapsed = _peak(lambda: dataset_preview.count_jsonl_rows(fh))
    assert count == 4  # the long last line is a (broken) row too
    assert peak < 2 * MiB, peak  # iterating lines held the whole 64 MiB line
    # Twice the file, about twice the time (not four times): no line is ever re-scanned.
    small = _best_count_time(path)
    with path.open("r+b") as fh:
        fh.truncate(128 * MiB)
    assert _best_count_time(path) < 3.5 * small + 0.05


def _best_count_time(path: Path) -> float:
    """The fastest of three counts of `path` (the machine may be busy)."""
    best = float("inf")
    for _ in range(3):
        with path.open("rb") as fh:
            started = time.perf_counter()
            dataset_preview.count_jsonl_rows(fh)
            best = min(best, time.perf_counter() - started)
    return best


def test_preview_of_a_file_without_line_breaks_takes_a_few_mib(tmp_path: Path) -> None:
    path = tmp_path / "one-line.jsonl"
    with path.open("wb") as fh:
        fh.truncate(64 * MiB)
    preview, peak, _ = _peak(lambda: asyncio.run(read_dataset_preview(str(path))))
    assert isinstance(preview, DatasetPreview)
    assert preview.errors and "Line 1 holds more than 4 MiB" in preview.errors[0]
    assert peak < 8 * MiB, peak

    tail = tmp_path / "tail.jsonl"
    with tail.open("wb") as fh:
        fh.write(b'{"text": "a"}\n' * 3)
        fh.truncate(64 * MiB)
    preview, peak, _ = _peak(lambda: asyncio.run(read_dataset_preview(str(tail))))
    assert isinstance(preview, DatasetPreview)
    # The rows before the long line are previewed; the check before a launch refuses it.
    assert not preview.errors and (preview.row_count, len(preview.rows)) == (4, 3)
    assert peak < 8 * MiB, peak


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"", 0),
        (b"\n\n  \r\n\t\n", 0),
        (b'{"a": 1}', 1),
        (b'{"a": 1}\r\n\r\n{"a": 2}\r{"a": 3}\n \n', 3),
        (b'{"a": 1}\n' * 100_000, 100_000),
        ((b'{"a": "' + b"x" * 100_000 + b'"}\n\n') * 20, 20),
    ],
)
def test_count_matches_the_rows_parsed(tmp_path: Path, data: bytes, rows: int) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(data)
    with path.open("rb") as fh:
        assert dataset_preview.count_jsonl_rows(fh) == rows
    assert len(parse_rows(data.decode(), "rows.jsonl")) == rows


async def test_a_big_json_array_is_previewed_streamed(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    row = json.dumps({"text": "x" * 500})
    path.write_text("[" + ",\n".join([row] * 30_000) + "]")  # ~15 MiB
    preview = await read_dataset_preview(str(path))
    assert not preview.errors
    assert preview.row_count == 30_000 and len(preview.rows) == PREVIEW_ROWS
