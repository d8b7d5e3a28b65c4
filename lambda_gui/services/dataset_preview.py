"""Reading a dataset file for the wizard's preview: first rows, row count, detected layout, and
the rows as training will see them with their token lengths.

The file is read in an executor, in fixed-size pieces (memory stays flat whatever its size or
line lengths); detection is core's (DatasetPreview.from_rows). Training text is rendered as
remote/bundle_files/train.py renders it (training_texts): the model's chat template when it is
ticked and the model has one (read from the local folder or the Hub cache, rendered with jinja2
in a sandbox as transformers does), else the plain template. Tokens are counted with the
model's tokenizer.json when the tokenizers package is installed, else estimated.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from lambda_gui.core.dataset_format import (
    DatasetFormat,
    DatasetFormatError,
    DatasetRowTooLongError,
    file_kind,
    is_hub_path,
    iter_rows,
    render_plain,
    to_messages,
)
from lambda_gui.core.dataset_stats import TokenStats, estimate_tokens, token_stats
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


# --- what training sees ----------------------------------------------------------------------

SAMPLE_TEXTS = 2
# Rows rendered and counted for the token-length histogram (from the start of the file).
STATS_MAX_ROWS = 10_000
TOKENIZE_BATCH = 512
# Older jinja2 releases have known sandbox escapes, and chat templates come from model repos.
MIN_JINJA = (3, 1, 6)
SPECIAL_TOKEN_KEYS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


@dataclass(frozen=True)
class TextInputs:
    """The draft values that decide the training text and its length check."""

    use_chat_template: bool
    model_source: str
    base_model: str
    max_seq_length: int


@dataclass(frozen=True)
class TrainingTexts:
    """The first rows as training will see them, how they are rendered, and their lengths."""

    samples: tuple[str, ...]
    how: str  # one sentence: which template, and from where
    templated_here: bool  # the model's chat template was rendered on this computer
    problem: str | None  # a row the chat template refuses (training would stop there)
    stats: TokenStats | None


@dataclass(frozen=True)
class ChatTemplate:
    """A model's chat template, where it was found, and the special tokens it may use."""

    source: str
    found_in: str
    special_tokens: dict[str, str]


async def read_training_texts(preview: DatasetPreview, inputs: TextInputs) -> TrainingTexts:
    """Render the dataset's rows as train.py will and count their tokens (in an executor)."""
    return await asyncio.to_thread(training_texts_sync, preview, inputs)


def training_texts_sync(preview: DatasetPreview, inputs: TextInputs) -> TrainingTexts:
    """read_training_texts without the executor (rows from the preview, then the file)."""
    fmt = preview.format
    if fmt is None:
        return TrainingTexts((), "", False, None, None)
    folder = model_folder(inputs.model_source, inputs.base_model)
    render, how, here, exact = _renderer(fmt, inputs, folder)
    texts: list[str] = []
    problem: str | None = None
    for index, row in enumerate(_stat_rows(preview), start=1):
        try:
            texts.append(render(row, index))
        except Exception as exc:  # jinja2 errors and the like, from the model's own template
            problem = (
                f"The model's chat template refuses row {index} ({str(exc)[:200]}): training "
                "would stop there. Fix the row, or untick 'Use the model's chat template'."
            )
            break
    tokenizer = _tokenizer(folder) if exact and folder is not None else None
    if tokenizer is not None:
        lengths = _count_tokens(tokenizer, texts)
    else:
        lengths = [estimate_tokens(t) for t in texts]
    total = preview.row_count if problem is None else len(texts)
    stats = token_stats(
        lengths, inputs.max_seq_length, total_rows=total, estimated=tokenizer is None
    )
    return TrainingTexts(tuple(texts[:SAMPLE_TEXTS]), how, here, problem, stats)


Render = Callable[[Mapping[str, Any], int], str]


def _renderer(
    fmt: DatasetFormat, inputs: TextInputs, folder: Path | None
) -> tuple[Render, str, bool, bool]:
    """How train.py's training_texts turns a row into text: (render, how, templated here,
    tokens countable exactly)."""

    def plain(row: Mapping[str, Any], _index: int) -> str:
        return render_plain(row, fmt)

    if fmt.kind == "text":
        return plain, f"Rows are trained on as they are (the '{fmt.field}' field).", False, True
    if not inputs.use_chat_template:
        return (
            plain,
            "The plain ### template: 'Use the model's chat template' is off.",
            False,
            True,
        )
    template = chat_template(folder) if folder is not None else None
    where = "the model folder" if inputs.model_source == "local" else "this computer's Hub cache"
    if folder is not None and template is None:
        return (
            plain,
            f"The plain ### template: the model in {where} has no chat template, so training "
            "falls back to this one.",
            False,
            True,
        )
    compiled = _compile(template.source) if template is not None else None
    if template is not None and compiled is not None:
        tokens = template.special_tokens

        def templated(row: Mapping[str, Any], index: int) -> str:
            messages = to_messages(row, fmt, index)
            return str(compiled.render(messages=messages, add_generation_prompt=False, **tokens))

        return templated, f"The model's chat template (from {template.found_in}).", True, True
    if template is not None:
        why = "jinja2 3.1.6 or later is not installed here to render it"
    else:
        why = "the model is not on this computer"

    def turns(row: Mapping[str, Any], index: int) -> str:
        messages = to_messages(row, fmt, index)
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)

    return (
        turns,
        f"The model's chat template is applied on the instance ({why}); shown here: the turns "
        "it receives. Token counts are estimates.",
        False,
        False,
    )


