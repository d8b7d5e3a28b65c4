from __future__ import annotations

import ast
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lambda_gui.core.dataset_format as dataset_format
from lambda_gui.core.dataset_format import (
    CHUNK_BYTES,
    DatasetEncodingError,
    DatasetFormat,
    DatasetFormatError,
    DatasetRowTooLongError,
    HubDataset,
    detect_format,
    iter_rows,
    parse_hub_path,
    parse_rows,
    preview,
    render_plain,
    to_messages,
    validate_file,
)


def _answer(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def test_detects_the_three_layouts() -> None:
    assert detect_format([{"text": "hello"}]).kind == "text"
    alpaca = detect_format([{"instruction": "Add", "input": "1 2", "output": "3"}])
    assert (alpaca.kind, alpaca.rows_checked) == ("alpaca", 1)
    chat = detect_format([{"messages": [{"role": "user", "content": "hi"}, _answer("yo")]}])
    assert (chat.kind, chat.field) == ("chat", "messages")


def test_sharegpt_conversations_become_messages() -> None:
    row = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    fmt = detect_format([row])
    assert fmt.field == "conversations"
    assert to_messages(row, fmt) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]


def test_text_field_and_declared_format_win() -> None:
    rows = [{"body": "abc", "instruction": "x", "output": "y"}]
    assert detect_format(rows, text_field="body") == DatasetFormat("text", "body", 1)
    assert detect_format(rows, declared="alpaca").kind == "alpaca"


def test_unknown_layout_lists_the_fields_and_the_options() -> None:
    with pytest.raises(DatasetFormatError) as info:
        detect_format([{"question": "q", "answer": "a"}])
    message = str(info.value)
    assert "'question'" in message and "'answer'" in message and "text field" in message
    assert info.value.row == 1


@pytest.mark.parametrize(
    ("rows", "needle", "row"),
    [
        ([], "no rows", None),
        ([{"text": "a"}, {"text": ""}], "Row 2: 'text' is empty", 2),
        ([{"text": "a"}, {"body": "b"}], "Row 2 has no 'text' field", 2),
        ([{"text": "a"}, {"text": 5}], "Row 2: 'text' is a number", 2),
        ([{"text": "a"}, ["x"]], "Row 2 is a list", 2),
        ([{"instruction": "i", "output": "o"}, {"instruction": "i"}], "no 'output'", 2),
        ([{"instruction": "i", "output": "o", "input": 3}], "'input' is a number", 1),
        ([{"messages": []}], "non-empty list", 1),
        ([{"messages": [{"role": "user", "content": "q"}]}], "no assistant turn", 1),
        ([{"messages": [{"role": "robot", "content": "q"}]}], "role 'robot'", 1),
        ([{"messages": [{"role": "user", "content": None}, _answer("a")]}], "null", 1),
        ([{"messages": ["hi"]}], "turn 1", 1),
    ],
)
def test_malformed_rows_say_which_row_and_what(rows: list, needle: str, row: int | None) -> None:
    with pytest.raises(DatasetFormatError) as info:
        detect_format(rows)
    assert needle in str(info.value)
    assert info.value.row == row


