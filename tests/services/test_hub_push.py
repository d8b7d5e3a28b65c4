"""Pushing to the Hub with the real huggingface_hub against the fake Hub on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import socket
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lambda_gui.core.errors import ChecksumMismatchError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services import hub_push
from lambda_gui.services.hub_push import (
    HubAuthError,
    HubRepoIdError,
    HubRequestError,
    HubTokenMissingError,
    HubUnavailableError,
    check_repo_id,
    hub_token,
    push_adapter,
    push_folder,
)
from lambda_gui.services.loss_curve_png import render_loss_curve
from lambda_gui.services.model_card import build_model_card, loss_series
from lambda_gui.services.store import JobRecord
from lambda_gui.services.tracker_secrets import SessionSecrets

if TYPE_CHECKING:
    from tests.plugins.fake_hub import FakeHub, FakeRepo


USER = "alice"  # the fake Hub's user, whom its write token belongs to
ORG = "alice-lab"  # an organization that token may write to
WRITE_TOKEN = "hf_fakeWriteTokenAlice0123456789abcdef"

ADAPTER_FILES = {
    "adapter_config.json": b'{"peft_type": "LORA", "r": 8, "lora_alpha": 16}\n',
    # Binary bytes that do not compress, as weights are.
    "adapter_model.safetensors": random.Random(0).randbytes(256 * 1024),
    "tokenizer_config.json": b'{"model_max_length": 512}\n',
    "sub/extra.txt": b"kept in its folder\n",
}
HOME_ONLY = {
    "README.md": b"---\nlibrary_name: peft\n---\n# PEFT's template card\n",
    "lgui_training.json": b'{"job_id": "job-1", "base_model": "/home/ubuntu/model"}\n',
    "runs/Jan01_00-00-00_host/events.out.tfevents.1.host.1": b"\x00tensorboard",
}
METRICS: list[dict[str, Any]] = [
    {"step": 1, "epoch": 0.1, "loss": 2.5, "learning_rate": 2e-4},
    {"step": 2, "epoch": 0.2, "loss": 2.0, "learning_rate": 2e-4},
    {"step": 2, "epoch": 0.2, "eval_loss": 2.1},
    {"step": 3, "epoch": 0.3, "loss": 1.5, "learning_rate": 1e-4},
    {"step": 3, "epoch": 0.3, "eval_loss": 1.7},
]


def _archive(folder: Path, files: dict[str, bytes]) -> Path:
    path = folder / "adapter.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "adapter.tar.gz.sha256").write_text(f"{digest}  adapter.tar.gz\n")
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    job_dir = tmp_path / "jobs" / "job-1"
    job_dir.mkdir(parents=True)
    return _archive(job_dir, {**ADAPTER_FILES, **HOME_ONLY})


@pytest.fixture
def job(archive: Path) -> JobRecord:
    return JobRecord(
        id="job-1",
        config=TrainingConfig(
            base_model="meta-llama/Llama-3.2-1B",
            dataset_path="/home/me/private/support.jsonl",
            rank=8,
            alpha=16,
            tracker_env={"WANDB_PROJECT": "p"},
            tracker_secrets=["WANDB_API_KEY"],
        ),
        phase=JobPhase.COMPLETED,
        instance_name="lambda-gui-job-1",
        instance_type="gpu_1x_a10",
        price_cents_per_hour=75,
        launch_sent_at=1000.0,
        ended_at=1000.0 + 3600,
        billing=Billing.TERMINATED,
        adapter_path=str(archive),
    )


def _pushed(hub: FakeHub, repo_id: str) -> FakeRepo:
    assert repo_id in hub.repos, f"{repo_id} was not created; requests: {hub.requests}"
    return hub.repos[repo_id]


async def test_adapter_card_and_curve_arrive_byte_identical(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    steps: list[str] = []
    repo_id = f"{USER}/llama-support-lora"
    url = await push_adapter(
        job, archive, METRICS, repo_id, WRITE_TOKEN, endpoint=fake_hub.url, progress=steps.append
    )
    assert url == f"{fake_hub.url}/{repo_id}"
    repo = _pushed(fake_hub, repo_id)
    assert repo.private is True
    series = loss_series(METRICS)
    expected = {
        **ADAPTER_FILES,
        "README.md": build_model_card(job, METRICS, repo_id=repo_id).encode(),
        "loss_curve.png": render_loss_curve(series.train, series.eval),
    }
    assert repo.files == expected
    assert not any(WRITE_TOKEN.encode() in data for data in repo.files.values())
    # The weights and the picture went through LFS (batch, upload, verify), the rest inline.
    lfs = {
        hashlib.sha256(expected[p]).hexdigest()
        for p in ("adapter_model.safetensors", "loss_curve.png")
    }
    assert set(fake_hub.lfs_objects) == lfs
    assert ("POST", f"/{repo_id}.git/info/lfs/objects/verify") in fake_hub.requests
    assert len(repo.commits) == 1 and "job-1" in repo.commits[0]["summary"]
    assert all(h == f"Bearer {WRITE_TOKEN}" for h in fake_hub.auth_headers)
    assert steps[0] == "Checking the adapter archive" and steps[-1] == f"Pushed to {url}"
    # The staging folder beside the archive is gone.
    assert sorted(p.name for p in archive.parent.iterdir()) == [
        "adapter.tar.gz",
        "adapter.tar.gz.sha256",
    ]


async def test_public_push_and_push_into_an_existing_repo(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    repo_id = f"{ORG}/shared-lora"
    await push_adapter(job, archive, [], repo_id, WRITE_TOKEN, private=False, endpoint=fake_hub.url)
    repo = _pushed(fake_hub, repo_id)
    assert repo.private is False
    # No metrics: no curve, and the card says so.
    assert "loss_curve.png" not in repo.files
    assert b"No training metrics" in repo.files["README.md"]
    await push_adapter(
        job, archive, METRICS, repo_id, WRITE_TOKEN, private=False, endpoint=fake_hub.url
    )
    assert len(repo.commits) == 2 and "loss_curve.png" in repo.files


async def test_private_push_into_a_public_repo_is_refused(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    repo_id = f"{USER}/already-public"
    fake_hub.add_repo(repo_id, private=False)
    with pytest.raises(HubRequestError, match="public") as caught:
        await push_adapter(job, archive, METRICS, repo_id, WRITE_TOKEN, endpoint=fake_hub.url)
    assert "nothing was uploaded" in str(caught.value)
    assert fake_hub.repos[repo_id].files == {}
    assert not any("/commit/" in path for _, path in fake_hub.requests)


async def test_xet_client_path_with_inline_files(
    fake_hub: FakeHub, job: JobRecord, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hf_xet installed huggingface_hub uploads through its pipeline; files the Hub takes
    inline never touch Xet storage, so that path runs against the fake Hub too."""
    pytest.importorskip("hf_xet")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    fake_hub.lfs_suffixes = ()
    repo_id = f"{USER}/inline"
    await push_adapter(job, archive, METRICS, repo_id, WRITE_TOKEN, endpoint=fake_hub.url)
    repo = _pushed(fake_hub, repo_id)
    assert repo.files["adapter_model.safetensors"] == ADAPTER_FILES["adapter_model.safetensors"]
    assert fake_hub.lfs_objects == {}


