"""train.py and bootstrap.sh run for real on this CPU, in a job dir laid out as on an instance
(HOME/lambda-gui/jobs/<id>), started and watched with the bundle's fixed commands."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.core.logparse import LogParser, MetricEvent, ProgressEvent, StatusEvent
from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote.bundle import (
    CANCEL_COMMAND,
    START_COMMAND,
    STATUS_COMMAND,
    job_dir,
    parse_status_output,
    remote_command,
)
from lambda_gui.simulator.tiny_model import DEMO_SETTINGS, build_tiny_model, demo_dataset_path
from tests.remote.bundle_dir import write_bundle

pytestmark = pytest.mark.slow

APP_PYTHON_BIN = Path(sys.executable).parent


@dataclass
class Job:
    home: Path
    job_id: str
    dir: Path
    env: dict[str, str]

    def command(self, template: str, stdin: str = "") -> str:
        """Run one of the bundle's fixed commands from the login home, as over SSH."""
        done = subprocess.run(
            ["bash", "-c", remote_command(template, self.job_id)],
            cwd=self.home,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def wait(self, timeout: float = 300) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, code = parse_status_output(self.command(STATUS_COMMAND))
            if state == "exited" and code is not None:
                return code
            assert state in ("running", "starting"), (state, self.log())
            time.sleep(0.3)
        raise AssertionError(f"job did not finish in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        path = self.dir / "train.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def run_train_py(self) -> int:
        """train.py alone (no bootstrap), as bootstrap.sh runs it."""
        with (self.dir / "train.log").open("ab") as log:
            done = subprocess.run(
                [sys.executable, "train.py", str(self.dir)],
                cwd=self.dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        assert (self.dir / "exit_code").read_text() == f"{done.returncode}\n"
        return done.returncode


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny-model")


def base_config(**changes: Any) -> TrainingConfig:
    cfg = TrainingConfig(
        base_model="/home/me/models/tiny",
        model_source="local",
        dataset_path="/home/me/demo.jsonl",
        max_steps=60,
        **DEMO_SETTINGS,
    )
    return dataclasses.replace(cfg, **changes)


def wait_for_checkpoint(job: Job, timeout_s: float = 120) -> None:
    """Until the running job saved its first checkpoint (it must not end before)."""
    deadline = time.monotonic() + timeout_s
    while '"phase": "checkpoint"' not in job.log():
        assert time.monotonic() < deadline, job.log()[-3000:]
        assert not (job.dir / "exit_code").exists(), job.log()[-3000:]
        time.sleep(0.2)


def make_job(
    root: Path,
    tiny_model: Path,
    cfg: TrainingConfig,
    *,
    dataset_text: str | None = None,
    dataset_name: str = "train.jsonl",
    job_id: str = "job-1",
    path_dirs: tuple[str, ...] = (),
) -> Job:
    home = root / "home"
    directory = home / job_dir(job_id)
    directory.mkdir(parents=True)
    hub = cfg.dataset_path.startswith("hf://")
    write_bundle(
        directory, cfg, job_id=job_id, gpu_count=0, dataset_name=None if hub else dataset_name
    )
    (directory / "data").mkdir()
    if dataset_text is None:
        shutil.copy(demo_dataset_path(), directory / "data" / dataset_name)
    else:
        (directory / "data" / dataset_name).write_text(dataset_text, encoding="utf-8")
    shutil.copytree(tiny_model, directory / "model")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HF_"))
    }
    path = [*path_dirs, str(APP_PYTHON_BIN), "/usr/local/bin", "/usr/bin", "/bin"]
    env.update(HOME=str(home), PATH=":".join(path), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return Job(home, job_id, directory, env)


# --- one full run through bootstrap.sh, started and watched with the fixed commands ---------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Job, int, float]:
    cfg = base_config(validation_split=0.1, eval_steps=20, save_steps=20)
    job = make_job(tmp_path_factory.mktemp("demo"), tiny_model, cfg, job_id="demo-1")
    started = time.monotonic()
    assert job.command(START_COMMAND).strip() == "started"
    assert job.command(START_COMMAND).strip() == "already-started"
    code = job.wait()
    return job, code, time.monotonic() - started


def test_bootstrap_installs_nothing_and_training_completes(
    demo_run: tuple[Job, int, float],
) -> None:
    job, code, seconds = demo_run
    log = job.log()
    assert code == 0, log[-3000:]
    assert "installing nothing" in log and "Installing:" not in log
    assert "CUDA check" not in log  # no nvidia-smi here
    assert (job.dir / "pid").read_text().strip().isdigit()
    assert parse_status_output(job.command(STATUS_COMMAND)) == ("exited", 0)
    print(f"demo run: 60 steps through bootstrap.sh in {seconds:.1f}s")


def test_loss_falls_and_metrics_are_written(demo_run: tuple[Job, int, float]) -> None:
    job = demo_run[0]
    records = [json.loads(line) for line in (job.dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 60
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 1.0, (first, last)
    for record in records:
        assert {"step", "epoch", "max_steps", "time"} <= record.keys()
        assert record["max_steps"] == 60
    training = [r for r in records if "loss" in r]
    assert [r["step"] for r in training] == list(range(1, 61))
    assert all("learning_rate" in r and "grad_norm" in r for r in training)
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in evals] == [20, 40, 60]  # no extra final evaluation
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert (job.dir / "checkpoints" / "checkpoint-20" / "adapter_config.json").is_file()


def test_the_log_parses_into_events(demo_run: tuple[Job, int, float]) -> None:
    job = demo_run[0]
    parser = LogParser()
    events = []
    # newline="" keeps tqdm's carriage returns inside lines, as the SSH stream delivers them.
    with (job.dir / "train.log").open(encoding="utf-8", newline="") as log:
        for line in log.read().split("\n"):
            events.extend(parser.feed(line))
    phases = [e.phase for e in events if isinstance(e, StatusEvent)]
    for phase in ("setting_up", "loading_model", "dataset", "training", "checkpoint", "completed"):
        assert phase in phases
    assert phases.index("training") < phases.index("completed")
    metrics = [e for e in events if isinstance(e, MetricEvent)]
    lines = (job.dir / "metrics.jsonl").read_text().splitlines()
    assert {e.source for e in metrics} == {"lgui"}  # the trainer's dicts were dropped as repeats
    assert len(metrics) == len(lines)
    assert [e.loss for e in metrics if e.loss is not None][:3] == [
        json.loads(line)["loss"] for line in lines[:3]
    ]
    bars = [e for e in events if isinstance(e, ProgressEvent) and e.total == 60]
    assert bars and max(e.step for e in bars) == 60


def test_artifact_is_safe_and_checksummed(demo_run: tuple[Job, int, float]) -> None:
    job = demo_run[0]
    archive = job.dir / "adapter.tar.gz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (job.dir / "adapter.tar.gz.sha256").read_text() == f"{digest}  adapter.tar.gz\n"
    check = subprocess.run(
        ["sha256sum", "-c", "adapter.tar.gz.sha256"], cwd=job.dir, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    assert "training_args.bin" not in names  # a pickle: never shipped
    for member in members:
        assert member.isfile() and not member.name.startswith("/") and ".." not in member.name


def test_adapter_loads_and_changes_the_output(
    demo_run: tuple[Job, int, float], tiny_model: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tarfile.open(demo_run[0].dir / "adapter.tar.gz") as tar:
        tar.extractall(tmp_path / "adapter", filter="data")
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "adapter"))
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of Norway?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        before = AutoModelForCausalLM.from_pretrained(str(tiny_model))(**inputs).logits
        tuned = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(str(tiny_model)), str(tmp_path / "adapter")
        )
        after = tuned(**inputs).logits
    assert before.shape == after.shape
    assert (after - before).abs().max().item() > 0.1


# --- other formats and methods, a few steps each --------------------------------------------


def demo_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in demo_dataset_path().read_text().splitlines()]


def test_csv_text_field_with_rslora(tmp_path: Path, tiny_model: Path) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "body"])
    for number, row in enumerate(demo_rows()[:40]):
        writer.writerow([number, f"Q: {row['instruction']} {row['input']}\nA: {row['output']}"])
    cfg = base_config(
        algorithm="rslora", dataset_path="/x/data.csv", text_field="body", max_steps=4
    )
    job = make_job(tmp_path, tiny_model, cfg, dataset_text=out.getvalue(), dataset_name="train.csv")
    assert job.run_train_py() == 0, job.log()[-3000:]
    assert "plain text in 'body' (40 rows)" in job.log()
    adapter = json.loads((job.dir / "output" / "adapter_config.json").read_text())
    assert adapter["use_rslora"] is True and adapter["use_dora"] is False


