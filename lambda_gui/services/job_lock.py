"""One launcher and one driver per job across windows and processes: an exclusive, non-blocking
file lock per job id, held for as long as this process drives the job.

The locks are the OS's own (flock on Linux and macOS, LockFileEx-style msvcrt locks on
Windows) through `filelock`, so the OS drops a lock when its holder dies.
"""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock


@cache
def _native_only() -> dict[str, Any]:
    """Only the OS's lock will do: filelock 4 can fall back to a marker-file ("soft") lock on a
    file system without flock, and a soft lock outlives a holder that crashed, so the job could
    never be driven again. Older filelock versions have no such fallback (nor the option)."""
    from filelock import FileLock

    if "fallback_to_soft" in inspect.signature(FileLock.__init__).parameters:
        return {"fallback_to_soft": False}
    return {}


class JobLocks:
    """Per-job lock files under the app's data dir; the OS drops a lock when its holder dies."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._held: dict[str, FileLock] = {}

    def acquire(self, job_id: str) -> bool:
        """Take the job's lock; False when another process (or task here) holds it."""
        if job_id in self._held:
            return False
        from filelock import FileLock, Timeout  # loaded with the first job, not at start-up

        self._dir.mkdir(parents=True, exist_ok=True)
        # A new, non-shared lock object each time: filelock locks are reentrant per object, and
        # a second JobLocks here (another window) must be refused like another process.
        # thread_local=False: the lock may be released from another thread than took it.
        lock = FileLock(
            self._dir / f"{job_id}.lock", mode=0o600, thread_local=False, **_native_only()
        )
        try:
            lock.acquire(blocking=False)
        except Timeout:
            return False
        self._held[job_id] = lock
        return True

    def release(self, job_id: str) -> None:
        """Give the job's lock back (on Linux and macOS its file stays, empty)."""
        lock = self._held.pop(job_id, None)
        if lock is not None:
            lock.release(force=True)

    def holds(self, job_id: str) -> bool:
        """True when this process holds the job's lock."""
        return job_id in self._held

    def release_all(self) -> None:
        """Give back every lock (on disconnect)."""
        for job_id in list(self._held):
            self.release(job_id)
