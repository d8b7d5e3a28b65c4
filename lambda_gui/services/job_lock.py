"""One launcher and one driver per job across windows and processes: an exclusive, non-blocking
file lock per job id, held for as long as this process drives the job."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class JobLocks:
    """Per-job lock files under the app's data dir; the OS drops a lock when its holder dies."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._held: dict[str, int] = {}

    def acquire(self, job_id: str) -> bool:
        """Take the job's lock; False when another process (or task here) holds it."""
        if job_id in self._held:
            return False
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / f"{job_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[job_id] = fd
        return True

    def release(self, job_id: str) -> None:
        """Give the job's lock back (its file stays, empty)."""
        fd = self._held.pop(job_id, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holds(self, job_id: str) -> bool:
        """True when this process holds the job's lock."""
        return job_id in self._held

    def release_all(self) -> None:
        """Give back every lock (on disconnect)."""
        for job_id in list(self._held):
            self.release(job_id)
