"""The SQLite job store. Every call runs on one dedicated worker thread (sqlite3 blocks and
its connections belong to a thread), so the event loop never waits on disk.

Opening never locks the user out over a damaged store: a file SQLite cannot read is moved aside
(kept, never deleted) and a fresh one is created; a row that cannot be decoded is skipped and
reported while the others load. What cannot be fixed here (a folder the app may not write, a
store from a newer app) is a typed error that says what to do."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from lambda_gui.core.errors import JobNotFoundError, LambdaGUIError
from lambda_gui.core.job_state import Billing, JobState, parse_billing
from lambda_gui.core.models import JobPhase, TrainingConfig

T = TypeVar("T")

log = logging.getLogger(__name__)

# The latest schema; a new store is created with it directly at SCHEMA_VERSION. A store at an
# older version gets there through MIGRATIONS instead, so this text may change only together
# with a new migration.
SCHEMA_STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS jobs (
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
)""",
    """CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
)
SCHEMA = ";\n".join(SCHEMA_STATEMENTS) + ";\n"

# The fields only services/lifecycle.py writes (through write_state), after the lifecycle
# table in core/job_state.py allowed the move.
STATE_FIELDS = frozenset({"phase", "billing"})


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    # Version 1 wrote only 'none', 'may_bill' and 'terminated'; its 'may_bill' meant "an
    # instance may exist". With an instance id Lambda had accepted the launch: it bills. Without
    # one the launch's outcome is unknown, which is exactly what 'may_bill' means now.
    conn.execute(
        "UPDATE jobs SET billing = 'billing' "
        "WHERE billing = 'may_bill' AND instance_id IS NOT NULL AND instance_id != ''"
    )


# Version -> the step that brings a store from the version before it to this one. Version 1 is
# the schema as it was before the store had a version (PRAGMA user_version 0 with a jobs table).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _migrate_to_2}
SCHEMA_VERSION = 2

# SQLite's primary result codes for a file that is not (or no longer) a readable database.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_SIDE_FILES = ("-wal", "-shm", "-journal")


class StoreUnavailableError(LambdaGUIError, OSError):
    """The job store cannot be created, opened or written (permissions, space, a lock)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"Cannot write the job store at {path}: {reason}.",
            suggestion=(
                "Check the folder's permissions or free space, and that no other Lambda GUI "
                "is using it, then connect again."
            ),
        )


class StoreTooNewError(LambdaGUIError, RuntimeError):
    """The store was written by a newer app whose format this one does not know."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version
        super().__init__(
            f"The job store at {path} was written by a newer Lambda GUI (store version "
            f"{version}; this app reads up to version {SCHEMA_VERSION}). It was left untouched.",
            suggestion="Update Lambda GUI to open it.",
        )


class UnreadableJobError(LambdaGUIError, ValueError):
    """A job's stored row cannot be decoded; `job_id` and `reason` say which and why."""

    def __init__(self, job_id: str, reason: str, instance_name: str | None = None) -> None:
        self.job_id = job_id
        self.reason = reason
        where = f" for its instance {instance_name}" if instance_name else ""
        super().__init__(
            f"Job {job_id} could not be read from the job store: {reason}.",
            suggestion=(
                "Its row is kept unchanged and the other jobs are unaffected; check Lambda's "
                f"instance list{where} in case it is still running."
            ),
        )


@dataclass(frozen=True)
class SkippedRow:
    """A job row list_jobs() could not decode, and why."""

    job_id: str
    reason: str


def describe_skipped(rows: Sequence[SkippedRow]) -> str | None:
    """One sentence for the user about the rows list_jobs() skipped, or None."""
    if not rows:
        return None
    noun = "job" if len(rows) == 1 else "jobs"
    details = "; ".join(f"{r.job_id}: {r.reason}" for r in rows)
    return f"{len(rows)} {noun} could not be read: {details}."