def _stat_rows(preview: DatasetPreview) -> Iterator[Mapping[str, Any]]:
    """The rows the histogram counts: the preview's, then more from the file."""
    yield from preview.rows[:STATS_MAX_ROWS]
    if preview.row_count <= len(preview.rows) or len(preview.rows) >= STATS_MAX_ROWS:
        return
    file = Path(preview.path).expanduser()
    try:
        with file.open("rb") as fh:
            rows = iter_rows(fh, file.name, max_row=PREVIEW_HEAD_BYTES)
            yield from itertools.islice(rows, len(preview.rows), STATS_MAX_ROWS)
    except (DatasetFormatError, OSError):
        return  # the check before a launch reports the file's problems


def model_folder(model_source: str, base_model: str) -> Path | None:
    """The model's files on this computer: the local folder, or the Hub cache's snapshot."""
    name = base_model.strip()
    if not name:
        return None
    if model_source == "local":
        folder = Path(name).expanduser()
        return folder if folder.is_dir() else None
    if "/" not in name or name.count("/") > 1:
        return None
    repo = hub_cache() / ("models--" + name.replace("/", "--"))
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    snapshot = repo / "snapshots" / revision
    return snapshot if revision and snapshot.is_dir() else None


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models (its environment variables honoured)."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "huggingface" / "hub"


def chat_template(folder: Path) -> ChatTemplate | None:
    """The model's chat template as transformers finds it: tokenizer_config.json's
    chat_template (a text, or named templates: "default"), else chat_template.jinja."""
    config = _json_object(folder / "tokenizer_config.json")
    tokens = {k: v for k in SPECIAL_TOKEN_KEYS if (v := _token_text(config.get(k))) is not None}
    found = config.get("chat_template")
    if isinstance(found, list):
        named = {t.get("name"): t.get("template") for t in found if isinstance(t, Mapping)}
        found = named.get("default")
    if isinstance(found, str) and found.strip():
        return ChatTemplate(found, "tokenizer_config.json", tokens)
    try:
        text = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return ChatTemplate(text, "chat_template.jinja", tokens) if text.strip() else None


def _json_object(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a text, or {"content": text}."""
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@functools.lru_cache(maxsize=4)
def _compile(source: str) -> Any:
    """The template compiled as transformers compiles it (sandboxed), or None without jinja2."""
    try:
        jinja2 = importlib.import_module("jinja2")
        sandbox = importlib.import_module("jinja2.sandbox")
        ext = importlib.import_module("jinja2.ext")
    except ImportError:
        return None
    if _version(str(getattr(jinja2, "__version__", "0"))) < MIN_JINJA:
        return None

    class Generation(ext.Extension):  # type: ignore[misc,name-defined]
        """transformers' {% generation %} block (it marks the assistant's tokens): its body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            call = self.call_method("_body")
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _body(self, caller: Callable[[], str]) -> str:
            return caller()

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value,
            ensure_ascii=ensure_ascii,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    def strftime_now(pattern: str) -> str:
        return datetime.now().strftime(pattern)

    env = sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateError:
        return None


def _tokenizer(folder: Path) -> Any:
    """The model's fast tokenizer (tokenizer.json) when the tokenizers package is here."""
    path = folder / "tokenizer.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    return _load_tokenizer(str(path), stamp)


@functools.lru_cache(maxsize=2)
def _load_tokenizer(path: str, _stamp: int) -> Any:
    try:
        tokenizers = importlib.import_module("tokenizers")
        return tokenizers.Tokenizer.from_file(path)
    except Exception:  # ImportError, or a tokenizer.json this version cannot read
        return None


def _count_tokens(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    lengths: list[int] = []
    for start in range(0, len(texts), TOKENIZE_BATCH):
        batch = tokenizer.encode_batch(list(texts[start : start + TOKENIZE_BATCH]))
        lengths.extend(len(encoding.ids) for encoding in batch)
    return lengths
