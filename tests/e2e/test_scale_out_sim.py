"""Scale-out on the simulator (docs/scale-out.md): a job on a 2-GPU type trains in two processes
on CPU through the launcher a real instance uses, data-parallel or with its base weights sharded
(FSDP), and one adapter comes back that PEFT loads."""

from __future__ import annotations

import json
import re
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import LambdaLabsConnector
from lambda_gui.core.logparse import StatusEvent, parse_events
from lambda_gui.core.models import JobPhase
from tests.e2e.conftest import demo_config

pytestmark = pytest.mark.slow

TWO_GPUS = "gpu_2x_h100_sxm5"
STEPS = 30
# A data-parallel run and a one-process run with the same effective batch and seed see the same
# rows at each step (the distributed sampler deals each global batch out to the processes); they
# differ in padding (4 rows a batch, not 8), how the loss is averaged over processes and float
# summation order. Measured (two runs, identical): mean loss over the last 5 of 30 steps 4.2718
# with 2 processes x batch 4, 4.2733 with 1 process x batch 8, a gap of 0.04%; one process with
# seeds 7, 8 and 9 ends at 4.2733, 4.0270 and 4.2421, a spread of 6%. 1% sits between the two.
SAME_BATCH_TOLERANCE = 0.01


def _log(connector: LambdaLabsConnector, job_id: str) -> str:
    path = connector.paths.job_dir(job_id) / "train.log"
    return path.read_text(encoding="utf-8", errors="replace")


def _losses(connector: LambdaLabsConnector, job_id: str) -> dict[int, float]:
    path = connector.paths.job_dir(job_id) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {int(r["step"]): float(r["loss"]) for r in rows if r.get("loss") is not None}


def _tail_mean(losses: dict[int, float], count: int = 5) -> float:
    steps = sorted(losses)[-count:]
    return sum(losses[s] for s in steps) / len(steps)


def _head_mean(losses: dict[int, float], count: int = 5) -> float:
    steps = sorted(losses)[:count]
    return sum(losses[s] for s in steps) / len(steps)


def _training_status(log: str) -> dict[str, Any]:
    for line in log.replace("\r", "\n").splitlines():
        for event in parse_events(line):
            if isinstance(event, StatusEvent) and event.phase == "training":
                return dict(event.data)
    raise AssertionError("no training status line in the log")


async def _run(connector: LambdaLabsConnector, **changes: Any) -> str:
    job_id = await connector.submit_job(demo_config(**changes))
    async for _ in connector.stream_logs(job_id):
        pass
    job = await connector.get_job(job_id)
    assert job.phase is JobPhase.COMPLETED, (job.error, _log(connector, job_id)[-3000:])
    return job_id


def _adapter_changes_the_logits(archive: Path, model_dir: Path, target: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        before = base(ids).logits.clone()
        after = PeftModel.from_pretrained(base, target)(ids).logits
    assert not torch.allclose(before, after, atol=1e-4)


async def test_a_two_gpu_job_trains_in_two_processes_like_one_with_the_same_batch(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    common = dict(model=tiny_model, max_steps=STEPS, samples=0, seed=7, logging_steps=1)
    two = await _run(connector, resource_id=TWO_GPUS, batch_size=4, **common)
    two_seconds = time.monotonic() - started
    log = _log(connector, two)
    assert "CUDA check simulated: 2 GPU(s)" in log
    assert "simulated 2 GPUs: running 2 training processes on CPU (gloo)." in log
    assert "ACCELERATE_USE_CPU=true" in log
    assert (
        "Launching 2 training processes: accelerate launch --multi_gpu --num_machines 1 "
        "--num_processes 2 train.py"
    ) in log
    assert "Data-parallel over 2 processes" in log
    status = _training_status(log)
    assert status["world_size"] == 2 and status["effective_batch"] == 8
    assert status["sharding"] == "none"

    losses = _losses(connector, two)
    assert sorted(losses) == list(range(1, STEPS + 1))  # one record per step: rank 0 alone
    assert _tail_mean(losses) < _head_mean(losses) - 1.0
    job = await connector.get_job(two)
    assert job.adapter_path is not None
    _adapter_changes_the_logits(Path(job.adapter_path), tiny_model, tmp_path / "adapter")

    one = await _run(connector, batch_size=8, **common)  # gpu_1x_a10: one process
    assert "Launching" not in _log(connector, one)
    assert _training_status(_log(connector, one))["world_size"] == 1
    two_final, one_final = _tail_mean(losses), _tail_mean(_losses(connector, one))
    print(
        f"mean loss over the last 5 steps: 2 processes x batch 4 {two_final:.4f}, "
        f"1 process x batch 8 {one_final:.4f}; the 2-process job took {two_seconds:.1f} s, "
        f"both {time.monotonic() - started:.1f} s"
    )
    assert two_final == pytest.approx(one_final, rel=SAME_BATCH_TOLERANCE)


async def test_an_fsdp_job_shards_the_base_weights_and_gathers_one_adapter(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    job_id = await _run(
        connector,
        model=tiny_model,
        resource_id=TWO_GPUS,
        sharding="fsdp",
        batch_size=4,
        max_steps=20,
        save_steps=10,
        samples=2,
    )
    log = _log(connector, job_id)
    shares = {
        int(rank): float(percent)
        for rank, percent in re.findall(r"Rank (\d) holds ([\d.]+)% of the base weights", log)
    }
    print(f"FSDP job in {time.monotonic() - started:.1f} s; base weights held: {shares}")
    assert sorted(shares) == [0, 1]
    assert all(40.0 <= percent <= 60.0 for percent in shares.values()), shares
    assert _training_status(log)["sharding"] == "fsdp"
    assert "accelerate runs FSDP only on GPUs" in log  # the CPU switch, said in the log

    losses = _losses(connector, job_id)
    assert _tail_mean(losses) < _head_mean(losses) - 0.5
    job = await connector.get_job(job_id)
    assert job.adapter_path is not None
    archive = Path(job.adapter_path)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "adapter_model.safetensors" in names and "adapter_config.json" in names
    _adapter_changes_the_logits(archive, tiny_model, tmp_path / "adapter")
    # Both processes generated in step (the model is sharded), rank 0 wrote the file.
    samples = await connector.get_samples(job_id)
    print("samples:", [(s.base[:40], s.tuned[:40]) for s in samples])
    assert len(samples) == 2 and any(s.base or s.tuned for s in samples)