def describe_moved_aside(path: Path) -> str:
    """What to tell the user after a damaged store was moved aside."""
    return (
        f"Your job store was damaged; it was kept at {path} and the job list was rebuilt "
        "from the instances on Lambda and the job folders on this computer."
    )


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
    billing: Billing = Billing.NONE

    @property
    def state(self) -> JobState:
        """Phase and billing together."""
        return JobState(self.phase, self.billing)

    def to_row(self) -> dict[str, Any]:
        """Column -> value for SQLite."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        row["config_json"] = json.dumps(self.config.to_dict())
        row["phase"] = self.phase.value
        row["billing"] = self.billing.value
        del row["config"]
        return row

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        """Rebuild from a SQLite row; ValueError/TypeError/KeyError when it cannot be read."""
        data = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row has no items()
        config_data = json.loads(data.pop("config_json"))
        if not isinstance(config_data, dict):
            raise ValueError(f"its config is JSON {type(config_data).__name__}, not an object")
        config = TrainingConfig.from_dict(config_data)
        phase = JobPhase(data.pop("phase"))
        billing = parse_billing(data.pop("billing"))
        for name, kinds in _COLUMN_TYPES.items():
            value = data.get(name)
            # SQLite stores whatever it is given; a wrong type here would fail far from the
            # store (in a price sum, a time format), so it is refused while reading.
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise TypeError(f"column {name} holds {value!r}, not {_KIND_NAMES[kinds]}")
        return cls(config=config, phase=phase, billing=billing, **data)


# A float where an integer belongs is tolerated (SQLite keeps 12.0 as 12 anyway): hiding a job
# that may bill costs more than showing an odd number.
_TEXT, _NUMBER = (str,), (int, float)
_OPT_TEXT, _OPT_NUMBER = (str, type(None)), (int, float, type(None))
_COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "id": _TEXT,
    "instance_name": _TEXT,
    "instance_type": _TEXT,
    "price_cents_per_hour": _NUMBER,
    "region": _OPT_TEXT,
    "instance_id": _OPT_TEXT,
    "ip": _OPT_TEXT,
    "ssh_port": _OPT_NUMBER,
    "launch_sent_at": _OPT_NUMBER,
    "created_at": _NUMBER,
    "updated_at": _NUMBER,
    "started_at": _OPT_NUMBER,
    "ended_at": _OPT_NUMBER,
    "log_offset": _NUMBER,
    "error": _OPT_TEXT,
    "adapter_path": _OPT_TEXT,
}
_KIND_NAMES: dict[tuple[type, ...], str] = {
    _TEXT: "text",
    _NUMBER: "a number",
    _OPT_TEXT: "text or null",
    _OPT_NUMBER: "a number or null",
}

_UPDATABLE = {f.name for f in dataclasses.fields(JobRecord)} - {"id", "config", "created_at"}


def _decode(row: sqlite3.Row) -> JobRecord | SkippedRow:
    """The job in a row, or why it cannot be read."""
    try:
        return JobRecord.from_row(row)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # json.JSONDecodeError and ConfigError are ValueErrors; a TrainingConfig field the
        # dataclass refuses is a TypeError.
        reason = str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
        return SkippedRow(str(row["id"]), reason or type(exc).__name__)


class _Damaged(Exception):
    """The store file cannot be read as a database: it is moved aside, not used."""


class JobStore:
    """Async facade over the SQLite file; safe to share across tasks."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = self._new_executor()
        self._conn: sqlite3.Connection | None = None
        # Where open() moved a damaged store file; the app rebuilds the job list when set.
        self.moved_aside: Path | None = None
        # The rows the last list_jobs() could not decode (the others were returned).
        self.skipped_rows: list[SkippedRow] = []

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    async def open(self) -> None:
        """Open, create or migrate the store; a damaged file is moved aside (see moved_aside)."""
        # Raises StoreUnavailableError (the file or folder cannot be written) or StoreTooNewError.
        try:
            await self._run(self._open_sync)
        except BaseException:
            # No worker thread outlives a failed open, and a later open() still works.
            self._executor.shutdown(wait=False)
            self._executor = self._new_executor()
            raise

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

    async def delete_job(self, job_id: str) -> bool:
        """Remove a job's row; False when there was none (services/job_delete.py checks first
        that the job is over and bills no more)."""

        def delete() -> bool:
            cursor = self._connection().execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            try:
                return cursor.rowcount > 0
            finally:
                cursor.close()

        return await self._run(delete)

    async def update_job(self, job_id: str, **changes: Any) -> JobRecord:
        """Change some fields of a job (never its phase or billing) and return the result."""
        if STATE_FIELDS & set(changes):
            raise ValueError(
                "phase and billing change only through services/lifecycle.py (Lifecycle.move)"
            )
        return await self.write_state(job_id, **changes)

    async def write_state(self, job_id: str, **changes: Any) -> JobRecord:
        """Change fields including phase/billing; only the lifecycle service calls this."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        values = {
            k: (v.value if isinstance(v, JobPhase | Billing) else v) for k, v in changes.items()
        }
        values["updated_at"] = time.time()
        sets = ", ".join(f"{k} = :{k}" for k in values)
        values["id"] = job_id
        await self._write(f"UPDATE jobs SET {sets} WHERE id = :id", values)
        return await self.get_job(job_id)

    async def get_job(self, job_id: str) -> JobRecord:
        """The stored job; JobNotFoundError, or UnreadableJobError for a row that cannot be read."""
        rows = await self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError(f"No job with id {job_id!r} is known to this app.")
        decoded = _decode(rows[0])
        if isinstance(decoded, SkippedRow):
            name = rows[0]["instance_name"]
            raise UnreadableJobError(
                job_id, decoded.reason, name if isinstance(name, str) else None
            )
        return decoded

    async def list_jobs(self) -> list[JobRecord]:
        """Every readable job, newest first; the others land in `skipped_rows`."""
        rows = await self._read("SELECT * FROM jobs ORDER BY created_at DESC", ())
        jobs: list[JobRecord] = []
        skipped: list[SkippedRow] = []
        for row in rows:
            decoded = _decode(row)
            if isinstance(decoded, SkippedRow):
                skipped.append(decoded)
            else:
                jobs.append(decoded)
        if skipped and skipped != self.skipped_rows:
            log.warning("job store: skipped unreadable rows %s", skipped)
        self.skipped_rows = skipped
        return jobs

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

    @staticmethod
    def _new_executor() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store")

    def _open_sync(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(self._path, exc.strerror or str(exc)) from exc
        try:
            conn = self._open_checked()
        except _Damaged as damaged:
            log.warning("job store %s is damaged (%s); moving it aside", self._path, damaged)
            self.moved_aside = self._move_aside()
            try:
                conn = self._open_checked()
            except _Damaged as again:
                # The file was just created here: SQLite failing on it is the disk, not the data.
                raise StoreUnavailableError(self._path, str(again)) from again
        self._conn = conn

    def _sqlite_connect(self) -> sqlite3.Connection:
        """A raw connection to the store file (a seam for tests that simulate a read-only file)."""
        return sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)

    def _open_checked(self) -> sqlite3.Connection:
        """A connection to a readable, writable store at SCHEMA_VERSION, or an error."""
        self._inspect()
        try:
            conn = self._sqlite_connect()
        except sqlite3.Error as exc:
            raise _classify(exc, self._path) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn, int(conn.execute("PRAGMA user_version").fetchone()[0]))
            self._check_writable(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise _classify(exc, self._path) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _inspect(self) -> None:
        """Refuse a newer app's store and report a damaged one, through a read-only connection."""
        # A writable connection could change the evidence: closing it checkpoints a WAL into the
        # main file and deletes the -wal/-shm files, even ones SQLite could not read.
        try:
            if self._path.stat().st_size == 0:
                return
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreUnavailableError(self._path, exc.strerror or str(exc)) from exc
        try:
            probe = sqlite3.connect(f"{self._path.absolute().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise _classify(exc, self._path) from exc
        try:
            probe.execute("PRAGMA busy_timeout=5000")
            version = int(probe.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreTooNewError(self._path, version)
            problems = [str(r[0]) for r in probe.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Damaged("; ".join(problems[:3]))
        except sqlite3.Error as exc:
            raise _classify(exc, self._path) from exc
        finally:
            probe.close()

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        """Bring the store to SCHEMA_VERSION, one step per transaction."""
        if version == 0:
            has_jobs = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
            ).fetchone()
            if has_jobs is None:
                self._in_transaction(conn, SCHEMA_VERSION, self._create_schema)
                return
            # A store from before user_version existed is version 1 (its schema is SCHEMA's).
            version = 1
            self._in_transaction(conn, 1, self._create_schema)
        while version < SCHEMA_VERSION:
            version += 1
            log.info("job store %s: migrating to version %d", self._path, version)
            self._in_transaction(conn, version, MIGRATIONS[version])

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        # executescript() would commit the open transaction, so statements go one by one.
        for statement in SCHEMA_STATEMENTS:
            conn.execute(statement)

    @staticmethod
    def _in_transaction(
        conn: sqlite3.Connection, version: int, step: Callable[[sqlite3.Connection], None]
    ) -> None:
        """Run one step and record its version atomically: a failed step leaves no trace."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            # user_version lives in the file header, which SQLite writes inside the transaction.
            conn.execute(f"PRAGMA user_version = {int(version)}")
        except BaseException:
            # Some errors (a full disk) already rolled the transaction back.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _check_writable(conn: sqlite3.Connection) -> None:
        # SQLite opens a file it may not write read-only without a word; writing now (and
        # rolling it back) turns that into an error at open instead of at the first job.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('_write_check', '')")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _move_aside(self) -> Path:
        """Rename the store and its side files to <name>.corrupt-<UTC time>; never delete."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
        n = 1
        while any(Path(f"{target}{s}").exists() for s in ("", *_SIDE_FILES)):
            target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            # Side files keep their suffix so SQLite can open the kept copy with its journal.
            # They go first: a fresh store must never meet the damaged one's WAL at its path.
            for suffix in _SIDE_FILES:
                side = Path(f"{self._path}{suffix}")
                if side.exists():
                    os.rename(side, f"{target}{suffix}")
            os.rename(self._path, target)
        except OSError as exc:
            raise StoreUnavailableError(
                self._path, f"it is damaged and could not be moved aside ({exc.strerror or exc})"
            ) from exc
        return target

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


def _classify(exc: sqlite3.Error, path: Path) -> Exception:
    """A damaged file (_Damaged) or one the app cannot use (StoreUnavailableError)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return _Damaged(str(exc))
    return StoreUnavailableError(path, str(exc))
