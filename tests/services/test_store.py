from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest

from lambda_gui.core.errors import JobNotFoundError, LambdaGUIError
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services import store as store_mod
from lambda_gui.services.store import (
    SCHEMA_VERSION,
    JobRecord,
    JobStore,
    SkippedRow,
    StoreTooNewError,
    StoreUnavailableError,
    UnreadableJobError,
    describe_moved_aside,
    describe_skipped,
)

# The schema exactly as the store wrote it before it had a version (version 1).
V1_SCHEMA = """
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
CONFIG_JSON = json.dumps(TrainingConfig(base_model="org/m").to_dict())


def _chmod_blocks_writes() -> bool:
    """False where permissions do not stop this process (root, or a file system without them)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        try:
            (folder / "probe").touch()
        except PermissionError:
            return True
        finally:
            folder.chmod(0o700)
        return False


CHMOD_BLOCKS = _chmod_blocks_writes()


def _job(job_id: str, created_at: float = 1000.0) -> JobRecord:
    return JobRecord(
        id=job_id,
        config=TrainingConfig(base_model="org/m", target_modules=["q_proj"], rank=4),
        phase=JobPhase.PENDING,
        instance_name=f"lambda-gui-{job_id}",
        instance_type="gpu_1x_a10",
        created_at=created_at,
    )


