"""Well-known base models and their sizes, so the planner can size a job from a model id.

Parameter counts, hidden sizes, layer counts and vocabulary sizes come from each model's
config.json / model card on the Hugging Face Hub. Unknown ids fall back to the size written in
the name ("7b", "1.5B", "500M", "8x7B"). A config.json read from a folder or fetched from the
Hub (services/model_shape.py) is turned into a shape here (shape_from_config), and every size
the wizard shows says where it came from (SizeSource).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory and speed depend on."""

    params_b: float
    hidden_size: int
    num_layers: int
    vocab_size: int
    guessed: bool = False


def _shape(params_b: float, hidden: int, layers: int, vocab: int) -> ModelShape:
    return ModelShape(params_b, hidden, layers, vocab)


# Keys are normalised names (see _model_key): lower case, no org, no -instruct/-chat/-bnb-4bit.
_KNOWN: dict[str, ModelShape] = {
    # Meta Llama 2 / 3 / 3.1 / 3.2 / 3.3
    "llama-2-7b": _shape(6.74, 4096, 32, 32000),
    "llama-2-13b": _shape(13.0, 5120, 40, 32000),
    "llama-2-70b": _shape(69.0, 8192, 80, 32000),
    "llama-3-8b": _shape(8.03, 4096, 32, 128256),
    "llama-3-70b": _shape(70.6, 8192, 80, 128256),
    "llama-3.1-8b": _shape(8.03, 4096, 32, 128256),
    "llama-3.1-70b": _shape(70.6, 8192, 80, 128256),
    "llama-3.1-405b": _shape(405.9, 16384, 126, 128256),
    "llama-3.2-1b": _shape(1.24, 2048, 16, 128256),
    "llama-3.2-3b": _shape(3.21, 3072, 28, 128256),
    "llama-3.3-70b": _shape(70.6, 8192, 80, 128256),
    # Mistral / Mixtral (Mixtral counts are totals: every expert sits in memory)
    "mistral-7b": _shape(7.24, 4096, 32, 32768),
    "mistral-nemo": _shape(12.2, 5120, 40, 131072),
    "mixtral-8x7b": _shape(46.7, 4096, 32, 32000),
    "mixtral-8x22b": _shape(140.6, 6144, 56, 32768),
    # Qwen2.5
    "qwen2.5-0.5b": _shape(0.49, 896, 24, 151936),
    "qwen2.5-1.5b": _shape(1.54, 1536, 28, 151936),
    "qwen2.5-3b": _shape(3.09, 2048, 36, 151936),
    "qwen2.5-7b": _shape(7.62, 3584, 28, 152064),
    "qwen2.5-14b": _shape(14.7, 5120, 48, 152064),
    "qwen2.5-32b": _shape(32.5, 5120, 64, 152064),
    "qwen2.5-72b": _shape(72.7, 8192, 80, 152064),
    # Gemma 2
    "gemma-2-2b": _shape(2.61, 2304, 26, 256000),
    "gemma-2-9b": _shape(9.24, 3584, 42, 256000),
    "gemma-2-27b": _shape(27.2, 4608, 46, 256000),
    # Phi-3 / 3.5
    "phi-3-mini": _shape(3.82, 3072, 32, 32064),
    "phi-3-small": _shape(7.39, 4096, 32, 100352),
    "phi-3-medium": _shape(14.0, 5120, 40, 32064),
    "phi-3.5-mini": _shape(3.82, 3072, 32, 32064),
    # Small models
    "gpt2": _shape(0.124, 768, 12, 50257),
    "gpt2-medium": _shape(0.355, 1024, 24, 50257),
    "gpt2-large": _shape(0.774, 1280, 36, 50257),
    "gpt2-xl": _shape(1.56, 1600, 48, 50257),
    "tinyllama-1.1b": _shape(1.10, 2048, 22, 32000),
    "tinyllama": _shape(1.10, 2048, 22, 32000),
    "smollm-135m": _shape(0.135, 576, 30, 49152),
    "smollm-360m": _shape(0.362, 960, 32, 49152),
    "smollm-1.7b": _shape(1.71, 2048, 24, 49152),
    "smollm2-135m": _shape(0.135, 576, 30, 49152),
    "smollm2-360m": _shape(0.362, 960, 32, 49152),
    "smollm2-1.7b": _shape(1.71, 2048, 24, 49152),
}

# Suffixes that name a variant of the same weights' shape: instruction tuning, quantised
# uploads (unsloth/*-bnb-4bit), context length, release version.
_VARIANT_SUFFIX = re.compile(
    r"(-(instruct|chat|hf|it|base|unsloth|dynamic|bnb-4bit|bnb-8bit|4bit|8bit|gptq|awq|gguf"
    r"|fp16|bf16|\d+k|v\d+(\.\d+)*))$"
)
_MOE_SIZE = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z0-9])")
_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")
_GUESSED_VOCAB = 128_000


def _model_key(model_id: str) -> str:
    name = model_id.strip().rstrip("/").split("/")[-1].lower().replace("_", "-")
    previous = None
    while previous != name:
        previous = name
        name = _VARIANT_SUFFIX.sub("", name)
    if name.startswith("meta-"):
        name = name[len("meta-") :]
    return name


def known_shape(model_id: str) -> ModelShape | None:
    """The table's entry for a model id (any org, instruct or quantised variant), or None."""
    return _KNOWN.get(_model_key(model_id))


