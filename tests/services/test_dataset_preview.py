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
from lambda_gui.services.dataset_preview import (
    PREVIEW_ROWS,
    TextInputs,
    read_dataset_preview,
    read_training_texts,
)
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


# --- what training sees ------------------------------------------------------------------------

ALPACA = [
    {"instruction": f"Question {i}", "input": "", "output": "x" * (i * 8 + 1)} for i in range(300)
]
TEMPLATE = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}\n{% endfor %}"


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _model(folder: Path, config: dict[str, object], jinja: str | None = None) -> Path:
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    if jinja is not None:
        (folder / "chat_template.jinja").write_text(jinja)
    return folder


def _inputs(model: str, *, chat: bool = True, source: str = "local", seq: int = 64) -> TextInputs:
    return TextInputs(
        use_chat_template=chat, model_source=source, base_model=model, max_seq_length=seq
    )


async def test_chat_template_from_the_model_folder(tmp_path: Path) -> None:
    data = await read_dataset_preview(str(_write(tmp_path / "d.jsonl", ALPACA)))
    model = _model(tmp_path / "m", {"chat_template": TEMPLATE, "eos_token": {"content": "</s>"}})
    texts = await read_training_texts(data, _inputs(str(model)))
    assert texts.templated_here and texts.problem is None
    assert texts.samples[0] == "<user>Question 0</s>\n<assistant>x</s>\n"
    assert "tokenizer_config.json" in texts.how
    # Every row is counted, not only the preview's first 200 (no tokenizer.json: estimated).
    assert texts.stats is not None and texts.stats.counted == 300 and texts.stats.estimated
    assert texts.stats.over_max == sum(1 for r in ALPACA if len(_render(r)) / 4 > 64)

    plain = await read_training_texts(data, _inputs(str(model), chat=False))
    assert plain.samples[0].startswith("### Instruction:\nQuestion 0") and not plain.templated_here
    assert "is off" in plain.how


def _render(row: dict[str, object]) -> str:
    return f"<user>{row['instruction']}</s>\n<assistant>{row['output']}</s>\n"


async def test_template_sources_and_fallbacks(tmp_path: Path) -> None:
    data = await read_dataset_preview(str(_write(tmp_path / "d.jsonl", ALPACA[:3])))
    named = _model(
        tmp_path / "named", {"chat_template": [{"name": "default", "template": TEMPLATE}]}
    )
    assert (await read_training_texts(data, _inputs(str(named)))).templated_here
    jinja = _model(tmp_path / "jinja", {"eos_token": "<e>"}, jinja=TEMPLATE)
    texts = await read_training_texts(data, _inputs(str(jinja)))
    assert texts.samples[0].startswith("<user>Question 0<e>") and "chat_template.jinja" in texts.how
    none = _model(tmp_path / "none", {})
    texts = await read_training_texts(data, _inputs(str(none)))
    assert not texts.templated_here and "has no chat template" in texts.how
    assert texts.samples[0].startswith("### Instruction:")


async def test_a_hub_model_not_on_this_computer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    data = await read_dataset_preview(str(_write(tmp_path / "d.jsonl", ALPACA[:3])))
    texts = await read_training_texts(data, _inputs("Qwen/Qwen2.5-0.5B", source="huggingface"))
    assert "applied on the instance" in texts.how and "not on this computer" in texts.how
    assert texts.samples[0] == "[user]\nQuestion 0\n\n[assistant]\nx"
    assert texts.stats is not None and texts.stats.estimated
    # The same model in the Hub cache: its template is rendered here.
    snapshot = tmp_path / "cache" / "models--Qwen--Qwen2.5-0.5B" / "snapshots" / "abc"
    snapshot.parent.mkdir(parents=True)
    _model(snapshot, {"chat_template": TEMPLATE})
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc")
    texts = await read_training_texts(data, _inputs("Qwen/Qwen2.5-0.5B", source="huggingface"))
    assert texts.templated_here and texts.samples[0].startswith("<user>Question 0")


async def test_a_row_the_template_refuses(tmp_path: Path) -> None:
    data = await read_dataset_preview(str(_write(tmp_path / "d.jsonl", ALPACA[:3])))
    strict = "{% if messages|length > 1 %}{{ raise_exception('one turn only') }}{% endif %}"
    model = _model(tmp_path / "m", {"chat_template": strict})
    texts = await read_training_texts(data, _inputs(str(model)))
    assert texts.problem is not None and "refuses row 1" in texts.problem
    assert "one turn only" in texts.problem


async def test_plain_text_rows_counted_with_the_models_tokenizer(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    model = _model(tmp_path / "m", {})
    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(model / "tokenizer.json"))
    rows = [{"text": "hello world " * (i + 1)} for i in range(10)]
    data = await read_dataset_preview(str(_write(tmp_path / "t.jsonl", rows)))
    texts = await read_training_texts(data, _inputs(str(model), seq=11))
    assert "as they are" in texts.how and texts.samples[0] == "hello world "
    assert texts.stats is not None and not texts.stats.estimated
    assert list(texts.stats.lengths) == [2 * (i + 1) for i in range(10)]
    assert texts.stats.over_max == 5
    assert "counted with the model's tokenizer" in texts.stats.summary()
