"""gguf_export.py for real: llama.cpp's own converter, taken from the pinned llama-cpp-python
sdist, turns a merged tiny Llama into model-f16.gguf and model-q8_0.gguf; the `gguf` package
reads them back.

The sdist comes from $LGUI_LLAMA_CPP_SDIST, else .cache/llama-cpp/ in the repository (where
scripts/install-deps.sh puts it), else PyPI. Without it the tests fail: they never skip.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote import bundle
from lambda_gui.simulator.tiny_model import CHAT_TEMPLATE, LAYERS
from tests.remote.bundle_dir import write_bundle
from tests.remote.gguf_tiny import BOS_ID, EOS_ID, build_gguf_tiny_model

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUNDLE_FILES = Path(bundle.__file__).parent / "bundle_files"
# Where scripts/install-deps.sh downloads the sdist.
REPO_SDIST_DIR = REPO / ".cache" / "llama-cpp"
KINDS = ["f16", "q8_0"]

# Hugging Face's Llama tensor names -> the GGUF names llama.cpp gives them.
GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
}
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# llama.cpp reorders the rows of q and k for its RoPE layout: same values, other order.
PERMUTED = ("attn_q", "attn_k")


def gguf_name(hf_name: str) -> str:
    if hf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[hf_name]
    match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", hf_name)
    assert match, hf_name
    return f"blk.{match[1]}.{LAYER_NAMES[match[2]]}.weight"


@dataclass
class Export:
    job_dir: Path
    cache_dir: Path
    names: list[str]
    merged: dict[str, np.ndarray]  # the merged model's tensors, as float32
    base: dict[str, np.ndarray]  # the model before the merge
    vocab_size: int
    log: list[str]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def sdist_env(gguf_export: ModuleType) -> Iterator[None]:
    """$LGUI_LLAMA_CPP_SDIST set to the repository's copy of the sdist when there is one."""
    with pytest.MonkeyPatch.context() as patch:
        local = REPO_SDIST_DIR / gguf_export.SDIST_NAME
        if not os.environ.get("LGUI_LLAMA_CPP_SDIST") and local.is_file():
            patch.setenv("LGUI_LLAMA_CPP_SDIST", str(local))
        yield


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job dir with the bundle's files, gguf_export.py among them, as on the instance."""
    directory = tmp_path_factory.mktemp("job")
    cfg = TrainingConfig(base_model="org/model", dataset_path="x.jsonl", merge=True)
    write_bundle(directory, cfg)
    shutil.copy(BUNDLE_FILES / "gguf_export.py", directory / "gguf_export.py")
    return directory


def _bundle_module(job_dir: Path, name: str) -> ModuleType:
    """A bundle module imported by its own name, as train.py imports it on the instance."""
    if str(job_dir) not in sys.path:
        sys.path.insert(0, str(job_dir))
    return __import__(name)


@pytest.fixture(scope="module")
def gguf_export(job_dir: Path) -> ModuleType:
    return _bundle_module(job_dir, "gguf_export")


