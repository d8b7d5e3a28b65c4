"""Downloads that resume after a drop and are verified against the remote sha256.

The bytes come from the instance's SFTP server, read by our own pipelined client on the tuned
transport (docs/architecture.md#library-facts): as many bytes as the link holds in one round
trip are asked for ahead, in reads as large as OpenSSH's server answers, so round trips cost
nothing once the transfer runs; no shell or helper process is started on the instance, and
resuming is reading from byte N. paramiko's own SFTP client handles every 32 KiB reply in
Python and cannot keep up.

Nothing on the way waits for anything else, so a verified file on disk costs about what the
bytes alone cost to receive:

- paramiko's packet payloads are kept as the bytes objects it makes (`_PacketPipe`) instead of
  being copied into its byte array and out again, the replies are cut out of them as memoryviews,
  and the receiving thread wakes once per reply rather than once per packet;
- the data goes to disk with one `writev` per reply, and the kernel is asked to start writing it
  back at once, so the single fsync at the end finds almost nothing left to do;
- the data is hashed as it is written, off paramiko's receiving thread (hashlib releases the
  GIL on large buffers), so the sha256 is known when the last byte is; the bytes of a .part
  being resumed are hashed by a thread of their own while the rest arrives.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import itertools
import logging
import os
import queue
import re
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from lambda_gui.core.errors import (
    ArtifactMissingError,
    ChecksumMismatchError,
    DownloadError,
    HostKeyMismatchError,
    SSHError,
)
from lambda_gui.remote.remote_path import check_rel_path, quote_rel_path
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH
from lambda_gui.remote.ssh_session import SSHSession
from lambda_gui.remote.ssh_threads import run_blocking_cancellable, ssh_executor
from lambda_gui.remote.ssh_transport import close_quietly

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_Buffer = bytes | memoryview

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_PROGRESS_EVERY_S = 0.1
# The largest read OpenSSH's sftp-server answers in full (256 KiB less its header allowance);
# a server that answers less is asked again for the rest, and later reads are made that size.
_READ_SIZE = 255 * 1024
# Bytes asked for but not yet on disk: what a link this fast holds in one round trip (timed on
# the first read), within these bounds. More than a fast link needs only adds memory traffic
# (8 MiB was about 10% quicker than 32 on loopback); 32 MiB fills a 50 ms round trip at 670 MB/s
# and stays within the transport's channel window, so the server never waits for us to ask.
_LINK_BYTES_PER_S = 640e6
_READ_AHEAD_MIN = 8 * 1024 * 1024
_READ_AHEAD_MAX = 32 * 1024 * 1024
# More reads are asked for once this much has been written since the last request.
_REQUEST_EVERY = 2 * 1024 * 1024
# A reply this much longer than the largest read asked for is not an SFTP reply.
_REPLY_SLACK = 64 * 1024
# Replies written while the .part being resumed is still being hashed; when this many wait,
# so does the download (and the read-ahead holds the server back).
_HASH_QUEUE_REPLIES = 64
_HASH_BLOCK = 4 * 1024 * 1024
# Write-back of the .part is started this far behind its end, in steps of at least this much,
# so that no page being written back is appended to again.
_WRITEBACK_LAG = 8 * 1024 * 1024
_WRITEBACK_STEP = 8 * 1024 * 1024
_IOV_MAX = 1024

# SFTP version 3 (draft-ietf-secsh-filexfer-02), the version every server speaks.
_FXP_INIT = 1
_FXP_VERSION = 2
_FXP_OPEN = 3
_FXP_READ = 5
_FXP_STAT = 17
_FXP_STATUS = 101
_FXP_HANDLE = 102
_FXP_DATA = 103
_FXP_ATTRS = 105
_FXF_READ = 0x1
_FILEXFER_ATTR_SIZE = 0x1
_FX_EOF = 1
_OPEN_ID = 1
_STAT_ID = 2

if TYPE_CHECKING:  # generic in the type stubs only
    _BytesPipe = BufferedPipe[bytes]
else:
    _BytesPipe = BufferedPipe


def part_path(dest: Path) -> Path:
    """Where a download to `dest` collects its bytes before it is verified."""
    return dest.with_name(dest.name + ".part")


async def fetch_remote_sha256(session: SSHSession, rel_path: str) -> str:
    """Read `<rel_path>.sha256` (sha256sum format) and return the hex digest."""
    quoted = quote_rel_path(f"{check_rel_path(rel_path)}.sha256")
    code, out, err = await session.run(f"cat -- {quoted}")
    if code != 0:
        raise ArtifactMissingError(
            f"The checksum file {rel_path}.sha256 is missing on the instance: "
            f"{err.decode(errors='replace').strip()}"
        )
    digest = out.decode(errors="replace").split(maxsplit=1)[0].lower() if out.strip() else ""
    if not _SHA256_HEX.match(digest):
        raise SSHError(f"The checksum file {rel_path}.sha256 does not hold a sha256 digest.")
    return digest


class _Packets:
    """What `channel.recv` returns on a channel with a `_PacketPipe`: the packets' payloads,
    uncopied. Its length is their total size, which paramiko's `recv` credits back to the
    channel window (the only thing it does with the value)."""

    __slots__ = ("pieces", "size")

    def __init__(self, pieces: list[bytes], size: int) -> None:
        self.pieces = pieces
        self.size = size

    def __len__(self) -> int:
        return self.size


class _PacketPipe(_BytesPipe):
    """A channel's stdout buffer that keeps the payloads paramiko hands over.

    `read(nbytes)` waits until at least `nbytes` are buffered (or the stream ends, or `timeout`
    passes with fewer) and returns everything buffered as `_Packets`. paramiko's own
    BufferedPipe copies every payload into a byte array, copies it out twice on each read and
    wakes the reader per packet: at a few hundred MB/s, a good part of a core and a contended
    GIL.
    """

    def __init__(self) -> None:
        super().__init__()
        self._mutex = threading.Lock()
        self._arrived = threading.Condition(self._mutex)
        self._pieces: list[bytes] = []
        self._size = 0
        self._want = 1
        self._closed = False
        self._ready_event: threading.Event | None = None

    def set_event(self, event: threading.Event) -> None:
        with self._mutex:
            self._ready_event = event
            if self._closed or self._size:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes) -> None:
        """Called by paramiko's transport thread with each packet's payload."""
        with self._mutex:
            self._pieces.append(data)
            self._size += len(data)
            if self._size >= self._want:
                self._arrived.notify()
            if self._ready_event is not None:
                self._ready_event.set()

    def read_ready(self) -> bool:
        with self._mutex:
            return self._size > 0

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._mutex:
            deadline = None if timeout is None else time.monotonic() + timeout
            self._want = max(1, nbytes)
            try:
                while self._size < self._want and not self._closed:
                    wait = None if deadline is None else deadline - time.monotonic()
                    if wait is not None and wait <= 0:
                        if not self._size:
                            raise PipeTimeout()
                        break
                    self._arrived.wait(wait)
            finally:
                self._want = 1
            return cast(bytes, self._take())

    def _take(self) -> _Packets:
        out = _Packets(self._pieces, self._size)
        self._pieces = []
        self._size = 0
        if self._ready_event is not None and not self._closed:
            self._ready_event.clear()
        return out

    def empty(self) -> bytes:
        with self._mutex:
            return b"".join(self._take().pieces)

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            self._arrived.notify_all()
            if self._ready_event is not None:
                self._ready_event.set()

    def __len__(self) -> int:
        with self._mutex:
            return self._size


class _Replies:
    """The SFTP server's replies, cut out of the channel's payloads without copying their data."""

    def __init__(self, channel: paramiko.Channel, timeout: float) -> None:
        self._channel = channel
        self._timeout = timeout
        self._views: collections.deque[memoryview] = collections.deque()
        self._buffered = 0

    def _fill(self, need: int) -> None:
        while self._buffered < need:
            self._channel.settimeout(self._timeout)
            got = cast(_Packets, self._channel.recv(need - self._buffered))
            if not got.pieces:
                raise EOFError("the SFTP server closed the channel")
            for piece in got.pieces:
                if piece:
                    self._views.append(memoryview(piece))
            self._buffered += got.size

    def _take(self, n: int) -> list[memoryview]:
        self._fill(n)
        self._buffered -= n
        out: list[memoryview] = []
        views = self._views
        while n:
            view = views[0]
            if len(view) <= n:
                out.append(views.popleft())
                n -= len(view)
            else:
                out.append(view[:n])
                views[0] = view[n:]
                n = 0
        return out

    def _take_bytes(self, n: int) -> bytes:
        views = self._take(n)
        return views[0].tobytes() if len(views) == 1 else b"".join(views)

    def next(self, longest: int) -> tuple[int, int, int]:
        """(type, request id, body length) of the next reply, whose whole body is then buffered;
        a reply longer than `longest` is refused rather than waited for."""
        self._fill(4)
        (length,) = struct.unpack(">I", self._take_bytes(4))
        if not 5 <= length <= longest:
            raise SSHError(
                "The instance's SFTP server sent something that is not an SFTP reply; "
                "check that the login shell prints nothing for non-interactive sessions."
            )
        self._fill(length)
        kind, request_id = struct.unpack(">BI", self._take_bytes(5))
        return kind, request_id, length - 5

    def body(self, n: int) -> bytes:
        """The next `n` body bytes, as bytes (headers, small bodies)."""
        return self._take_bytes(n)

    def data(self, n: int) -> list[memoryview]:
        """The next `n` body bytes, as views of the payloads (file data)."""
        return self._take(n)


def _sftp_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _sftp_request(kind: int, request_id: int, body: bytes) -> bytes:
    return struct.pack(">IBI", len(body) + 5, kind, request_id) + body


def _status_message(body: bytes) -> tuple[int, str]:
    """(code, message) of an SSH_FXP_STATUS body."""
    if len(body) < 4:
        return -1, "malformed SFTP status"
    (code,) = struct.unpack(">I", body[:4])
    message = ""
    if len(body) >= 8:
        (length,) = struct.unpack(">I", body[4:8])
        message = body[8 : 8 + length].decode(errors="replace")
    return code, message or f"SFTP status {code}"


def _write_all(fd: int, pieces: Sequence[_Buffer]) -> None:
    """Write `pieces` in order, a writev per up to _IOV_MAX of them, without joining them."""
    if not hasattr(os, "writev"):
        for piece in pieces:
            _write_rest(fd, memoryview(piece))
        return
    start = 0
    while start < len(pieces):
        group = pieces[start : start + _IOV_MAX]
        written = os.writev(fd, group)
        for piece in group:
            start += 1
            if written >= len(piece):
                written -= len(piece)
                continue
            # A short write: finish this piece, then writev the rest again.
            _write_rest(fd, memoryview(piece)[written:])
            break


def _write_rest(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


class _Writeback:
    """Starts the kernel writing the .part back while more of it arrives.

    On Linux, POSIX_FADV_DONTNEED starts write-back of a range's dirty pages without waiting
    for it (and leaves those pages cached, since they are not clean yet); the fsync at the end
    then only waits for the last few MiB instead of flushing the whole file at once.
    Elsewhere there is no such call and the fsync does all of it.
    """

    def __init__(self, fd: int, start: int) -> None:
        self._fd = fd
        self._started = start
        self._advise = getattr(os, "posix_fadvise", None)

    def advance(self, end: int) -> None:
        """The file now ends at `end`."""
        if self._advise is None or end - self._started < _WRITEBACK_LAG + _WRITEBACK_STEP:
            return
        upto = end - _WRITEBACK_LAG
        try:
            self._advise(self._fd, self._started, upto - self._started, os.POSIX_FADV_DONTNEED)
        except OSError:
            self._advise = None
            return
        self._started = upto


class _Hasher:
    """The .part file's sha256, fed in file order: first the bytes it already holds (or a digest
    kept from an earlier attempt), then the data as it is written.

    `add` hashes in the caller's thread, which costs no hand-over (and no GIL round trip) per
    reply. Only the bytes of a .part being resumed are hashed by a thread of their own, while
    the rest arrives; data written meanwhile queues for that thread until it has caught up.
    """

    def __init__(self, part: Path, have: int, kept: tuple[int, Any] | None) -> None:
        self._part = part
        self._have = have
        self._queue: queue.Queue[Sequence[_Buffer] | None] = queue.Queue(_HASH_QUEUE_REPLIES)
        self._lock = threading.Lock()
        self._backlog = 0  # batches queued for the thread, or being hashed by it
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._digest: Any = hashlib.sha256()
        self._hashed = 0
        self._ready = True  # the prefix is hashed: `_digest` may take data
        if kept is not None and kept[0] == have:
            self._digest, self._hashed = kept[1], have
        elif have:
            self._ready = False
            self._thread = threading.Thread(target=self._run, name="download-sha256", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._hash_prefix()
        except BaseException as exc:  # reported by result(); the queue is still drained
            self._error = exc
        else:
            with self._lock:
                self._ready = True
        while (pieces := self._queue.get()) is not None:
            with self._lock:
                if self._ready and not self._stop.is_set():
                    self._update(pieces)
                self._backlog -= 1

    def _hash_prefix(self) -> None:
        with self._part.open("rb") as f:
            while self._hashed < self._have and not self._stop.is_set():
                block = f.read(min(_HASH_BLOCK, self._have - self._hashed))
                if not block:
                    raise OSError(f"{self._part} shrank while it was being hashed")
                self._digest.update(block)
                self._hashed += len(block)

    def _update(self, pieces: Sequence[_Buffer]) -> None:
        for piece in pieces:
            self._digest.update(piece)
            self._hashed += len(piece)

    def add(self, pieces: Sequence[_Buffer]) -> None:
        """Hash `pieces` next (they are already written); waits while the thread is behind."""
        with self._lock:
            if self._ready and not self._backlog:
                # Nothing is waiting to be hashed before them.
                self._update(pieces)
                return
            self._backlog += 1
        self._queue.put(pieces)

    def end(self) -> None:
        """No more data: the thread, if any, finishes its backlog and stops."""
        if self._thread is not None:
            self._queue.put(None)

    def abandon(self) -> None:
        """Stop without finishing (cancellation): nothing is waited for."""
        self._stop.set()
        self.end()

    def result(self, raise_errors: bool) -> tuple[int, Any] | None:
        """After `end`: (bytes hashed, the sha256 object) once everything is hashed; if reading
        the .part back failed, that error, or None when not `raise_errors`."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            if raise_errors:
                raise self._error
            return None
        return self._hashed, self._digest


