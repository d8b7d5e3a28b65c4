"""The download's receive path: pipelined SFTP reads, the packet pipe, write, hash, resume.

The first half drives `_Download` against a scripted SFTP server (short reads, replies out of
order, a file that shrinks) without SSH underneath; the second half runs against a real sshd.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
from paramiko.buffered_pipe import PipeTimeout

from lambda_gui.core.errors import ArtifactMissingError, ChecksumMismatchError, SSHError
from lambda_gui.remote import transfer
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH
from lambda_gui.remote.ssh_session import SSHSession, connect
from lambda_gui.remote.ssh_target import MAX_PACKET_SIZE, WINDOW_SIZE, SSHTimeouts
from lambda_gui.remote.transfer import download, part_path
from tests.plugins.sshd import SSHDServer

FAST = SSHTimeouts(connect=3, banner=5, handshake=5, auth=5, channel_open=5, command=10, read=10)
MiB = 1024 * 1024


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _random(size: int) -> bytes:
    return os.urandom(size)


# --- a scripted SFTP server ------------------------------------------------------------------


def _reply(kind: int, request_id: int, body: bytes) -> bytes:
    return struct.pack(">IBI", len(body) + 5, kind, request_id) + body


class FakeSFTPChannel:
    """Stands in for a paramiko channel to an SFTP server that holds `data` at `path`.

    `max_read` caps each read's reply (a server with a smaller read limit); `reverse` answers
    the requests of each send in reverse order; `eof_at` ends the file there although STAT
    reports `len(data)` (a file that shrinks during the download).
    """

    def __init__(
        self,
        data: bytes,
        path: str = "f.bin",
        *,
        max_read: int | None = None,
        reverse: bool = False,
        eof_at: int | None = None,
        packet: int = 40_000,
    ) -> None:
        self.data = data
        self.path = path
        self.max_read = max_read
        self.reverse = reverse
        self.eof_at = len(data) if eof_at is None else eof_at
        self.packet = packet
        self.eof_received = False
        self.reads: list[tuple[int, int]] = []
        self._out = bytearray()

    def settimeout(self, timeout: float | None) -> None:
        pass

    def close(self) -> None:
        pass

    def recv(self, nbytes: int) -> transfer._Packets:
        out = bytes(self._out)
        self._out.clear()
        pieces = [out[i : i + self.packet] for i in range(0, len(out), self.packet)]
        return transfer._Packets(pieces, len(out))

    def sendall(self, data: bytes) -> None:
        replies = []
        view = memoryview(data)
        while view:
            (length,) = struct.unpack(">I", view[:4])
            kind, request_id = struct.unpack(">BI", view[4:9])
            body = bytes(view[9 : 4 + length])
            view = view[4 + length :]
            reply = self._answer(kind, request_id, body)
            if kind == transfer._FXP_READ:
                replies.append(reply)
            else:
                self._out += reply
        for reply in reversed(replies) if self.reverse else replies:
            self._out += reply

    def _answer(self, kind: int, request_id: int, body: bytes) -> bytes:
        if kind == transfer._FXP_INIT:
            return struct.pack(">IBI", 5, transfer._FXP_VERSION, 3)
        (n,) = struct.unpack(">I", body[:4])
        name, rest = body[4 : 4 + n], body[4 + n :]
        if kind in (transfer._FXP_OPEN, transfer._FXP_STAT) and name != self.path.encode():
            status = struct.pack(">I", 2) + transfer._sftp_string(b"No such file")
            return _reply(transfer._FXP_STATUS, request_id, status + transfer._sftp_string(b""))
        if kind == transfer._FXP_OPEN:
            return _reply(transfer._FXP_HANDLE, request_id, transfer._sftp_string(b"h0"))
        if kind == transfer._FXP_STAT:
            attrs = struct.pack(">IQ", transfer._FILEXFER_ATTR_SIZE, len(self.data))
            return _reply(transfer._FXP_ATTRS, request_id, attrs)
        assert kind == transfer._FXP_READ and name == b"h0"
        offset, want = struct.unpack(">QI", rest)
        self.reads.append((offset, want))
        if offset >= self.eof_at:
            status = struct.pack(">I", transfer._FX_EOF) + transfer._sftp_string(b"EOF")
            return _reply(transfer._FXP_STATUS, request_id, status + transfer._sftp_string(b""))
        got = min(want, self.max_read or want, self.eof_at - offset)
        chunk = self.data[offset : offset + got]
        return _reply(transfer._FXP_DATA, request_id, transfer._sftp_string(chunk))


class FakeSession:
    timeouts = SSHTimeouts(read=5)

    def is_active(self) -> bool:
        return True

    def lost(self, what: str, exc: BaseException | None = None) -> SSHError:
        return SSHError(f"dropped while {what}")


def _fetch(
    monkeypatch: pytest.MonkeyPatch, channel: FakeSFTPChannel, dest: Path, expected: str
) -> int:
    monkeypatch.setattr(transfer._Download, "_open_sync", lambda self, session: channel)
    job = transfer._Download(
        channel.path, dest, expected, None, cast(asyncio.AbstractEventLoop, None)
    )
    return job.attempt_sync(cast(SSHSession, FakeSession()))


def test_short_reads_are_asked_again_and_land_in_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _random(3 * MiB + 12345)
    channel = FakeSFTPChannel(data, max_read=100_000)
    dest = tmp_path / "f.bin"
    assert _fetch(monkeypatch, channel, dest, _sha256(data)) == len(data)
    assert dest.read_bytes() == data
    # After the first short reply, reads are made the size the server answers.
    assert max(want for _, want in channel.reads[-10:]) <= 100_000


def test_replies_out_of_order_are_put_back_in_file_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _random(5 * MiB + 7)
    channel = FakeSFTPChannel(data, max_read=150_001, reverse=True, packet=9_999)
    dest = tmp_path / "f.bin"
    _fetch(monkeypatch, channel, dest, _sha256(data))
    assert dest.read_bytes() == data


def test_resume_reads_only_the_missing_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _random(2 * MiB + 99)
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(data[: MiB + 3])
    channel = FakeSFTPChannel(data)
    assert _fetch(monkeypatch, channel, dest, _sha256(data)) == len(data) - (MiB + 3)
    assert min(offset for offset, _ in channel.reads) == MiB + 3
    assert dest.read_bytes() == data


def test_a_file_that_shrinks_during_the_download_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _random(2 * MiB)
    channel = FakeSFTPChannel(data, eof_at=MiB + 5)
    dest = tmp_path / "f.bin"
    with pytest.raises(SSHError, match="changed size"):
        _fetch(monkeypatch, channel, dest, _sha256(data))
    # What arrived is kept for a resume, and is a prefix of the file.
    kept = part_path(dest).read_bytes()
    assert kept == data[: len(kept)] and not dest.exists()


def test_a_missing_file_is_reported_with_the_servers_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    channel = FakeSFTPChannel(b"x", path="other.bin")
    monkeypatch.setattr(transfer._Download, "_open_sync", lambda self, session: channel)
    job = transfer._Download(
        "f.bin", tmp_path / "f.bin", "0" * 64, None, cast(asyncio.AbstractEventLoop, None)
    )
    with pytest.raises(ArtifactMissingError, match="No such file"):
        job.attempt_sync(cast(SSHSession, FakeSession()))


def test_a_reply_that_is_not_sftp_is_refused_without_waiting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Chatty(FakeSFTPChannel):
        def sendall(self, data: bytes) -> None:
            # A login shell that prints a banner before the SFTP server starts.
            self._out += b"Welcome to the instance!\n"

    with pytest.raises(SSHError, match="not an SFTP reply"):
        _fetch(monkeypatch, Chatty(b"abc"), tmp_path / "f.bin", _sha256(b"abc"))


def test_read_ahead_follows_the_round_trip_within_bounds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = _random(48 * MiB)
    ahead: list[int] = []
    request = transfer._ReadPipeline.request

    def spy(self: transfer._ReadPipeline) -> None:
        request(self)
        ahead.append(self._asked - self._done)

    monkeypatch.setattr(transfer._ReadPipeline, "request", spy)
    # A link that holds next to nothing in a round trip: the least read-ahead, never more.
    with monkeypatch.context() as m:
        m.setattr(transfer, "_LINK_BYTES_PER_S", 1.0)
        _fetch(monkeypatch, FakeSFTPChannel(data), tmp_path / "f.bin", _sha256(data))
    assert max(ahead) <= transfer._READ_AHEAD_MIN + transfer._READ_SIZE

    class Slow(FakeSFTPChannel):
        def sendall(self, data: bytes) -> None:
            time.sleep(0.03)  # a 30 ms round trip
            super().sendall(data)

    ahead.clear()
    _fetch(monkeypatch, Slow(data), tmp_path / "g.bin", _sha256(data))
    assert max(ahead) > transfer._READ_AHEAD_MIN
    assert max(ahead) <= transfer._READ_AHEAD_MAX + transfer._READ_SIZE


# --- the pieces ------------------------------------------------------------------------------


def test_packet_pipe_waits_for_what_is_asked_and_hands_over_everything() -> None:
    pipe = transfer._PacketPipe()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.01)
    pipe.feed(b"abc")
    # Fewer bytes than asked for by the deadline: what there is.
    got = cast(transfer._Packets, pipe.read(10, timeout=0.01))
    assert got.pieces == [b"abc"] and len(got) == 3

    def feeder() -> None:
        for piece in (b"12", b"345", b"6789"):
            time.sleep(0.02)
            pipe.feed(piece)

    thread = threading.Thread(target=feeder)
    thread.start()
    got = cast(transfer._Packets, pipe.read(5, timeout=5))
    thread.join()
    assert b"".join(got.pieces).startswith(b"12345") and len(got) >= 5
    rest = b"".join(cast(transfer._Packets, pipe.read(1, timeout=5)).pieces) if len(pipe) else b""
    assert b"".join(got.pieces) + rest == b"123456789"
    # The pieces are the objects fed, not copies.
    piece = b"x" * 100_000
    pipe.feed(piece)
    assert cast(transfer._Packets, pipe.read(1)).pieces[0] is piece
    pipe.close()
    assert len(cast(transfer._Packets, pipe.read(1, timeout=5))) == 0
    assert pipe.empty() == b""


def test_write_all_survives_short_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pieces: list[transfer._Buffer] = [_random(n) for n in (1, 5000, 70_000, 0, 3)]
    pieces.append(memoryview(_random(9000))[100:])
    # A writev that writes at most 4096 bytes, like one interrupted by a signal.
    monkeypatch.setattr(
        os, "writev", lambda fd, bufs: os.write(fd, b"".join(bytes(b) for b in bufs)[:4096])
    )
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        transfer._write_all(fd, pieces)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(bytes(p) for p in pieces)


def test_hasher_continues_a_prefix_on_disk_or_a_kept_digest(tmp_path: Path) -> None:
    data = _random(3 * MiB)
    part = tmp_path / "x.part"
    part.write_bytes(data[:MiB])
    hasher = transfer._Hasher(part, MiB, None)
    for i in range(MiB, len(data), 100_000):
        hasher.add([memoryview(data)[i : i + 100_000]])
    hasher.end()
    result = hasher.result(raise_errors=True)
    assert result is not None
    assert result[0] == len(data) and result[1].hexdigest() == _sha256(data)

    # A digest kept from an earlier attempt is used as is: the file is not read.
    kept = hashlib.sha256(data[:MiB])
    hasher = transfer._Hasher(tmp_path / "absent.part", MiB, (MiB, kept))
    hasher.add([data[MiB:]])
    hasher.end()
    result = hasher.result(raise_errors=True)
    assert result is not None and result[1].hexdigest() == _sha256(data)

    # A .part shorter than it should be is an error, raised on request.
    hasher = transfer._Hasher(part, 2 * MiB, None)
    hasher.end()
    with pytest.raises(OSError, match="shrank"):
        hasher.result(raise_errors=True)


# --- against a real sshd ---------------------------------------------------------------------


def _put(sshd: SSHDServer, name: str, data: bytes) -> str:
    (sshd.workdir / name).write_bytes(data)
    return f"{sshd.rel_dir}/{name}"


async def test_the_sftp_channel_gets_the_tuned_window_and_packet_size(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        job = transfer._Download("x", tmp_path / "x", "0" * 64, None, asyncio.get_running_loop())
        channel = await asyncio.to_thread(job._open_sync, session)
        try:
            assert channel.in_window_size == WINDOW_SIZE
            assert channel.in_max_packet_size == MAX_PACKET_SIZE
            assert isinstance(channel.in_buffer, transfer._PacketPipe)
        finally:
            channel.close()


@pytest.mark.parametrize("where", ["first", "middle", "last"])
async def test_one_corrupted_byte_anywhere_is_detected(
    sshd: SSHDServer, tmp_path: Path, where: str
) -> None:
    data = bytearray(_random(9 * MiB + 1))
    expected = _sha256(bytes(data))
    index = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[index] ^= 0x01
    rel = _put(sshd, "a.bin", bytes(data))
    dest = tmp_path / "a.bin"
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        with pytest.raises(ChecksumMismatchError):
            await download(session, rel, dest, expected_sha256=expected)
    assert not dest.exists() and not part_path(dest).exists()


async def test_a_corrupted_byte_in_the_part_being_resumed_is_detected(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    data = _random(6 * MiB)
    rel = _put(sshd, "b.bin", data)
    dest = tmp_path / "b.bin"
    prefix = bytearray(data[: 2 * MiB + 11])
    prefix[MiB] ^= 0x80
    part_path(dest).write_bytes(bytes(prefix))
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        with pytest.raises(ChecksumMismatchError):
            await download(session, rel, dest, expected_sha256=_sha256(data))
        assert not part_path(dest).exists()
        await download(session, rel, dest, expected_sha256=_sha256(data))
    assert dest.read_bytes() == data


async def test_cancelling_leaves_a_part_that_a_later_download_resumes(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    data = _random(96 * MiB)
    rel = _put(sshd, "c.bin", data)
    dest = tmp_path / "c.bin"
    started = asyncio.Event()
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        task = asyncio.create_task(
            download(
                session,
                rel,
                dest,
                expected_sha256=_sha256(data),
                progress=lambda done, _t: started.set() if done > 4 * MiB else None,
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)
        kept = part_path(dest).stat().st_size
        assert 0 < kept < len(data) and part_path(dest).read_bytes() == data[:kept]
        seen: list[int] = []
        await download(
            session,
            rel,
            dest,
            expected_sha256=_sha256(data),
            progress=lambda done, _t: seen.append(done),
        )
    assert seen[0] == kept and seen[-1] == len(data)
    assert dest.read_bytes() == data and not part_path(dest).exists()


async def test_a_resume_after_a_drop_keeps_the_digest_so_far(
    sshd: SSHDServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _random(64 * MiB)
    rel = _put(sshd, "d.bin", data)
    dest = tmp_path / "d.bin"
    starts: list[tuple[int, int | None]] = []
    init = transfer._Hasher.__init__

    def spy(self: transfer._Hasher, part: Path, have: int, kept: tuple[int, Any] | None) -> None:
        starts.append((have, kept[0] if kept else None))
        init(self, part, have, kept)

    monkeypatch.setattr(transfer._Hasher, "__init__", spy)
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST, backoff_s=0.05)
    finished = threading.Event()

    def saboteur() -> None:
        while not finished.is_set():
            try:
                have = part_path(dest).stat().st_size
            except FileNotFoundError:
                have = 0
            if have >= len(data) // 3 and ssh.current is not None:
                ssh.current.drop()
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=saboteur, daemon=True)
    watcher.start()
    try:
        await download(ssh, rel, dest, expected_sha256=_sha256(data))
    finally:
        finished.set()
        watcher.join()
        await ssh.close()
    assert len(starts) == 2, starts
    assert starts[0] == (0, None)
    # The second attempt starts from the .part's size with the digest of exactly that much.
    assert starts[1][0] > 0 and starts[1][1] == starts[1][0]
    assert dest.read_bytes() == data


async def test_empty_and_symlinked_files(sshd: SSHDServer, tmp_path: Path) -> None:
    empty = _put(sshd, "empty.bin", b"")
    data = _random(MiB + 1)
    _put(sshd, "target.bin", data)
    (sshd.workdir / "link.bin").symlink_to(sshd.workdir / "target.bin")
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        await download(session, empty, tmp_path / "empty.bin", expected_sha256=_sha256(b""))
        await download(
            session, f"{sshd.rel_dir}/link.bin", tmp_path / "l.bin", expected_sha256=_sha256(data)
        )
    assert (tmp_path / "empty.bin").read_bytes() == b""
    assert (tmp_path / "l.bin").read_bytes() == data


async def test_downloads_in_parallel_on_one_session(sshd: SSHDServer, tmp_path: Path) -> None:
    files = {f"p{i}.bin": _random(size) for i, size in enumerate((7 * MiB, 5 * MiB + 1, 333))}
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        await asyncio.gather(
            *(
                download(
                    session,
                    _put(sshd, name, data),
                    tmp_path / name,
                    expected_sha256=_sha256(data),
                )
                for name, data in files.items()
            )
        )
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data
