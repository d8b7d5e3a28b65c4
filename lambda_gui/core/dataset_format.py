"""Training-data formats: read JSONL/JSON/CSV into rows, detect the layout, render rows.

Files are read streamed (``iter_rows``, ``validate_file``): strict UTF-8, in fixed-size pieces,
so memory is bounded by one row (MAX_ROW_CHARS) whatever the file's size, and the check before
a launch reads exactly what the instance will. Text already in memory goes through the same
code (``parse_rows``).

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

import codecs
import csv
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
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


# --- reading rows, streamed --------------------------------------------------------------

# Files are read (and text is cut) in pieces this large: memory stays flat whatever the size.
CHUNK_BYTES = 256 * 1024
# The longest sequence the trainer takes (131,072 tokens) is under 1 MiB of text; a "row" past
# 16 Mi characters is a broken file (a missing line break, an unclosed quote or bracket), and
# the cap bounds what one row costs in memory. The check on the instance applies it too.
MAX_ROW_CHARS = 16 * 1024 * 1024
# A top-level JSON object wraps the rows' array and a little metadata, not thousands of keys.
MAX_WRAPPER_KEYS = 1000

# Called with (bytes read, file size) after each piece; the size is 0 when unknown.
Progress = Callable[[int, int], None]


class DatasetEncodingError(DatasetFormatError):
    """The file is not UTF-8 text; `offset` is the first bad byte (0-based), `line` its line."""

    def __init__(self, message: str, *, offset: int, line: int) -> None:
        self.offset = offset
        self.line = line
        super().__init__(message)


class DatasetRowTooLongError(DatasetFormatError):
    """A line (JSONL, CSV) or row (JSON) is longer than the cap; `line` is where it starts."""

    def __init__(self, message: str, *, line: int, row: int | None = None) -> None:
        self.line = line
        super().__init__(message, row=row)


def iter_rows(
    source: str | BinaryIO,
    name: str,
    *,
    progress: Progress | None = None,
    max_row: int = MAX_ROW_CHARS,
) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL / JSON / CSV dataset, one at a time, chosen by `name`'s extension.

    `source` is the text or a binary file (read as UTF-8 from its current position, a leading
    BOM skipped). Memory stays bounded by one row (at most `max_row` characters); errors are
    DatasetFormatError (DatasetEncodingError, DatasetRowTooLongError) naming where and what."""
    kind = file_kind(name)
    chunks = _universal_newlines(_chunks(source, progress))
    if kind == "jsonl":
        return _jsonl_rows(chunks, max_row)
    if kind == "json":
        return _json_rows(chunks, max_row)
    return _csv_rows(chunks, max_row)


def validate_rows(
    rows: Iterable[Any], *, text_field: str | None = None, declared: str | None = None
) -> DatasetFormat:
    """Work out the layout from the first row and check every row against it, one at a time."""
    iterator = iter(rows)
    first = next(iterator, _MISSING)
    if first is _MISSING:
        raise DatasetFormatError("The dataset has no rows. Add at least a few examples.")
    if not isinstance(first, Mapping):
        raise DatasetFormatError(
            f"Row 1 is a {_json_type(first)}, not an object with named fields.", row=1
        )
    if declared is not None and declared not in FORMATS:
        raise DatasetFormatError(
            f"Unknown dataset format '{declared}'; choose one of: {', '.join(FORMATS)}."
        )
    kind, field = _guess_layout(first, text_field=text_field, declared=declared)
    fmt = DatasetFormat(kind, field, 1)
    check_row(first, fmt, 1)
    count = 1
    for row in iterator:
        count += 1
        check_row(row, fmt, count)
    return DatasetFormat(kind, field, count)


def validate_file(
    path: str | os.PathLike[str],
    *,
    text_field: str | None = None,
    declared: str | None = None,
    progress: Progress | None = None,
) -> DatasetFormat:
    """Read a dataset file whole, streamed, and check every row; raises DatasetFormatError."""
    name = os.path.basename(os.fspath(path))
    file_kind(name)
    with open(path, "rb") as fh:
        rows = iter_rows(fh, name, progress=progress)
        return validate_rows(rows, text_field=text_field, declared=declared)


