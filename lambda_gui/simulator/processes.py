"""Finding and killing every process an instance started, however it detached itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

#: Set in the environment of every command run on an instance; children inherit it, even
#: through `setsid nohup`, so /proc tells us which processes belong to which instance.
MARKER_VAR = "LAMBDA_SIM_INSTANCE"


def process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process from /proc/PID/stat, or None if it is gone.

    Read as bytes: the command name in parentheses is cut at 15 bytes, which can split a
    UTF-8 character, and may itself hold ")" or spaces; the fields after the last ")" are
    plain ASCII."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw.rpartition(b")")[2].split()
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    return fields[0].decode("ascii", "replace"), int(fields[1])


def process_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    stat = process_stat(pid)
    return stat is not None and stat[0] != "Z"


def _marker(instance_id: str) -> bytes:
    return f"{MARKER_VAR}={instance_id}".encode()


def pids_of_instance(instance_id: str) -> list[int]:
    """Live processes (not zombies) whose environment carries the instance's marker."""
    marker = _marker(instance_id)
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def kill_instance_processes(instance_id: str, timeout: float = 2.0) -> int:
    """SIGKILL every process of the instance until none is left; returns how many were seen."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_of_instance(instance_id)
        if not pids:
            return len(seen)
        for pid in pids:
            seen.add(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return len(seen)
        time.sleep(0.01)
