from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote import bundle
from lambda_gui.remote.bundle import (
    CANCEL_COMMAND,
    MKDIR_COMMAND,
    REMOVE_COMMAND,
    START_COMMAND,
    STATUS_COMMAND,
    build_bundle,
    check_job_id,
    dataset_remote_name,
    job_dir,
    parse_status_output,
    remote_command,
    tracker_env_stdin,
)

COMMANDS = (MKDIR_COMMAND, START_COMMAND, CANCEL_COMMAND, STATUS_COMMAND, REMOVE_COMMAND)
BUNDLE_FILES = Path(bundle.__file__).parent / "bundle_files"


def cfg(**changes: Any) -> TrainingConfig:
    base = TrainingConfig(base_model="org/model", dataset_path="/home/me/train.jsonl")
    return dataclasses.replace(base, **changes)


def test_files_and_modes() -> None:
    b = build_bundle(cfg(), "abc-123", gpu_count=1, dataset_name="train.jsonl")
    assert b.paths() == [
        "config.json",
        "bootstrap.sh",
        "train.py",
        "after_training.py",
        "gguf_export.py",
        "parallel.py",
        "launcher.py",
        "protocol.py",
        "dataset_format.py",
    ]
    assert b.file("bootstrap.sh").mode == 0o755
    assert b.file("train.py").mode == 0o644
    assert b.file("protocol.py").mode == 0o644
    for name in ("bootstrap.sh", "train.py", "protocol.py", "parallel.py", "launcher.py"):
        assert b.file(name).data == (BUNDLE_FILES / name).read_bytes()
    assert b.job_dir == "lambda-gui/jobs/abc-123"
    with pytest.raises(KeyError):
        b.file("tracker.env")


def test_config_json_holds_every_value_and_the_job_facts() -> None:
    c = cfg(
        rank=8, target_modules=["q_proj"], algorithm="qlora", tracker_env={"HF_TOKEN": "s3cret"}
    )
    b = build_bundle(c, "j1", gpu_count=8, dataset_name="train.jsonl")
    data = json.loads(b.file("config.json").data)
    expected = c.to_dict()
    del expected["tracker_env"], expected["tracker_secrets"]
    assert {k: data[k] for k in expected} == expected
    assert data["job_id"] == "j1" and data["gpu_count"] == 8
    assert data["dataset_file"] == "data/train.jsonl" and data["model_dir"] is None
    assert data["effective_quantization"] == "int4"
    assert data["tracker_env_keys"] == ["HF_TOKEN"]
    # Secrets are in no file of the bundle: they travel on START_COMMAND's stdin.
    assert all(b"s3cret" not in f.data for f in b.files)
    kept = build_bundle(
        cfg(tracker_env={"WANDB_PROJECT": "p"}, tracker_secrets=["HF_TOKEN"]),
        "j1",
        gpu_count=1,
        dataset_name="train.jsonl",
    )
    assert json.loads(kept.file("config.json").data)["tracker_env_keys"] == [
        "HF_TOKEN",
        "WANDB_PROJECT",
    ]


def test_hub_dataset_and_local_model() -> None:
    c = cfg(dataset_path="hf://tatsu-lab/alpaca", model_source="local", base_model="/m/llama")
    data = json.loads(
        build_bundle(c, "j2", gpu_count=0, dataset_name=None).file("config.json").data
    )
    assert data["dataset_file"] is None and data["model_dir"] == "model"


def test_refuses_invalid_input() -> None:
    with pytest.raises(ConfigError):
        build_bundle(cfg(rank=0), "j", gpu_count=1, dataset_name="train.jsonl")
    with pytest.raises(ConfigError, match="dataset_path"):
        build_bundle(cfg(), "j", gpu_count=1, dataset_name=None)
    for name in ("../x.jsonl", "a/b.jsonl", "x.txt", ".jsonl", "a b.jsonl"):
        with pytest.raises(ConfigError):
            build_bundle(cfg(), "j", gpu_count=1, dataset_name=name)
    for bad_id in ("", "A", "a_b", "a;b", "a b", "-a", "a" * 64, "$(x)", "a\n"):
        with pytest.raises(ValueError):
            build_bundle(cfg(), bad_id, gpu_count=1, dataset_name="train.jsonl")
    with pytest.raises(ValueError):
        build_bundle(cfg(), "j", gpu_count=-1, dataset_name="train.jsonl")


def test_dataset_remote_name() -> None:
    assert dataset_remote_name("/home/me/My Data; rm -rf.JSONL") == "train.jsonl"
    assert dataset_remote_name("C:\\x\\y.csv") == "train.csv"


def test_commands_are_fixed_with_only_the_job_id() -> None:
    for template in COMMANDS:
        command = remote_command(template, "job-7")
        assert "{" not in command.replace("{ echo", "")
        assert command == template.replace("{job_id}", "job-7")
        assert "lambda-gui/jobs/job-7" in command
        subprocess.run(["bash", "-n", "-c", command], check=True)  # valid shell syntax
    assert job_dir("job-7") == "lambda-gui/jobs/job-7"
    with pytest.raises(ValueError):
        remote_command(START_COMMAND, "job;reboot")


@given(st.text(max_size=70))
def test_job_ids_outside_the_alphabet_never_reach_a_command(job_id: str) -> None:
    try:
        check_job_id(job_id)
    except ValueError:
        return
    assert set(job_id) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert not job_id.startswith("-")


