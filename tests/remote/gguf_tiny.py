"""A tiny Llama model that llama.cpp's converter accepts, for the GGUF export tests.

The demo's tiny model (lambda_gui/simulator/tiny_model.py) has a byte-level BPE tokenizer of
its own; convert_hf_to_gguf.py identifies a byte-level BPE tokenizer by hashing how it splits a
fixed text, and refuses one it does not know ("BPE pre-tokenizer was not recognized"). This
variant keeps the demo's shape (Llama, 2 layers, hidden size 64, tied embeddings, the demo's
special tokens and chat template) but has a Llama-2-style tokenizer: SentencePiece BPE with
byte fallback, trained here on the demo texts and saved by transformers as tokenizer.json,
which the converter reads through its LlamaHfVocab path (or tokenizer.model where a
transformers version keeps it). Its weights are random: the tests check the files'
structure, not what the model says.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from lambda_gui.simulator.tiny_model import (
    CHAT_TEMPLATE,
    HIDDEN_SIZE,
    LAYERS,
    MAX_POSITIONS,
    ROLE_TOKENS,
    SEED,
    SPECIAL_TOKENS,
    _training_texts,
)

VOCAB_SIZE = 600
# The ids SentencePiece gives the special tokens, the demo's order kept: <pad> <s> </s> <unk>.
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (
    SPECIAL_TOKENS.index(t) for t in ("<pad>", "<s>", "</s>", "<unk>")
)


def train_sentencepiece() -> bytes:
    """A SentencePiece BPE model (tokenizer.model bytes) with byte fallback, trained on the
    demo texts; the role tokens are user-defined pieces, so each stays one token."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_training_texts()),
        model_writer=model,
        vocab_size=VOCAB_SIZE,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=1.0,
        pad_id=PAD_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        user_defined_symbols=ROLE_TOKENS,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def build_tokenizer(dest: Path) -> Any:
    """Train the tokenizer, let transformers load it from tokenizer.model (its conversion to
    tokenizer.json is what a Llama-2-style model on the Hub holds), save it into `dest`."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as folder:
        return _convert_tokenizer(Path(folder), dest, AutoTokenizer)


def _convert_tokenizer(raw: Path, dest: Path, auto_tokenizer: Any) -> Any:
    (raw / "tokenizer.model").write_bytes(train_sentencepiece())
    settings = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": MAX_POSITIONS,
    }
    (raw / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    tokenizer = auto_tokenizer.from_pretrained(str(raw))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(dest))
    return tokenizer


def build_gguf_tiny_model(dest: Path) -> Path:
    """The model and its tokenizer in `dest` (a new folder), saved as safetensors in float32."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dest.mkdir(parents=True)
    tokenizer = build_tokenizer(dest)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN_SIZE,
        intermediate_size=HIDDEN_SIZE * 2,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        tie_word_embeddings=True,
    )
    torch.manual_seed(SEED)
    LlamaForCausalLM(config).save_pretrained(str(dest), safe_serialization=True)
    return dest
