"""The app and the instance agree: protocol.py is the one place that names the job dir's files,
the exit codes, the status lines and config.json's schema, and both sides use it."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_gui.core import logparse
from lambda_gui.core.config_validation import validate_config
from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote import bundle
from lambda_gui.remote.bundle_files import protocol
from lambda_gui.remote.bundle_files.protocol import JobConfig
from tests.remote.bundle_dir import write_bundle

BUNDLE_FILES = Path(protocol.__file__).parent
# config.json's fields that are facts the app adds rather than settings the user chose.
JOB_FACTS = {
    "bundle_version",
    "job_id",
    "gpu_count",
    "dataset_file",
    "model_dir",
    "effective_quantization",
    "tracker_env_keys",
    "resume_file",
}
# Every field away from its default, so that a field dropped on the way shows.
FULL = TrainingConfig(
    base_model="org/model-7b",
    model_source="huggingface",
    algorithm="dora",
    rank=24,
    alpha=40.5,
    dropout=0.1,
    target_modules=["q_proj", "k_proj", "self_attn.o_proj"],
    quantization="int4",
    resource_id="gpu_8x_h100_sxm5",
    dataset_path="/home/me/chat data.csv",
    project_name="my project",
    output_dir="out",
    region="us-east-1",
    learning_rate=1e-4,
    num_epochs=3,
    max_steps=500,
    batch_size=8,
    gradient_accumulation_steps=4,
    max_seq_length=2048,
    warmup_ratio=0.05,
    lr_scheduler="linear",
    weight_decay=0.01,
    validation_split=0.2,
    logging_steps=5,
    save_steps=50,
    eval_steps=25,
    seed=7,
    text_field="body",
    dataset_format="text",
    report_to="wandb",
    tracker_env={"WANDB_API_KEY": "secret-value", "HF_TOKEN": "hf"},
    tracker_secrets=["DATABRICKS_TOKEN"],
    bf16=False,
    gradient_checkpointing=True,
    use_chat_template=False,
    max_runtime_minutes=90,
    budget_usd=25.0,
    stop_on_divergence=True,
    divergence_ratio=3.0,
    self_terminate=True,
    self_terminate_grace_minutes=20,
    samples=3,
    sample_prompts=["Say hi.", "Count to three."],
    sample_max_new_tokens=32,
    merge=True,
    gguf=["q8_0"],
    resume_of="0123456789ab",
    sharding="fsdp",
    extra={"note": "x"},
)


def load_train(job: Path) -> ModuleType:
    """train.py as the instance runs it: from the job dir, next to protocol.py."""
    spec = importlib.util.spec_from_file_location("lgui_protocol_train", job / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    validate_config(FULL)
    job = tmp_path_factory.mktemp("job")
    for item in bundle.build_bundle(FULL, "job-9", gpu_count=8, dataset_name="train.csv").files:
        (job / item.path).write_bytes(item.data)
    return job


def test_full_config_has_no_default_left() -> None:
    defaults = TrainingConfig(base_model="x")
    same = [
        f.name
        for f in dataclasses.fields(TrainingConfig)
        if getattr(FULL, f.name) == getattr(defaults, f.name)
    ]
    # provider has one possible value; a local model is the next test's.
    assert same == ["model_source", "provider"]


def test_config_json_round_trips_exactly_as_train_py_parses_it(full_job: Path) -> None:
    data = json.loads((full_job / protocol.CONFIG_FILE).read_text())
    parsed = load_train(full_job).load_config(full_job)
    names = [f.name for f in dataclasses.fields(JobConfig)]
    as_written = {name: data[name] for name in names}
    # Exact: same JSON text, so an int stays an int and a list stays a list.
    assert json.dumps(parsed.to_dict(), sort_keys=True) == json.dumps(as_written, sort_keys=True)
    assert JobConfig.from_dict(data).to_dict() == parsed.to_dict()
    for name in names:
        if name not in JOB_FACTS:
            assert getattr(parsed, name) == getattr(FULL, name), name
            assert type(getattr(parsed, name)) is type(getattr(FULL, name)), name
    assert parsed.job_id == "job-9" and parsed.gpu_count == 8
    assert parsed.dataset_file == f"{protocol.DATA_DIR}/train.csv" and parsed.model_dir is None
    assert parsed.effective_quantization == "int4"
    assert parsed.tracker_env_keys == ["DATABRICKS_TOKEN", "HF_TOKEN", "WANDB_API_KEY"]
    assert parsed.bundle_version == protocol.BUNDLE_VERSION
    assert parsed.resume_file == protocol.RESUME_FILE


def test_every_schema_field_is_a_setting_or_a_job_fact() -> None:
    settings = {f.name for f in dataclasses.fields(TrainingConfig)}
    for field in dataclasses.fields(JobConfig):
        assert field.name in settings or field.name in JOB_FACTS, field.name


def test_a_local_model_and_a_hub_dataset_round_trip(tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        FULL, model_source="local", base_model="/m/llama", dataset_path="hf://org/data"
    )
    write_bundle(tmp_path, cfg, gpu_count=0, dataset_name=None)
    parsed = load_train(tmp_path).load_config(tmp_path)
    assert parsed.model_dir == protocol.MODEL_DIR and parsed.dataset_file is None
    assert parsed.dataset_path == "hf://org/data" and parsed.base_model == "/m/llama"


def test_from_dict_ignores_other_keys_and_rejects_missing_or_mistyped_ones(
    full_job: Path,
) -> None:
    data = json.loads((full_job / protocol.CONFIG_FILE).read_text())
    assert "region" in data and "budget_usd" in data  # recorded, not read
    assert JobConfig.from_dict(data | {"from_a_newer_app": 1}) == JobConfig.from_dict(data)
    assert JobConfig.from_dict(data | {"alpha": 32}).alpha == 32  # JSON has one number type
    bad: list[tuple[str, Any]] = [
        ("rank", 8.0),
        ("rank", True),
        ("alpha", "32"),
        ("bf16", 1),
        ("text_field", 3),
        ("base_model", None),
        ("target_modules", "q_proj"),
        ("target_modules", ["q_proj", 1]),
    ]
    for name, value in bad:
        with pytest.raises(ValueError, match=name):
            JobConfig.from_dict(data | {name: value})
    with pytest.raises(ValueError, match="lacks rank, seed"):
        JobConfig.from_dict({k: v for k, v in data.items() if k not in ("rank", "seed")})
    with pytest.raises(ValueError, match="bundle version 99"):
        JobConfig.from_dict(data | {"bundle_version": 99})
    with pytest.raises(ValueError, match="object"):
        JobConfig.from_dict([])  # type: ignore[arg-type]


def test_train_py_turns_a_bad_config_into_exit_2(full_job: Path, tmp_path: Path) -> None:
    train = load_train(full_job)
    data = json.loads((full_job / protocol.CONFIG_FILE).read_text())
    (tmp_path / protocol.CONFIG_FILE).write_text(json.dumps(data | {"rank": "eight"}))
    with pytest.raises(train.JobInputError, match="rank must be a whole number"):
        train.load_config(tmp_path)


# --- every name train.py and bootstrap.sh use is protocol's ----------------------------------


def _protocol_constants() -> dict[str, Any]:
    return {k: v for k, v in vars(protocol).items() if k.isupper() and not k.startswith("_")}


def test_train_py_spells_no_protocol_value_itself() -> None:
    tree = ast.parse((BUNDLE_FILES / "train.py").read_text(encoding="utf-8"))
    values = {v for v in _protocol_constants().values() if isinstance(v, str)}
    literals = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in values
    ]
    # The one "config.json" is a Hugging Face model folder's own file, not the job's.
    assert literals == ["config.json"]
    exit_codes = {protocol.EXIT_INTERRUPTED, protocol.EXIT_CANCELLED}  # small ints are everywhere
    assert not [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and type(n.value) is int and n.value in exit_codes
    ]


def test_train_py_keeps_no_copy_of_a_protocol_name() -> None:
    tree = ast.parse((BUNDLE_FILES / "train.py").read_text(encoding="utf-8"))
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert assigned.isdisjoint(_protocol_constants())
    assert not [name for name in assigned if name.startswith("EXIT_")]


def test_train_py_reports_only_protocol_phases() -> None:
    tree = ast.parse((BUNDLE_FILES / "train.py").read_text(encoding="utf-8"))
    phases = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "status":
            first = node.args[0]
            assert isinstance(first, ast.Attribute), ast.dump(first)
            assert isinstance(first.value, ast.Name) and first.value.id == "protocol"
            phases.append(first.attr)
    assert set(phases) == {k for k in _protocol_constants() if k.startswith("PHASE_")} - {
        "PHASE_SETTING_UP"
    }  # bootstrap.sh's alone


def test_bootstrap_sh_speaks_the_protocol() -> None:
    text = (BUNDLE_FILES / "bootstrap.sh").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    steps = set(re.findall(r"^\s*status (\w+) \w+$", code, re.MULTILINE))
    assert steps == {protocol.PHASE_SETTING_UP}
    assert f'"phase": "{protocol.PHASE_FAILED}"' in code
    assert protocol.STATUS_MARKER + "{" in code
    fails = {int(c) for c in re.findall(r"\bfail (\d+) ", code)}
    assert fails == {
        protocol.EXIT_GPU_UNUSABLE,
        protocol.EXIT_SETUP_FAILED,
        protocol.EXIT_INTERRUPTED,
        protocol.EXIT_CANCELLED,
    }
    assert f"echo $$ > {protocol.PID_FILE}" in code
    assert f"> {protocol.EXIT_CODE_FILE}.tmp && mv {protocol.EXIT_CODE_FILE}.tmp " in code
    assert f'"$PY" {protocol.TRAIN_FILE} "$JOB_DIR"' in code


def test_every_exit_code_has_a_meaning() -> None:
    codes = {
        v for k, v in _protocol_constants().items() if k.startswith("EXIT_") and type(v) is int
    }
    assert codes == set(protocol.EXIT_CODES)


def test_the_app_reads_what_the_instance_writes() -> None:
    assert logparse.STATUS_MARKER == protocol.STATUS_MARKER
    assert logparse.METRIC_MARKER == protocol.METRIC_MARKER
    for state in (
        protocol.STATE_MISSING,
        protocol.STATE_NOT_STARTED,
        protocol.STATE_STARTING,
        protocol.STATE_RUNNING,
        protocol.STATE_STOPPED,
    ):
        assert f"echo {state}" in bundle.STATUS_COMMAND
        assert bundle.parse_status_output(state + "\n") == (state, None)
    assert f'echo "{protocol.STATE_EXITED} ' in bundle.STATUS_COMMAND
    assert bundle.parse_status_output(f"{protocol.STATE_EXITED} 143") == ("exited", 143)


def test_bundle_names_are_protocols() -> None:
    for name in (
        "JOBS_ROOT",
        "BUNDLE_VERSION",
        "CONFIG_FILE",
        "BOOTSTRAP_FILE",
        "TRAIN_FILE",
        "PROTOCOL_FILE",
        "FORMAT_FILE",
        "LOG_FILE",
        "METRICS_FILE",
        "PID_FILE",
        "EXIT_CODE_FILE",
        "ERROR_FILE",
        "OUTPUT_DIR",
        "DATA_DIR",
        "MODEL_DIR",
        "ARTIFACT_FILE",
        "ARTIFACT_SHA256_FILE",
        "EXIT_CODES",
    ):
        assert getattr(bundle, name) is getattr(protocol, name), name
        assert name in bundle.__all__


def test_protocol_is_stdlib_only_and_old_python_safe() -> None:
    source = (BUNDLE_FILES / "protocol.py").read_text(encoding="utf-8")
    # Old syntax only: bootstrap.sh runs train.py, which imports this, with whatever python3
    # the image has, before it has checked anything.
    tree = ast.parse(source, feature_version=(3, 8))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, name
