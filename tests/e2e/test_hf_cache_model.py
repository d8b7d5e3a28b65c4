"""A Hugging Face cache snapshot (every file a symlink into blobs/) as the local model: checked,
uploaded with the links followed, and trained end to end on the simulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import JobStatus, LambdaLabsConnector
from lambda_gui.remote import bundle as B
from tests.e2e.conftest import demo_config
from tests.remote.test_local_tree import hf_cache_snapshot

pytestmark = pytest.mark.slow


async def test_hf_cache_snapshot_trains_end_to_end(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path, tmp_path: Path
) -> None:
    files = {
        p.relative_to(tiny_model).as_posix(): p.read_bytes()
        for p in sorted(tiny_model.rglob("*"))
        if p.is_file()
    }
    cache = tmp_path / "hub" / "models--lgui--tiny-llama"
    snapshot = hf_cache_snapshot(cache, files)
    assert all(p.is_symlink() for p in snapshot.iterdir() if p.is_file())
    await connector.set_auto_terminate(False)
    job_id = await connector.submit_job(demo_config(snapshot, max_steps=4))
    async for _ in connector.stream_logs(job_id):
        pass
    job = await connector.get_job(job_id)
    assert await connector.get_job_status(job_id) is JobStatus.COMPLETED, job.error
    assert job.instance_id
    uploaded = sim.instance_home(job.instance_id) / B.job_dir(job_id) / B.MODEL_DIR
    for name, data in files.items():
        path = uploaded / name
        if name.startswith("."):  # hidden entries (the tiny model's marker) are not sent
            assert not path.exists(), name
            continue
        assert not path.is_symlink() and path.read_bytes() == data, name
    assert await connector.cancel_job(job_id)  # terminates the instance left running
    shutil.rmtree(cache)


async def test_submit_reports_the_dataset_check_and_refuses_a_model_without_weights(
    sim: Any, connector: LambdaLabsConnector, tiny_model: Path, tmp_path: Path
) -> None:
    """The dataset is read whole before a launch, with progress; a local folder without
    weights is refused there, before anything bills (it used to launch and fail at upload)."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no weights"):
        await connector.submit_job(demo_config(empty))
    assert not [r for r in sim.requests if r.path.endswith("/launch")]
    seen: list[tuple[int, int]] = []
    job_id = await connector.submit_job(
        demo_config(tiny_model, max_steps=1), lambda done, total: seen.append((done, total))
    )
    size = demo_config(tiny_model).dataset_path
    assert seen and seen[-1][0] == seen[-1][1] == Path(size).stat().st_size
    assert await connector.cancel_job(job_id)
