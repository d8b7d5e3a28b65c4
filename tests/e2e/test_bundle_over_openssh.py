"""The same job bundle, run over a real OpenSSH sshd: upload with our SSH layer, start with
the fixed command, follow the log to the end, download the adapter and verify it."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.core.logparse import MetricEvent, parse_events
from lambda_gui.remote import bundle as B
from lambda_gui.remote.logtail import follow
from lambda_gui.remote.ssh_session import connect
from lambda_gui.remote.transfer import download, fetch_remote_sha256
from lambda_gui.services.job_runner import new_job_id
from lambda_gui.simulator.tiny_model import demo_dataset_path
from tests.e2e.conftest import demo_config

pytestmark = pytest.mark.slow


@pytest.fixture
def instance_python(sshd: Any) -> Iterator[None]:
    """The shared venv bootstrap.sh looks for (~/lambda-gui/venv) points at this environment,
    as a Lambda instance's Python has Lambda Stack's packages: the login shell's own python3
    here may have no torch, and nothing may be downloaded."""
    root = sshd.home / "lambda-gui"
    venv = root / "venv"
    made_root = not root.exists()
    made_venv = not venv.exists() and not venv.is_symlink()
    if made_venv:
        root.mkdir(exist_ok=True)
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    try:
        yield
    finally:
        if made_venv:
            venv.unlink()
        jobs = root / "jobs"
        if jobs.is_dir() and not any(jobs.iterdir()):
            jobs.rmdir()
        if made_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()


@pytest.mark.usefixtures("instance_python")
async def test_job_bundle_trains_over_openssh(sshd: Any, tiny_model: Path, tmp_path: Path) -> None:
    cfg = demo_config(tiny_model, max_steps=20, project_name="it's $(touch canary) `id`")
    job_id = new_job_id()
    job_dir = B.job_dir(job_id)
    name = B.dataset_remote_name(cfg.dataset_path)
    bundle = B.build_bundle(cfg, job_id, gpu_count=1, dataset_name=name)
    session = await connect(sshd.target(), tmp_path / "known_hosts")
    try:
        await session.check(B.remote_command(B.MKDIR_COMMAND, job_id))
        for item in bundle.files:
            await session.put_bytes(f"{job_dir}/{item.path}", item.data, item.mode)
        await session.put_file(demo_dataset_path(), f"{job_dir}/{B.DATA_DIR}/{name}", mode=0o600)
        await session.put_tree(tiny_model, f"{job_dir}/{B.MODEL_DIR}")
        await session.check(B.remote_command(B.START_COMMAND, job_id))

        async def over(s: Any) -> bool:
            out = await s.check(B.remote_command(B.STATUS_COMMAND, job_id))
            return B.parse_status_output(out.decode())[0] not in ("starting", "running")

        lines = [
            line.decode(errors="replace")
            async for line, _ in follow(session, f"{job_dir}/{B.LOG_FILE}", 0, stop=over)
        ]
        out = await session.check(B.remote_command(B.STATUS_COMMAND, job_id))
        assert B.parse_status_output(out.decode()) == ("exited", 0), "".join(lines[-40:])
        losses = [
            e.values["loss"]
            for line in lines
            for e in parse_events(line)
            if isinstance(e, MetricEvent) and e.source == "lgui" and "loss" in e.values
        ]
        assert losses and losses[-1] < losses[0]

        remote_config = json.loads((sshd.home / job_dir / B.CONFIG_FILE).read_text())
        assert remote_config["project_name"] == "it's $(touch canary) `id`"
        # Where a command would run: the login home and the job dir (not all of the home,
        # which is the machine's /root here and changes under other processes).
        assert not (sshd.home / "canary").exists()
        assert not list((sshd.home / job_dir).glob("**/canary"))

        rel = f"{job_dir}/{B.ARTIFACT_FILE}"
        digest = await fetch_remote_sha256(session, rel)
        dest = await download(session, rel, tmp_path / "adapter.tar.gz", expected_sha256=digest)
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest
    finally:
        await session.run(B.remote_command(B.REMOVE_COMMAND, job_id))
        await session.close()
