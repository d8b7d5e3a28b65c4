"""Several training processes for real on this CPU (docs/scale-out.md): bootstrap.sh on a job
dir whose instance has simulated GPUs (as the simulator's instances do) starts two processes
through accelerate's launcher; one failing ends the job with its error, a cancel stops both;
and a job over two "machines" meets at a rendezvous on 127.0.0.1 with launcher.py's arguments."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from lambda_gui.core.logparse import StatusEvent, parse_events
from lambda_gui.remote.bundle import CANCEL_COMMAND, START_COMMAND
from lambda_gui.simulator.machine import SIMULATED_GPUS_VAR, write_gpu_shim
from lambda_gui.simulator.tiny_model import build_tiny_model
from tests.remote.test_train import Job, base_config, make_job, wait_for_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny-model")


def simulated_gpus(job: Job, gpus: int, shim_dir: Path) -> Job:
    """The job as on a simulated instance with `gpus` GPUs (lambda_gui/simulator/machine.py)."""
    job.env[SIMULATED_GPUS_VAR] = str(gpus)
    job.env["PATH"] = f"{write_gpu_shim(shim_dir)}:{job.env['PATH']}"
    return job


def statuses(log: str) -> list[StatusEvent]:
    found: list[StatusEvent] = []
    for line in log.replace("\r", "\n").splitlines():
        found.extend(e for e in parse_events(line) if isinstance(e, StatusEvent))
    return found


def job_processes(job_dir: Path) -> list[int]:
    """Live processes whose working directory is the job dir (train.py, the launcher)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == job_dir:
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_all_exit(job_dir: Path, within: float = 10.0) -> None:
    """exit_code is train.py's last word; the launcher and bootstrap.sh end right after."""
    deadline = time.monotonic() + within
    while job_processes(job_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_processes(job_dir) == []


@pytest.fixture(scope="module")
def failed_job(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Job, float]:
    """Process 1 raises after step 3 (LGUI_TEST_FAIL_AT, read by train.py for tests only)."""
    root = tmp_path_factory.mktemp("failed")
    cfg = base_config(max_steps=500, save_steps=2, samples=0)
    job = simulated_gpus(make_job(root, tiny_model, cfg, job_id="fail-1"), 2, root / "gpu")
    job.env["LGUI_TEST_FAIL_AT"] = "1:3"
    started = time.monotonic()
    assert job.command(START_COMMAND).strip() == "started"
    job.wait(120)
    return job, time.monotonic() - started


def test_a_failing_process_ends_the_job_with_its_error(failed_job: tuple[Job, float]) -> None:
    """Rank 0, waiting for process 1 in the next gradient all-reduce, stops; the job reports
    process 1's error and exit code, with the latest checkpoint packaged, and nothing is left
    running."""
    job, seconds = failed_job
    log = job.log()
    assert (job.dir / "exit_code").read_text() == "1\n", log[-4000:]
    expected = "RuntimeError: injected failure in process 1 after step 3 (LGUI_TEST_FAIL_AT)"
    assert f"Error in training process 1 of 2: {expected}" in log
    failed = [e for e in statuses(log) if e.phase == "failed"]
    assert len(failed) == 1, failed
    assert failed[0].data["error"] == f"Training process 1 of 2 failed: {expected}"
    assert failed[0].data["exit_code"] == 1 and failed[0].data["checkpoint"] == "checkpoint-2"
    error = (job.dir / "error.txt").read_text()
    assert error.startswith(f"Training process 1 of 2 failed: {expected}")
    with tarfile.open(job.dir / "adapter.tar.gz") as tar:
        assert "adapter_config.json" in tar.getnames()
    assert_all_exit(job.dir)
    print(f"a failing process ended the job in {seconds:.1f} s (start to exit_code)")


def test_a_sharded_job_resumes_from_the_packaged_checkpoint(
    failed_job: tuple[Job, float], tmp_path: Path, tiny_model: Path
) -> None:
    """The failed job's checkpoint (step 2) resumed under FSDP for one step at a learning rate
    that changes nothing: the steps go on from 3, and the gathered adapter is the checkpoint's."""
    cfg = base_config(
        max_steps=3, samples=0, sharding="fsdp", resume_of="0123456789ab", learning_rate=1e-9
    )
    job = simulated_gpus(make_job(tmp_path, tiny_model, cfg, job_id="resume-1"), 2, tmp_path / "g")
    (job.dir / "resume.tar.gz").write_bytes((failed_job[0].dir / "adapter.tar.gz").read_bytes())
    assert job.command(START_COMMAND).strip() == "started"
    assert job.wait(120) == 0, job.log()[-4000:]
    log = job.log()
    assert "Rank 0 holds 50.0% of the base weights" in log
    assert "Rank 1 holds 50.0% of the base weights" in log
    records = [json.loads(x) for x in (job.dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [3]

    from safetensors.torch import load_file

    resumed = load_file(job.dir / "output" / "adapter_model.safetensors")
    saved = load_file(
        failed_job[0].dir / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors"
    )
    assert resumed.keys() == saved.keys()
    assert max((resumed[k] - saved[k]).abs().max().item() for k in saved) < 1e-6
    assert max(saved[k].abs().max().item() for k in saved if "lora_B" in k) > 1e-5  # not zeros


def test_cancel_stops_every_process_and_packages_the_checkpoint(
    tmp_path: Path, tiny_model: Path
) -> None:
    cfg = base_config(max_steps=5000, save_steps=4, samples=0)
    job = simulated_gpus(make_job(tmp_path, tiny_model, cfg, job_id="cancel-2"), 2, tmp_path / "g")
    assert job.command(START_COMMAND).strip() == "started"
    wait_for_checkpoint(job)
    assert len(job_processes(job.dir)) >= 3  # bootstrap.sh's launcher and two train.py
    job.command(CANCEL_COMMAND)
    assert job.wait(60) == 143
    log = job.log()
    failed = [e for e in statuses(log) if e.phase == "failed"]
    assert [e.data["exit_code"] for e in failed] == [143], failed
    assert "Packaged the latest checkpoint" in log
    assert not list(job.dir.glob("error-rank-*"))  # stopped, not failed
    assert_all_exit(job.dir)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_machines_meet_on_localhost_and_rank_0_writes_the_adapter(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Two launchers, one process each, each in its own copy of the job dir (as on two
    instances), started with exactly the arguments launcher.py gives each machine."""
    cfg = base_config(max_steps=20, samples=1)
    port = free_port()
    nodes = [make_job(tmp_path / f"node{n}", tiny_model, cfg, job_id="multi-1") for n in (0, 1)]
    launchers = []
    started = time.monotonic()
    for rank, node in enumerate(nodes):
        arguments = subprocess.run(
            [sys.executable, "launcher.py", "--processes", "1", "--machines", "2"]
            + ["--machine-rank", str(rank), "--main-ip", "127.0.0.1", "--main-port", str(port)],
            cwd=node.dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert arguments[:4] == ["--multi_gpu", "--num_machines", "2", "--num_processes"]
        env = dict(node.env, ACCELERATE_USE_CPU="true")  # the CPU switch (no CUDA here)
        with (node.dir / "train.log").open("wb") as log:
            launchers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "accelerate.commands.launch", *arguments]
                    + ["train.py", str(node.dir)],
                    cwd=node.dir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        codes = [launcher.wait(180) for launcher in launchers]
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                launcher.kill()
    main, other = nodes
    assert codes == [0, 0], (main.log()[-3000:], other.log()[-3000:])
    seconds = time.monotonic() - started
    training = [e for e in statuses(main.log()) if e.phase == "training"]
    assert training and training[0].data["world_size"] == 2
    assert (main.dir / "exit_code").read_text() == "0\n"
    assert (main.dir / "adapter.tar.gz").is_file() and (main.dir / "samples.json").is_file()
    # Machine 1 trained (its process took part in every step) but wrote no result.
    assert not (other.dir / "exit_code").exists() and not (other.dir / "adapter.tar.gz").exists()
    assert "LGUI_STATUS" not in other.log() and "Error" not in other.log()
    records = [json.loads(x) for x in (main.dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 20 and sum(losses[-5:]) < sum(losses[:5]) - 5.0

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with tarfile.open(main.dir / "adapter.tar.gz") as tar:
        tar.extractall(tmp_path / "adapter", filter="data")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        before = base(ids).logits.clone()
        after = PeftModel.from_pretrained(base, tmp_path / "adapter")(ids).logits
    assert not torch.allclose(before, after, atol=1e-4)
    print(f"2-node rendezvous on 127.0.0.1:{port}: 20 steps in {seconds:.1f} s")
