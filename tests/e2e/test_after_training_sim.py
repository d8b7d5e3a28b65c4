"""After training, on the simulator with the tiny model: samples and the merged model are made
on the instance, downloaded and verified before it is terminated."""

from __future__ import annotations

import hashlib
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import JobStatus, LambdaLabsConnector
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase
from lambda_gui.remote.archive import safe_extract
from lambda_gui.services.events import BillingChanged, DownloadProgress, JobPhaseChanged
from tests.e2e.conftest import demo_config
from tests.plugins.fake_hub import FakeHub

pytestmark = pytest.mark.slow


async def test_samples_and_merge_come_back_before_the_instance_goes(
    sim: Any,
    connector: LambdaLabsConnector,
    tiny_model: Path,
    tmp_path: Path,
    fake_hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[object] = []
    stamps: dict[JobPhase, float] = {}

    def note(event: object) -> None:
        seen.append(event)
        if isinstance(event, JobPhaseChanged):
            stamps.setdefault(event.phase, time.monotonic())

    connector.events.subscribe(note)
    cfg = demo_config(tiny_model, samples=3, merge=True, validation_split=0.1)
    job_id = await connector.submit_job(cfg)
    lines = [line async for line in connector.stream_logs(job_id)]
    job = await connector.get_job(job_id)
    assert job.phase is JobPhase.COMPLETED, (job.error, "\n".join(lines[-30:]))
    assert await connector.get_job_status(job_id) is JobStatus.COMPLETED

    phases = [e.phase for e in seen if isinstance(e, JobPhaseChanged) and e.job_id == job_id]
    order = [JobPhase.RUNNING, JobPhase.SAMPLING, JobPhase.EXPORTING, JobPhase.DOWNLOADING]
    assert [p for p in phases if p in order] == order, phases
    order.append(JobPhase.COMPLETED)
    print(
        "seconds per phase: "
        + ", ".join(
            f"{a.value} {stamps[b] - stamps[a]:.1f}" for a, b in zip(order, order[1:], strict=False)
        )
    )

    # Samples: held-out rows, base and tuned side by side, with the dataset's answers.
    samples = await connector.get_samples(job_id)
    assert len(samples) == 3
    assert all(s.prompt and s.reference for s in samples)
    assert any(s.tuned != s.base for s in samples), samples

    # The merged model came back verified, and only then was the instance terminated.
    merged = connector.paths.job_dir(job_id) / "merged.tar"
    digest = (merged.parent / "merged.tar.sha256").read_text().split()[0]
    assert hashlib.sha256(merged.read_bytes()).hexdigest() == digest
    last_download = max(i for i, e in enumerate(seen) if isinstance(e, DownloadProgress))
    terminated = [
        i
        for i, e in enumerate(seen)
        if isinstance(e, BillingChanged) and e.new is Billing.TERMINATING
    ]
    assert terminated and terminated[0] > last_download
    assert "merged model saved and verified" in (job.error or "") or any(
        isinstance(e, JobPhaseChanged) and "merged model saved and verified" in e.message
        for e in seen
    )

    _assert_merged_equals_peft(merged, Path(job.adapter_path or ""), tiny_model, tmp_path)

    # Shared: the adapter and its card land on the Hub (HF_ENDPOINT), with the keyring's token.
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    await connector.secrets.save_secret("HF_TOKEN", fake_hub.write_token)
    url = await connector.push_to_hub(job_id, "alice/tiny-demo")
    assert url == f"{fake_hub.url}/alice/tiny-demo"
    repo = fake_hub.repos["alice/tiny-demo"]
    assert repo.private
    with tarfile.open(job.adapter_path) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            # The card replaces PEFT's template README.md.
            if data is not None and member.name in repo.files and member.name != "README.md":
                assert repo.files[member.name] == data.read(), member.name
    assert "adapter_model.safetensors" in repo.files
    card = repo.files["README.md"].decode()
    assert "library_name: peft" in card and "gpu_1x_a10" in card and job_id in card
    assert repo.files["loss_curve.png"].startswith(b"\x89PNG")


def _assert_merged_equals_peft(
    merged_archive: Path, adapter_archive: Path, base_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir, adapter_dir = tmp_path / "merged", tmp_path / "adapter"
    safe_extract(merged_archive, merged_dir)
    safe_extract(adapter_archive, adapter_dir)
    assert list(merged_dir.glob("*.safetensors")), sorted(p.name for p in merged_dir.iterdir())
    assert (merged_dir / "config.json").is_file() and (merged_dir / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 5, 9, 12, 3, 7, 2]])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(base_dir)
        plain = base(ids).logits.clone()
        peft_logits = PeftModel.from_pretrained(base, adapter_dir)(ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged_dir)(ids).logits
    assert not torch.allclose(plain, peft_logits, atol=1e-4)
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-4, rtol=1e-4)


async def test_gguf_files_are_converted_on_the_instance_and_read_back(
    sim: Any, connector: LambdaLabsConnector, tmp_path: Path
) -> None:
    """llama.cpp's own converter on the simulated instance (its sources from the copy
    scripts/install-deps.sh keeps). The demo model's byte-level BPE tokenizer has a
    pre-tokenizer the converter does not know, so this job trains the SentencePiece-style tiny
    Llama of tests/remote/gguf_tiny.py."""
    from gguf import GGMLQuantizationType, GGUFReader

    from tests.plugins.simulator import instance_env
    from tests.remote.gguf_tiny import build_gguf_tiny_model

    assert "LGUI_LLAMA_CPP_SDIST" in instance_env(), "run scripts/install-deps.sh"
    model = build_gguf_tiny_model(tmp_path / "tiny-sp")
    cfg = demo_config(model, samples=1, merge=True, gguf=["q8_0"], max_steps=10)
    said: list[str] = []
    connector.events.subscribe(
        lambda e: said.append(e.message) if isinstance(e, JobPhaseChanged) else None
    )
    job_id = await connector.submit_job(cfg)
    lines = [line async for line in connector.stream_logs(job_id)]
    job = await connector.get_job(job_id)
    assert job.phase is JobPhase.COMPLETED, (job.error, "\n".join(lines[-30:]))
    assert "Adapter, merged model and GGUF q8_0 saved and verified" in said[-1], said

    path = connector.paths.job_dir(job_id) / "model-q8_0.gguf"
    digest = (path.parent / "model-q8_0.gguf.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    reader = GGUFReader(path)
    assert reader.fields["general.architecture"].contents() == "llama"
    names = {t.name for t in reader.tensors}
    assert "token_embd.weight" in names and "blk.0.attn_q.weight" in names
    assert reader.tensors[0].tensor_type in (
        GGMLQuantizationType.Q8_0,
        GGMLQuantizationType.F32,
    )
    assert any(t.tensor_type == GGMLQuantizationType.Q8_0 for t in reader.tensors)