class _ReadPipeline:
    """One attempt's READ requests in flight, and their replies put back in file order."""

    def __init__(
        self, channel: paramiko.Channel, handle: bytes, have: int, size: int, remote_rel: str
    ) -> None:
        self._channel = channel
        self._handle = _sftp_string(handle)
        self._size = size
        self._remote_rel = remote_rel
        self._done = have  # everything below is handed out
        self._asked = have  # everything below is asked for
        self._read_size = _READ_SIZE
        self._read_ahead = _READ_AHEAD_MIN
        self._ids = itertools.count(_STAT_ID + 1)
        self._pending: dict[int, tuple[int, int]] = {}  # request id -> (offset, length)
        self._early: dict[int, list[memoryview]] = {}  # offset -> data behind a gap
        self._retry: list[tuple[int, int]] = []  # (offset, length) a short read left out
        self._requested_at = -_REQUEST_EVERY
        self._first_sent = 0.0
        self._timed = False

    def request(self) -> None:
        """Ask for more once enough arrived since the last time (or a short read left a gap)."""
        if not self._retry and self._done - self._requested_at < _REQUEST_EVERY:
            return
        wanted, self._retry = self._retry, []
        while self._asked < self._size and self._asked - self._done < self._read_ahead:
            n = min(self._read_size, self._size - self._asked)
            wanted.append((self._asked, n))
            self._asked += n
        self._requested_at = self._done
        messages = []
        for offset, n in wanted:
            request_id = next(self._ids)
            self._pending[request_id] = (offset, n)
            body = self._handle + struct.pack(">QI", offset, n)
            messages.append(_sftp_request(_FXP_READ, request_id, body))
        if messages:
            self._first_sent = self._first_sent or time.monotonic()
            self._channel.sendall(b"".join(messages))

    def receive(self, replies: _Replies) -> list[list[memoryview]]:
        """Read the next reply: the data it puts in order, if any (with what waited for it)."""
        kind, request_id, length = replies.next(_READ_SIZE + _REPLY_SLACK)
        if not self._timed and self._first_sent:
            # The first reply took a round trip: ask as far ahead as the link holds in one.
            self._timed = True
            link = (time.monotonic() - self._first_sent) * _LINK_BYTES_PER_S
            self._read_ahead = int(min(_READ_AHEAD_MAX, max(_READ_AHEAD_MIN, link)))
        offset, n = self._pending.pop(request_id, (-1, 0))
        if offset < 0:
            raise SSHError("The instance's SFTP server answered an unknown request.")
        if kind == _FXP_STATUS:
            code, message = _status_message(replies.body(length))
            if code == _FX_EOF:
                raise SSHError(
                    f"The remote file {self._remote_rel} changed size during the download "
                    f"({offset} of {self._size} bytes)."
                )
            raise SSHError(f"Reading {self._remote_rel} on the instance failed: {message}")
        if kind != _FXP_DATA or length < 4:
            raise SSHError("The instance's SFTP server sent a malformed reply.")
        (got,) = struct.unpack(">I", replies.body(4))
        if got + 4 != length or not 0 < got <= n:
            raise SSHError("The instance's SFTP server sent a malformed reply.")
        views = replies.data(got)
        if got < n:
            # This server reads less at a time: ask for the rest, and read that much from now.
            self._retry.append((offset + got, n - got))
            self._read_size = min(self._read_size, got)
        if offset != self._done:
            self._early[offset] = views
            return []
        ready = [views]
        self._done += got
        while (ahead := self._early.pop(self._done, None)) is not None:
            ready.append(ahead)
            self._done += sum(map(len, ahead))
        return ready