def test_chat_json_with_dora_and_the_plain_template(tmp_path: Path, tiny_model: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": r["instruction"] + " " + r["input"]},
                {"role": "assistant", "content": r["output"]},
            ]
        }
        for r in demo_rows()[:40]
    ]
    cfg = base_config(
        algorithm="dora", dataset_path="/x/chat.json", use_chat_template=False, max_steps=4
    )
    job = make_job(
        tmp_path, tiny_model, cfg, dataset_text=json.dumps(rows), dataset_name="train.json"
    )
    assert job.run_train_py() == 0, job.log()[-3000:]
    assert "chat messages in 'messages' (40 rows); formatting a plain template" in job.log()
    adapter = json.loads((job.dir / "output" / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True
    assert (job.dir / "adapter.tar.gz").is_file()


# --- failures -------------------------------------------------------------------------------


def test_malformed_dataset_fails_with_a_clear_message(tmp_path: Path, tiny_model: Path) -> None:
    text = '{"text": "one"}\n{"text": "two"}\n{"text": "three"\n'
    cfg = base_config(max_steps=4)
    job = make_job(tmp_path, tiny_model, cfg, dataset_text=text)
    assert job.run_train_py() == 2
    log = job.log()
    assert "Error: Line 3 is not valid JSON" in log
    assert '"phase": "failed"' in log
    assert "Line 3 is not valid JSON" in (job.dir / "error.txt").read_text()
    assert not (job.dir / "adapter.tar.gz").exists()


def test_qlora_without_a_gpu_fails_early_with_the_fix(tmp_path: Path, tiny_model: Path) -> None:
    job = make_job(tmp_path, tiny_model, base_config(algorithm="qlora"))
    assert job.run_train_py() == 2
    assert "needs an NVIDIA GPU" in job.log()
    assert "Choose quantization none" in (job.dir / "error.txt").read_text()


def test_unknown_target_modules_fail_with_the_fix(tmp_path: Path, tiny_model: Path) -> None:
    job = make_job(tmp_path, tiny_model, base_config(target_modules=["attn_proj"]))
    assert job.run_train_py() == 2
    assert "Check target_modules" in job.log()


def test_hub_model_and_dataset_that_cannot_be_fetched(tmp_path: Path, tiny_model: Path) -> None:
    """Offline (as in every test), a Hub id fails with a message that says what to check."""
    remote_model = base_config(
        model_source="huggingface", base_model="lambda-gui-tests/no-such-model"
    )
    job = make_job(tmp_path / "model", tiny_model, remote_model)
    assert job.run_train_py() == 2
    assert "cannot be loaded" in job.log() and "HF_TOKEN" in job.log()
    hub = base_config(dataset_path="hf://lambda-gui-tests/no-such-data?split=train")
    job = make_job(tmp_path / "data", tiny_model, hub)
    assert job.run_train_py() == 2
    assert "The Hub dataset lambda-gui-tests/no-such-data cannot be loaded" in job.log()


def test_cancel_packages_the_latest_checkpoint(tmp_path: Path, tiny_model: Path) -> None:
    cfg = base_config(max_steps=5000, save_steps=10)
    job = make_job(tmp_path, tiny_model, cfg, job_id="cancel-1")
    assert job.command(START_COMMAND).strip() == "started"
    wait_for_checkpoint(job)
    assert parse_status_output(job.command(STATUS_COMMAND)) == ("running", None)
    job.command(CANCEL_COMMAND)
    assert job.wait(60) == 143
    log = job.log()
    assert "Packaged the latest checkpoint" in log
    with tarfile.open(job.dir / "adapter.tar.gz") as tar:
        names = tar.getnames()
    # The checkpoint as Trainer resumes from it (the app's Resume), less the pickled arguments.
    assert {"adapter_config.json", "optimizer.pt", "scheduler.pt"} <= set(names)
    assert any(name.startswith("rng_state") for name in names)
    assert "training_args.bin" not in names
    digest = hashlib.sha256((job.dir / "adapter.tar.gz").read_bytes()).hexdigest()
    assert (job.dir / "adapter.tar.gz.sha256").read_text().split()[0] == digest
    steps = [json.loads(x)["step"] for x in (job.dir / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) < 5000


def test_unusable_gpu_fails_before_training(tmp_path: Path, tiny_model: Path) -> None:
    """nvidia-smi answers but PyTorch sees no CUDA device: bootstrap stops with exit 3."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    smi = fake_bin / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559 MiB, 550.54'\n")
    smi.chmod(0o755)
    job = make_job(tmp_path, tiny_model, base_config(), path_dirs=(str(fake_bin),))
    assert job.command(START_COMMAND).strip() == "started"
    assert job.wait(120) == 3
    log = job.log()
    assert "NVIDIA H100" in log and "CUDA check failed" in log
    assert '"phase": "training"' not in log


def test_bootstrap_makes_a_venv_when_packages_are_missing(tmp_path: Path, tiny_model: Path) -> None:
    """A bare system python3: bootstrap creates ~/lambda-gui/venv with the system's packages,
    and stops with a clear message as there is no PyTorch to reuse (nothing is downloaded)."""
    system = Path("/usr/bin/python3")
    probe = subprocess.run(
        [
            str(system),
            "-c",
            "import venv, ensurepip, importlib.util as u; "
            "raise SystemExit(u.find_spec('torch') is not None)",
        ],
        capture_output=True,
    )
    if not system.exists() or probe.returncode != 0:
        pytest.skip("needs a system python3 with venv and without torch")
    job = make_job(tmp_path, tiny_model, base_config())
    job.env["PATH"] = "/usr/bin:/bin"
    assert job.command(START_COMMAND).strip() == "started"
    assert job.wait(180) == 4
    log = job.log()
    assert "Creating" in log and "PyTorch is not installed" in log
    assert (job.home / "lambda-gui" / "venv" / "bin" / "python").exists()
    config = (job.home / "lambda-gui" / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in config