def parse_rows(text: str, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON / CSV file's text, chosen by `name`'s extension."""
    return list(itertools.islice(iter_rows(text, name), limit))


def parse_jsonl(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """One JSON object per non-blank line; errors name the line."""
    return parse_rows(text, "rows.jsonl", limit=limit)


def parse_json(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """A JSON array of objects (or an object holding one such array under a single key)."""
    return parse_rows(text, "rows.json", limit=limit)


def parse_csv(text: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """CSV with a header row; every value is a string."""
    return parse_rows(text, "rows.csv", limit=limit)


_MISSING = object()


def _chunks(source: str | BinaryIO, progress: Progress | None) -> Iterator[str]:
    """The source's text in pieces of about CHUNK_BYTES, without a leading BOM."""
    if isinstance(source, str):
        start = 1 if source.startswith("\ufeff") else 0
        for at in range(start, len(source), CHUNK_BYTES):
            yield source[at : at + CHUNK_BYTES]
        if progress is not None:
            progress(len(source), len(source))
        return
    total = _size(source)
    done = 0  # bytes read
    carry = b""  # a character cut by the end of the last piece
    newlines = 0  # line breaks before the bytes in `carry + chunk`
    first = True
    while True:
        chunk = source.read(CHUNK_BYTES)
        if not chunk:
            break
        done += len(chunk)
        data = carry + chunk if carry else chunk
        try:
            text, used = codecs.utf_8_decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            raise _not_utf8(data, exc.start, done - len(data), newlines) from None
        carry = data[used:]
        newlines += data.count(b"\n", 0, used)
        if progress is not None:
            progress(done, total)
        if first and text:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        if text:
            yield text
    if carry:
        # The file ends inside a character.
        raise _not_utf8(carry, 0, done - len(carry), newlines)


def _size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return 0


def _not_utf8(data: bytes, start: int, base: int, newlines: int) -> DatasetEncodingError:
    offset = base + start
    line = newlines + data.count(b"\n", 0, start) + 1
    return DatasetEncodingError(
        f"The file is not UTF-8 text: byte {offset:,} (line {line}) is 0x{data[start]:02X}, "
        "which UTF-8 does not allow there (the file was probably saved as Latin-1 or "
        "Windows-1252). Re-save it as UTF-8 (in most editors: Save As, encoding UTF-8) and "
        "choose it again.",
        offset=offset,
        line=line,
    )


def _universal_newlines(chunks: Iterable[str]) -> Iterator[str]:
    """The text with "\\r\\n" and "\\r" turned into "\\n", as Python's text files read it."""
    held = ""
    for chunk in chunks:
        if held:
            chunk = held + chunk
            held = ""
        if chunk.endswith("\r"):
            # It may be the first half of "\r\n".
            held = "\r"
            chunk = chunk[:-1]
        if "\r" in chunk:
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
        if chunk:
            yield chunk
    if held:
        yield "\n"


def _lines(chunks: Iterable[str], max_chars: int) -> Iterator[tuple[int, str]]:
    """(line number, text without its "\\n") of each line; no line over `max_chars`."""
    pending: list[str] = []  # the start of a line cut by the end of a chunk
    size = 0
    number = 0
    for chunk in chunks:
        parts = chunk.split("\n")
        if len(parts) == 1:
            pending.append(chunk)
            size += len(chunk)
            if size > max_chars:
                raise _line_too_long(number + 1, max_chars)
            continue
        for index in range(len(parts) - 1):
            line = parts[index]
            if index == 0 and pending:
                pending.append(line)
                line = "".join(pending)
                pending = []
            number += 1
            if len(line) > max_chars:
                raise _line_too_long(number, max_chars)
            yield number, line
        last = parts[-1]
        pending = [last] if last else []
        size = len(last)
        if size > max_chars:
            raise _line_too_long(number + 1, max_chars)
    if pending:
        yield number + 1, "".join(pending)


def _line_too_long(number: int, max_chars: int) -> DatasetRowTooLongError:
    return DatasetRowTooLongError(
        f"Line {number} holds more than {_size_text(max_chars)}; no training example is that "
        "long. Check that every row ends with a line break (and, in a CSV file, that "
        "every quote is closed).",
        line=number,
    )


def _size_text(chars: int) -> str:
    """A character cap in words ("16 MiB of text": one byte per character for ASCII)."""
    return f"{chars / 2**20:g} MiB of text" if chars >= 2**20 else f"{chars:,} characters"


def _jsonl_rows(chunks: Iterable[str], max_row: int) -> Iterator[dict[str, Any]]:
    rows = 0
    for number, line in _lines(chunks, max_row):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise DatasetFormatError(
                f"Line {number} is not valid JSON ({_json_reason(exc)}). Each line of a .jsonl "
                "file must hold one complete JSON object.",
                row=rows + 1,
            ) from None
        except RecursionError:
            raise _too_deep(f"Line {number}", rows + 1) from None
        if not isinstance(value, dict):
            raise DatasetFormatError(
                f"Line {number} holds a JSON {_json_type(value)}, not an object. Each line must "
                'be an object such as {"text": "..."}.',
                row=rows + 1,
            )
        rows += 1
        yield value


def _too_deep(where: str, row: int | None) -> DatasetFormatError:
    return DatasetFormatError(
        f"{where} nests lists or objects too deeply to be read (hundreds of levels). Flatten "
        "that row.",
        row=row,
    )


def _csv_rows(chunks: Iterable[str], max_row: int) -> Iterator[dict[str, Any]]:
    reader = csv.reader(line + "\n" for _, line in _lines(chunks, max_row))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DatasetFormatError(f"The CSV header cannot be read ({exc}).") from None
    names = [h.strip() for h in header]
    if not any(names) or len(set(names)) != len(names) or "" in names:
        raise DatasetFormatError(
            "The CSV's first line must name every column, each name once (e.g. "
            "instruction,input,output)."
        )
    rows = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DatasetFormatError(
                f"CSV line {reader.line_num} cannot be read ({exc}). Check its quoting.",
                row=rows + 1,
            ) from None
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            raise DatasetFormatError(
                f"CSV row {rows + 1} (line {reader.line_num}) has {len(cells)} cells "
                f"but the header names {len(names)} columns. Quote cells that contain commas.",
                row=rows + 1,
            )
        rows += 1
        yield dict(zip(names, cells, strict=True))


# --- a JSON document read in pieces ---------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# An error this far before the end of the text read so far cannot come from a value cut by
# the end of a piece: json looks ahead at most a few characters ("-Infinity", "\uXXXX").
_LOOKAHEAD = 64
_TOO_LONG = object()
# A top-level object up to this size is parsed whole, as json.load would (a JSONL file saved as
# .json is caught as such); a larger one is a wrapper around the rows and is walked instead.
_PROBE_CHARS = 1024 * 1024


class _JsonText:
    """A cursor over JSON text that arrives in pieces; keeps only what is not consumed yet."""

    def __init__(self, chunks: Iterable[str], max_value: int) -> None:
        self._chunks = iter(chunks)
        self._max = max_value
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line of buf[0]
        self._column = 0  # its column, 0-based

    def _fill(self, want: int) -> None:
        """Read until `want` characters lie past the cursor, or the text ends."""
        if self.eof:
            return
        buf, pos = self.buf, self.pos
        newlines = buf.count("\n", 0, pos)
        if newlines:
            self._line += newlines
            self._column = pos - buf.rfind("\n", 0, pos) - 1
        else:
            self._column += pos
        pieces = [buf[pos:]]
        have = len(pieces[0])
        for chunk in self._chunks:
            pieces.append(chunk)
            have += len(chunk)
            if have >= want:
                break
        else:
            self.eof = True
        self.buf = "".join(pieces)
        self.pos = 0

    def where(self, pos: int) -> tuple[int, int]:
        """(line, column), both 1-based, of a position in the buffer."""
        newlines = self.buf.count("\n", 0, pos)
        if newlines:
            return self._line + newlines, pos - self.buf.rfind("\n", 0, pos)
        return self._line, self._column + pos + 1

    def peek(self) -> str | None:
        """The next character after whitespace (the cursor moves onto it); None at the end."""
        while True:
            match = _WHITESPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return None
            self._fill(1)

    def invalid(self, reason: str, pos: int) -> DatasetFormatError:
        line, column = self.where(pos)
        hint = " If it has one object per line, name it .jsonl." if reason == "Extra data" else ""
        return DatasetFormatError(
            f"The file is not valid JSON ({reason}, line {line}, column {column}).{hint}"
        )

    def value(self, row: int | None, *, probe: int | None = None) -> Any:
        """The JSON value after the cursor, read across pieces; with `probe`, _TOO_LONG rather
        than an error when it is longer than `probe` characters (the cursor stays on it)."""
        limit = self._max if probe is None else min(probe, self._max)
        self.peek()
        start = self.pos
        while True:
            have = len(self.buf) - self.pos
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.buf) - _LOOKAHEAD or exc.msg.startswith("Unterminated")
                if cut and have - _LOOKAHEAD > limit:
                    return self._too_long(row, probe)
                if self.eof or not cut:
                    raise self.invalid(exc.msg, exc.pos) from None
            except ValueError as exc:  # e.g. an integer over Python's 4300-digit limit
                raise self.invalid(str(exc), self.pos) from None
            except RecursionError:
                line = self.where(self.pos)[0]
                where = f"Row {row} (line {line})" if row else f"The JSON file (line {line})"
                raise _too_deep(where, row) from None
            else:
                if end - start > limit:
                    return self._too_long(row, probe)
                # A number at the very end may go on in the next piece.
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
            if have - _LOOKAHEAD > limit:
                return self._too_long(row, probe)
            # Each retry reads twice as much, so the retries add up to linear time (and never
            # much past the cap, which bounds the buffer).
            self._fill(min(2 * have + 1, limit + _LOOKAHEAD + 1))
            start = self.pos

    def _too_long(self, row: int | None, probe: int | None) -> Any:
        if probe is not None:
            return _TOO_LONG
        line = self.where(self.pos)[0]
        what = f"Row {row}" if row else "A value"
        raise DatasetRowTooLongError(
            f"{what} of the JSON file (from line {line}) holds more than "
            f"{_size_text(self._max)}, or never ends; no training example is that long. Check "
            "for an unclosed string or bracket.",
            line=line,
            row=row,
        )

    def end(self) -> None:
        """Raise unless only whitespace is left."""
        if self.peek() is not None:
            raise self.invalid("Extra data", self.pos)


