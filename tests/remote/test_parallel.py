"""The bundle's pieces for several processes, as shipped (docs/scale-out.md): launcher.py's
arguments for one machine and for several, parallel.py's reading of a failed process's error,
and train.py's fallback that reports it when rank 0 could not."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote import bundle
from tests.remote.bundle_dir import write_bundle

BUNDLE_FILES = Path(bundle.__file__).parent / "bundle_files"


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("job")
    cfg = TrainingConfig(base_model="org/model", dataset_path="x.jsonl")
    return write_bundle(directory, cfg, gpu_count=2)


def _load(job: Path, name: str) -> ModuleType:
    sys.path.insert(0, str(job))  # the bundle's modules import each other by plain names
    try:
        spec = importlib.util.spec_from_file_location(f"lgui_bundle_{name}", job / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(job))


@pytest.fixture(scope="module")
def launcher(job: Path) -> ModuleType:
    return _load(job, "launcher")


@pytest.fixture(scope="module")
def parallel(job: Path) -> ModuleType:
    return _load(job, "parallel")


# --- launcher.py -------------------------------------------------------------------------------


def test_one_machine_gets_the_arguments_bootstrap_always_used(launcher: ModuleType) -> None:
    assert launcher.launch_arguments(8) == [
        "--multi_gpu",
        "--num_machines",
        "1",
        "--num_processes",
        "8",
    ]
    with pytest.raises(ValueError, match="needs no launcher"):
        launcher.launch_arguments(1)
    script = (BUNDLE_FILES / "bootstrap.sh").read_text()
    assert 'launcher.py --processes "$NPROC"' in script


def test_several_machines_meet_at_the_main_one(launcher: ModuleType) -> None:
    meet = launcher.Rendezvous(machines=2, machine_rank=1, main_ip="10.0.0.2", main_port=29501)
    assert launcher.launch_arguments(8, meet) == [
        "--multi_gpu",
        "--num_machines",
        "2",
        "--num_processes",
        "16",
        "--machine_rank",
        "1",
        "--main_process_ip",
        "10.0.0.2",
        "--main_process_port",
        "29501",
        "--rdzv_backend",
        "static",
        "--same_network",
    ]
    dynamic = launcher.Rendezvous(2, 0, "node-0.internal", backend="c10d")
    arguments = launcher.launch_arguments(1, dynamic)
    assert arguments[-2:] == ["--rdzv_backend", "c10d"] and "--same_network" not in arguments
    assert arguments[arguments.index("--main_process_port") + 1] == "29500"


@pytest.mark.parametrize(
    ("rendezvous", "message"),
    [
        ((2, 2, "10.0.0.2"), "machine rank must be 0 to 1"),
        ((2, 0, "10.0.0.2", 0), "main port"),
        ((2, 0, "bad host; rm -rf /"), "not an IP address or host name"),
        ((2, 0, "10.0.0.2", 29500, "etcd"), "rendezvous backend"),
    ],
)
def test_a_rendezvous_that_cannot_work_is_refused(
    launcher: ModuleType, rendezvous: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        launcher.launch_arguments(1, launcher.Rendezvous(*rendezvous))


def test_the_command_line_prints_one_argument_per_line(job: Path) -> None:
    done = subprocess.run(
        [sys.executable, "launcher.py", "--processes", "1", "--machines", "2"]
        + ["--machine-rank", "0", "--main-ip", "127.0.0.1", "--main-port", "1234"],
        cwd=job,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[:5] == [
        "--multi_gpu",
        "--num_machines",
        "2",
        "--num_processes",
        "2",
    ]
    refused = subprocess.run(
        [sys.executable, "launcher.py", "--processes", "2", "--machines", "2", "--main-ip", "x y"],
        cwd=job,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "not an IP address" in refused.stderr


# --- a failed process's error ------------------------------------------------------------------


def _record(path: Path, rank: int, code: int, message: str, trace: str = "") -> None:
    head = {"rank": rank, "world_size": 4, "exit_code": code, "message": message}
    path.write_text(json.dumps(head) + "\n" + trace)


def test_the_first_recorded_failure_is_the_jobs(
    parallel: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parallel.peer_failure(tmp_path) is None
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    parallel.write_rank_error(tmp_path, 1, "RuntimeError: later\non two lines", "trace 3\n")
    first = tmp_path / "error-rank-1.txt"
    _record(first, 1, 2, "The dataset was not uploaded.", "Traceback (most recent call last):\n")
    later = first.stat().st_mtime + 5
    os.utime(tmp_path / "error-rank-3.txt", (later, later))
    (tmp_path / "error-rank-5.txt").write_text("garbage")
    failure = parallel.peer_failure(tmp_path)
    assert (failure.rank, failure.code, failure.message) == (1, 2, "The dataset was not uploaded.")
    assert failure.trace.startswith("Traceback")
    assert failure.sentence() == "Training process 1 of 4 failed: The dataset was not uploaded."
    first.unlink()
    third = parallel.peer_failure(tmp_path)
    assert (third.rank, third.message, third.trace) == (
        3,
        "RuntimeError: later\non two lines",
        "trace 3\n",
    )


def test_weight_shares_read_as_the_log_says(parallel: ModuleType) -> None:
    share = parallel.WeightShare(rank=1, held_bytes=267_000, total_bytes=534_000)
    assert share.sentence() == "Rank 1 holds 50.0% of the base weights (0.27 MB of 0.53 MB)."
    big = parallel.WeightShare(rank=0, held_bytes=17_600_000_000, total_bytes=35_100_000_000)
    assert big.sentence() == "Rank 0 holds 50.1% of the base weights (17.6 GB of 35.1 GB)."


def test_fsdp_settings_follow_the_qlora_recipe_for_a_4bit_base(parallel: ModuleType) -> None:
    plain = parallel.fsdp_config("none")
    assert plain["version"] == 2 and plain["state_dict_type"] == "FULL_STATE_DICT"
    qlora = parallel.fsdp_config("int4")
    assert qlora["version"] == 1 and qlora["use_orig_params"] is False
    assert qlora["cpu_ram_efficient_loading"] is True


def test_bootstrap_reports_a_recorded_failure_when_rank_0_could_not(job: Path) -> None:
    """train.py --report-rank-failure: the launcher ended without exit_code (rank 0 killed)."""
    checkpoint = job / "checkpoints" / "checkpoint-7"
    checkpoint.mkdir(parents=True)
    (checkpoint / "adapter_config.json").write_text("{}")
    (checkpoint / "adapter_model.safetensors").write_bytes(b"weights")
    _record(job / "error-rank-1.txt", 1, 2, "The dataset was not uploaded.", "Traceback: ...\n")

    def report() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "train.py", "--report-rank-failure", str(job)],
            cwd=job,
            capture_output=True,
            text=True,
        )

    done = report()
    assert done.returncode == 2, done.stderr
    assert (job / "exit_code").read_text() == "2\n"
    message = "Training process 1 of 4 failed: The dataset was not uploaded."
    assert (job / "error.txt").read_text().startswith(message)
    status = next(
        json.loads(line.removeprefix("LGUI_STATUS "))
        for line in done.stdout.splitlines()
        if line.startswith("LGUI_STATUS ")
    )
    assert status == {
        "phase": "failed",
        "exit_code": 2,
        "error": message,
        "checkpoint": "checkpoint-7",
    }
    with tarfile.open(job / "adapter.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["adapter_config.json", "adapter_model.safetensors"]
    # A result already written is kept as it is.
    (job / "exit_code").write_text("143\n")
    assert report().returncode == 143
    assert (job / "exit_code").read_text() == "143\n"
