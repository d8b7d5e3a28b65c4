"""Training-data formats: parse JSONL/JSON/CSV text into rows, detect the layout, render rows.

Three layouts are understood:

- ``text``: one string field per row holding the whole example (``text`` unless told otherwise);
- ``alpaca``: ``instruction``, optional ``input``, ``output``;
- ``chat``: ``messages`` (or ShareGPT's ``conversations``), a list of ``{"role", "content"}``
  turns (ShareGPT's ``{"from", "value"}`` with ``human``/``gpt`` is accepted too).

A Hub dataset is named in ``dataset_path`` as ``hf://ORG/NAME`` (or ``hf://NAME``), optionally
followed by ``?config=CONFIG&split=SPLIT`` (split defaults to ``train``).

This module is self-contained (standard library only, Python 3.10+): the job bundle ships a copy
of it next to train.py, which runs on the instance where lambda_gui is not installed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

FORMATS = ("text", "alpaca", "chat")
FILE_EXTENSIONS = (".jsonl", ".json", ".csv")
HUB_PREFIX = "hf://"
ROLES = ("system", "user", "assistant", "tool")
_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "tool": "tool"}
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HUB_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


class DatasetFormatError(ValueError):
    """The data cannot be used as it is; the message says which row, what is wrong, what to do."""

    def __init__(self, message: str, *, row: int | None = None) -> None:
        self.row = row
        super().__init__(message)


@dataclass(frozen=True)
class DatasetFormat:
    """A detected layout: its kind (one of FORMATS) and the field(s) it reads."""

    kind: str
    field: str
    rows_checked: int

    def describe(self) -> str:
        """A short human description, e.g. "chat messages in 'messages' (120 rows)"."""
        what = {
            "text": f"plain text in '{self.field}'",
            "alpaca": "instruction / input / output (Alpaca)",
            "chat": f"chat messages in '{self.field}'",
        }[self.kind]
        return f"{what} ({self.rows_checked} rows)"


@dataclass(frozen=True)
class HubDataset:
    """A dataset on the Hugging Face Hub, as named by an ``hf://`` dataset path."""

    repo_id: str
    config: str | None = None
    split: str = "train"


# --- dataset path syntax ---------------------------------------------------------------


def is_hub_path(path: str) -> bool:
    """True when `path` names a Hub dataset (``hf://...``) rather than a local file."""
    return path.strip().startswith(HUB_PREFIX)


def parse_hub_path(path: str) -> HubDataset:
    """Parse ``hf://ORG/NAME[?config=C&split=S]``; raises DatasetFormatError saying the fix."""
    text = path.strip()
    if not text.startswith(HUB_PREFIX):
        raise DatasetFormatError(
            f"A Hub dataset path starts with {HUB_PREFIX}, e.g. hf://org/name."
        )
    body = text[len(HUB_PREFIX) :]
    repo_id, _, query = body.partition("?")
    if not _HUB_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise DatasetFormatError(
            f"'{repo_id}' is not a Hub dataset id. Write it as hf://org/name "
            "(letters, digits, '-', '_', '.'), e.g. hf://tatsu-lab/alpaca."
        )
    options: dict[str, str] = {}
    if query:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise DatasetFormatError(
                "The part after '?' must look like config=NAME&split=NAME."
            ) from None
        for key, value in pairs:
            if key not in ("config", "split"):
                raise DatasetFormatError(
                    f"Unknown option '{key}' in the Hub dataset path: only config= and split= "
                    "are understood."
                )
            if not _HUB_PART.fullmatch(value):
                raise DatasetFormatError(
                    f"{key}='{value}' is not a valid {key} name (letters, digits, '-', '_', '.')."
                )
            options[key] = value
    return HubDataset(repo_id, options.get("config"), options.get("split", "train"))


def file_kind(name: str) -> str:
    """The parser a file name calls for: "jsonl", "json" or "csv"; raises for anything else."""
    lower = name.lower()
    for ext in FILE_EXTENSIONS:
        if lower.endswith(ext):
            return ext[1:]
    raise DatasetFormatError(
        f"'{name}' is not a .jsonl, .json or .csv file. Save the data in one of those formats."
    )


# --- parsing text into rows --------------------------------------------------------------


