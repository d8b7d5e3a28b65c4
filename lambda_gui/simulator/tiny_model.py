"""A tiny Llama-style model and tokenizer built locally (no Hub), for demo mode and tests.

Two layers, hidden size 64, a byte-level BPE tokenizer trained on the bundled demo dataset,
with pad/eos tokens and a simple chat template. Built deterministically from a fixed seed and
cached: a second call with the same destination returns at once.

Also a script (`python tiny_model.py DEST --dataset FILE`) that needs only torch, transformers
and tokenizers: the packaged app, which ships no PyTorch, builds the model with the Python
its simulated instances train with (services/demo_python.py).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

BUILD_VERSION = "tiny-llama-v2"
SEED = 1234
VOCAB_SIZE = 800
HIDDEN_SIZE = 64
LAYERS = 2
MAX_POSITIONS = 512
PRETRAIN_STEPS = 300
PRETRAIN_BATCH = 16
PRETRAIN_LR = 3e-3
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_MARKER = ".lgui-tiny-model"

# TrainingConfig values under which a LoRA run on this model visibly learns the demo set
# (loss about 7.8 -> 3.5 in 60 steps); the library defaults (lr 2e-4, q/v only) barely move it.
DEMO_SETTINGS: dict[str, Any] = {
    "learning_rate": 1e-2,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "rank": 8,
    "alpha": 16,
    "batch_size": 8,
    "num_epochs": 4.0,
    "logging_steps": 1,
}


# Set when run as a script, where the package's resources are not importable.
_dataset_override: Path | None = None


def demo_dataset_path() -> Path:
    """Filesystem path of the bundled demo dataset (Alpaca layout, JSONL)."""
    if _dataset_override is not None:
        return _dataset_override
    return Path(str(resources.files("lambda_gui.assets").joinpath("demo", "demo_dataset.jsonl")))


def build_tiny_model(dest: Path) -> Path:
    """Build (or reuse) the tiny model + tokenizer in `dest`; returns `dest`."""
    dest = Path(dest)
    fingerprint = _fingerprint()
    if _is_built(dest, fingerprint):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _build_into(staging)
        (staging / _MARKER).write_text(fingerprint, encoding="utf-8")
        if _is_built(dest, fingerprint):
            return dest  # another process finished first
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _is_built(dest: Path, fingerprint: str) -> bool:
    marker = dest / _MARKER
    try:
        return marker.read_text(encoding="utf-8") == fingerprint
    except OSError:
        return False


def _fingerprint() -> str:
    data = demo_dataset_path().read_bytes()
    return f"{BUILD_VERSION} {hashlib.sha256(data).hexdigest()}"


def _training_texts() -> list[str]:
    """The demo rows as the texts train.py will see (plain and chat-template spellings)."""
    texts: list[str] = []
    for line in demo_dataset_path().read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        texts.append(f"### Instruction:\n{prompt}\n\n### Response:\n{row['output']}")
        texts.append(f"<|user|>\n{prompt}</s>\n<|assistant|>\n{row['output']}</s>\n")
    return texts


def _build_tokenizer(dest: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    fast_class: Any = importlib.import_module("transformers").PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS + ROLE_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_texts(), trainer=trainer)
    fast = fast_class(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=MAX_POSITIONS,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(dest))
    return int(tok.get_vocab_size())


def _build_into(dest: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dest.mkdir(parents=True)
    vocab = _build_tokenizer(dest)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=HIDDEN_SIZE * 2,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        tie_word_embeddings=True,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    _pretrain(model, dest)
    model.save_pretrained(str(dest))


def _pretrain(model: Any, tokenizer_dir: Path) -> None:
    """A few hundred full-parameter steps on the demo answers alone, so the base is a (tiny)
    language model that knows the facts; a LoRA run then teaches it the question format."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    answers = [
        json.loads(line)["output"] + tokenizer.eos_token
        for line in demo_dataset_path().read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    batch = tokenizer(answers, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR)
    model.train()
    for _ in range(PRETRAIN_STEPS):
        pick = torch.randint(0, len(answers), (PRETRAIN_BATCH,), generator=generator)
        loss = model(
            input_ids=batch["input_ids"][pick],
            attention_mask=batch["attention_mask"][pick],
            labels=labels[pick],
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def main(argv: list[str] | None = None) -> int:
    """Script entry: build the model into DEST from the demo dataset FILE."""
    import argparse

    global _dataset_override
    parser = argparse.ArgumentParser(description="Build the demo's tiny Llama-style model.")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--dataset", type=Path, required=True)
    args = parser.parse_args(argv)
    _dataset_override = args.dataset
    build_tiny_model(args.dest)
    print(f"Built the tiny model in {args.dest}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
