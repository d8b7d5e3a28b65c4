"""Following a remote log from an offset, across dropped connections, against a real sshd."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambda_gui.core.errors import SSHError
from lambda_gui.remote.logtail import (
    LINE_LIMIT,
    LineSplitter,
    LogFollower,
    cut_line,
    cut_marker,
    follow,
    remote_file_exists,
)
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH
from lambda_gui.remote.ssh_session import connect
from lambda_gui.remote.ssh_target import SSHTimeouts
from tests.plugins.sshd import SSHDServer

FAST = SSHTimeouts(connect=3, banner=5, handshake=5, auth=5, channel_open=5, command=10, read=10)


@given(st.binary(max_size=400), st.lists(st.integers(min_value=1, max_value=50), max_size=40))
def test_splitter_yields_complete_lines_that_rebuild_the_stream(
    data: bytes, cuts: list[int]
) -> None:
    splitter = LineSplitter(7)
    got: list[tuple[bytes, int]] = []
    pos = 0
    for cut in [*cuts, len(data)]:
        got.extend(splitter.feed(data[pos : pos + cut]))
        pos += cut
    got.extend(splitter.feed(data[pos:]))
    assert all(line.endswith(b"\n") and b"\n" not in line[:-1] for line, _ in got)
    assert b"".join(line for line, _ in got) + splitter.pending == data
    ends = [7 + len(b"".join(line for line, _ in got[: i + 1])) for i in range(len(got))]
    assert [offset for _, offset in got] == ends
    assert splitter.offset == 7 + len(data) - len(splitter.pending)
    assert splitter.pending_size == len(splitter.pending)


@given(
    st.lists(st.sampled_from([b"a", b"bb", b"\n", b"x" * 30, b"\r"]), max_size=200),
    st.lists(st.integers(min_value=1, max_value=60), max_size=40),
)
def test_feed_lines_and_feed_block_give_feeds_lines_and_offset(
    parts: list[bytes], cuts: list[int]
) -> None:
    # The same lines and offsets line by line, as a list, and as one block (a flood's read
    # crosses to the loop so), held and cut lines included (limit 16: 30-byte runs are cut).
    data = b"".join(parts)
    per_line, lines_only, blocks = (LineSplitter(3, limit=16) for _ in range(3))
    want: list[tuple[bytes, int]] = []
    got: list[bytes] = []
    got_blocks: list[bytes] = []
    pos = 0
    for cut in [*cuts, len(data)]:
        want.extend(per_line.feed(data[pos : pos + cut]))
        got.extend(lines_only.feed_lines(data[pos : pos + cut]))
        block = blocks.feed_block(data[pos : pos + cut])
        assert len(block) == len(block.lines()) and block.data == b"".join(block.lines())
        got_blocks.extend(block.lines())
        assert lines_only.offset == blocks.offset == per_line.offset
        pos += cut
    assert got == got_blocks == [line for line, _ in want]
    assert lines_only.flush() == blocks.flush() == per_line.flush()


def test_a_block_of_short_lines_is_the_chunk_itself() -> None:
    splitter = LineSplitter(0, limit=64)
    chunk = b"one\ntwo\nthree\npartial"
    block = splitter.feed_block(chunk)
    assert block.count == 3 and block.data == b"one\ntwo\nthree\n"
    assert splitter.offset == 14 and splitter.pending == b"partial"


def test_a_long_line_keeps_head_and_tail_and_offsets_count_the_dropped_bytes() -> None:
    splitter = LineSplitter(100, limit=10)
    assert splitter.feed(b"ok\n0123") == [(b"ok\n", 103)]
    assert splitter.feed(b"456789abcdef") == []
    assert len(splitter.pending) == 10 and splitter.pending_size == 16
    got = splitter.feed(b"XYZ\nshort\n")
    cut = b"01234" + cut_marker(9) + b"efXYZ"
    assert got == [(cut + b"\n", 123), (b"short\n", 129)]
    assert cut_marker(9) == " \u2026 [line cut: 9 bytes dropped] \u2026 ".encode()
    # A line that arrives whole in one chunk is cut the same way.
    assert splitter.feed(b"0123456789abcdefXYZ\n") == [(cut + b"\n", 149)]
    assert splitter.feed(b"0123456789abcdefXYZ") == []
    assert splitter.flush() == (cut, 168) and splitter.offset == 168
    assert splitter.flush() is None and splitter.pending_size == 0


def test_a_line_of_exactly_the_limit_is_passed_whole() -> None:
    line = b"x" * LINE_LIMIT
    assert cut_line(line) is line
    splitter = LineSplitter(0)
    assert splitter.feed(line[:1000]) == [] and splitter.feed(line[1000:] + b"\n") == [
        (line + b"\n", LINE_LIMIT + 1)
    ]
    over = cut_line(line + b"y")
    assert over.startswith(line[: LINE_LIMIT // 2] + cut_marker(1)) and over.endswith(b"y")
    assert len(over) == LINE_LIMIT + len(cut_marker(1))


def test_a_stream_without_newlines_is_held_in_bounded_memory() -> None:
    splitter = LineSplitter(5)
    chunk = bytes(range(256)).replace(b"\n", b"_") * 4096  # 1 MiB, no newline
    for _ in range(64):
        assert splitter.feed(chunk) == []
        assert len(splitter.pending) <= LINE_LIMIT
    total = 64 * len(chunk)
    assert splitter.pending_size == total and splitter.offset == 5
    [(line, offset)] = splitter.feed(b"end\n")
    assert offset == 5 + total + 4
    dropped = total + 3 - LINE_LIMIT
    assert (
        line
        == chunk[: LINE_LIMIT // 2]
        + cut_marker(dropped)
        + (chunk * 2 + b"end\n")[-(LINE_LIMIT // 2 + 1) :]
    )


def test_forgetting_a_cut_partial_line_resets_it() -> None:
    splitter = LineSplitter(0, limit=4)
    splitter.feed(b"ab\n0123456789")
    splitter.drop_pending()
    assert (splitter.pending, splitter.pending_size, splitter.offset) == (b"", 0, 3)
    assert splitter.feed(b"xy\n") == [(b"xy\n", 6)]
    with pytest.raises(ValueError):
        LineSplitter(0, limit=1)


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)
        f.flush()


def _tail_pids(rel_path: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline and cmdline[0].endswith(b"tail") and rel_path.encode() in cmdline:
                pids.append(int(entry.name))
    return pids


async def _no_tail_left(rel_path: str, within: float = 5) -> bool:
    """True once no remote tail of `rel_path` runs (a killed process takes a moment to go)."""
    deadline = time.monotonic() + within
    while _tail_pids(rel_path):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _next(it: AsyncIterator[tuple[bytes, int]], wait: float = 5) -> tuple[bytes, int]:
    return await asyncio.wait_for(anext(it), wait)


async def test_follow_from_offset_holds_partial_lines_and_stops(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    rel = f"{sshd.rel_dir}/job/train.log"
    log = sshd.workdir / "job" / "train.log"
    log.parent.mkdir()
    log.write_bytes(b"old 1\nold 2\n")
    start = len(b"old 1\n")
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        stream = session.follow(
            rel, start, stop=remote_file_exists(f"{sshd.rel_dir}/job/exit_code"), poll_interval=0.2
        )
        assert await _next(stream) == (b"old 2\n", 12)
        _append(log, b"step 1 loss 0.5\npart")
        assert await _next(stream) == (b"step 1 loss 0.5\n", 28)
        pending = asyncio.ensure_future(anext(stream))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pending), 0.6)
        # Only the newline completes the held partial line.
        _append(log, b"ial\r progress\rdone\n")
        assert await asyncio.wait_for(pending, 5) == (b"partial\r progress\rdone\n", 51)
        _append(log, b"last line without newline")
        (sshd.workdir / "job" / "exit_code").write_text("0\n")
        rest = [item async for item in stream]
    assert rest == [(b"last line without newline", log.stat().st_size)]
    assert await _no_tail_left(rel)


async def test_follow_cuts_long_lines_and_resumes_from_true_offsets(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    rel = f"{sshd.rel_dir}/job/train.log"
    log = sshd.workdir / "job" / "train.log"
    log.parent.mkdir()
    long_line = b"\r".join(b" 12%%|#| %d/9000 [00:01<00:09, 2.41it/s]" % i for i in range(9000))
    last = b"z" * 300_000
    log.write_bytes(b"first\n" + long_line + b"\n" + b"after\n" + last)
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        stream = session.follow(
            rel, 0, stop=remote_file_exists(f"{sshd.rel_dir}/job/exit_code"), poll_interval=0.2
        )
        got = [await _next(stream) for _ in range(3)]
        (sshd.workdir / "job" / "exit_code").write_text("0\n")
        got += [item async for item in stream]
    end_long = 6 + len(long_line) + 1
    assert got == [
        (b"first\n", 6),
        (cut_line(long_line) + b"\n", end_long),
        (b"after\n", end_long + 6),
        (cut_line(last), log.stat().st_size),
    ]
    assert len(got[1][0]) < LINE_LIMIT + 100
    assert await _no_tail_left(rel)


async def test_closing_the_stream_kills_the_remote_tail(sshd: SSHDServer, tmp_path: Path) -> None:
    rel = f"{sshd.rel_dir}/t.log"
    (sshd.workdir / "t.log").write_bytes(b"a\nb\n")
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        stream = follow(session, rel, 0)
        assert await _next(stream) == (b"a\n", 2)
        assert len(_tail_pids(rel)) == 1
        await stream.aclose()
        # Killed by pid while the connection is still open: the channel's close alone would
        # leave it running.
        assert await _no_tail_left(rel, within=2)


async def test_follow_waits_for_a_log_that_does_not_exist_yet(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    rel = f"{sshd.rel_dir}/later.log"
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        stream = follow(session, rel, 0)
        first = asyncio.ensure_future(_next(stream, 10))
        await asyncio.sleep(0.5)
        (sshd.workdir / "later.log").write_bytes(b"hello\n")
        assert await first == (b"hello\n", 6)
        await stream.aclose()


async def test_dropped_stream_raises_ssh_error(sshd: SSHDServer, tmp_path: Path) -> None:
    rel = f"{sshd.rel_dir}/d.log"
    (sshd.workdir / "d.log").write_bytes(b"x\n")
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        stream = follow(session, rel, 0)
        await _next(stream)
        sshd.drop_connections()
        with pytest.raises(SSHError, match="dropped"):
            await _next(stream)
    # The server-side session ended, so `tail --pid` exits by itself.
    assert await _no_tail_left(rel)


def _writer(path: Path, lines: int, done: Path, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(lines):
        body = b"x" * rng.randrange(0, 300)
        # Lines are written in two pieces, so the tail often sees half a line.
        line = b"step %d loss %.4f %s\n" % (i, rng.random(), body)
        cut = rng.randrange(len(line))
        _append(path, line[:cut])
        _append(path, line[cut:])
        if i % 500 == 0:
            time.sleep(0.01)
    done.write_text("0\n")


@pytest.mark.parametrize("how", ["server_kill", "client_close"])
async def test_follower_survives_drops_and_collects_the_exact_file(
    sshd: SSHDServer, tmp_path: Path, how: str
) -> None:
    rel_dir = f"{sshd.rel_dir}/job-{how}"
    log = sshd.workdir / f"job-{how}" / "train.log"
    log.parent.mkdir()
    log.write_bytes(b"")
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST, backoff_s=0.05)
    follower = LogFollower(
        ssh,
        f"{rel_dir}/train.log",
        0,
        stop=remote_file_exists(f"{rel_dir}/exit_code"),
        poll_interval=0.2,
    )
    writer = threading.Thread(
        target=_writer, args=(log, 20_000, log.parent / "exit_code", 1), daemon=True
    )
    writer.start()
    collected = bytearray()
    drops_at = {3_000, 9_000, 15_000}
    count = 0
    async for line, offset in follower.lines():
        collected += line
        assert offset == len(collected)
        count += 1
        if count in drops_at:
            session = await ssh.session()
            if how == "server_kill":
                assert sshd.drop_connections() >= 1
            else:
                session.drop()
    writer.join()
    # Under load a drop can land while the previous reconnect is still under way and the two
    # coalesce; what must hold is that it reconnected and lost or repeated nothing.
    assert follower.reconnects >= 1
    assert bytes(collected) == log.read_bytes()
    assert follower.offset == log.stat().st_size
    await ssh.close()