@pytest.fixture(scope="module")
def export(
    tmp_path_factory: pytest.TempPathFactory,
    job_dir: Path,
    gguf_export: ModuleType,
    sdist_env: None,
) -> Export:
    """The tiny model with a LoRA adapter (nonzero), merged by after_training.merge into
    sharded bfloat16 safetensors, then exported in both types by export_all."""
    import peft
    import torch
    import transformers
    from safetensors.torch import load_file

    after_training = _bundle_module(job_dir, "after_training")
    root = tmp_path_factory.mktemp("gguf")
    seconds: dict[str, float] = {}
    start = time.monotonic()
    base_dir = build_gguf_tiny_model(root / "base")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir))
    base = {k: v.float().numpy().copy() for k, v in model.state_dict().items()}
    lora = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    adapter_dir = root / "adapter"
    peft.get_peft_model(model, lora).save_pretrained(str(adapter_dir))
    transformers.AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(str(adapter_dir))
    log: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(after_training, "MERGED_SHARD_SIZE", "100KB")  # shards, as a big model
        after_training.merge(
            str(base_dir), adapter_dir, job_dir / "merged", {"dtype": torch.bfloat16}, log.append
        )
    seconds["model"] = time.monotonic() - start
    merged_dir = job_dir / "merged"
    assert len(list(merged_dir.glob("model-*-of-*.safetensors"))) > 1
    merged: dict[str, np.ndarray] = {}
    for part in merged_dir.glob("*.safetensors"):
        merged.update({k: v.float().numpy() for k, v in load_file(str(part)).items()})

    cache_dir = root / "cache" / "llama.cpp"
    start = time.monotonic()
    gguf_export.fetch_converter(cache_dir, log.append)
    seconds["fetch"] = time.monotonic() - start
    names: list[str] = []
    for kind in KINDS:  # one at a time, to time each; export_all fetches nothing more
        start = time.monotonic()
        names += gguf_export.export_all(job_dir, [kind], log.append, cache_dir=cache_dir)
        seconds[kind] = time.monotonic() - start
    print(f"GGUF export timings (s): {seconds}")
    vocab = json.loads((merged_dir / "config.json").read_text())["vocab_size"]
    return Export(job_dir, cache_dir, names, merged, base, vocab, log, seconds)


def read_gguf(path: Path) -> Any:
    from gguf import GGUFReader

    return GGUFReader(path)


def field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def test_both_files_with_their_sha256(export: Export) -> None:
    assert export.names == ["model-f16.gguf", "model-q8_0.gguf"]
    for name in export.names:
        path = export.job_dir / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert (export.job_dir / f"{name}.sha256").read_text() == f"{digest}  {name}\n"
        assert path.read_bytes()[:4] == b"GGUF"
    assert not list(export.job_dir.glob("*.tmp"))
    f16 = (export.job_dir / "model-f16.gguf").stat().st_size
    q8 = (export.job_dir / "model-q8_0.gguf").stat().st_size
    assert q8 < f16 * 0.7


@pytest.mark.parametrize("kind", KINDS)
def test_tensors_names_shapes_and_types(export: Export, kind: str) -> None:
    from gguf import GGMLQuantizationType as Q

    reader = read_gguf(export.job_dir / f"model-{kind}.gguf")
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == len(export.merged)
    assert set(tensors) == {gguf_name(name) for name in export.merged}
    assert {name for name in tensors if name.startswith("blk.")} == {
        f"blk.{i}.{short}.weight" for i in range(LAYERS) for short in LAYER_NAMES.values()
    }
    matrix_type = Q.F16 if kind == "f16" else Q.Q8_0
    for hf_name, weights in export.merged.items():
        tensor = tensors[gguf_name(hf_name)]
        # GGUF lists dimensions fastest first: the reverse of torch's order.
        assert tuple(int(n) for n in reversed(tensor.shape)) == weights.shape, hf_name
        expected_type = matrix_type if weights.ndim == 2 else Q.F32
        assert tensor.tensor_type == expected_type, (hf_name, tensor.tensor_type)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_are_the_merged_ones(export: Export, kind: str) -> None:
    from gguf.quants import dequantize

    reader = read_gguf(export.job_dir / f"model-{kind}.gguf")
    tensors = {t.name: t for t in reader.tensors}
    for hf_name, weights in export.merged.items():
        name = gguf_name(hf_name)
        tensor = tensors[name]
        values = dequantize(tensor.data, tensor.tensor_type).reshape(weights.shape)
        if name.split(".")[-2] in PERMUTED:
            values, weights = np.sort(values, axis=None), np.sort(weights, axis=None)
        scale = float(np.abs(weights).max())
        # f16 rounds bfloat16 values exactly but for subnormals; q8_0 keeps 1/127 of a block's max
        tolerance = scale * (1e-3 if kind == "f16" else 1 / 127)
        np.testing.assert_allclose(values, weights, rtol=0, atol=tolerance, err_msg=hf_name)
    # The adapter is in: v_proj moved away from the base model's.
    v_proj = "model.layers.0.self_attn.v_proj.weight"
    assert np.abs(export.merged[v_proj] - export.base[v_proj]).max() > 1e-2