def test_parse_status_output() -> None:
    assert parse_status_output("exit_code 0\n") == ("exited", 0)
    assert parse_status_output("exit_code 143") == ("exited", 143)
    assert parse_status_output("exit_code \n") == ("exited", None)
    assert parse_status_output("running\n") == ("running", None)
    assert parse_status_output("") == ("unknown", None)
    assert parse_status_output("missing") == ("missing", None)
    assert parse_status_output("starting\n") == ("starting", None)
    assert parse_status_output("stopped") == ("stopped", None)


# Shell metacharacters in every free-text field arrive verbatim in config.json and in the
# environment START_COMMAND exports from its stdin, and never in a command or a script.
NASTY = st.lists(
    st.sampled_from(
        [
            "$(reboot)",
            "`id`",
            ";",
            "&&",
            "|",
            "'",
            '"',
            "\\",
            "$HOME",
            "${IFS}",
            "*",
            "\t",
            "#",
            "!",
        ]
    )
    | st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4
    ),
    min_size=1,
    max_size=8,
).map("".join)
ONE_LINE = NASTY.map(lambda s: s.replace("\n", " ").replace("\r", " "))
NO_CONTROL = NASTY.map(lambda s: "".join(c if ord(c) >= 32 else " " for c in s))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base_model=NO_CONTROL.map(lambda s: "m" + s),
    dataset_path=NO_CONTROL.map(lambda s: s + ".jsonl"),
    project_name=NO_CONTROL.map(lambda s: ("p" + s)[:128]),
    output_dir=NASTY.map(lambda s: "o" + s),
    resource_id=NASTY.map(lambda s: "r" + s),
    region=NASTY,
    text_field=NO_CONTROL.map(lambda s: ("f" + s)[:200]),
    extra_value=NASTY,
    # A prefix no key or value of config.json holds by chance (a bare "k" is in many keys).
    secret=ONE_LINE.map(lambda s: "Zq9~" + s),
)
def test_user_text_arrives_verbatim_and_never_in_commands(
    tmp_path_factory: pytest.TempPathFactory,
    base_model: str,
    dataset_path: str,
    project_name: str,
    output_dir: str,
    resource_id: str,
    region: str,
    text_field: str,
    extra_value: str,
    secret: str,
) -> None:
    c = cfg(
        model_source="local",
        base_model=base_model,
        dataset_path=dataset_path,
        project_name=project_name,
        output_dir=output_dir,
        resource_id=resource_id,
        region=region,
        text_field=text_field,
        dataset_format="text",
        extra={"note": extra_value},
        report_to="wandb",
        tracker_env={"WANDB_API_KEY": secret, "HF_TOKEN": secret + "x"},
    )
    b = build_bundle(c, "job-1", gpu_count=1, dataset_name="train.jsonl")
    data = json.loads(b.file("config.json").data)
    assert data["base_model"] == base_model
    assert data["dataset_path"] == dataset_path
    assert data["project_name"] == project_name
    assert (data["output_dir"], data["resource_id"], data["region"]) == (
        output_dir,
        resource_id,
        region,
    )
    assert data["text_field"] == text_field and data["extra"] == {"note": extra_value}
    assert b.file("bootstrap.sh").data == (BUNDLE_FILES / "bootstrap.sh").read_bytes()
    assert b.file("train.py").data == (BUNDLE_FILES / "train.py").read_bytes()
    commands = [remote_command(t, "job-1") for t in COMMANDS]
    assert commands == [t.replace("{job_id}", "job-1") for t in COMMANDS]
    # The shipped scripts are the package's files as they are (a short secret may occur in their
    # code by chance); no file the bundle writes from the config holds it.
    shipped = {p.name: p.read_bytes() for p in BUNDLE_FILES.iterdir() if p.is_file()}
    shipped["dataset_format.py"] = (
        BUNDLE_FILES.parent.parent / "core" / "dataset_format.py"
    ).read_bytes()
    written = [f for f in b.files if shipped.get(f.path) != f.data]
    assert [f.path for f in written] == ["config.json"]
    assert all(secret.encode() not in f.data for f in written)
    # START_COMMAND's read loop exports the values from stdin unchanged, evaluating nothing.
    shown = subprocess.run(
        ["bash", "-c", _export_loop() + '; printf "%s\\0%s" "$WANDB_API_KEY" "$HF_TOKEN"'],
        input=tracker_env_stdin(c.tracker_env),
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path_factory.mktemp("run"),
    )
    assert shown.stdout.decode("utf-8").split("\0") == [secret, secret + "x"]
    assert shown.stderr == b""


def _export_loop() -> str:
    start = START_COMMAND.index("while ")
    return START_COMMAND[start : START_COMMAND.index("done;", start) + len("done")]


def test_tracker_env_stdin_refuses_bad_names_and_lines() -> None:
    with pytest.raises(ConfigError):
        tracker_env_stdin({"A;B": "x"})
    with pytest.raises(ConfigError):
        tracker_env_stdin({"A_X": "1\nB_X=2"})
    assert tracker_env_stdin({"B_X": "it's", "A_X": "1"}) == b"A_X\n1\nB_X\nit's\n"


def test_scripts_parse_for_the_instance() -> None:
    """bootstrap.sh is valid bash; train.py and dataset_format.py parse as Python 3.9 (Lambda
    Stack images ship 3.10+), so no newer syntax slips in."""
    import ast

    b = build_bundle(cfg(), "j", gpu_count=1, dataset_name="train.jsonl")
    subprocess.run(["bash", "-n", "-c", b.file("bootstrap.sh").data.decode()], check=True)
    for name in ("train.py", "dataset_format.py"):
        ast.parse(b.file(name).data, filename=name, feature_version=(3, 9))