def params_from_name(model_id: str) -> float | None:
    """Billions of parameters written in a model id ("7b", "1.5B", "500M"), or None."""
    name = model_id.lower().replace("_", "-")
    moe = _MOE_SIZE.search(name)
    if moe:
        # Experts share attention weights, so n * size overstates the total; an upper bound
        # is the safe side for a memory estimate.
        return int(moe.group(1)) * float(moe.group(2))
    size = _SIZE.search(name)
    if size is None:
        return None
    value = float(size.group(1))
    value = value / 1000.0 if size.group(2) == "m" else value
    return value if value > 0 else None


def estimate_params(model_id: str) -> float | None:
    """Billions of parameters of a model: from the table, else parsed from its name."""
    shape = known_shape(model_id)
    if shape is not None:
        return shape.params_b
    return params_from_name(model_id)


def guess_shape(params_b: float) -> ModelShape:
    """A plausible shape for a dense model of `params_b` billion parameters.

    A decoder layer holds about 12 * hidden^2 weights, and released models keep
    layers ~= hidden / 100 (Llama 2 7B: 4096 / 32; 70B: 8192 / 80), so
    params ~= 12 * hidden^3 / 100. The vocabulary is taken as 128k, which errs large.
    """
    hidden = (max(params_b, 0.01) * 1e9 * 100.0 / 12.0) ** (1.0 / 3.0)
    hidden_rounded = max(128, int(math.ceil(hidden / 64.0)) * 64)
    layers = max(2, round(hidden / 100.0))
    return ModelShape(params_b, hidden_rounded, layers, _GUESSED_VOCAB, guessed=True)


def shape_for(model_id: str, params_b: float | None = None) -> ModelShape | None:
    """The table's shape for `model_id`, else one guessed from `params_b` or the name."""
    shape = known_shape(model_id)
    if shape is not None:
        return shape
    size = params_b if params_b is not None else params_from_name(model_id)
    return guess_shape(size) if size is not None else None


# --- sizes read from a model's config.json -------------------------------------------------

SizeSource = Literal["config", "hub", "known", "name", "entered"]
SIZE_SOURCE_TEXT: dict[str, str] = {
    "config": "from config.json",
    "hub": "from the Hub",
    "known": "from the known-models table",
    "name": "from its name",
    "entered": "entered by you",
}


@dataclass(frozen=True)
class InferredShape:
    """A model's shape and where it was found, for one model (a Hub id or a local folder)."""

    model: str
    local: bool
    shape: ModelShape
    source: SizeSource

    def is_for(self, model: str, local: bool) -> bool:
        """True when this was inferred for `model` as named now (same id or folder, same kind)."""
        return self.local == local and self.model == model.strip()


def shape_of(model: str, local: bool) -> InferredShape | None:
    """The shape the table (or the size in the name) gives a model, without reading anything."""
    key = model.strip()
    shape = known_shape(key)
    if shape is not None:
        return InferredShape(key, local, shape, "known")
    size = params_from_name(key)
    if size is None:
        return None
    return InferredShape(key, local, guess_shape(size), "name")


# Architectures whose MLP has two matrices (up, down) rather than the gated three
# (gate, up, down) of Llama, Mistral, Qwen, Gemma and Phi-3.
_UNGATED_MLP = frozenset(
    {"gpt2", "gpt_neox", "gptj", "gpt_bigcode", "opt", "phi", "bloom", "falcon", "starcoder2"}
)
_MAX_DIM = 10**7  # no real model has a dimension this large: such a value is not a size


def _int_field(config: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_DIM:
            return value
    return None


def shape_from_config(config: Mapping[str, Any]) -> ModelShape | None:
    """The shape of a decoder-only transformer from its Hugging Face config.json, or None.

    Parameters are counted from the config as transformers builds the model: the embedding
    (and an untied output head), per layer the attention projections (query and output
    hidden x hidden, key and value hidden x kv_heads * head_dim), the MLP (three hidden x
    intermediate matrices when gated, two otherwise; times the experts of a mixture of
    experts) and two norms. Biases are left out (under 0.1% of any model this sizes). A
    multimodal config's text part ("text_config") is what is fine-tuned, so it is read instead.
    """
    text = config.get("text_config")
    if isinstance(text, Mapping) and _int_field(text, "hidden_size") is not None:
        merged = dict(text)
        merged.setdefault("model_type", config.get("model_type"))
        if "tie_word_embeddings" not in merged and "tie_word_embeddings" in config:
            merged["tie_word_embeddings"] = config["tie_word_embeddings"]
        config = merged
    hidden = _int_field(config, "hidden_size", "n_embd", "d_model", "dim")
    layers = _int_field(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    vocab = _int_field(config, "vocab_size", "padded_vocab_size")
    if hidden is None or layers is None or vocab is None:
        return None
    heads = _int_field(config, "num_attention_heads", "n_head", "num_heads") or 1
    kv_heads = _int_field(config, "num_key_value_heads", "num_kv_heads", "multi_query_group_num")
    kv_heads = kv_heads or heads
    head_dim = _int_field(config, "head_dim") or max(1, hidden // heads)
    model_type = str(config.get("model_type") or "").lower()
    gated = model_type not in _UNGATED_MLP
    intermediate = _int_field(config, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size")
    intermediate = intermediate or 4 * hidden
    experts = _int_field(config, "num_local_experts", "num_experts", "n_routed_experts") or 1
    moe_intermediate = _int_field(config, "moe_intermediate_size")
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    mlp_width = moe_intermediate if moe_intermediate is not None and experts > 1 else intermediate
    mlp = (3 if gated else 2) * hidden * mlp_width * experts
    per_layer = attention + mlp + 2 * hidden
    tied = config.get("tie_word_embeddings", model_type in _UNGATED_MLP) is not False
    embeddings = vocab * hidden * (1 if tied else 2)
    total = embeddings + layers * per_layer + hidden
    return ModelShape(total / 1e9, hidden, layers, vocab)
