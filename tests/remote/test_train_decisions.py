"""train.py's decisions that this CPU machine cannot reach in a real run (Unsloth, precision on
a GPU, requirements for trackers and bitsandbytes), checked on the module itself as shipped."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_gui.core.config_validation import effective_quantization
from lambda_gui.core.models import ALGORITHMS, QUANTIZATIONS, TrainingConfig
from lambda_gui.remote.bundle import build_bundle
from tests.remote.bundle_dir import write_bundle


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("job")
    cfg = TrainingConfig(base_model="org/model", dataset_path="x.jsonl")
    return write_bundle(directory, cfg)


@pytest.fixture(scope="module")
def train(job: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("lgui_bundle_train", job / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config(job: Path, train: ModuleType) -> Any:
    """The job's config.json as train.py reads it (a protocol.JobConfig)."""
    return train.load_config(job)


def with_(config: Any, **changes: Any) -> Any:
    """A copy of a JobConfig with some fields changed."""
    return dataclasses.replace(config, **changes)


def test_unsloth_only_when_it_can_work(train: ModuleType, config: Any) -> None:
    unsloth = with_(config, base_model="unsloth/llama-3-8b-bnb-4bit", algorithm="lora")
    assert train.unsloth_choice(with_(config, base_model="meta-llama/x"), True) == (False, "")
    assert train.unsloth_choice(unsloth, False) == (
        False,
        "Unsloth needs a CUDA GPU: training with PEFT instead.",
    )
    assert "DoRA" in train.unsloth_choice(with_(unsloth, algorithm="dora"), True)[1]
    assert train.unsloth_choice(with_(unsloth, model_dir="model"), True) == (False, "")
    if importlib.util.find_spec("unsloth") is None:
        assert train.unsloth_choice(unsloth, True) == (
            False,
            "Unsloth is not installed here: training with PEFT instead.",
        )


def test_unsloth_steps_aside_for_several_gpus(
    train: ModuleType, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "8")
    use, note = train.unsloth_choice(with_(config, base_model="unsloth/x"), True)
    assert not use and "one GPU" in note


@pytest.mark.parametrize(
    ("wanted", "cuda", "bf16_ok", "expected"),
    [
        (None, False, False, "fp32"),
        (True, False, False, "fp32"),
        (None, True, True, "bf16"),
        (None, True, False, "fp16"),
        (True, True, False, "fp16"),
        (False, True, True, "fp32"),
    ],
)
def test_precision(
    train: ModuleType,
    config: Any,
    wanted: bool | None,
    cuda: bool,
    bf16_ok: bool,
    expected: str,
) -> None:
    assert train.precision(with_(config, bf16=wanted), cuda, bf16_ok) == expected


def test_train_py_quantizes_as_the_app_decided(tmp_path: Path, train: ModuleType) -> None:
    """train.py takes the app's effective_quantization from config.json, for every method."""
    for algorithm in ALGORITHMS:
        for quant in QUANTIZATIONS:
            cfg = TrainingConfig(
                base_model="org/m", dataset_path="x.jsonl", algorithm=algorithm, quantization=quant
            )
            bundle = build_bundle(cfg, "j", gpu_count=1, dataset_name="train.jsonl")
            (tmp_path / "config.json").write_bytes(bundle.file("config.json").data)
            loaded = train.load_config(tmp_path)
            assert loaded.effective_quantization == effective_quantization(cfg)


def test_requirements_follow_the_config(train: ModuleType, config: Any) -> None:
    base = with_(config, effective_quantization="none", report_to="none")
    names = [r[1] for r in train.requirements(base)]
    assert names == ["transformers", "peft", "trl", "datasets", "accelerate"]
    int4 = with_(base, effective_quantization="int4")
    assert "bitsandbytes" in [r[1] for r in train.requirements(int4)]
    for tracker in ("wandb", "mlflow", "tensorboard"):
        assert tracker in [r[1] for r in train.requirements(with_(base, report_to=tracker))]
    assert train.pip_spec("trl", (0, 20), (2,)) == "trl>=0.20,<2"
    assert train.version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert train.version_tuple("1.0.0rc1") == (1, 0, 0)


def test_missing_requirements_command(job: Path) -> None:
    """What bootstrap.sh runs: nothing missing here for LoRA; bitsandbytes for QLoRA."""

    def missing(**changes: object) -> list[str]:
        config = json.loads((job / "config.json").read_text()) | changes
        (job / "config.json").write_text(json.dumps(config))
        done = subprocess.run(
            [sys.executable, "train.py", "--missing-requirements", str(job)],
            cwd=job,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    assert missing() == []
    if importlib.util.find_spec("bitsandbytes") is None:
        qlora = {"algorithm": "qlora", "effective_quantization": "int4"}
        assert missing(**qlora) == ["bitsandbytes>=0.45,<1"]
    if importlib.util.find_spec("mlflow") is None:
        lora = {"algorithm": "lora", "effective_quantization": "none"}
        assert missing(**lora, report_to="mlflow") == ["mlflow>=2.16,<4"]


def test_package_keeps_resume_state_and_skips_links_and_pickles(
    train: ModuleType, tmp_path: Path
) -> None:
    source = tmp_path / "checkpoint-10"
    (source / "sub").mkdir(parents=True)
    (source / "adapter_config.json").write_text("{}")
    (source / "sub" / "x.txt").write_text("x")
    (source / "optimizer.pt").write_bytes(b"0")
    (source / "rng_state.pth").write_bytes(b"0")
    (source / "trainer_state.json").write_text("{}")
    (source / "training_args.bin").write_bytes(b"pickle")
    os.symlink("/etc/passwd", source / "link")
    digest = train.package(tmp_path, source)
    with tarfile.open(tmp_path / "adapter.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    # What Trainer needs to resume exactly travels; the pickled arguments and links do not.
    assert sorted(members) == [
        "adapter_config.json",
        "optimizer.pt",
        "rng_state.pth",
        "sub/x.txt",
        "trainer_state.json",
    ]
    assert all(m.uid == 0 and m.mode == 0o644 for m in members.values())
    assert (tmp_path / "adapter.tar.gz.sha256").read_text() == f"{digest}  adapter.tar.gz\n"
    assert not (tmp_path / "adapter.tar.gz.tmp").exists()


def test_latest_checkpoint_needs_an_adapter(train: ModuleType, tmp_path: Path) -> None:
    assert train.latest_checkpoint(tmp_path) is None
    for step in (5, 10, 40):
        (tmp_path / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
    for step in (5, 10):
        (tmp_path / "checkpoints" / f"checkpoint-{step}" / "adapter_config.json").write_text("{}")
    latest = train.latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "checkpoint-10"


def test_trainer_arguments_for_checkpoints_and_evaluation(
    train: ModuleType, config: Any, tmp_path: Path
) -> None:
    cfg = with_(
        config, save_steps=25, eval_steps=0, warmup_ratio=0.1, max_seq_length=256, job_id="j9"
    )
    args = train.trainer_arguments(cfg, tmp_path, "fp32", True)
    assert args.save_strategy == "steps" and args.save_steps == 25
    assert args.eval_strategy == "epoch"
    assert args.max_length == 256 and args.warmup_steps == pytest.approx(0.1)
    assert args.run_name == "lambda-gui-j9" and args.report_to in ([], "none", ["none"])
    assert args.bf16 is False and args.fp16 is False
    assert args.output_dir == str(tmp_path / "checkpoints")
