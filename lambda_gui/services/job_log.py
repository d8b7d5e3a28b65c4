"""The local copy of each job's train.log: appended as the remote log streams in, read back by
`stream_logs` from any byte offset, so many readers share one SSH follower."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path


class JobLogs:
    """Local train.log files, one per job, with a wake-up for readers when lines arrive."""

    def __init__(self, job_dir_of: Callable[[str], Path]) -> None:
        self._job_dir_of = job_dir_of
        self._changed: dict[str, asyncio.Condition] = {}
        self._finished: set[str] = set()

    def path(self, job_id: str) -> Path:
        """The local train.log of a job."""
        return self._job_dir_of(job_id) / "train.log"

    async def size(self, job_id: str) -> int:
        """Bytes in the local log (where the remote stream resumes)."""
        return await asyncio.to_thread(_size, self.path(job_id))

    async def append(self, job_id: str, data: bytes | Sequence[bytes]) -> tuple[int, int]:
        """Add complete lines (their bytes, or the lines as they came) to the local log and
        wake readers; where they now lie in the file, as (start, end) byte offsets."""
        span = (0, 0)
        if data:
            span = await asyncio.to_thread(_append, self.path(job_id), data)
        await self._notify(job_id)
        return span

    async def finish(self, job_id: str) -> None:
        """No more lines will come for this job (it reached a final phase)."""
        self._finished.add(job_id)
        await self._notify(job_id)

    def reopen(self, job_id: str) -> None:
        """The job is being driven again (reattached): readers wait for more lines."""
        self._finished.discard(job_id)

    async def lines(self, job_id: str, offset: int = 0) -> AsyncIterator[str]:
        """Lines from byte `offset`, following until the job is finished."""
        path = self.path(job_id)
        pending = b""
        while True:
            cond = self._condition(job_id)
            finished = job_id in self._finished
            chunk = await asyncio.to_thread(_read_from, path, offset)
            offset += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", errors="replace").rstrip("\r")
            if finished and not chunk:
                if pending:
                    yield pending.decode("utf-8", errors="replace")
                return
            if not chunk:
                async with cond:
                    try:
                        await asyncio.wait_for(cond.wait(), timeout=1.0)
                    except TimeoutError:
                        pass

    def _condition(self, job_id: str) -> asyncio.Condition:
        return self._changed.setdefault(job_id, asyncio.Condition())

    async def _notify(self, job_id: str) -> None:
        cond = self._condition(job_id)
        async with cond:
            cond.notify_all()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _append(path: Path, data: bytes | Sequence[bytes]) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        start = fh.tell()
        if isinstance(data, bytes):
            fh.write(data)
        else:
            # Piece by piece (a flood's batch comes as its blocks, services/queued_lines.py):
            # never one copy of the whole batch, which would hold the interpreter lock (and
            # the GUI thread) for milliseconds.
            fh.writelines(data)
        return start, fh.tell()


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(4 * 1024 * 1024)
    except FileNotFoundError:
        return b""
