"""The self-termination user_data script and the watchdog, without a cloud: the script's text,
a real bash run of it with every external command logging its argv, and the watchdog's pure
parts (config, error envelopes, the ended / silent conditions)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_gui.remote import bundle, self_terminate
from lambda_gui.remote.self_terminate import (
    HEARTBEAT_COMMAND,
    USER_DATA_LIMIT,
    build_user_data,
    watchdog_source,
)
from tests.remote.key_exposure import key_exposures

KEY = "secret_lambda-gui-test_0123456789abcdef.fedcba9876543210"
# Quotes, substitutions and separators: if the script ever let the shell read the key as code,
# `touch` would leave a file behind.
NASTY_KEY = "secret_a'b\"c$(touch${IFS}PWNED)`touch${IFS}PWNED2`;d|e&f\\g>x"
# Every external command the script may run; PATH holds only shims for these.
COMMANDS = (
    *("id", "getent", "cut", "mkdir", "chmod", "rm", "mv", "date", "base64", "cat"),
    *("setsid", "nohup", "python3", "kill"),
)


def user_data(key: str = KEY, **changes: Any) -> str:
    """A script with small test timings pointing at a closed port."""
    options: dict[str, Any] = {
        "api_key": key,
        "base_url": "http://127.0.0.1:9/api/v1",
        "instance_name": "lambda-gui-job-1",
        "job_id": "job-1",
        "max_runtime_s": None,
        "grace_s": 60,
        "poll_s": 0.2,
    }
    options.update(changes)
    return build_user_data(**options)


def load_watchdog() -> ModuleType:
    """bundle_files/watchdog.py imported as a module of its own."""
    path = Path(self_terminate.__file__).parent / "bundle_files" / "watchdog.py"
    spec = importlib.util.spec_from_file_location("lgui_watchdog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lgui_watchdog"] = module
    spec.loader.exec_module(module)
    return module


def make_shims(folder: Path, argv_log: Path) -> None:
    """One shim per command: append its argv (NUL-separated, one record a line) to argv_log,
    then exec the real program."""
    folder.mkdir()
    real_path = f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"
    for name in COMMANDS:
        real = shutil.which(name, path=real_path)
        assert real is not None, name
        shim = folder / name
        shim.write_text(
            "#!/bin/bash\n"
            f"printf '%s\\0' \"$0\" \"$@\" >> '{argv_log}'\n"
            f"printf '\\n' >> '{argv_log}'\n"
            f"exec '{real}' \"$@\"\n"
        )
        shim.chmod(0o755)


def run_script(tmp_path: Path, script_text: str, *, home: bool = True) -> dict[str, Any]:
    """Run the script as cloud-init would (bash, own session), HOME = a fresh dir, PATH = shims."""
    sandbox = tmp_path / "home"
    sandbox.mkdir()
    argv_log = tmp_path / "argv.log"
    argv_log.touch()
    make_shims(tmp_path / "shims", argv_log)
    script = tmp_path / "user-data"
    script.write_text(script_text)
    script.chmod(0o700)
    env = {"PATH": str(tmp_path / "shims"), "LANG": "C.UTF-8"}
    if home:
        env["HOME"] = str(sandbox)
    done = subprocess.run(
        [str(script)], cwd=sandbox, env=env, capture_output=True, text=True, timeout=20
    )
    return {
        "result": done,
        "home": sandbox,
        "dir": sandbox / self_terminate.WATCHDOG_DIR,
        "script": script,
        "argv_log": argv_log,
    }


def wait_for(path: Path, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not (path.exists() and path.stat().st_size > 0):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def stop_watchdog(watchdog_dir: Path) -> None:
    pid_file = watchdog_dir / self_terminate.WATCHDOG_PID
    wait_for(pid_file)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)


# --- the script's text -------------------------------------------------------------------


def test_the_script_is_bash_small_and_syntactically_valid(tmp_path: Path) -> None:
    text = user_data()
    assert text.startswith("#!/bin/bash\n")
    assert len(text.encode()) < USER_DATA_LIMIT <= 1024 * 1024
    script = tmp_path / "ud.sh"
    script.write_text(text)
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_key_sits_only_in_a_builtin_printf_to_the_key_file() -> None:
    text = user_data()
    lines = [line for line in text.splitlines() if KEY in line]
    assert lines == [f"printf '%s\\n' {KEY} > key.tmp || fail \"cannot write the key file\""]
    umask_at = text.index("umask 077")
    assert umask_at < text.index(KEY)
    assert "set -x" not in text and "xtrace" not in text
    launch = next(line for line in text.splitlines() if "python3" in line)
    assert "setsid nohup python3" in launch and KEY not in launch


def test_inputs_that_cannot_be_used_are_refused() -> None:
    with pytest.raises(ValueError):
        user_data(key="")
    with pytest.raises(ValueError):
        user_data(key="secret_x\nrm -rf ~")
    with pytest.raises(ValueError):
        user_data(key="secret x")
    with pytest.raises(ValueError):
        user_data(job_id="../etc")
    with pytest.raises(ValueError):
        user_data(base_url="file:///etc/passwd")
    with pytest.raises(ValueError):
        user_data(instance_name="x" * 65)
    for field in ("grace_s", "poll_s", "max_runtime_s"):
        for bad in (0, -1, float("nan"), float("inf"), True):
            with pytest.raises(ValueError):
                user_data(KEY, **{field: bad})


def test_heartbeat_command_is_fixed_and_writes_the_watched_file(tmp_path: Path) -> None:
    assert self_terminate.HEARTBEAT_FILE.startswith("lambda-gui/")
    subprocess.run(["bash", "-c", HEARTBEAT_COMMAND], cwd=tmp_path, check=True)
    written = int((tmp_path / self_terminate.HEARTBEAT_FILE).read_text())
    assert abs(written - time.time()) < 5
    subprocess.run(["bash", "-c", self_terminate.DISARM_COMMAND], cwd=tmp_path, check=True)
    assert (tmp_path / self_terminate.DISARM_FILE).exists()


# --- the script, run -----------------------------------------------------------------------


def test_running_the_script_arms_the_watchdog_with_the_key_in_no_argv(tmp_path: Path) -> None:
    ran = run_script(tmp_path, user_data(NASTY_KEY))
    watchdog_dir: Path = ran["dir"]
    try:
        assert ran["result"].returncode == 0, ran["result"].stderr
        assert "armed in" in ran["result"].stdout
        key_file = watchdog_dir / "key"
        assert key_file.read_text() == NASTY_KEY + "\n"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(watchdog_dir.stat().st_mode) == 0o700
        assert (watchdog_dir / "watchdog.py").read_bytes() == watchdog_source()
        config = json.loads((watchdog_dir / "config.json").read_text())
        assert config["instance_name"] == "lambda-gui-job-1" and config["job_id"] == "job-1"
        assert config["max_runtime_s"] is None and config["grace_s"] == 60.0
        assert abs(config["armed_at"] - time.time()) < 10
        assert not ran["script"].exists(), "the script (which holds the key) removed itself"
        assert not list(ran["home"].glob("PWNED*")) and not list(tmp_path.glob("PWNED*"))
        # Every external command ran through a shim that logged its argv: none saw the key.
        wait_for(watchdog_dir / self_terminate.WATCHDOG_PID)
        records = [r for r in ran["argv_log"].read_bytes().split(b"\n") if r]
        assert any(b"python3\0" in r for r in records)
        assert not [r for r in records if NASTY_KEY.encode() in r]
        wait_for(watchdog_dir / "watchdog.log")
        assert key_exposures(ran["home"], NASTY_KEY, allowed=[key_file]) == []
        # The watchdog's dir is only the owner's (umask 077 before anything was written).
        for item in watchdog_dir.iterdir():
            assert stat.S_IMODE(item.stat().st_mode) & 0o077 == 0, item
    finally:
        stop_watchdog(watchdog_dir)


def test_without_a_home_the_script_arms_nothing(tmp_path: Path) -> None:
    if os.getuid() == 0 and Path("/home/ubuntu").is_dir():
        pytest.skip("this machine has a real /home/ubuntu, which the script would use")
    ran = run_script(tmp_path, user_data(), home=False)
    assert ran["result"].returncode == 1
    assert "not armed" in ran["result"].stderr
    assert not ran["script"].exists()
    assert not ran["dir"].exists()


# --- the watchdog's pure parts ---------------------------------------------------------------


def test_watchdog_paths_match_the_bundle_and_the_builder() -> None:
    wd = load_watchdog()
    assert wd.JOBS_ROOT == bundle.JOBS_ROOT
    assert wd.EXIT_CODE_FILE == bundle.EXIT_CODE_FILE
    assert wd.HEARTBEAT_FILE == self_terminate.HEARTBEAT_FILE
    assert wd.DISARM_FILE == self_terminate.DISARM_FILE
    assert wd.KEY_FILE == self_terminate.KEY_FILE
    assert wd.CONFIG_FILE == self_terminate.CONFIG_FILE
    assert wd.PID_FILE == self_terminate.WATCHDOG_PID


def test_watchdog_reads_lambdas_error_envelope_and_plain_bodies() -> None:
    wd = load_watchdog()
    body = b'{"error": {"code": "global/invalid-api-key", "message": "API key was invalid"}}'
    error = wd.http_error(401, body, None)
    assert (error.status, error.code, error.message) == (
        401,
        "global/invalid-api-key",
        "API key was invalid",
    )
    plain = wd.http_error(429, b"429 Too Many Requests\n", "3")
    assert (plain.code, plain.retry_after) == ("http-429", 3.0)
    assert "Too Many Requests" in plain.message


def _watchdog(tmp_path: Path, **changes: Any) -> Any:
    wd = load_watchdog()
    watchdog_dir = tmp_path / ".lambda-gui-watchdog"
    watchdog_dir.mkdir(parents=True)
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9/api/v1",
        "instance_name": "lambda-gui-job-1",
        "job_id": "job-1",
        "max_runtime_s": None,
        "grace_s": 10.0,
        "poll_s": 1.0,
        "armed_at": 1000.0,
    }
    values.update(changes)
    (watchdog_dir / "config.json").write_text(json.dumps(values))
    config = wd.load_config(str(watchdog_dir / "config.json"))
    return wd.Watchdog(str(watchdog_dir), config, KEY)


def test_watchdog_conditions(tmp_path: Path) -> None:
    dog = _watchdog(tmp_path, max_runtime_s=100.0)
    assert dog.ended_reason(1050.0) is None
    assert "run-time cap" in dog.ended_reason(1101.0)
    assert dog.silent_for(1050.0) == 50.0  # no heartbeat yet: counted from armed_at
    heartbeat = tmp_path / self_terminate.HEARTBEAT_FILE
    heartbeat.parent.mkdir(parents=True)
    heartbeat.write_text("1040\n")
    os.utime(heartbeat, (1040.0, 1040.0))
    assert dog.silent_for(1050.0) == 10.0
    exit_code = tmp_path / bundle.job_dir("job-1") / bundle.EXIT_CODE_FILE
    exit_code.parent.mkdir(parents=True)
    exit_code.write_text("0\n")
    assert dog.ended_reason(1001.0) == "the job wrote exit_code"
    assert not dog.disarmed()
    (tmp_path / self_terminate.DISARM_FILE).touch()
    assert dog.disarmed()


def test_watchdog_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        _watchdog(tmp_path / "a", grace_s=0)
    with pytest.raises(ValueError):
        _watchdog(tmp_path / "b", job_id="../x")
    with pytest.raises(ValueError):
        _watchdog(tmp_path / "c", armed_at=None)


def test_watchdog_never_logs_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dog = _watchdog(tmp_path)
    dog.log(f"the server said: bad key {KEY}")
    out = capsys.readouterr().out
    assert KEY not in out and "[api key]" in out


def test_watchdog_backoff_grows_and_honours_retry_after(tmp_path: Path) -> None:
    dog = _watchdog(tmp_path, poll_s=2.0)
    wd = sys.modules["lgui_watchdog"]
    plain = wd.ApiError(503, "provider/internal-unavailable", "down")
    delays = [dog.backoff(n, plain) for n in range(12)]
    assert 1.6 <= delays[0] <= 2.4 and 3.2 <= delays[1] <= 4.8
    assert max(delays) <= wd.MAX_BACKOFF_S * 1.2
    assert dog.backoff(0, wd.ApiError(429, "http-429", "", retry_after=7.0)) == 7.0
