"""The job bundle: the files a job needs on the instance, and the fixed commands that run it.

Pure: `build_bundle` returns bytes and modes; the services upload them (SFTP/SCP) into
JOB_DIR_TEMPLATE, relative to the login home. Uploaded separately by the services:

- the dataset file to ``data/<dataset_name>`` (see `dataset_remote_name`), unless the
  dataset is a Hub dataset (``hf://...``), which the instance downloads itself;
- a local model folder's files to ``model/`` when ``model_source == "local"``.

User-entered values travel only inside config.json; tracker settings and secrets travel on
START_COMMAND's stdin (`tracker_env_stdin`) straight into the training process's environment,
so a secret is never written to the instance's disk. Every command here is a fixed string with
only a validated job id filled in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lambda_gui.core.config_validation import effective_quantization, validate_config
from lambda_gui.core.dataset_format import FILE_EXTENSIONS, file_kind, is_hub_path
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.remote.bundle_files import protocol as P
from lambda_gui.remote.bundle_files.protocol import (
    AFTER_TRAINING_FILE,
    ARTIFACT_FILE,
    ARTIFACT_SHA256_FILE,
    BOOTSTRAP_FILE,
    BUNDLE_VERSION,
    CONFIG_FILE,
    DATA_DIR,
    ERROR_FILE,
    EXIT_CODE_FILE,
    EXIT_CODES,
    FORMAT_FILE,
    GGUF_EXPORT_FILE,
    GGUF_FILE_PATTERN,
    JOBS_ROOT,
    LAUNCHER_FILE,
    LOG_FILE,
    MERGED_ARTIFACT_FILE,
    METRICS_FILE,
    MODEL_DIR,
    OUTPUT_DIR,
    PARALLEL_FILE,
    PID_FILE,
    PROTOCOL_FILE,
    RESUME_FILE,
    SAMPLES_FILE,
    TRAIN_FILE,
)

# The job dir's names, exit codes and config.json's schema live in protocol.py, which train.py
# imports on the instance too; they are re-exported here for the services.
__all__ = [
    "AFTER_TRAINING_FILE",
    "ARTIFACT_FILE",
    "ARTIFACT_SHA256_FILE",
    "BOOTSTRAP_FILE",
    "BUNDLE_VERSION",
    "CANCEL_COMMAND",
    "CONFIG_FILE",
    "DATA_DIR",
    "ERROR_FILE",
    "EXIT_CODES",
    "EXIT_CODE_FILE",
    "FORMAT_FILE",
    "GGUF_EXPORT_FILE",
    "GGUF_FILE_PATTERN",
    "JOBS_ROOT",
    "JOB_DIR_TEMPLATE",
    "JOB_ID_PATTERN",
    "LAUNCHER_FILE",
    "LOG_FILE",
    "MERGED_ARTIFACT_FILE",
    "METRICS_FILE",
    "MKDIR_COMMAND",
    "MODEL_DIR",
    "OUTPUT_DIR",
    "PARALLEL_FILE",
    "PID_FILE",
    "PROTOCOL_FILE",
    "REMOVE_COMMAND",
    "RESUME_FILE",
    "SAMPLES_FILE",
    "START_COMMAND",
    "STATUS_COMMAND",
    "TRAIN_FILE",
    "Bundle",
    "BundleFile",
    "build_bundle",
    "check_job_id",
    "config_json",
    "dataset_remote_name",
    "job_dir",
    "parse_status_output",
    "remote_command",
    "tracker_env_stdin",
]

JOB_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
JOB_DIR_TEMPLATE = JOBS_ROOT + "/{job_id}"

# Fixed remote commands, run from the login home; only {job_id} (validated) is filled in.
_JOB = JOB_DIR_TEMPLATE
MKDIR_COMMAND = f"mkdir -p {_JOB}/{DATA_DIR} {_JOB}/{MODEL_DIR}"
# Reads NAME and value lines from stdin (tracker_env_stdin) and exports each without evaluating
# it: the values reach bootstrap.sh's environment and no file, argument or shell parse.
START_COMMAND = (
    f"cd {_JOB} && if (set -C; : > {P.STARTED_FILE}) 2> /dev/null; then "
    'while IFS= read -r k && IFS= read -r v; do export "$k=$v"; done; '
    f"setsid nohup bash {BOOTSTRAP_FILE} >> {LOG_FILE} 2>&1 < /dev/null & "
    f"echo $! > {PID_FILE}; echo started; else echo already-started; fi"
)
CANCEL_COMMAND = (
    f'cd {_JOB} && p=$(cat {PID_FILE} 2> /dev/null) && case "$p" in '
    "''|*[!0-9]*) exit 1;; esac && kill -TERM -- \"-$p\""
)
STATUS_COMMAND = (
    f"cd {_JOB} 2> /dev/null || {{ echo {P.STATE_MISSING}; exit 0; }}; "
    f'if [ -f {EXIT_CODE_FILE} ]; then echo "{P.STATE_EXITED} $(head -n 1 {EXIT_CODE_FILE})"; '
    f'elif [ -s {PID_FILE} ] && kill -0 "$(cat {PID_FILE})" 2> /dev/null; '
    f"then echo {P.STATE_RUNNING}; "
    f"elif [ -s {PID_FILE} ]; then echo {P.STATE_STOPPED}; "
    f"elif [ -e {P.STARTED_FILE} ]; then echo {P.STATE_STARTING}; "
    f"else echo {P.STATE_NOT_STARTED}; fi"
)
REMOVE_COMMAND = f"rm -rf {_JOB}"


@dataclass(frozen=True)
class BundleFile:
    """One file of the bundle: its path relative to the job dir, its bytes and its mode."""

    path: str
    data: bytes
    mode: int


@dataclass(frozen=True)
class Bundle:
    """Everything build_bundle made for one job."""

    job_id: str
    files: tuple[BundleFile, ...]

    @property
    def job_dir(self) -> str:
        """The job dir relative to the login home."""
        return job_dir(self.job_id)

    def file(self, path: str) -> BundleFile:
        """The bundle file at `path` (KeyError when there is none)."""
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    def paths(self) -> list[str]:
        """Relative paths of every file."""
        return [item.path for item in self.files]


def check_job_id(job_id: str) -> str:
    """Return `job_id` if it is safe in a path and a command ([a-z0-9-]); else ValueError."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise ValueError(f"invalid job id {job_id!r}: expected 1-63 of [a-z0-9-]")
    return job_id