def _json_rows(chunks: Iterable[str], max_row: int) -> Iterator[dict[str, Any]]:
    doc = _JsonText(chunks, max_row)
    first = doc.peek()
    if first == "[":
        doc.pos += 1
        yield from _json_array(doc)
        doc.end()
        return
    whole = doc.value(None, probe=_PROBE_CHARS if first == "{" else None)
    if whole is _TOO_LONG:
        # A large object wrapping the rows' array: walked, never held whole.
        doc.pos += 1
        yield from _json_wrapper(doc)
        doc.end()
        return
    # Whole and small: an object (one JSONL row saved as .json, or a wrapper) or a scalar.
    doc.end()
    if isinstance(whole, dict):
        lists = [v for v in whole.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise _not_an_array()
        whole = lists[0]
    if not isinstance(whole, list):
        raise DatasetFormatError(
            f"The JSON file holds a {_json_type(whole)}; expected an array of row objects."
        )
    for index, item in enumerate(whole, start=1):
        yield _json_row(item, index)


def _not_an_array() -> DatasetFormatError:
    return DatasetFormatError(
        'The JSON file holds an object; expected an array of rows, e.g. [{"text": "..."}, ...].'
    )


def _json_row(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise DatasetFormatError(
            f"Row {index} is a JSON {_json_type(item)}, not an object. Every element of the "
            "array must be an object with the row's fields.",
            row=index,
        )
    return item


def _json_array(doc: _JsonText) -> Iterator[dict[str, Any]]:
    """The rows of an array whose "[" was consumed, up to and including its "]"."""
    if doc.peek() == "]":
        doc.pos += 1
        return
    index = 0
    while True:
        index += 1
        yield _json_row(doc.value(index), index)
        after = doc.peek()
        if after == "]":
            doc.pos += 1
            return
        if after != ",":
            raise doc.invalid("Expecting ',' delimiter", doc.pos)
        doc.pos += 1


def _json_wrapper(doc: _JsonText) -> Iterator[dict[str, Any]]:
    """The rows of the one array in an object whose "{" was consumed, up to its "}"."""
    array_key: str | None = None
    if doc.peek() == "}":
        raise _not_an_array()
    for _ in range(MAX_WRAPPER_KEYS):
        if doc.peek() != '"':
            raise doc.invalid("Expecting property name enclosed in double quotes", doc.pos)
        key = doc.value(None)
        if key == array_key:
            # json.load keeps the last of two equal keys: the rows would not be these.
            raise DatasetFormatError(f"The JSON file names {key!r} twice; keep one of them.")
        if doc.peek() != ":":
            raise doc.invalid("Expecting ':' delimiter", doc.pos)
        doc.pos += 1
        if doc.peek() == "[":
            if array_key is not None:
                raise _not_an_array()
            array_key = key
            doc.pos += 1
            yield from _json_array(doc)
        else:
            doc.value(None)
        after = doc.peek()
        if after == "}":
            doc.pos += 1
            if array_key is None:
                raise _not_an_array()
            return
        if after != ",":
            raise doc.invalid("Expecting ',' delimiter", doc.pos)
        doc.pos += 1
    raise DatasetFormatError(
        f"The JSON file's top object has more than {MAX_WRAPPER_KEYS} keys; expected an array "
        'of rows, e.g. [{"text": "..."}, ...].'
    )


# --- detecting the layout ----------------------------------------------------------------


def detect_format(
    rows: Sequence[Mapping[str, Any]],
    *,
    text_field: str | None = None,
    declared: str | None = None,
) -> DatasetFormat:
    """Work out the layout from the rows' fields and check every row against it."""
    return validate_rows(rows, text_field=text_field, declared=declared)


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
