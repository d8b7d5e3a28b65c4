from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lambda_gui.core.dataset_format as dataset_format
from lambda_gui.core.dataset_format import (
    DatasetFormat,
    DatasetFormatError,
    HubDataset,
    detect_format,
    parse_hub_path,
    parse_rows,
    preview,
    render_plain,
    to_messages,
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