def job_dir(job_id: str) -> str:
    """The job dir relative to the login home, e.g. lambda-gui/jobs/<job id>."""
    return JOB_DIR_TEMPLATE.format(job_id=check_job_id(job_id))


def remote_command(template: str, job_id: str) -> str:
    """One of the *_COMMAND templates with the (validated) job id filled in."""
    return template.replace("{job_id}", check_job_id(job_id))


def dataset_remote_name(dataset_path: str) -> str:
    """The name the local dataset file gets under data/: train.jsonl / train.json / train.csv."""
    return f"train.{file_kind(dataset_path)}"


def parse_status_output(text: str) -> tuple[str, int | None]:
    """Read STATUS_COMMAND's output: (state, exit code).

    state: missing (no job dir), not-started, starting, running, stopped (the process is gone
    without writing exit_code: killed, or the machine rebooted), exited, or unknown."""
    line = text.strip().splitlines()[-1].strip() if text.strip() else ""
    if line.startswith(P.STATE_EXITED):
        value = line.removeprefix(P.STATE_EXITED).strip()
        return "exited", int(value) if value.lstrip("-").isdigit() else None
    if line in _PLAIN_STATES:
        return line, None
    return "unknown", None


_PLAIN_STATES = (
    P.STATE_MISSING,
    P.STATE_NOT_STARTED,
    P.STATE_STARTING,
    P.STATE_RUNNING,
    P.STATE_STOPPED,
)