class _Download:
    """One download's state; `attempt_sync` runs in the SSH thread pool."""

    def __init__(
        self,
        remote_rel: str,
        dest: Path,
        expected_sha256: str,
        progress: Progress | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.remote_rel = remote_rel
        self.dest = dest
        self.part = part_path(dest)
        self.expected = expected_sha256
        self.progress = progress
        self.loop = loop
        self.cancelled = threading.Event()
        self.channel: paramiko.Channel | None = None
        self.size = -1
        # (bytes, sha256 object) of the .part's prefix hashed by the last attempt: a resume
        # after a drop need not read those bytes back from disk.
        self.hashed: tuple[int, Any] | None = None

    def cancel(self) -> None:
        """Stop the transfer thread soon (called from the event loop on cancellation)."""
        self.cancelled.set()
        channel = self.channel
        if channel is not None:
            # Closing sends a message, which may wait for a re-key: not on the event loop.
            ssh_executor().submit(close_quietly, channel)

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.loop.call_soon_threadsafe(self.progress, done, self.size)

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def _open_sync(self, session: SSHSession) -> paramiko.Channel:
        """A channel to the instance's SFTP server, its replies collected by a `_PacketPipe`."""
        try:
            channel = session.transport.open_session(timeout=session.timeouts.channel_open)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise session.lost("opening a channel", exc) from None
        channel.in_buffer = _PacketPipe()
        try:
            channel.invoke_subsystem("sftp")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            close_quietly(channel)
            if session.is_active():
                raise SSHError(
                    f"The instance refused an SFTP session: {exc or type(exc).__name__}."
                ) from None
            raise session.lost("opening a channel", exc) from None
        return channel

    def attempt_sync(self, session: SSHSession) -> int:
        """Fetch the missing bytes into the .part file, verify, rename; returns bytes fetched."""
        have = start = self._part_size()
        channel = self._open_sync(session)
        self.channel = channel
        digest: Any = None
        try:
            replies = _Replies(channel, session.timeouts.read)
            try:
                handle, self.size = self._open_file_sync(channel, replies)
            except ArtifactMissingError:  # a FileNotFoundError, so an OSError
                raise
            except struct.error:
                raise SSHError("The instance's SFTP server sent a malformed reply.") from None
            except TimeoutError:
                raise SSHError(f"The instance did not start sending {self.remote_rel}.") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise self._lost(session, channel, exc) from None
            if have <= self.size:
                self._report(have)
                have, digest = self._receive_sync(session, channel, replies, handle, have)
        finally:
            self.channel = None
            close_quietly(channel)
        if have > self.size:
            # Longer than the remote file: not a prefix of it. Start over.
            self.part.unlink()
            self.hashed = None
            return self.attempt_sync(session)
        self._report(have)
        self._finish_sync(digest.hexdigest())
        return have - start

    def _lost(self, session: SSHSession, channel: paramiko.Channel, exc: BaseException) -> SSHError:
        """The error for a channel that ended early: a dropped connection, or a server that
        closed the channel (then it said so first with an EOF)."""
        if channel.eof_received and session.is_active():
            return SSHError(
                f"The SFTP server on the instance stopped while sending {self.remote_rel}: "
                f"{exc or type(exc).__name__}."
            )
        return session.lost(f"downloading {self.remote_rel}", exc)

    def _open_file_sync(self, channel: paramiko.Channel, replies: _Replies) -> tuple[bytes, int]:
        """Start SFTP, open the file and stat it, in one round trip: (handle, size)."""
        path = _sftp_string(self.remote_rel.encode())
        channel.sendall(
            struct.pack(">IBI", 5, _FXP_INIT, 3)
            + _sftp_request(_FXP_OPEN, _OPEN_ID, path + struct.pack(">II", _FXF_READ, 0))
            + _sftp_request(_FXP_STAT, _STAT_ID, path)
        )
        kind, _version, length = replies.next(_REPLY_SLACK)
        replies.body(length)
        if kind != _FXP_VERSION:
            raise SSHError("The instance's SFTP server did not start.")
        handle: bytes | None = None
        size: int | None = None
        for _ in range(2):
            kind, request_id, length = replies.next(_REPLY_SLACK)
            body = replies.body(length)
            if kind == _FXP_STATUS:
                raise ArtifactMissingError(
                    f"The remote file {self.remote_rel} does not exist on the instance: "
                    f"{_status_message(body)[1]}"
                )
            if kind == _FXP_HANDLE and request_id == _OPEN_ID:
                (n,) = struct.unpack(">I", body[:4])
                handle = body[4 : 4 + n]
            elif kind == _FXP_ATTRS and request_id == _STAT_ID:
                (flags,) = struct.unpack(">I", body[:4])
                if flags & _FILEXFER_ATTR_SIZE:
                    (size,) = struct.unpack(">Q", body[4:12])
        if handle is None or size is None:
            raise SSHError(
                f"The instance's SFTP server did not report the size of {self.remote_rel}."
            )
        return handle, size

    def _receive_sync(
        self,
        session: SSHSession,
        channel: paramiko.Channel,
        replies: _Replies,
        handle: bytes,
        have: int,
    ) -> tuple[int, Any]:
        """Append the rest of the file to the .part; (its size, its sha256 object)."""
        read_timeout = session.timeouts.read
        last_report = time.monotonic()
        hasher = _Hasher(self.part, have, self.hashed)
        self.hashed = None
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)  # Windows
        fd = os.open(self.part, flags, 0o666)
        writeback = _Writeback(fd, have)
        pipeline = _ReadPipeline(channel, handle, have, self.size, self.remote_rel)
        received = False
        try:
            while have < self.size:
                channel.settimeout(read_timeout)
                pipeline.request()
                for views in pipeline.receive(replies):
                    _write_all(fd, views)
                    hasher.add(views)
                    have += sum(map(len, views))
                writeback.advance(have)
                if self.cancelled.is_set():
                    raise asyncio.CancelledError
                now = time.monotonic()
                if now - last_report >= _PROGRESS_EVERY_S:
                    last_report = now
                    self._report(have)
            received = True
        except TimeoutError:
            raise SSHError(
                f"No data arrived for {read_timeout:g} s while downloading {self.remote_rel}."
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if self.cancelled.is_set():
                raise asyncio.CancelledError from None
            raise self._lost(session, channel, exc) from None
        finally:
            cancelled = self.cancelled.is_set()
            if cancelled:
                hasher.abandon()
            else:
                hasher.end()
            try:
                # Durable before it is verified and renamed: the instance, the only other
                # copy, may be terminated right after. The hasher finishes meanwhile.
                os.fsync(fd)
            finally:
                os.close(fd)
            if not cancelled:
                # After a drop too: a resume hashes on from what was written.
                self.hashed = hasher.result(raise_errors=received)
        if self.hashed is None:
            # Cancelled after the last byte arrived.
            raise asyncio.CancelledError
        return have, self.hashed[1]

    def _finish_sync(self, actual: str) -> None:
        if actual != self.expected:
            self.hashed = None
            self.part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"The downloaded {self.remote_rel} is corrupt: its sha256 is {actual}, "
                f"but the instance reported {self.expected}. The partial file was deleted.",
                suggestion="Download it again; if it fails the same way, the archive on the "
                "instance is damaged.",
            )
        os.replace(self.part, self.dest)


