"""The whole pipeline against the simulator: a real CPU fine-tune of the tiny model, streamed,
downloaded, verified, loaded with PEFT; the instance ends terminated."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import JobStatus, LambdaLabsConnector
from lambda_gui.core.job_state import Billing
from lambda_gui.core.logparse import MetricEvent, expand_runs, parse_events
from lambda_gui.core.models import JobPhase
from lambda_gui.services.events import JobLogEvents, JobPhaseChanged
from tests.e2e.conftest import demo_config

pytestmark = pytest.mark.slow


async def test_demo_job_trains_downloads_and_terminates(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    phases: list[JobPhase] = []
    metric_events: list[MetricEvent] = []

    def listen(event: object) -> None:
        if isinstance(event, JobPhaseChanged):
            phases.append(event.phase)
        elif isinstance(event, JobLogEvents):
            metric_events.extend(e for e in expand_runs(event.events) if isinstance(e, MetricEvent))

    connector.events.subscribe(listen)
    job_id = await connector.submit_job(demo_config(tiny_model))
    job = await connector.get_job(job_id)
    assert job.instance_name == f"lambda-gui-{job_id}"
    assert job.instance_id is not None

    lines = [line async for line in connector.stream_logs(job_id)]
    assert await connector.get_job_status(job_id) is JobStatus.COMPLETED, (
        (await connector.get_job(job_id)).error,
        "\n".join(lines[-30:]),
    )
    losses = [
        e.values["loss"]
        for line in lines
        for e in parse_events(line)
        if isinstance(e, MetricEvent) and e.source == "lgui" and "loss" in e.values
    ]
    assert len(losses) >= 5
    assert losses[-1] < losses[0] * 0.8, losses
    assert metric_events, "live metric events were published while training ran"
    assert phases[: phases.index(JobPhase.RUNNING) + 1][-1] is JobPhase.RUNNING
    assert phases[-1] is JobPhase.COMPLETED
    assert JobPhase.DOWNLOADING in phases

    # The local log is byte-identical to the instance's train.log (it is gone now, so
    # compare with what the store recorded as the offset).
    job = await connector.get_job(job_id)
    local_log = connector.paths.job_dir(job_id) / "train.log"
    assert job.log_offset == local_log.stat().st_size
    assert job.billing is Billing.TERMINATED
    assert sim.instance_status(job.instance_id) in ("terminating", "terminated", None)

    data = await connector.fetch_artifact(job_id)
    sidecar = Path(job.adapter_path + ".sha256").read_text().split()[0]
    assert hashlib.sha256(data).hexdigest() == sidecar
    dest = tmp_path / "out" / "adapter.tar.gz"
    seen: list[tuple[int, int]] = []
    await connector.download_artifact(job_id, dest, lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == data and seen[-1][0] == seen[-1][1] == len(data)
    assert not (tmp_path / "out" / "adapter.tar.gz.part").exists()
    assert len(await connector.read_metrics(job_id)) >= 5

    _assert_adapter_changes_the_model(data, tiny_model, tmp_path / "adapter")
    print(f"end-to-end wall time: {time.monotonic() - started:.1f} s")

    Path(job.adapter_path).unlink()
    with pytest.raises(FileNotFoundError):
        await connector.fetch_artifact(job_id)


def _assert_adapter_changes_the_model(data: bytes, model_dir: Path, target: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from lambda_gui.remote.archive import safe_extract

    archive = target.parent / "a.tar.gz"
    archive.write_bytes(data)
    safe_extract(archive, target)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert any(n.endswith("adapter_config.json") for n in names), names
    adapter_dir = next(p.parent for p in target.rglob("adapter_config.json"))

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        before = base(ids).logits.clone()
        tuned = PeftModel.from_pretrained(base, adapter_dir)
        after = tuned(ids).logits
    assert not torch.allclose(before, after, atol=1e-4)


async def test_submit_rejects_bad_config_naming_the_field(
    connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    with pytest.raises(ValueError, match="rank"):
        await connector.submit_job(demo_config(tiny_model, rank=0))
    with pytest.raises(ValueError, match="dataset_path"):
        await connector.submit_job(demo_config(tiny_model, dataset_path="/nonexistent.jsonl"))
    assert await connector.list_jobs() == []


async def test_no_capacity_anywhere_names_types_that_have_some(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    resource = next(r for r in await connector.list_resources() if r.name == "gpu_1x_a10")
    for region in resource.regions:
        sim.set_capacity("gpu_1x_a10", region.name, 0)
    with pytest.raises(RuntimeError, match="gpu_1x_a10") as info:
        await connector.submit_job(demo_config(tiny_model))
    assert "capacity" in str(info.value)
    assert "gpu_" in str(info.value).split("now:")[-1]


async def test_a_failed_job_brings_back_its_log_and_terminates(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path
) -> None:
    # A module name the model does not have: train.py stops with a clear message.
    job_id = await connector.submit_job(demo_config(tiny_model, target_modules=["nope_proj"]))
    lines = [line async for line in connector.stream_logs(job_id)]
    job = await connector.get_job(job_id)
    assert await connector.get_job_status(job_id) is JobStatus.FAILED
    assert job.error and "nope_proj" in job.error, job.error
    assert job.billing is Billing.TERMINATED
    assert sim.instance_status(job.instance_id) in ("terminating", "terminated", None)
    assert any("nope_proj" in line for line in lines)
    with pytest.raises(RuntimeError, match="failed"):
        await connector.fetch_artifact(job_id)

    # The log can be read again from any byte offset.
    whole = (connector.paths.job_dir(job_id) / "train.log").read_bytes()
    cut = whole.index(b"\n", len(whole) // 2) + 1
    tail = [line async for line in connector.stream_logs(job_id, offset=cut)]
    assert "\n".join(tail) == whole[cut:].decode().rstrip("\n")
