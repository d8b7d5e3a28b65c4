"""Verified, resumable downloads against a real sshd: drops, re-keys, corruption, cancel."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from lambda_gui.core.errors import ArtifactMissingError, ChecksumMismatchError, SSHError
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH
from lambda_gui.remote.ssh_session import SSHSession, connect
from lambda_gui.remote.ssh_target import SSHTimeouts
from lambda_gui.remote.transfer import download, fetch_remote_sha256, part_path
from tests.plugins.sshd import SSHDServer

FAST = SSHTimeouts(connect=3, banner=5, handshake=5, auth=5, channel_open=5, command=10, read=10)
MiB = 1024 * 1024


def _make_file(path: Path, size: int) -> str:
    """A file of `size` pseudo-random bytes (blocks differ, so misplaced bytes are caught)."""
    digest = hashlib.sha256()
    block = os.urandom(MiB)
    with path.open("wb") as f:
        written = 0
        index = 0
        while written < size:
            chunk = (index.to_bytes(8, "little") + block)[: min(MiB, size - written)]
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            index += 1
    return digest.hexdigest()


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def _set_rekey_limit(session: SSHSession, limit: int) -> None:
    packetizer = session.transport.packetizer
    packetizer.REKEY_BYTES = limit  # type: ignore[attr-defined]
    packetizer.REKEY_PACKETS = limit  # type: ignore[attr-defined]


class _KexCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Switch to new keys" in record.getMessage():
            self.count += 1


@pytest.fixture
def kex_counter() -> object:
    logger = logging.getLogger("paramiko.transport")
    handler = _KexCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def test_download_verifies_and_reports_progress(sshd: SSHDServer, tmp_path: Path) -> None:
    remote = sshd.workdir / "adapter.tar.gz"
    expected = _make_file(remote, 5 * MiB + 123)
    (sshd.workdir / "adapter.tar.gz.sha256").write_text(f"{expected}  adapter.tar.gz\n")
    dest = tmp_path / "out" / "adapter.tar.gz"
    seen: list[tuple[int, int]] = []
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        sha = await fetch_remote_sha256(session, f"{sshd.rel_dir}/adapter.tar.gz")
        assert sha == expected
        result = await download(
            session,
            f"{sshd.rel_dir}/adapter.tar.gz",
            dest,
            expected_sha256=sha,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert result == dest
    assert _sha256_file(dest) == expected
    assert not part_path(dest).exists()
    assert seen[-1] == (5 * MiB + 123, 5 * MiB + 123)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_corrupted_remote_file_leaves_nothing_in_place(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    remote = sshd.workdir / "adapter.tar.gz"
    expected = _make_file(remote, 2 * MiB)
    with remote.open("r+b") as f:
        f.seek(MiB)
        f.write(b"\xff\xfe")
    dest = tmp_path / "adapter.tar.gz"
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        with pytest.raises(ChecksumMismatchError) as info:
            await download(
                session, f"{sshd.rel_dir}/adapter.tar.gz", dest, expected_sha256=expected
            )
    assert expected in str(info.value) and "corrupt" in str(info.value)
    assert not dest.exists()
    assert not part_path(dest).exists()


async def test_missing_remote_file_and_checksum(sshd: SSHDServer, tmp_path: Path) -> None:
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        with pytest.raises(ArtifactMissingError):
            await download(
                session, f"{sshd.rel_dir}/nope.tar.gz", tmp_path / "x", expected_sha256="0" * 64
            )
        with pytest.raises(ArtifactMissingError):
            await fetch_remote_sha256(session, f"{sshd.rel_dir}/nope.tar.gz")
        with pytest.raises(ValueError):
            await download(session, f"{sshd.rel_dir}/x", tmp_path / "x", expected_sha256="abc")
    assert not (tmp_path / "x").exists()


async def test_resumes_from_an_existing_part_file(sshd: SSHDServer, tmp_path: Path) -> None:
    remote = sshd.workdir / "a.bin"
    expected = _make_file(remote, 3 * MiB)
    dest = tmp_path / "a.bin"
    part_path(dest).write_bytes(remote.read_bytes()[: MiB + 17])
    seen: list[int] = []
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        await download(
            session,
            f"{sshd.rel_dir}/a.bin",
            dest,
            expected_sha256=expected,
            progress=lambda done, _total: seen.append(done),
        )
    assert seen[0] == MiB + 17
    assert _sha256_file(dest) == expected

    # A .part whose prefix is wrong cannot be trusted: the mismatch deletes it.
    dest.unlink()
    part_path(dest).write_bytes(b"garbage")
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        with pytest.raises(ChecksumMismatchError):
            await download(session, f"{sshd.rel_dir}/a.bin", dest, expected_sha256=expected)
        assert not part_path(dest).exists() and not dest.exists()
        # ...and the retry starts clean and succeeds.
        await download(session, f"{sshd.rel_dir}/a.bin", dest, expected_sha256=expected)
        assert _sha256_file(dest) == expected
        # A .part longer than the remote file is no prefix of it: it is started over.
        dest.unlink()
        part_path(dest).write_bytes(b"z" * (4 * MiB))
        await download(session, f"{sshd.rel_dir}/a.bin", dest, expected_sha256=expected)
    assert _sha256_file(dest) == expected


@pytest.mark.parametrize("how", ["server_kill", "client_close"])
async def test_download_dropped_midway_resumes_and_verifies(
    sshd: SSHDServer, tmp_path: Path, how: str
) -> None:
    size = 96 * MiB
    remote = sshd.workdir / "big.bin"
    expected = _make_file(remote, size)
    dest = tmp_path / "big.bin"
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST, backoff_s=0.05)
    drops: list[int] = []
    finished = threading.Event()

    def saboteur() -> None:
        # Loopback outruns the progress callbacks, so the .part file is watched directly:
        # each drop hits a fresh connection once a further quarter has arrived.
        while len(drops) < 2 and not finished.is_set():
            have = _size_or_zero(part_path(dest))
            current = ssh.current
            if (
                have >= (len(drops) + 1) * size // 4
                and ssh.dials == len(drops) + 1
                and current is not None
                and current.is_active()
            ):
                if how == "server_kill":
                    dropped = sshd.drop_connections() > 0
                else:
                    current.drop()
                    dropped = True
                if dropped:
                    drops.append(have)
            time.sleep(0.001)

    watcher = threading.Thread(target=saboteur, daemon=True)
    watcher.start()
    try:
        await download(ssh, f"{sshd.rel_dir}/big.bin", dest, expected_sha256=expected)
    finally:
        finished.set()
        watcher.join()
    assert len(drops) == 2 and all(d < size for d in drops)
    assert ssh.dials == 3
    assert _sha256_file(dest) == expected
    assert not part_path(dest).exists()
    await ssh.close()


async def test_drop_on_a_plain_session_keeps_the_part_for_a_later_resume(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    size = 64 * MiB
    expected = _make_file(sshd.workdir / "p.bin", size)
    dest = tmp_path / "p.bin"
    session = await connect(sshd.target(), tmp_path, timeouts=FAST)
    finished = threading.Event()

    def saboteur() -> None:
        while not finished.is_set():
            if _size_or_zero(part_path(dest)) >= size // 3:
                session.drop()
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=saboteur, daemon=True)
    watcher.start()
    try:
        with pytest.raises(SSHError, match="dropped"):
            await download(session, f"{sshd.rel_dir}/p.bin", dest, expected_sha256=expected)
    finally:
        finished.set()
        watcher.join()
    kept = part_path(dest).stat().st_size
    assert size // 3 <= kept < size and not dest.exists()
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as again:
        await download(again, f"{sshd.rel_dir}/p.bin", dest, expected_sha256=expected)
    assert _sha256_file(dest) == expected


async def test_download_survives_forced_rekeys(
    sshd: SSHDServer, tmp_path: Path, kex_counter: _KexCounter
) -> None:
    size = 64 * MiB
    expected = _make_file(sshd.workdir / "r.bin", size)
    dest = tmp_path / "r.bin"
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        before = kex_counter.count
        _set_rekey_limit(session, 4 * MiB)
        await download(session, f"{sshd.rel_dir}/r.bin", dest, expected_sha256=expected)
        rekeys = kex_counter.count - before
    assert rekeys >= 8, rekeys
    assert _sha256_file(dest) == expected


async def test_cancel_stops_the_transfer_and_keeps_the_part(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    size = 128 * MiB
    expected = _make_file(sshd.workdir / "c.bin", size)
    dest = tmp_path / "c.bin"
    started = asyncio.Event()
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        task = asyncio.create_task(
            download(
                session,
                f"{sshd.rel_dir}/c.bin",
                dest,
                expected_sha256=expected,
                progress=lambda done, _t: started.set() if done > 8 * MiB else None,
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The worker thread notices promptly: the .part stops growing.
        await asyncio.sleep(0.3)
        kept = part_path(dest).stat().st_size
        await asyncio.sleep(0.3)
        assert part_path(dest).stat().st_size == kept < size
        assert not dest.exists()
        await session.probe()


@pytest.mark.slow
async def test_download_larger_than_1_gib_with_default_rekeying(
    sshd: SSHDServer, tmp_path: Path, kex_counter: _KexCounter
) -> None:
    size = 1100 * MiB
    expected = _make_file(sshd.workdir / "huge.bin", size)
    dest = tmp_path / "huge.bin"
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST)
    await download(ssh, f"{sshd.rel_dir}/huge.bin", dest, expected_sha256=expected)
    await ssh.close()
    # paramiko re-keys every 2**29 bytes: at least twice over 1.1 GiB.
    assert kex_counter.count >= 3
    assert dest.stat().st_size == size and _sha256_file(dest) == expected
    dest.unlink()