def test_jsonl_json_and_csv_parse_to_rows() -> None:
    assert parse_rows('{"text": "a"}\n\n{"text": "b"}\n', "x.jsonl") == [
        {"text": "a"},
        {"text": "b"},
    ]
    assert parse_rows('[{"text": "a"}]', "x.JSON") == [{"text": "a"}]
    assert parse_rows('{"train": [{"text": "a"}]}', "x.json") == [{"text": "a"}]
    csv_text = 'instruction,input,output\n"Say, hi",,hello\n\nAdd,"1,2",3\n'
    assert parse_rows(csv_text, "x.csv") == [
        {"instruction": "Say, hi", "input": "", "output": "hello"},
        {"instruction": "Add", "input": "1,2", "output": "3"},
    ]
    assert parse_rows('{"a": 1}\n{"a": 2}\n{"a": 3}\n', "x.jsonl", limit=2) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("text", "name", "needle"),
    [
        ('{"text": "a"}\n{"text": \n', "x.jsonl", "Line 2 is not valid JSON"),
        ('{"text": "a"}\n[1]\n', "x.jsonl", "Line 2 holds a JSON list"),
        ('{"text": "a"}\n{"text": "b"}\n', "x.json", "name it .jsonl"),
        ("[1, 2]", "x.json", "Row 1 is a JSON number"),
        ('"just text"', "x.json", "holds a string"),
        ("a,b\n1,2,3\n", "x.csv", "CSV row 1 (line 2) has 3 cells"),
        ("a,a\n1,2\n", "x.csv", "each name once"),
        ("x", "x.txt", ".jsonl, .json or .csv"),
    ],
)
def test_parse_errors_say_where_and_what_to_do(text: str, name: str, needle: str) -> None:
    with pytest.raises(DatasetFormatError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_rows(text, name)


def test_render_plain_and_preview() -> None:
    alpaca = DatasetFormat("alpaca", "instruction", 1)
    row = {"instruction": "Add", "input": "1 2", "output": "3"}
    assert (
        render_plain(row, alpaca) == "### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n3"
    )
    assert to_messages(row, alpaca)[0] == {"role": "user", "content": "Add\n\n1 2"}
    chat = DatasetFormat("chat", "messages", 1)
    turns = {"messages": [{"role": "system", "content": "Be brief."}, _answer("ok")]}
    assert render_plain(turns, chat) == "### System:\nBe brief.\n\n### Assistant:\nok"
    assert preview(
        [{"text": "a"}, {"text": "b"}, {"text": "c"}], DatasetFormat("text", "text", 3), 2
    ) == [
        "a",
        "b",
    ]


def test_hub_paths() -> None:
    assert parse_hub_path("hf://tatsu-lab/alpaca") == HubDataset("tatsu-lab/alpaca")
    assert parse_hub_path(" hf://imdb\n") == HubDataset("imdb")  # train.py strips the same way
    assert parse_hub_path("hf://a/b?config=en&split=validation") == HubDataset(
        "a/b", "en", "validation"
    )
    for bad in (
        "hf://",
        "hf://a/b/c",
        "hf://a/../b",
        "hf://a/b?x=1",
        "hf://a/b?split=$(x)",
        "a/b",
    ):
        with pytest.raises(DatasetFormatError):
            parse_hub_path(bad)


def test_the_demo_dataset_is_alpaca() -> None:
    from lambda_gui.simulator.tiny_model import demo_dataset_path

    path = demo_dataset_path()
    rows = parse_rows(path.read_text(encoding="utf-8"), path.name)
    assert 100 <= len(rows) <= 200
    assert detect_format(rows).kind == "alpaca"


def test_module_is_self_contained_for_the_instance() -> None:
    """The bundle ships this file to machines without lambda_gui: stdlib imports only."""
    source = Path(dataset_format.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.module is not None and not node.module.startswith("lambda_gui"), node.module
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("lambda_gui") for a in node.names)


@given(st.text(max_size=300), st.sampled_from(["a.jsonl", "a.json", "a.csv"]))
def test_any_text_parses_or_raises_the_typed_error(text: str, name: str) -> None:
    try:
        rows = parse_rows(text, name)
    except DatasetFormatError as exc:
        assert str(exc)
        return
    try:
        detect_format(rows)
    except DatasetFormatError as exc:
        assert str(exc)


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=8),
            st.recursive(
                st.none() | st.text(max_size=5) | st.integers(),
                lambda c: (
                    st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=4,
        ),
        max_size=4,
    )
)
def test_any_rows_detect_or_raise_the_typed_error(rows: list) -> None:
    try:
        fmt = detect_format(rows)
    except DatasetFormatError:
        return
    for row in rows:
        assert isinstance(render_plain(row, fmt), str)
    json.dumps(rows)


# --- streamed reading (the check before a launch reads the whole file) -----------------------