def _raw_insert(path: Path, job_id: str, **overrides: object) -> None:
    """Write a row behind the store's back, the way an old app or a damaged disk would."""
    row: dict[str, object] = {
        "id": job_id,
        "config_json": CONFIG_JSON,
        "phase": "running",
        "instance_name": f"lambda-gui-{job_id}",
        "instance_type": "gpu_1x_a10",
        "created_at": 1000.0,
        "updated_at": 1000.0,
        "billing": "none",
    }
    row.update(overrides)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            tuple(row.values()),
        )
    conn.close()


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _old_store(path: Path, user_version: int | None = None) -> None:
    """A store file as the app wrote it before versions (WAL, no user_version)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V1_SCHEMA)
    if user_version is not None:
        conn.execute(f"PRAGMA user_version = {user_version}")
    conn.close()


async def _opened(path: Path) -> JobStore:
    store = JobStore(path)
    await store.open()
    return store


# --- the basics ---------------------------------------------------------------------------


async def test_jobs_survive_reopening(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "s.sqlite3")
    cfg = TrainingConfig(base_model="org/m", target_modules=["q_proj"], rank=4)
    await store.insert_job(
        JobRecord(
            id="abc",
            config=cfg,
            phase=JobPhase.PENDING,
            instance_name="lambda-gui-abc",
            instance_type="gpu_1x_a10",
        )
    )
    await store.write_state("abc", phase=JobPhase.RUNNING, billing=Billing.BILLING)
    await store.update_job("abc", instance_id="i1", log_offset=42)
    await store.set_setting("default_region", "us-east-1")
    await store.close()

    again = await _opened(tmp_path / "s.sqlite3")
    job = await again.get_job("abc")
    assert (job.phase, job.instance_id, job.log_offset, job.billing) == (
        JobPhase.RUNNING,
        "i1",
        42,
        Billing.BILLING,
    )
    assert job.config == cfg
    assert again.path == tmp_path / "s.sqlite3"
    assert again.moved_aside is None
    assert await again.get_setting("default_region") == "us-east-1"
    assert [j.id for j in await again.list_jobs()] == ["abc"]
    assert again.skipped_rows == []
    with pytest.raises(JobNotFoundError):
        await again.get_job("nope")
    with pytest.raises(ValueError):
        await again.update_job("abc", bogus=1)
    with pytest.raises(ValueError, match="lifecycle"):
        await again.update_job("abc", phase=JobPhase.FAILED)
    await again.close()


async def test_a_new_store_is_created_at_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "new" / "s.sqlite3"
    store = await _opened(path)
    await store.close()
    assert _user_version(path) == SCHEMA_VERSION == 2


async def test_an_empty_file_is_created_at_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"")
    store = await _opened(path)
    assert store.moved_aside is None
    await store.insert_job(_job("abc"))
    await store.close()
    assert _user_version(path) == SCHEMA_VERSION


# --- migrations ---------------------------------------------------------------------------


async def test_a_store_without_version_is_v1_and_migrates_billing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    _old_store(path)
    _raw_insert(path, "launched", billing="may_bill", instance_id="i-1", created_at=5.0)
    _raw_insert(path, "lost", billing="may_bill", instance_id=None, created_at=4.0)
    _raw_insert(path, "blank", billing="may_bill", instance_id="", created_at=3.0)
    _raw_insert(path, "never", billing="none", phase="queued", created_at=2.0)
    _raw_insert(path, "gone", billing="terminated", instance_id="i-2", created_at=1.0)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('default_region', 'us-east-1')")
    conn.close()
    assert _user_version(path) == 0

    store = await _opened(path)
    billing = {j.id: j.billing for j in await store.list_jobs()}
    assert billing == {
        "launched": Billing.BILLING,
        "lost": Billing.MAY_BILL,
        "blank": Billing.MAY_BILL,
        "never": Billing.NONE,
        "gone": Billing.TERMINATED,
    }
    assert await store.get_setting("default_region") == "us-east-1"
    assert store.moved_aside is None
    await store.close()
    assert _user_version(path) == 2


async def test_a_v1_store_with_its_version_set_migrates(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    _old_store(path, user_version=1)
    _raw_insert(path, "launched", billing="may_bill", instance_id="i-1")
    store = await _opened(path)
    assert (await store.get_job("launched")).billing is Billing.BILLING
    await store.close()
    assert _user_version(path) == 2


async def test_a_failed_migration_step_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite3"
    _old_store(path, user_version=1)
    _raw_insert(path, "launched", billing="may_bill", instance_id="i-1")

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE jobs SET billing = 'billing'")
        raise RuntimeError("step failed half-way")

    real = dict(store_mod.MIGRATIONS)
    monkeypatch.setitem(store_mod.MIGRATIONS, 2, half_done)
    with pytest.raises(RuntimeError, match="half-way"):
        await _opened(path)
    assert _user_version(path) == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT billing FROM jobs").fetchall() == [("may_bill",)]
    conn.close()

    monkeypatch.setitem(store_mod.MIGRATIONS, 2, real[2])
    store = await _opened(path)
    assert (await store.get_job("launched")).billing is Billing.BILLING
    await store.close()


async def test_a_store_from_a_newer_app_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    store = JobStore(path)
    with pytest.raises(StoreTooNewError) as caught:
        await store.open()
    assert isinstance(caught.value, LambdaGUIError)
    assert caught.value.version == 99
    text = str(caught.value)
    assert str(path) in text and "newer Lambda GUI" in text and "Update" in text
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite3"]
    await store.close()


# --- unreadable rows ----------------------------------------------------------------------


async def test_bad_rows_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await _opened(path)
    await store.insert_job(_job("good", created_at=10.0))
    _raw_insert(path, "boom", phase="exploded", created_at=9.0)
    _raw_insert(path, "badjson", config_json="{not json", created_at=8.0)
    _raw_insert(path, "listcfg", config_json="[1, 2]", created_at=7.0)
    _raw_insert(path, "badcfg", config_json=json.dumps({"rank": 4}), created_at=6.0)
    _raw_insert(path, "badtime", created_at="yesterday")
    _raw_insert(path, "oddbill", billing="exploded", created_at=5.0)

    jobs = await store.list_jobs()
    assert [j.id for j in jobs] == ["good", "oddbill"]
    # An unreadable billing value is readable as UNKNOWN: it may bill, so the job stays shown.
    assert jobs[1].billing is Billing.UNKNOWN
    reasons = {r.job_id: r.reason for r in store.skipped_rows}
    assert set(reasons) == {"boom", "badjson", "listcfg", "badcfg", "badtime"}
    assert "'exploded' is not a valid JobPhase" in reasons["boom"]
    assert "created_at" in reasons["badtime"] and "yesterday" in reasons["badtime"]
    assert "not an object" in reasons["listcfg"]
    assert "base_model" in reasons["badcfg"]
    summary = describe_skipped(store.skipped_rows)
    assert summary is not None and summary.startswith("5 jobs could not be read: ")
    assert describe_skipped([SkippedRow("x", "why")]) == "1 job could not be read: x: why."
    assert describe_skipped([]) is None

    with pytest.raises(UnreadableJobError) as caught:
        await store.get_job("boom")
    assert isinstance(caught.value, ValueError)
    assert (caught.value.job_id, caught.value.reason) == ("boom", reasons["boom"])
    assert "boom" in str(caught.value) and "exploded" in str(caught.value)
    assert "lambda-gui-boom" in str(caught.value)

    # The list is refreshed at each call: a row put right is no longer reported.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM jobs WHERE id != 'boom' AND id != 'good'")
        conn.execute("UPDATE jobs SET phase = 'failed' WHERE id = 'boom'")
    conn.close()
    assert [j.id for j in await store.list_jobs()] == ["good", "boom"]
    assert store.skipped_rows == []
    await store.close()


# --- a damaged file -----------------------------------------------------------------------


async def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    garbage = b"this is not a database at all\n" * 200
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"wal bytes")
    Path(f"{path}-shm").write_bytes(b"shm bytes")

    store = await _opened(path)
    kept = store.moved_aside
    assert kept is not None and kept.parent == tmp_path
    assert kept.name.startswith("store.sqlite3.corrupt-") and kept.name.endswith("Z")
    assert kept.read_bytes() == garbage
    assert Path(f"{kept}-wal").read_bytes() == b"wal bytes"
    # The -shm is only an index SQLite rebuilds from the WAL (reading may refresh it): kept too.
    assert Path(f"{kept}-shm").exists()
    assert await store.list_jobs() == []
    await store.insert_job(_job("abc"))
    await store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["store.sqlite3", kept.name, f"{kept.name}-wal", f"{kept.name}-shm"]
    )
    assert _user_version(path) == SCHEMA_VERSION
    assert str(kept) in describe_moved_aside(kept)

    # A second damage in the same second keeps both copies.
    path.write_bytes(garbage)
    second = await _opened(path)
    assert second.moved_aside is not None and second.moved_aside != kept
    assert kept.exists() and second.moved_aside.exists()
    await second.close()


async def test_a_database_failing_its_quick_check_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await _opened(path)
    for i in range(60):
        await store.insert_job(_job(f"job{i:03d}"))
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    data = bytearray(path.read_bytes())
    # Page 2 holds part of the jobs table's b-tree: scribbling over it breaks the tree.
    data[page_size : page_size + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))

    again = await _opened(path)
    assert again.moved_aside is not None
    assert again.moved_aside.read_bytes() == bytes(data)
    assert await again.list_jobs() == []
    await again.close()


async def test_a_quick_check_report_moves_the_store_aside(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await _opened(path)
    await store.insert_job(_job("abc"))
    await store.close()
    data = bytearray(path.read_bytes())
    # The header's free-page count (bytes 36-39) now disagrees with the file: SQLite still
    # reads it, only PRAGMA quick_check reports the damage (as a row, not an exception).
    data[36:40] = (7).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]
    conn.close()

    again = await _opened(path)
    assert again.moved_aside is not None
    assert again.moved_aside.read_bytes() == bytes(data)
    assert await again.list_jobs() == []
    await again.close()


# --- a store the app may not write --------------------------------------------------------


async def test_a_data_dir_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    path = blocker / "lambda-gui" / "store.sqlite3"
    store = JobStore(path)
    with pytest.raises(StoreUnavailableError) as caught:
        await store.open()
    assert isinstance(caught.value, OSError) and isinstance(caught.value, LambdaGUIError)
    text = str(caught.value)
    assert f"Cannot write the job store at {path}" in text
    assert "permissions or free space" in text
    assert caught.value.path == path

    # Once the cause is gone the same store opens: a failed open left nothing stuck.
    blocker.unlink()
    await store.open()
    await store.insert_job(_job("abc"))
    await store.close()


async def test_a_store_path_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.mkdir()
    store = JobStore(path)
    with pytest.raises(StoreUnavailableError, match="Cannot write the job store"):
        await store.open()
    assert path.is_dir() and store.moved_aside is None
    await store.close()


class _ReadOnlyStore(JobStore):
    """Opens the file read-only, as SQLite does for a file the user may not write."""

    def _sqlite_connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )


class _QueryOnlyStore(JobStore):
    """A connection that refuses every write (PRAGMA query_only)."""

    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = super()._sqlite_connect()
        conn.execute("PRAGMA query_only = 1")
        return conn


@pytest.mark.parametrize("store_class", [_ReadOnlyStore, _QueryOnlyStore])
async def test_a_read_only_store_file_is_a_clear_error(
    tmp_path: Path, store_class: type[JobStore]
) -> None:
    path = tmp_path / "store.sqlite3"
    store = await _opened(path)
    await store.insert_job(_job("abc"))
    await store.close()

    readonly = store_class(path)
    with pytest.raises(StoreUnavailableError) as caught:
        await readonly.open()
    assert str(path) in str(caught.value) and "readonly" in caught.value.reason
    await readonly.close()


@pytest.mark.skipif(not CHMOD_BLOCKS, reason="chmod does not stop this user (root)")
async def test_a_read_only_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        store = JobStore(folder / "store.sqlite3")
        with pytest.raises(StoreUnavailableError, match="permissions or free space"):
            await store.open()
        await store.close()
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not CHMOD_BLOCKS, reason="chmod does not stop this user (root)")
async def test_a_chmod_read_only_store_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = await _opened(path)
    await store.close()
    path.chmod(0o400)
    try:
        readonly = JobStore(path)
        with pytest.raises(StoreUnavailableError):
            await readonly.open()
        await readonly.close()
    finally:
        path.chmod(0o600)