async def download(
    source: SSHSession | ReconnectingSSH,
    remote_rel: str,
    local_dest: Path | str,
    *,
    expected_sha256: str,
    progress: Progress | None = None,
    max_stalled_attempts: int = 3,
) -> Path:
    """Download `remote_rel` (relative to the login home) to `local_dest`, verified.

    Bytes collect in `<dest>.part`; a later call, or a retry after a drop when `source` is a
    ReconnectingSSH, resumes from its size. `progress(done, total)` is called on the event
    loop. A sha256 mismatch deletes the .part and raises ChecksumMismatchError; `local_dest`
    only ever appears complete and verified.
    """
    expected = expected_sha256.strip().lower()
    if not _SHA256_HEX.match(expected):
        raise ValueError(f"expected_sha256 {expected_sha256!r} is not a sha256 hex digest")
    dest = Path(local_dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    job = _Download(
        check_rel_path(remote_rel), dest, expected, progress, asyncio.get_running_loop()
    )
    stalled = 0
    while True:
        session = source if isinstance(source, SSHSession) else await source.session()
        before = _size_or_zero(job.part)
        try:
            await run_blocking_cancellable(functools.partial(job.attempt_sync, session), job.cancel)
            return dest
        except (HostKeyMismatchError, ChecksumMismatchError, ArtifactMissingError):
            raise
        except SSHError as exc:
            if isinstance(source, SSHSession):
                raise
            stalled = 0 if _size_or_zero(job.part) > before else stalled + 1
            if stalled >= max_stalled_attempts:
                raise DownloadError(
                    f"Downloading {remote_rel} failed after repeated retries: {exc.message}",
                    suggestion="The partial download is kept; retry to resume it.",
                ) from exc
            log.info("download of %s interrupted (%s); resuming", remote_rel, exc)
            await source.reset()


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