class _Dribble(io.RawIOBase):
    """A binary file that returns at most `step` bytes per read, as pipes and slow disks may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, self._step) if size >= 0 else self._step)


STREAM_CASES = [
    ('{"text": "a"}\r\n\n{"text": "b\\u00e9"}\r{"text": "c"}', "x.jsonl"),
    ('[{"text": "a"}, {"text": "caf\u00e9"},\n {"n": -1.5e3}, {"x": null}]', "x.json"),
    ('{"meta": {"v": 1}, "train": [{"text": "a"}], "n": 12345}', "x.json"),
    ('instruction,input,output\r\n"Say,\r\nhi",,hello\r\n\r\nAdd,"1,2",3', "x.csv"),
    ("\ufeff" + '{"text": "bom"}\n', "x.jsonl"),
]


@pytest.mark.parametrize(("text", "name"), STREAM_CASES)
@pytest.mark.parametrize("step", [1, 3, 7, 4096])
def test_a_file_read_in_any_pieces_gives_the_rows_of_its_text(
    text: str, name: str, step: int
) -> None:
    streamed = list(iter_rows(_Dribble(text.encode("utf-8"), step), name))
    assert streamed == parse_rows(text, name)
    assert streamed and all(isinstance(r, dict) for r in streamed)


def test_jsonl_lines_end_at_newlines_only() -> None:
    # U+2028 and U+0085 are legal inside JSON strings; str.splitlines used to cut them.
    text = '{"text": "a\u2028b\u0085c"}\n'
    assert parse_rows(text, "x.jsonl") == [{"text": "a\u2028b\u0085c"}]


def test_a_non_utf8_byte_is_a_typed_error_naming_where(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"text": "ok"}\n' * 3 + b'{"text": "caf\xe9"}\n')
    with pytest.raises(DatasetEncodingError) as info:
        validate_file(path)
    assert (info.value.offset, info.value.line) == (45 + 13, 4)
    message = str(info.value)
    assert "byte 58 (line 4)" in message and "0xE9" in message and "as UTF-8" in message
    assert isinstance(info.value, DatasetFormatError) and isinstance(info.value, ValueError)
    # A character cut by the end of the file is named too.
    path.write_bytes(b'{"text": "ok"}\n\xc3')
    with pytest.raises(DatasetEncodingError, match="byte 15 \\(line 2\\)"):
        validate_file(path)


@pytest.mark.parametrize(
    ("data", "name", "error", "needle"),
    [
        (
            b'{"text": "a"}\n' + b"x" * (3 * 1024 * 1024),
            "x.jsonl",
            DatasetRowTooLongError,
            "Line 2",
        ),
        (b"text\n" + b'"' + b"x" * (3 * 1024 * 1024), "x.csv", DatasetRowTooLongError, "Line 2"),
        (b'[{"text": "' + b"x" * (3 * 1024 * 1024), "x.json", DatasetRowTooLongError, "Row 1"),
        (b"[" * 100_000, "x.json", DatasetFormatError, "too deeply"),
        (b'{"a": ' + b"[" * 100_000 + b"\n", "x.jsonl", DatasetFormatError, "too deeply"),
    ],
)
def test_rows_past_the_caps_are_typed_errors(
    tmp_path: Path, data: bytes, name: str, error: type[Exception], needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with path.open("rb") as fh, pytest.raises(error, match=needle):
        list(iter_rows(fh, name, max_row=2 * 1024 * 1024))


def test_a_big_wrapped_json_is_walked_and_its_keys_checked() -> None:
    rows = ", ".join(['{"text": "%s"}' % ("x" * 1000)] * 2000)
    text = '{"version": 2, "train": [' + rows + '], "note": "n"}'
    assert len(parse_rows(text, "x.json")) == 2000
    with pytest.raises(DatasetFormatError, match="names 'train' twice"):
        parse_rows(text[:-1] + ', "train": 1}', "x.json")
    with pytest.raises(DatasetFormatError, match="expected an array of rows"):
        parse_rows(text[:-1] + ', "more": []}', "x.json")


def test_validate_file_reads_every_row_with_progress(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    good = '{"instruction": "Add", "output": "3"}\n'
    path.write_text(good * 50_000 + '{"instruction": "Add"}\n')  # the last row lacks output
    seen: list[tuple[int, int]] = []
    with pytest.raises(DatasetFormatError, match="Row 50001 has no 'output'"):
        validate_file(path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert seen[-1] == (size, size) and len(seen) == -(-size // CHUNK_BYTES)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    path.write_text(good * 10)
    assert validate_file(path) == DatasetFormat("alpaca", "instruction", 10)


@pytest.mark.parametrize("name", ["big.jsonl", "big.json", "big.csv"])
def test_validating_a_big_file_takes_flat_memory(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rows = 40_000  # about 6 MiB
    if name.endswith(".csv"):
        path.write_text("text\n" + ('"' + "a, b " * 20 + '"\n') * rows)
    else:
        row = json.dumps({"text": "a, b " * 30})
        path.write_text(
            f"[{', '.join([row] * rows)}]" if name.endswith(".json") else (row + "\n") * rows
        )
    tracemalloc.start()
    try:
        fmt = validate_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fmt.rows_checked == rows
    assert peak < 3 * 1024 * 1024, peak
