"""`lambda-gui --self-test`: every check passes on this installation, one line each, and a
failing or hanging check does not stop the others."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lambda_gui.gui import self_test
from lambda_gui.gui.self_test import SelfTestContext, run_checks

ROOT = Path(__file__).resolve().parents[2]
# Written out, not read from self_test.CHECKS: a check dropped or renamed fails here.
CHECK_NAMES = (
    "qt-platform",
    "remote-scripts",
    "plot",
    "tls",
    "keyring",
    "ssh-libraries",
    "simulator-request",
    "main-window",
    "log-reader-process",
)


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with an empty home: nothing of this machine's user is read."""
    env = dict(os.environ)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_RUNTIME_DIR=str(runtime),
        PYTHONPATH=str(ROOT),
    )
    (tmp_path / "home").mkdir()
    return env


@pytest.mark.timeout(90)
def test_self_test_passes_with_one_line_per_check(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lambda_gui", "--self-test"],
        cwd=tmp_path,
        env=_isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"ok    {n}" for n in CHECK_NAMES], (
        report
    )
    assert lines[-1] == f"self-test: {len(CHECK_NAMES)} of {len(CHECK_NAMES)} checks passed"
    assert took < 30, f"the self-test took {took:.1f} s"
    # The user's data folder was not used.
    assert not (tmp_path / "data" / "lambda-gui").exists()


def test_the_checks_are_the_documented_ones() -> None:
    assert tuple(name for name, _ in self_test.CHECKS) == CHECK_NAMES


async def test_a_failing_check_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: SelfTestContext) -> str:
        raise ValueError("no such\nthing")

    async def slow(ctx: SelfTestContext) -> str:
        await asyncio.sleep(30)
        return "never"

    async def fine(ctx: SelfTestContext) -> str:
        await asyncio.sleep(0)
        return "all good"

    monkeypatch.setattr(self_test, "CHECK_TIMEOUT_S", 0.2)
    monkeypatch.setattr(self_test, "CHECKS", (("broken", broken), ("slow", slow), ("fine", fine)))
    out = io.StringIO()
    assert await run_checks(SelfTestContext(), out) == 1
    assert out.getvalue().splitlines() == [
        "FAIL  broken: ValueError: no such thing",
        "FAIL  slow: did not finish within 0.2 s",
        "ok    fine: all good",
        "self-test: 1 of 3 checks passed",
    ]