def test_metadata_and_tokenizer(export: Export) -> None:
    for kind, file_type in (("f16", 1), ("q8_0", 7)):
        reader = read_gguf(export.job_dir / f"model-{kind}.gguf")
        assert field(reader, "general.architecture") == "llama"
        assert field(reader, "general.file_type") == file_type
        assert field(reader, "llama.block_count") == LAYERS
        assert field(reader, "tokenizer.ggml.model") == "llama"
        assert len(field(reader, "tokenizer.ggml.tokens")) == export.vocab_size
        assert field(reader, "tokenizer.ggml.bos_token_id") == BOS_ID
        assert field(reader, "tokenizer.ggml.eos_token_id") == EOS_ID
        assert field(reader, "tokenizer.chat_template") == CHAT_TEMPLATE


def test_the_steps_are_said(export: Export) -> None:
    text = "\n".join(export.log)
    assert "Converting merged/ to model-f16.gguf" in text
    assert "model-q8_0.gguf written" in text


def test_fetch_reuses_the_cache(export: Export, gguf_export: ModuleType) -> None:
    converter = export.cache_dir / "convert_hf_to_gguf.py"
    before = converter.stat().st_mtime_ns
    said: list[str] = []
    assert gguf_export.fetch_converter(export.cache_dir, said.append) == converter
    assert converter.stat().st_mtime_ns == before
    assert said == [f"Using llama.cpp's converter from {export.cache_dir}."]
    extracted = sorted(
        p.relative_to(export.cache_dir).as_posix() for p in export.cache_dir.rglob("*")
    )
    assert all(
        p == "convert_hf_to_gguf.py" or p.startswith(("conversion", "gguf-py")) or p == ".complete"
        for p in extracted
    )


