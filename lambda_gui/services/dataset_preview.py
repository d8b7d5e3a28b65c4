"""Reading a dataset file for the wizard's preview: first rows, row count, detected layout.

The file is read in an executor; detection is core's (DatasetPreview.from_rows).
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from lambda_gui.core.dataset_format import DatasetFormatError, file_kind, is_hub_path, parse_rows
from lambda_gui.core.wizard import DatasetPreview

PREVIEW_ROWS = 200
# Larger JSON (not JSONL) files are parsed whole only to count rows; above this, say so.
MAX_JSON_BYTES = 512 * 1024 * 1024
_HEAD_BYTES = 4 * 1024 * 1024


async def read_dataset_preview(
    path: str, *, text_field: str | None = None, declared: str | None = None
) -> DatasetPreview:
    """The preview of a local dataset file; problems land in the preview's errors."""
    if is_hub_path(path):
        return DatasetPreview.failed(path, "Hub datasets are read on the instance, not here.")
    return await asyncio.to_thread(_read_sync, path, text_field, declared)


def _read_sync(path: str, text_field: str | None, declared: str | None) -> DatasetPreview:
    file = Path(path).expanduser()
    try:
        kind = file_kind(file.name)
        if not file.is_file():
            return DatasetPreview.failed(path, f"{file} does not exist or is not a file.")
        if kind == "json":
            size = file.stat().st_size
            if size > MAX_JSON_BYTES:
                return DatasetPreview.failed(
                    path,
                    f"{file.name} is {size / 2**20:.0f} MiB of JSON; save it as JSONL (one row "
                    "per line) so it can be read without loading it whole.",
                )
            text = file.read_text(encoding="utf-8")
            rows = parse_rows(text, file.name)
            count = len(rows)
            rows = rows[:PREVIEW_ROWS]
        else:
            with file.open("rb") as fh:
                head = fh.read(_HEAD_BYTES)
            complete = len(head) < _HEAD_BYTES
            text = head.decode("utf-8", errors="strict" if complete else "ignore")
            if not complete:
                text = text[: text.rfind("\n") + 1]
            rows = parse_rows(text, file.name, limit=PREVIEW_ROWS)
            count = _count_rows(file, kind)
    except (DatasetFormatError, UnicodeDecodeError, OSError) as exc:
        return DatasetPreview.failed(path, f"{file.name}: {exc}")
    return DatasetPreview.from_rows(path, rows, count, text_field=text_field, declared=declared)


def _count_rows(file: Path, kind: str) -> int:
    """Rows in a JSONL (non-blank lines) or CSV (records after the header) file."""
    if kind == "jsonl":
        count = 0
        with file.open("rb") as fh:
            for line in fh:
                if line.strip():
                    count += 1
        return count
    with file.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        return max(0, sum(1 for row in csv.reader(fh) if row) - 1)
