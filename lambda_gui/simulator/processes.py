"""Finding and killing every process an instance started, however it detached itself."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

#: Set in the environment of every command run on an instance; children inherit it, even
#: through `setsid nohup`, so /proc tells us which processes belong to which instance.
MARKER_VAR = "LAMBDA_SIM_INSTANCE"


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
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if marker in environ.split(b"\0"):
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