def test_fetch_without_pip_downloads_the_pinned_file(
    export: Export, gguf_export: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python without pip (a venv made by uv) downloads SDIST_URL itself; served here from
    the sdist the module's tests use."""
    sdist = tmp_path / "served" / gguf_export.SDIST_NAME
    sdist.parent.mkdir()
    source = os.environ.get("LGUI_LLAMA_CPP_SDIST")
    if source:
        shutil.copy(source, sdist)
    else:  # the module's fixture downloaded it with pip: once more, from pip's cache
        gguf_export._download_sdist(sdist.parent, lambda _: None)
    monkeypatch.delenv("LGUI_LLAMA_CPP_SDIST", raising=False)
    monkeypatch.setattr(gguf_export, "_has_pip", lambda: False)
    monkeypatch.setattr(gguf_export, "SDIST_URL", sdist.as_uri())
    said: list[str] = []
    converter = gguf_export.fetch_converter(tmp_path / "cache", said.append)
    assert converter.is_file()
    assert f"Downloading {sdist.as_uri()}" in said


def test_fetch_refuses_an_archive_of_another_hash(
    gguf_export: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / gguf_export.SDIST_NAME
    fake.write_bytes(b"not the sdist")
    monkeypatch.setenv("LGUI_LLAMA_CPP_SDIST", str(fake))
    with pytest.raises(gguf_export.GgufExportError, match="sha256"):
        gguf_export.fetch_converter(tmp_path / "cache", lambda _: None)
    assert not (tmp_path / "cache").exists()
    assert [p.name for p in tmp_path.iterdir()] == [fake.name]


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"x", **changes: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in changes.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def test_extract_takes_only_the_converters_regular_files(
    gguf_export: ModuleType, tmp_path: Path
) -> None:
    prefix = gguf_export.VENDOR_PREFIX
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, prefix + "convert_hf_to_gguf.py", b"print('converter')")
        _add(tar, prefix + "conversion/__init__.py")
        _add(tar, prefix + "gguf-py/gguf/__init__.py")
        _add(tar, prefix + "ggml/src/big.c")  # not the converter's
        _add(tar, prefix + "conversion/../../../../escape.py")
        _add(tar, "/abs/" + prefix + "conversion/abs.py")
        _add(tar, prefix + "conversion/link.py", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        _add(tar, prefix + "conversion/hard.py", type=tarfile.LNKTYPE, linkname="/etc/passwd")
        _add(tar, prefix + "gguf-py/gguf/dev", type=tarfile.CHRTYPE)
        _add(tar, prefix + "convert_hf_to_gguf_update.py")
    dest = tmp_path / "out"
    assert gguf_export.extract_converter(archive, dest) == 3
    found = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert found == [
        "evil.tar.gz",
        "out/conversion/__init__.py",
        "out/convert_hf_to_gguf.py",
        "out/gguf-py/gguf/__init__.py",
    ]
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_member_names(gguf_export: ModuleType) -> None:
    name = gguf_export.converter_member_name
    prefix = gguf_export.VENDOR_PREFIX
    assert name(prefix + "convert_hf_to_gguf.py") == "convert_hf_to_gguf.py"
    assert name(prefix + "conversion/llama.py") == "conversion/llama.py"
    assert name(prefix + "gguf-py/gguf/vocab.py") == "gguf-py/gguf/vocab.py"
    for bad in (
        "convert_hf_to_gguf.py",
        prefix,
        prefix + "conversion",
        prefix + "conversion/../x.py",
        prefix + "conversion//x.py",
        prefix + "conversion/./x.py",
        prefix + "conversion\\x.py",
        prefix + "gguf-py/pyproject.toml",
        prefix + "convert_hf_to_gguf.py/x",
    ):
        assert name(bad) is None, bad


FAKE_CONVERTER = """
import sys
for i in range(40):
    print(f"line {i}", flush=True)
sys.stdout.write("Writing: 10%\\rWriting: 100%\\n")
print("on stderr", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_convert_streams_the_output_and_quotes_its_end_on_failure(
    gguf_export: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    converter = tmp_path / "convert_hf_to_gguf.py"
    converter.write_text(FAKE_CONVERTER)
    out = tmp_path / "model-f16.gguf"
    (tmp_path / "model-f16.gguf.tmp").write_text("left from before")
    with pytest.raises(gguf_export.GgufExportError) as failure:
        gguf_export.convert(tmp_path / "merged", out, "f16", converter, lambda _: None)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == ["line 0", "line 1"]
    assert printed[-3:] == ["Writing: 10%", "Writing: 100%", "on stderr"]
    assert len(printed) == 43
    message = str(failure.value)
    assert "status 3" in message and "model-f16.gguf" in message
    assert message.splitlines()[-gguf_export.TAIL_LINES :] == printed[-gguf_export.TAIL_LINES :]
    assert "line 17" not in message
    assert not out.exists() and not (tmp_path / "model-f16.gguf.tmp").exists()


def test_a_model_the_converter_does_not_know_fails_with_its_reason(
    export: Export, gguf_export: ModuleType, tmp_path: Path
) -> None:
    merged = tmp_path / "merged"
    shutil.copytree(export.job_dir / "merged", merged)
    config = json.loads((merged / "config.json").read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    (merged / "config.json").write_text(json.dumps(config))
    converter = export.cache_dir / "convert_hf_to_gguf.py"
    out = tmp_path / "model-f16.gguf"
    with pytest.raises(gguf_export.GgufExportError, match="NoSuchModelForCausalLM"):
        gguf_export.convert(merged, out, "f16", converter, lambda _: None)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_export_all_checks_its_arguments(gguf_export: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="q4_k"):
        gguf_export.export_all(tmp_path, ["f16", "q4_k"], lambda _: None)
    assert gguf_export.export_all(tmp_path, [], lambda _: None) == []
    with pytest.raises(gguf_export.GgufExportError, match="No merged model"):
        gguf_export.export_all(tmp_path, ["f16"], lambda _: None, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()