def build_bundle(
    cfg: TrainingConfig, job_id: str, *, gpu_count: int, dataset_name: str | None
) -> Bundle:
    """config.json, bootstrap.sh, train.py and the modules it imports (after_training.py,
    gguf_export.py, parallel.py, protocol.py, dataset_format.py), and launcher.py."""
    check_job_id(job_id)
    validate_config(cfg)
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or gpu_count < 0:
        raise ValueError(f"gpu_count must be a whole number >= 0, got {gpu_count!r}")
    hub = is_hub_path(cfg.dataset_path)
    dataset_file: str | None = None
    if not hub:
        if not dataset_name or not _safe_file_name(dataset_name):
            raise ConfigError(
                "dataset_path",
                f"the uploaded dataset needs a plain file name ending in "
                f"{', '.join(FILE_EXTENSIONS)}, got {dataset_name!r}",
            )
        dataset_file = f"{DATA_DIR}/{dataset_name}"
    files = [
        BundleFile(CONFIG_FILE, config_json(cfg, job_id, gpu_count, dataset_file), 0o644),
        BundleFile(BOOTSTRAP_FILE, _bundled(BOOTSTRAP_FILE), 0o755),
        BundleFile(TRAIN_FILE, _bundled(TRAIN_FILE), 0o644),
        BundleFile(AFTER_TRAINING_FILE, _bundled(AFTER_TRAINING_FILE), 0o644),
        BundleFile(GGUF_EXPORT_FILE, _bundled(GGUF_EXPORT_FILE), 0o644),
        BundleFile(PARALLEL_FILE, _bundled(PARALLEL_FILE), 0o644),
        BundleFile(LAUNCHER_FILE, _bundled(LAUNCHER_FILE), 0o644),
        BundleFile(PROTOCOL_FILE, _bundled(PROTOCOL_FILE), 0o644),
        BundleFile(FORMAT_FILE, _format_module(), 0o644),
    ]
    return Bundle(job_id, tuple(files))


def config_json(
    cfg: TrainingConfig, job_id: str, gpu_count: int, dataset_file: str | None
) -> bytes:
    """config.json: every user-entered value (tracker secrets by name only) plus job facts.

    Checked with the parser train.py reads it with, so a drift between the two fails here."""
    data: dict[str, Any] = cfg.to_dict()
    data["tracker_env_keys"] = sorted(
        set(data.pop("tracker_env")) | set(data.pop("tracker_secrets"))
    )
    data.update(
        bundle_version=BUNDLE_VERSION,
        job_id=job_id,
        gpu_count=gpu_count,
        dataset_file=dataset_file,
        model_dir=MODEL_DIR if cfg.model_source == "local" else None,
        effective_quantization=effective_quantization(cfg),
        resume_file=RESUME_FILE if cfg.resume_of else None,
    )
    P.JobConfig.from_dict(data)
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()


def tracker_env_stdin(env: dict[str, str]) -> bytes:
    """START_COMMAND's stdin: each variable as a NAME line and a value line (values are one
    line of text, as validate_config requires; checked again here)."""
    lines = []
    for key in sorted(env):
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise ConfigError("tracker_env", f"{key!r} is not a variable name")
        if any(c in env[key] for c in "\x00\r\n"):
            raise ConfigError("tracker_env", f"{key}'s value must be one line of text")
        lines.append(f"{key}\n{env[key]}\n")
    return "".join(lines).encode("utf-8")


def _safe_file_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name)) and name.lower().endswith(
        FILE_EXTENSIONS
    )


def _bundled(name: str) -> bytes:
    return resources.files("lambda_gui.remote").joinpath("bundle_files", name).read_bytes()


def _format_module() -> bytes:
    return resources.files("lambda_gui.core").joinpath(FORMAT_FILE).read_bytes()
