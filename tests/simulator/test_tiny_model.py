from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lambda_gui.simulator.tiny_model import (
    HIDDEN_SIZE,
    LAYERS,
    build_tiny_model,
    demo_dataset_path,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The same path as tests/remote/test_train.py uses, so one build serves both.
    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny-model")


def test_files_and_shape(tiny: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (tiny / name).is_file(), name
    config = json.loads((tiny / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert (config["hidden_size"], config["num_hidden_layers"]) == (HIDDEN_SIZE, LAYERS)


def test_tokenizer_has_pad_eos_and_a_chat_template(tiny: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    assert tok.pad_token == "<pad>" and tok.eos_token == "</s>"
    assert tok.pad_token_id != tok.eos_token_id
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        tokenize=False,
    )
    assert text == "<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n"
    sample = "What is the capital of Norway? Reverse: ünïcödé"
    assert tok.decode(tok(sample)["input_ids"]) == sample  # byte-level: nothing is lost


def test_the_base_knows_the_demo_facts(tiny: Path) -> None:
    """The short pre-training makes the base a language model of the demo answers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    model = AutoModelForCausalLM.from_pretrained(str(tiny))
    answers = [json.loads(line)["output"] for line in demo_dataset_path().read_text().splitlines()]
    batch = tok(answers[:32], padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        loss = model(**batch, labels=labels).loss.item()
    assert loss < 2.5  # uniform guessing over the vocabulary would be ln(800) = 6.7


def test_cached(tiny: Path) -> None:
    before = (tiny / "model.safetensors").stat().st_mtime_ns
    started = time.monotonic()
    assert build_tiny_model(tiny) == tiny
    assert time.monotonic() - started < 0.5
    assert (tiny / "model.safetensors").stat().st_mtime_ns == before


def test_deterministic_and_a_partial_build_is_replaced(tmp_path: Path, tiny: Path) -> None:
    dest = tmp_path / "broken"
    dest.mkdir()
    (dest / "config.json").write_text("{")  # an interrupted earlier build, without the marker
    assert build_tiny_model(dest) == dest
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (dest / name).read_bytes() == (tiny / name).read_bytes(), name
    assert not list(tmp_path.glob(".broken.building-*"))
