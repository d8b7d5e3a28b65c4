"""The SQLite job store. Every call runs on one dedicated worker thread (sqlite3 blocks and
its connections belong to a thread), so the event loop never waits on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.models import JobPhase, TrainingConfig

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    config_json TEXT NOT NULL,
    phase TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    instance_type TEXT NOT NULL,
    price_cents_per_hour INTEGER NOT NULL DEFAULT 0,
    region TEXT,
    instance_id TEXT,
    ip TEXT,
    ssh_port INTEGER,
    launch_sent_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    log_offset INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    adapter_path TEXT,
    billing TEXT NOT NULL DEFAULT 'none'
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# billing: 'none' (no instance yet), 'may_bill' (an instance may exist and bill),
# 'terminated' (the API confirmed it terminating or gone).
BILLING_STATES = ("none", "may_bill", "terminated")


@dataclass
class JobRecord:
    """One job as the store keeps it."""

    id: str
    config: TrainingConfig
    phase: JobPhase
    instance_name: str
    instance_type: str
    price_cents_per_hour: int = 0
    region: str | None = None
    instance_id: str | None = None
    ip: str | None = None
    ssh_port: int | None = None
    launch_sent_at: float | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    log_offset: int = 0
    error: str | None = None
    adapter_path: str | None = None
    billing: str = "none"

    def to_row(self) -> dict[str, Any]:
        """Column -> value for SQLite."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        row["config_json"] = json.dumps(self.config.to_dict())
        row["phase"] = self.phase.value
        del row["config"]
        return row

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        """Rebuild from a SQLite row."""
        data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row has no items()
        config = TrainingConfig.from_dict(json.loads(data.pop("config_json")))
        phase = JobPhase(data.pop("phase"))
        return cls(config=config, phase=phase, **data)


_UPDATABLE = {f.name for f in dataclasses.fields(JobRecord)} - {"id", "config", "created_at"}


class JobStore:
    """Async facade over the SQLite file; safe to share across tasks."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (and create) the database."""
        await self._run(self._open_sync)

    async def close(self) -> None:
        """Close the database and its worker thread."""
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    async def insert_job(self, job: JobRecord) -> None:
        """Record a new job (before anything is launched for it)."""
        row = job.to_row()
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        await self._write(f"INSERT INTO jobs ({cols}) VALUES ({marks})", row)

    async def update_job(self, job_id: str, **changes: Any) -> JobRecord:
        """Change some fields of a job and return the stored result."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        values = {k: (v.value if isinstance(v, JobPhase) else v) for k, v in changes.items()}
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = :{k}" for k in values)
        values["id"] = job_id
        await self._write(f"UPDATE jobs SET {sets} WHERE id = :id", values)
        return await self.get_job(job_id)

    async def get_job(self, job_id: str) -> JobRecord:
        """The stored job, or JobNotFoundError."""
        rows = await self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(f"No job with id {job_id!r} is known to this app.")
        return JobRecord.from_row(rows[0])

    async def list_jobs(self) -> list[JobRecord]:
        """Every job, newest first."""
        rows = await self._read("SELECT * FROM jobs ORDER BY created_at DESC", ())
        return [JobRecord.from_row(r) for r in rows]

    async def get_setting(self, key: str, default: str | None = None) -> str | None:
        """A stored setting's value."""
        rows = await self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else default

    async def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        await self._write(
            "INSERT INTO settings (key, value) VALUES (:k, :v) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            {"k": key, "v": value},
        )

    # -- worker-thread side -------------------------------------------------------------

    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("JobStore.open() was not awaited")
        return self._conn

    async def _write(self, sql: str, params: dict[str, Any]) -> None:
        await self._run(lambda: self._connection().execute(sql, params).close())

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        return await self._run(lambda: self._connection().execute(sql, params).fetchall())

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