async def test_wrong_token_is_a_clear_error_without_the_token(
    fake_hub: FakeHub, job: JobRecord, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "hf_thisTokenIsWrongAndSecret987654321"
    with pytest.raises(HubAuthError) as caught:
        await push_adapter(job, archive, METRICS, f"{USER}/x", bad, endpoint=fake_hub.url)
    message = str(caught.value)
    assert "refused the token" in message and f"{fake_hub.url}/settings/tokens" in message
    assert caught.value.status == 401
    assert bad not in message and bad not in repr(caught.value.args)
    assert caught.value.__cause__ is None
    assert bad not in caplog.text
    assert fake_hub.repos == {}


async def test_read_only_token_is_told_to_get_a_write_token(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    with pytest.raises(HubAuthError, match="write access") as caught:
        await push_adapter(
            job, archive, METRICS, f"{USER}/x", fake_hub.read_token, endpoint=fake_hub.url
        )
    assert caught.value.status == 403
    assert fake_hub.read_token not in str(caught.value)


async def test_someone_elses_namespace_is_refused(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    with pytest.raises(HubAuthError, match="'meta-llama'"):
        await push_adapter(
            job, archive, METRICS, "meta-llama/mine", WRITE_TOKEN, endpoint=fake_hub.url
        )


async def test_hf_endpoint_is_honoured(
    fake_hub: FakeHub, job: JobRecord, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url + "/")
    url = await push_adapter(job, archive, METRICS, f"{USER}/via-env", WRITE_TOKEN)
    assert url == f"{fake_hub.url}/{USER}/via-env"
    assert "README.md" in _pushed(fake_hub, f"{USER}/via-env").files


@pytest.mark.parametrize(
    "repo_id",
    [
        "no-namespace",
        "a/b/c",
        "alice/",
        "/name",
        "alice/-dash",
        "alice/dot.",
        "alice/a--b",
        "alice/a..b",
        "alice/name.git",
        "alice/spa ce",
        "alice/caf\u00e9",
        "alice/" + "x" * 97,
    ],
)
async def test_invalid_repo_id_is_refused_before_any_request(
    fake_hub: FakeHub, job: JobRecord, archive: Path, repo_id: str
) -> None:
    with pytest.raises(HubRepoIdError):
        await push_adapter(job, archive, METRICS, repo_id, WRITE_TOKEN, endpoint=fake_hub.url)
    with pytest.raises(HubRepoIdError):
        await push_folder(archive.parent, repo_id, WRITE_TOKEN, endpoint=fake_hub.url)
    assert fake_hub.requests == []


def test_valid_repo_ids() -> None:
    assert check_repo_id(" alice/llama_3.1-8b-lora ") == "alice/llama_3.1-8b-lora"
    assert check_repo_id("Org-1/_x") == "Org-1/_x"
    assert check_repo_id("a/" + "x" * 96) == "a/" + "x" * 96


async def test_unreachable_hub_is_a_connection_error(job: JobRecord, archive: Path) -> None:
    import huggingface_hub.constants as constants

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        with pytest.raises(HubUnavailableError, match="Could not reach the Hub") as caught:
            await push_adapter(
                job, archive, METRICS, f"{USER}/x", WRITE_TOKEN, endpoint=f"http://127.0.0.1:{port}"
            )
    assert isinstance(caught.value, ConnectionError)
    assert WRITE_TOKEN not in str(caught.value)


async def test_offline_mode_is_named(
    fake_hub: FakeHub, job: JobRecord, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE"):
        await push_adapter(job, archive, METRICS, f"{USER}/x", WRITE_TOKEN, endpoint=fake_hub.url)
    assert fake_hub.requests == []


async def test_changed_archive_is_not_pushed(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    archive.write_bytes(archive.read_bytes() + b"\x00")
    with pytest.raises(ChecksumMismatchError):
        await push_adapter(job, archive, METRICS, f"{USER}/x", WRITE_TOKEN, endpoint=fake_hub.url)
    assert fake_hub.requests == []


async def test_empty_token_is_refused_before_any_request(
    fake_hub: FakeHub, job: JobRecord, archive: Path
) -> None:
    with pytest.raises(HubTokenMissingError):
        await push_adapter(job, archive, METRICS, f"{USER}/x", " ", endpoint=fake_hub.url)
    assert fake_hub.requests == []


async def test_push_folder_uploads_it_as_it_is(fake_hub: FakeHub, tmp_path: Path) -> None:
    folder = tmp_path / "merged"
    (folder / "nested").mkdir(parents=True)
    files = {"config.json": b"{}", "model.safetensors": b"\x01\x02" * 5000, "nested/a.txt": b"a"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    url = await push_folder(folder, f"{USER}/merged", WRITE_TOKEN, endpoint=fake_hub.url)
    assert url.endswith(f"/{USER}/merged")
    assert fake_hub.repos[f"{USER}/merged"].files == files


async def test_hub_token_comes_from_the_keyring_entry() -> None:
    keeper = SessionSecrets()
    with pytest.raises(HubTokenMissingError, match="HF_TOKEN"):
        await hub_token(keeper)
    await keeper.save_secret("HF_TOKEN", f" {WRITE_TOKEN}\n")
    assert await hub_token(keeper) == WRITE_TOKEN


def test_explain_scrubs_the_token_from_any_message() -> None:
    token = "hf_secretsecretsecret"
    error = hub_push.explain(
        RuntimeError(f"boom with {token} inside"), token=token, repo_id="a/b", endpoint="http://h"
    )
    assert token not in str(error) and "boom with" in str(error)


async def test_the_fake_hub_agrees_with_these_names(fake_hub: FakeHub) -> None:
    assert (fake_hub.user, fake_hub.org, fake_hub.write_token) == (USER, ORG, WRITE_TOKEN)
