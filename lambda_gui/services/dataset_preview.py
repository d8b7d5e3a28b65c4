"""Reading a dataset file for the wizard's preview: first rows, row count, detected layout.

The file is read in an executor, in fixed-size pieces (memory stays flat whatever its size or
line lengths); detection is core's (DatasetPreview.from_rows).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, BinaryIO

from lambda_gui.core.dataset_format import (
    DatasetFormatError,
    DatasetRowTooLongError,
    file_kind,
    is_hub_path,
    iter_rows,
)
from lambda_gui.core.wizard import DatasetPreview

PREVIEW_ROWS = 200
# The preview's rows come from the start of the file; this also caps one previewed row, so a
# file without line breaks costs a few MiB, not its size.
PREVIEW_HEAD_BYTES = 4 * 1024 * 1024
# JSONL rows are counted in binary pieces this large, at bytes.count speed.
COUNT_CHUNK_BYTES = 256 * 1024
# "\r" ends a line as "\n" does (Python's text files read it so); blank space is dropped, so a
# blank line becomes an empty one.
_CR_TO_LF = bytes.maketrans(b"\r", b"\n")
_BLANK = b" \t\x0b\x0c"


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
        with file.open("rb") as fh:
            rows = _head_rows(fh, file.name)
            fh.seek(0)
            if kind == "jsonl":
                count = count_jsonl_rows(fh)
            else:
                # A CSV record or JSON row may span lines: they are parsed (streamed) to count.
                count = sum(1 for _ in iter_rows(fh, file.name))
    except (DatasetFormatError, OSError) as exc:
        return DatasetPreview.failed(path, f"{file.name}: {exc}")
    return DatasetPreview.from_rows(path, rows, count, text_field=text_field, declared=declared)


def _head_rows(fh: BinaryIO, name: str) -> list[dict[str, Any]]:
    """Up to PREVIEW_ROWS rows from about the first PREVIEW_HEAD_BYTES of the file."""
    read = 0

    def seen(done: int, _total: int) -> None:
        nonlocal read
        read = done

    rows: list[dict[str, Any]] = []
    try:
        for row in iter_rows(fh, name, progress=seen, max_row=PREVIEW_HEAD_BYTES):
            rows.append(row)
            if len(rows) >= PREVIEW_ROWS or read >= PREVIEW_HEAD_BYTES:
                break
    except DatasetRowTooLongError as exc:
        # A long row later on ends the preview; the check before a launch reads it whole.
        if not rows:
            raise DatasetRowTooLongError(
                f"Line {exc.line} holds more than {PREVIEW_HEAD_BYTES // 2**20} MiB of text, too "
                "much to preview. Check that every row ends with a line break.",
                line=exc.line,
                row=exc.row,
            ) from None
    return rows


def count_jsonl_rows(fh: BinaryIO) -> int:
    """Non-blank lines from the current position, read in binary pieces of COUNT_CHUNK_BYTES."""
    count = 0
    open_line = False  # the line not ended yet has something in it
    while chunk := fh.read(COUNT_CHUNK_BYTES):
        parts = chunk.translate(_CR_TO_LF, _BLANK).split(b"\n")
        if len(parts) == 1:
            open_line = open_line or bool(parts[0])
            continue
        if open_line or parts[0]:
            count += 1
        # Lines that start and end inside this piece: those with something in them.
        inner_blank = parts.count(b"") - (not parts[0]) - (not parts[-1])
        count += len(parts) - 2 - inner_blank
        open_line = bool(parts[-1])
    return count + open_line
