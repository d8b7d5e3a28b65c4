"""Finding and killing an instance's processes, whatever else runs on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_gui.simulator.processes import (
    MARKER_VAR,
    kill_instance_processes,
    pids_of_instance,
    process_alive,
    process_stat,
)

# 14 ASCII bytes and a 2-byte character: the kernel keeps 15 bytes of a command name, so the
# name in /proc/PID/stat ends in half a UTF-8 character.
SPLIT_NAME = "a)b c" + "d" * 9 + "\u00e9"


def _start(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    return subprocess.Popen([str(program), "300"], env=env)


@pytest.fixture
def odd_named_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = _start(tmp_path, SPLIT_NAME, dict(os.environ))
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_stat_reads_a_name_cut_inside_a_character(
    odd_named_process: subprocess.Popen[bytes],
) -> None:
    raw = Path(f"/proc/{odd_named_process.pid}/stat").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode()
    stat = process_stat(odd_named_process.pid)
    assert stat is not None and stat[0] in "RS" and stat[1] == os.getpid()
    assert process_alive(odd_named_process.pid)


def test_an_odd_neighbour_does_not_stop_the_kill(
    tmp_path: Path, odd_named_process: subprocess.Popen[bytes]
) -> None:
    env = dict(os.environ)
    env[MARKER_VAR] = "inst-odd"
    mine = _start(tmp_path, "plain-sleep", env)
    try:
        assert pids_of_instance("inst-odd") == [mine.pid]
        assert kill_instance_processes("inst-odd") == 1
        assert mine.wait(5) != 0
    finally:
        mine.kill()
        mine.wait()
    assert odd_named_process.poll() is None


def test_a_reaped_process_is_not_alive() -> None:
    process = subprocess.Popen(["true"])
    process.wait()
    assert not process_alive(process.pid)
    assert process_stat(process.pid) is None
