"""Stream a remote log from a byte offset, line by line, surviving dropped connections.

The remote side is `tail -c +N -F`, started as `exec sh -c 'echo $$; exec tail --pid=$PPID ...'`
so we learn its pid (closing a channel does not kill a remote tail: we kill it by pid) and it
also exits on its own once the SSH session that started it is gone. Lines are split here, from
chunks, which is ~3x faster than reading a file object line by line
(docs/architecture.md#library-facts).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic

import paramiko

from lambda_gui.core.errors import HostKeyMismatchError, SSHError
from lambda_gui.remote.remote_path import check_rel_path, quote_rel_path
from lambda_gui.remote.ssh_shell import RemoteShell, ShellSource, ShellT
from lambda_gui.remote.ssh_target import READ_CHUNK
from lambda_gui.remote.ssh_threads import run_blocking
from lambda_gui.remote.ssh_transport import close_quietly

# Checked with the session being followed; generic so that a caller's condition may take the
# concrete session type (SSHSession) it is handed.
StopCondition = Callable[[ShellT], Awaitable[bool]]

_KILL_TIMEOUT = 5.0


def remote_file_exists(rel_path: str) -> StopCondition[RemoteShell]:
    """A stop condition that holds once `rel_path` exists on the remote (e.g. `exit_code`)."""
    command = f"test -e {quote_rel_path(rel_path)}"

    async def exists(session: RemoteShell) -> bool:
        code, _, _ = await session.run(command)
        if code not in (0, 1):
            raise SSHError(f"Checking for remote file {rel_path} failed (exit {code}).")
        return code == 0

    return exists


# Longest line passed on whole. A longer one keeps its first and last LINE_LIMIT/2 bytes (the
# start of an error message, the progress and LGUI_METRIC a tqdm-laden line ends with) around
# a marker, and its middle is dropped as it arrives: a stream without newlines cannot fill
# memory, and the log parser on the GUI thread never sees more than this.
LINE_LIMIT = 64 * 1024


def cut_marker(dropped: int) -> bytes:
    """What stands in a cut line where its middle `dropped` bytes were."""
    return b" \xe2\x80\xa6 [line cut: %d bytes dropped] \xe2\x80\xa6 " % dropped


def cut_line(line: bytes, limit: int = LINE_LIMIT) -> bytes:
    """`line` if it is within `limit` bytes, else its head and tail around a cut marker."""
    if len(line) <= limit:
        return line
    head = limit // 2
    tail = limit - head
    return line[:head] + cut_marker(len(line) - limit) + line[len(line) - tail :]


class LineBlock:
    """Complete lines as one bytes object (each ending with its newline, but for a stream's
    unterminated last line), and how many: a flood's lines cross from the SSH thread to the
    loop as a few objects, not one per line (the loop's thread is the GUI thread, whose
    collector would walk each line: services/queued_lines.py)."""

    __slots__ = ("count", "data")

    def __init__(self, data: bytes, count: int) -> None:
        self.data = data
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"LineBlock({self.count} lines, {len(self.data)} bytes)"

    def lines(self) -> list[bytes]:
        """The lines one by one (what `LineSplitter.feed_lines` gives)."""
        pieces = self.data.split(b"\n")
        last = pieces.pop()
        lines = [piece + b"\n" for piece in pieces]
        if last:
            lines.append(last)
        return lines


class LineSplitter:
    """Cuts a byte stream into complete lines, tracking the offset after the last one.

    Lines over `limit` bytes come out cut (see `cut_line`); offsets count every byte read,
    dropped ones included, so they stay valid places to resume from.
    """

    def __init__(self, offset: int, limit: int = LINE_LIMIT) -> None:
        if limit < 2:
            raise ValueError("a line limit below 2 bytes leaves no head and tail to keep")
        self.offset = offset
        self.limit = limit
        self._head_max = limit // 2
        self._tail_max = limit - self._head_max
        # The partial line: whole in `_head` while within the limit; once over it, its first
        # bytes in `_head`, its last in `_tail` and the count of those between in `_dropped`.
        self._head = b""
        self._tail = b""
        self._dropped = 0

    @property
    def pending(self) -> bytes:
        """The bytes held of the partial line (all of it unless it is being cut)."""
        return self._head + self._tail

    @property
    def pending_size(self) -> int:
        """How many bytes of the stream the partial line spans, dropped ones included."""
        return len(self._head) + len(self._tail) + self._dropped

    def feed(self, chunk: bytes) -> list[tuple[bytes, int]]:
        """The complete lines (newline kept) that `chunk` ends, each with its end offset."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        offset = self.offset
        out: list[tuple[bytes, int]] = []
        if pieces and (self._head or self._dropped):
            self._hold(pieces[0])
            line, size = self._release()
            offset += size + 1
            out.append((line + b"\n", offset))
            pieces = pieces[1:]
        limit = self.limit
        for piece in pieces:
            offset += len(piece) + 1
            out.append(((piece if len(piece) <= limit else cut_line(piece, limit)) + b"\n", offset))
        self.offset = offset
        self._hold(rest)
        return out

    def split(self, chunk: bytes, per_line: bool) -> Any:
        """`feed` (per_line) or `feed_block`."""
        return self.feed(chunk) if per_line else self.feed_block(chunk)

    def feed_block(self, chunk: bytes) -> LineBlock:
        """`feed_lines`, as one block: when no partial line is held and no line is over the
        limit (a flood's usual chunk), the chunk's complete lines as they are, without a
        bytes object per line."""
        end = chunk.rfind(b"\n") + 1
        if not end or self._head or self._dropped:
            lines = self.feed_lines(chunk)
            return LineBlock(b"".join(lines), len(lines))
        complete = chunk[:end]
        count = complete.count(b"\n")
        if end > self.limit and max(map(len, complete.split(b"\n"))) > self.limit:
            lines = self.feed_lines(chunk)  # a line to cut
            return LineBlock(b"".join(lines), len(lines))
        self.offset += end
        self._hold(chunk[end:])
        return LineBlock(complete, count)

    def feed_lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines (newline kept) that `chunk` ends; `offset` moves past them.
        The same lines as `feed`, without an offset per line (a flood's cheaper form)."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        out: list[bytes] = []
        if pieces and (self._head or self._dropped):
            self._hold(pieces[0])
            line, size = self._release()
            self.offset += size + 1
            out.append(line + b"\n")
            del pieces[0]
        if pieces:
            self.offset += sum(map(len, pieces)) + len(pieces)
            limit = self.limit
            if max(map(len, pieces)) <= limit:
                out += [piece + b"\n" for piece in pieces]
            else:
                out += [
                    (piece if len(piece) <= limit else cut_line(piece, limit)) + b"\n"
                    for piece in pieces
                ]
        self._hold(rest)
        return out

    def flush(self) -> tuple[bytes, int] | None:
        """The unterminated last line (cut like any other) and the offset after it, if any."""
        if not (self._head or self._dropped):
            return None
        line, size = self._release()
        self.offset += size
        return line, self.offset

    def drop_pending(self) -> None:
        """Forget the partial line (it will be read again from `offset`)."""
        self._head, self._tail, self._dropped = b"", b"", 0

    def _hold(self, data: bytes) -> None:
        if not data:
            return
        if not self._dropped:
            joined = self._head + data
            if len(joined) <= self.limit:
                self._head = joined
                return
            self._head = joined[: self._head_max]
            self._tail = joined[len(joined) - self._tail_max :]
            self._dropped = len(joined) - self.limit
        elif len(data) >= self._tail_max:
            self._dropped += len(self._tail) + len(data) - self._tail_max
            self._tail = data[len(data) - self._tail_max :]
        else:
            keep = self._tail_max - len(data)
            self._dropped += len(self._tail) - keep
            self._tail = self._tail[len(self._tail) - keep :] + data

    def _release(self) -> tuple[bytes, int]:
        size = self.pending_size
        if self._dropped:
            line = self._head + cut_marker(self._dropped) + self._tail
        else:
            line = self._head
        self.drop_pending()
        return line, size


# read_lines_sync's answer at the end of the stream (compared by identity).
_ENDED: list[Any] = []


class _RemoteTail:
    """One remote `tail` process and the channel its output comes over."""

    def __init__(self, session: RemoteShell, channel: paramiko.Channel, pid: int | None):
        self.session = session
        self.channel = channel
        self.pid = pid
        self.leftover = b""

    @classmethod
    def start_sync(
        cls, session: RemoteShell, rel_path: str, offset: int, follow: bool
    ) -> _RemoteTail:
        quoted = quote_rel_path(rel_path)
        if "'" in quoted:
            raise ValueError(f"remote path {rel_path!r} cannot be followed")
        if follow:
            command = (
                "exec sh -c 'echo $$; "
                f"exec tail --pid=$PPID -c +{offset + 1} -F -- {quoted} 2>/dev/null'"
            )
        else:
            command = f"tail -c +{offset + 1} -- {quoted}"
        channel = session.open_exec_sync(command)
        tail = cls(session, channel, None)
        if follow:
            tail._read_pid_sync()
        return tail

    def _read_pid_sync(self) -> None:
        deadline = time.monotonic() + self.session.timeouts.read
        data = b""
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            chunk = self._recv_sync(max(0.001, remaining)) if remaining > 0 else None
            if chunk is None:
                close_quietly(self.channel)
                raise SSHError("The remote log tail did not start in time.")
            if not chunk:
                close_quietly(self.channel)
                raise self.session.lost("starting the log tail")
            data += chunk
        line, _, self.leftover = data.partition(b"\n")
        self.pid = int(line)

    def _recv_sync(self, wait: float) -> bytes | None:
        self.channel.settimeout(wait)
        try:
            return self.channel.recv(READ_CHUNK)
        except TimeoutError:
            return None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.session.lost("streaming a log", exc) from None

    def read_sync(self, wait: float) -> bytes | None:
        """Next bytes (up to ~1 MiB), None if none came within `wait` s, b'' at end of stream."""
        if self.leftover:
            data, self.leftover = self.leftover, b""
            return data
        first = self._recv_sync(wait)
        if not first:
            return first
        parts = [first]
        total = len(first)
        while total < READ_CHUNK and self.channel.recv_ready():
            more = self._recv_sync(0)
            if not more:
                break
            parts.append(more)
            total += len(more)
        return b"".join(parts)

    def read_lines_sync(self, splitter: LineSplitter, wait: float, per_line: bool) -> Any:
        """read_sync, split by `splitter` in this (worker) thread (LineSplitter.split): the
        complete lines, None if nothing came within `wait` s, _ENDED at the end of the stream."""
        chunk = self.read_sync(wait)
        if chunk is None:
            return None
        if not chunk:
            return _ENDED
        return splitter.split(chunk, per_line)

    def exit_status_sync(self) -> int:
        """The tail's exit status once its stream ended (-1 if the connection dropped)."""
        self.channel.status_event.wait(self.session.timeouts.read)
        return self.channel.recv_exit_status() if self.channel.exit_status_ready() else -1

    def stop_sync(self) -> None:
        """Kill the remote tail by pid (best effort) and close the channel."""
        try:
            if self.pid is not None and self.session.is_active():
                self.session.run_sync(f"kill {int(self.pid)}", timeout=_KILL_TIMEOUT)
        except SSHError:
            pass
        finally:
            close_quietly(self.channel)


async def follow(
    session: ShellT,
    rel_path: str,
    offset: int = 0,
    *,
    stop: StopCondition[ShellT] | None = None,
    poll_interval: float = 1.0,
) -> AsyncIterator[tuple[bytes, int]]:
    """Yield `(line, offset_after_line)` for each complete line of a remote file from `offset`.

    Lines keep their newline; a partial last line is held until its newline arrives. Without
    `stop` the stream runs until the caller stops iterating; with it, `stop(session)` is
    checked every `poll_interval` s and once it holds the rest of the file is read and its
    unterminated last line, if any, is yielded too, so the lines joined equal the file from
    `offset`, but for lines over LINE_LIMIT bytes, which come cut (their offsets still count
    every byte). A dropped connection raises SSHError; resume from the last offset yielded.
    """
    async for items, _end in _follow(session, rel_path, offset, stop, poll_interval, True):
        for item in items:
            yield item


async def _follow(
    session: ShellT,
    rel_path: str,
    offset: int,
    stop: StopCondition[ShellT] | None,
    poll_interval: float,
    per_line: bool,
) -> AsyncIterator[tuple[Any, int]]:
    """Batches of `(line, offset)` pairs (per_line) or of lines, with the offset after them.

    The read and the split into lines happen in the SSH worker thread: the loop (the GUI
    thread in the app) handles one batch per read, not one line. A line cut for being over
    LINE_LIMIT bytes is shorter than the bytes it stands for: offsets count every byte."""
    rel_path = check_rel_path(rel_path)
    splitter = LineSplitter(offset)
    tail = await run_blocking(_RemoteTail.start_sync, session, rel_path, offset, True)
    stopped = False
    try:
        last_check = last_data = time.monotonic()
        wait = poll_interval if stop is not None else min(poll_interval, 1.0)
        while True:
            got = await run_blocking(tail.read_lines_sync, splitter, wait, per_line)
            now = time.monotonic()
            if got is _ENDED:
                if not session.is_active():
                    raise session.lost(f"following {rel_path}")
                raise SSHError(f"The remote log stream of {rel_path} ended unexpectedly.")
            if got is not None:
                last_data = now
                if got:
                    yield got, splitter.offset
            if stop is not None:
                if now - last_check >= poll_interval:
                    last_check = time.monotonic()
                    if await stop(session):
                        stopped = True
                        break
            elif now - last_data >= session.timeouts.idle_probe:
                await session.probe()
                last_data = time.monotonic()
    finally:
        await run_blocking(tail.stop_sync)
    if stopped:
        # What the follower had buffered is re-read in one pass from the last complete line,
        # which also picks up anything written after the stop condition began to hold.
        splitter.drop_pending()
        async for batch in _read_rest(session, rel_path, splitter, per_line):
            yield batch


async def _read_rest(
    session: RemoteShell, rel_path: str, splitter: LineSplitter, per_line: bool
) -> AsyncIterator[tuple[Any, int]]:
    rest = await run_blocking(_RemoteTail.start_sync, session, rel_path, splitter.offset, False)
    try:
        while True:
            # Read and split in the worker thread, as the follow does: the rest of a flood
            # can be most of the log.
            got = await run_blocking(
                rest.read_lines_sync, splitter, session.timeouts.read, per_line
            )
            if got is None:
                raise SSHError(f"Reading the end of {rel_path} timed out.")
            if got is _ENDED:
                break
            if got:
                yield got, splitter.offset
        code = await run_blocking(rest.exit_status_sync)
        if code != 0:
            if not session.is_active():
                raise session.lost(f"reading the end of {rel_path}")
            raise SSHError(f"Reading the end of remote file {rel_path} failed (exit {code}).")
    finally:
        await run_blocking(close_quietly, rest.channel)
    last = splitter.flush()
    if last is not None:
        yield ([last] if per_line else LineBlock(last[0], 1)), last[1]


class LogFollower(Generic[ShellT]):
    """Follows a remote log across reconnects; `offset` is where a restart should resume."""

    def __init__(
        self,
        ssh: ShellSource[ShellT],
        rel_path: str,
        offset: int = 0,
        *,
        stop: StopCondition[ShellT] | None = None,
        poll_interval: float = 1.0,
        max_failures: int = 5,
    ) -> None:
        self.ssh = ssh
        self.rel_path = check_rel_path(rel_path)
        self.offset = offset
        self.stop = stop
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self.reconnects = 0

    async def lines(self) -> AsyncIterator[tuple[bytes, int]]:
        """Yield `(line, offset_after_line)`, resuming after drops without loss or repeats."""
        async for items, _end in self._batches(per_line=True):
            for item in items:
                yield item

    async def batches(self) -> AsyncIterator[tuple[LineBlock, int]]:
        """Yield `(lines, offset_after_last)` as reads bring them, the lines of a read as one
        block, resuming after drops without loss or repeats."""
        async for lines, end in self._batches(per_line=False):
            yield lines, end

    async def _batches(self, *, per_line: bool) -> AsyncIterator[tuple[Any, int]]:
        failures = 0
        while True:
            session = await self.ssh.session()
            try:
                async for lines, offset in _follow(
                    session, self.rel_path, self.offset, self.stop, self.poll_interval, per_line
                ):
                    self.offset = offset
                    failures = 0
                    yield lines, offset
                return
            except HostKeyMismatchError:
                raise
            except SSHError:
                failures += 1
                if failures > self.max_failures:
                    raise
                self.reconnects += 1
                await self.ssh.reset()