def parse_rows(text: str, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON / CSV file's text, chosen by `name`'s extension."""
    kind = file_kind(name)
    if kind == "jsonl":
        return parse_jsonl(text, limit=limit)
    if kind == "json":
        return parse_json(text, limit=limit)
    return parse_csv(text, limit=limit)


def parse_jsonl(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """One JSON object per non-blank line; errors name the line."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if limit is not None and len(rows) >= limit:
            break
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise DatasetFormatError(
                f"Line {number} is not valid JSON ({_json_reason(exc)}). Each line of a .jsonl "
                "file must hold one complete JSON object.",
                row=len(rows) + 1,
            ) from None
        if not isinstance(value, dict):
            raise DatasetFormatError(
                f"Line {number} holds a JSON {_json_type(value)}, not an object. Each line must "
                'be an object such as {"text": "..."}.',
                row=len(rows) + 1,
            )
        rows.append(value)
    return rows


def parse_json(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """A JSON array of objects (or an object holding one such array under a single key)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DatasetFormatError(
            f"The file is not valid JSON ({_json_reason(exc)}). If it has one object per line, "
            "name it .jsonl."
        ) from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DatasetFormatError(
                "The JSON file holds an object; expected an array of rows, e.g. "
                '[{"text": "..."}, ...].'
            )
        value = lists[0]
    if not isinstance(value, list):
        raise DatasetFormatError(
            f"The JSON file holds a {_json_type(value)}; expected an array of row objects."
        )
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(value[:limit] if limit is not None else value, start=1):
        if not isinstance(item, dict):
            raise DatasetFormatError(
                f"Row {index} is a JSON {_json_type(item)}, not an object. Every element of the "
                "array must be an object with the row's fields.",
                row=index,
            )
        rows.append(item)
    return rows


def parse_csv(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """CSV with a header row; every value is a string."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise DatasetFormatError(f"The CSV header cannot be read ({exc}).") from None
    names = [h.strip() for h in header]
    if not any(names) or len(set(names)) != len(names) or "" in names:
        raise DatasetFormatError(
            "The CSV's first line must name every column, each name once (e.g. "
            "instruction,input,output)."
        )
    rows: list[dict[str, Any]] = []
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if limit is not None and len(rows) >= limit:
                break
            if len(cells) != len(names):
                raise DatasetFormatError(
                    f"CSV row {len(rows) + 1} (line {reader.line_num}) has {len(cells)} cells "
                    f"but the header names {len(names)} columns. Quote cells that contain commas.",
                    row=len(rows) + 1,
                )
            rows.append(dict(zip(names, cells, strict=True)))
    except csv.Error as exc:
        raise DatasetFormatError(
            f"CSV line {reader.line_num} cannot be read ({exc}). Check its quoting.",
            row=len(rows) + 1,
        ) from None
    return rows


# --- detecting the layout ----------------------------------------------------------------


def detect_format(
    rows: Sequence[Mapping[str, Any]],
    *,
    text_field: str | None = None,
    declared: str | None = None,
) -> DatasetFormat:
    """Work out the layout from the rows' fields and check every row against it."""
    if not rows:
        raise DatasetFormatError("The dataset has no rows. Add at least a few examples.")
    first = rows[0]
    if not isinstance(first, Mapping):
        raise DatasetFormatError(
            f"Row 1 is a {_json_type(first)}, not an object with named fields.", row=1
        )
    if declared is not None and declared not in FORMATS:
        raise DatasetFormatError(
            f"Unknown dataset format '{declared}'; choose one of: {', '.join(FORMATS)}."
        )
    kind, field = _guess_layout(first, text_field=text_field, declared=declared)
    fmt = DatasetFormat(kind, field, len(rows))
    for index, row in enumerate(rows, start=1):
        check_row(row, fmt, index)
    return fmt


def _guess_layout(
    first: Mapping[str, Any], *, text_field: str | None, declared: str | None
) -> tuple[str, str]:
    keys = list(first.keys())
    if text_field and declared in (None, "text"):
        return "text", text_field
    if declared == "chat" or (declared is None and _chat_field(first) is not None):
        field = _chat_field(first)
        if field is None:
            raise DatasetFormatError(
                "Chat data needs a 'messages' field holding a list of "
                f'{{"role": ..., "content": ...}} turns; row 1 has fields: {_names(keys)}.',
                row=1,
            )
        return "chat", field
    if declared == "alpaca" or (declared is None and "instruction" in first and "output" in first):
        return "alpaca", "instruction"
    if declared in (None, "text") and "text" in first:
        return "text", "text"
    strings = [k for k, v in first.items() if isinstance(v, str)]
    hint = f" (string fields: {_names(strings)})" if strings else ""
    raise DatasetFormatError(
        f"Cannot tell the dataset's layout from row 1's fields: {_names(keys)}{hint}. Use a "
        "'text' field, Alpaca's instruction/input/output, or chat 'messages' — or set the text "
        "field to the column that holds each whole example.",
        row=1,
    )


def _chat_field(row: Mapping[str, Any]) -> str | None:
    for name in ("messages", "conversations"):
        if name in row:
            return name
    return None


def check_row(row: Any, fmt: DatasetFormat, index: int) -> None:
    """Raise DatasetFormatError when row `index` (1-based) does not fit `fmt`."""
    if not isinstance(row, Mapping):
        raise DatasetFormatError(
            f"Row {index} is a {_json_type(row)}, not an object with named fields.", row=index
        )
    if fmt.kind == "text":
        _require_string(row, fmt.field, index, allow_empty=False)
    elif fmt.kind == "alpaca":
        _require_string(row, "instruction", index, allow_empty=False)
        _require_string(row, "output", index, allow_empty=False)
        if row.get("input") is not None:
            _require_string(row, "input", index, allow_empty=True)
    else:
        to_messages(row, fmt, index)


def _require_string(row: Mapping[str, Any], name: str, index: int, *, allow_empty: bool) -> str:
    if name not in row:
        raise DatasetFormatError(
            f"Row {index} has no '{name}' field (it has: {_names(list(row.keys()))}). Every row "
            f"needs '{name}'.",
            row=index,
        )
    value = row[name]
    if not isinstance(value, str):
        raise DatasetFormatError(
            f"Row {index}: '{name}' is a {_json_type(value)}, expected text.", row=index
        )
    if not allow_empty and not value.strip():
        raise DatasetFormatError(
            f"Row {index}: '{name}' is empty. Remove the row or fill it in.", row=index
        )
    return value


# --- turning rows into training text -------------------------------------------------------


def to_messages(row: Mapping[str, Any], fmt: DatasetFormat, index: int = 0) -> list[dict[str, str]]:
    """The row as chat turns [{"role", "content"}] (Alpaca rows become user + assistant)."""
    if fmt.kind == "alpaca":
        prompt = str(row["instruction"])
        extra = row.get("input")
        if isinstance(extra, str) and extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        return [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": row["output"]},
        ]
    if fmt.kind != "chat":
        raise DatasetFormatError("Only Alpaca and chat rows can be turned into messages.")
    turns = row.get(fmt.field)
    where = f"Row {index}" if index else "A row"
    if not isinstance(turns, list) or not turns:
        raise DatasetFormatError(
            f"{where}: '{fmt.field}' must be a non-empty list of "
            '{"role": ..., "content": ...} turns.',
            row=index or None,
        )
    messages: list[dict[str, str]] = []
    for number, turn in enumerate(turns, start=1):
        if not isinstance(turn, Mapping):
            raise DatasetFormatError(
                f"{where}, turn {number}: expected an object with 'role' and 'content', got a "
                f"{_json_type(turn)}.",
                row=index or None,
            )
        role = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        if isinstance(role, str) and "role" not in turn:
            role = _SHAREGPT_ROLES.get(role, role)
        if role not in ROLES:
            raise DatasetFormatError(
                f"{where}, turn {number}: role {role!r} is not one of {', '.join(ROLES)}.",
                row=index or None,
            )
        if not isinstance(content, str):
            raise DatasetFormatError(
                f"{where}, turn {number}: 'content' must be text, got a {_json_type(content)}.",
                row=index or None,
            )
        messages.append({"role": str(role), "content": content})
    if not any(m["role"] == "assistant" for m in messages):
        raise DatasetFormatError(
            f"{where} has no assistant turn, so there is nothing to learn from it. Add the "
            "answer as a turn with role 'assistant'.",
            row=index or None,
        )
    return messages


def render_plain(row: Mapping[str, Any], fmt: DatasetFormat) -> str:
    """The row as training text without a chat template (Alpaca prompt or role-tagged turns)."""
    if fmt.kind == "text":
        return str(row[fmt.field])
    if fmt.kind == "alpaca":
        extra = row.get("input")
        parts = [f"### Instruction:\n{row['instruction']}"]
        if isinstance(extra, str) and extra.strip():
            parts.append(f"### Input:\n{extra}")
        parts.append(f"### Response:\n{row['output']}")
        return "\n\n".join(parts)
    turns = to_messages(row, fmt)
    return "\n\n".join(f"### {m['role'].capitalize()}:\n{m['content']}" for m in turns)


def preview(rows: Iterable[Mapping[str, Any]], fmt: DatasetFormat, count: int = 3) -> list[str]:
    """The first `count` rows rendered as plain training text (for the wizard's preview)."""
    out: list[str] = []
    for row in rows:
        if len(out) >= count:
            break
        out.append(render_plain(row, fmt))
    return out


# --- message helpers ---------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _json_reason(exc: ValueError) -> str:
    msg = getattr(exc, "msg", None)
    return str(msg) if msg else str(exc)


def _names(keys: Sequence[Any]) -> str:
    shown = ", ".join(repr(str(k)) for k in list(keys)[:12])
    return shown if shown else "none"
