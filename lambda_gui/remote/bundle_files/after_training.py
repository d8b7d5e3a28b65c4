"""What runs on the instance after training, before the app downloads and terminates: samples
(the base and the tuned model answer the same prompts) and the opt-in merge.

Shipped next to train.py, which calls it with the trained model still in memory; never
imports lambda_gui. Writes samples.json, merged/ and merged.tar (+ .sha256) into the job
dir (names from protocol.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dataset_format as fmtlib
import protocol
from protocol import JobConfig

# A text dataset has no prompt/answer split: its rows are cut here, the rest is the reference.
TEXT_PROMPT_CHARS = 200
# Merged weights are saved in shards of at most this size (what the Hub and loaders expect).
MERGED_SHARD_SIZE = "2GB"

Say = Callable[[str], None]


# --- samples -------------------------------------------------------------------------------


def held_out_rows(row_count: int, validation_split: float, seed: int) -> list[int]:
    """The row indices train.py's split held out, in the order it drew them.

    train.py splits a datasets.Dataset with train_test_split(test_size, seed); the permutation
    depends only on the row count and the seed, so splitting the indices alike names the rows.
    """
    if validation_split <= 0 or row_count < 2:
        return []
    import datasets

    held = max(1, round(row_count * validation_split))
    parts = datasets.Dataset.from_dict({"row": list(range(row_count))}).train_test_split(
        test_size=held, seed=seed
    )
    return [int(i) for i in parts["test"]["row"]]


def prompt_rows(config: JobConfig, row_count: int) -> list[int]:
    """The dataset rows that give the sample prompts: held-out rows, else the last rows."""
    if config.samples <= 0 or config.sample_prompts:
        return []
    held = held_out_rows(row_count, config.validation_split, config.seed)
    if held:
        return held[: config.samples]
    return list(range(max(0, row_count - config.samples), row_count))


def row_prompt(
    row: Any, fmt: Any, index: int, tokenizer: Any, templated: bool
) -> tuple[str, str, str | None]:
    """(the prompt as shown, the text the model continues, the row's own answer)."""
    if fmt.kind == "text":
        text = str(row[fmt.field])
        head = text[:TEXT_PROMPT_CHARS]
        return head, head, text[TEXT_PROMPT_CHARS:] or None
    messages = fmtlib.to_messages(row, fmt, index)
    reference: str | None = None
    if messages and messages[-1]["role"] == "assistant":
        reference = str(messages[-1]["content"])
        messages = messages[:-1]
    shown = "\n\n".join(str(m["content"]) for m in messages if m["role"] != "system")
    if templated:
        model_input = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    elif fmt.kind == "alpaca":
        parts = [f"### Instruction:\n{row['instruction']}"]
        extra = row.get("input")
        if isinstance(extra, str) and extra.strip():
            parts.append(f"### Input:\n{extra}")
        model_input = "\n\n".join(parts) + "\n\n### Response:\n"
    else:
        turns = [f"### {m['role'].capitalize()}:\n{m['content']}" for m in messages]
        model_input = "\n\n".join(turns) + "\n\n### Assistant:\n"
    return shown, model_input, reference


def typed_prompt(text: str, tokenizer: Any, templated: bool) -> str:
    """A prompt the user typed, formatted as training formatted a one-turn conversation."""
    if templated:
        return str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        )
    return f"### Instruction:\n{text}\n\n### Response:\n"


def generate(
    model: Any, tokenizer: Any, text: str, max_new_tokens: int, synced: bool = False
) -> str:
    """Greedy continuation of `text` (the prompt itself left out). `synced`: the model is
    sharded over processes that all generate the same text in step, each running every forward
    pass (generate's synced_gpus) until all are done, so that none waits for another forever."""
    import torch

    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in inputs.items()}
    options = {"synced_gpus": True} if synced else {}
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            **options,
        )
    new = out[0][inputs["input_ids"].shape[1] :]
    return str(tokenizer.decode(new, skip_special_tokens=True))


def write_samples(
    config: JobConfig,
    job_dir: Path,
    model: Any,
    tokenizer: Any,
    rows: Any,
    fmt: Any,
    templated: bool,
    say: Say,
    *,
    synced: bool = False,
    save: bool = True,
) -> int:
    """Answer the sample prompts with the base model (adapter off) and the tuned one; write
    samples.json when `save` (the processes of a sharded model all generate, rank 0 writes;
    `synced`: see generate). Returns how many samples were generated."""
    if config.samples <= 0:
        return 0
    prompts: list[tuple[str, str, str | None]] = []
    if config.sample_prompts:
        for text in config.sample_prompts[: config.samples]:
            prompts.append((text, typed_prompt(text, tokenizer, templated), None))
    else:
        for index in prompt_rows(config, len(rows)):
            prompts.append(row_prompt(rows[index], fmt, index + 1, tokenizer, templated))
    was_training = model.training
    model.eval()
    samples = []
    try:
        for number, (shown, model_input, reference) in enumerate(prompts, start=1):
            tuned = generate(model, tokenizer, model_input, config.sample_max_new_tokens, synced)
            with model.disable_adapter():
                base = generate(model, tokenizer, model_input, config.sample_max_new_tokens, synced)
            samples.append({"prompt": shown, "base": base, "tuned": tuned, "reference": reference})
            say(f"Sample {number} of {len(prompts)} generated.")
    finally:
        model.train(was_training)
    if not save:
        return len(samples)
    path = job_dir / protocol.SAMPLES_FILE
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"samples": samples}, indent=1, ensure_ascii=False), "utf-8")
    partial.replace(path)
    return len(samples)


# --- merge ---------------------------------------------------------------------------------


def merge(
    source: str, adapter_dir: Path, merged_dir: Path, load_kwargs: dict[str, Any], say: Say
) -> None:
    """The base model reloaded in 16 bits (the base trained in 4 or 8 bits cannot be merged
    into), the adapter applied and merged, saved as sharded safetensors with the tokenizer."""
    import transformers
    from peft import PeftModel

    dtype = next(iter(load_kwargs.values()), "float32")
    say(f"Merging the adapter into {source} ({str(dtype).removeprefix('torch.')}).")
    base = transformers.AutoModelForCausalLM.from_pretrained(source, **load_kwargs)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(
        str(merged_dir), safe_serialization=True, max_shard_size=MERGED_SHARD_SIZE
    )
    transformers.AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(merged_dir))
    size = sum(p.stat().st_size for p in merged_dir.rglob("*") if p.is_file())
    say(f"Merged model saved: {size / 1e6:.1f} MB in {merged_dir.name}/.")
