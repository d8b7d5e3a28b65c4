"""Extract a downloaded tar archive without letting it write anything outside its target, or
more than the archive can honestly hold, or more than the destination disk can take."""

from __future__ import annotations

import errno
import gzip
import lzma
import math
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from lambda_gui.core.errors import UnsafeArchiveError

DEFAULT_MAX_BYTES = 20 * 1024**3
DEFAULT_MAX_MEMBERS = 10_000
# Adapter and checkpoint weights (floats) barely compress and configs/tokenizers do ~10:1,
# while gzip of zeros reaches ~1030:1: output past 200x the archive is a bomb, not a model.
MAX_RATIO = 200
# Below this much output the ratio is not applied, so tiny archives (a few configs) work.
RATIO_FLOOR_BYTES = 64 * 1024**2
# Left free on the destination disk: the app's store and logs must still be writable.
DISK_RESERVE_BYTES = 256 * 1024**2
# tarfile reads a PAX or GNU long-name header into memory whole; a real one holds a path and
# a few attributes (a few KiB), so 1 MiB is generous and bounds what a hostile one costs.
MAX_HEADER_BYTES = 1024**2
# tarfile recurses once per extended header; a member needs at most a few (g, x, L, K).
MAX_HEADER_CHAIN = 8
MAX_NAME_CHARS = 4096  # PATH_MAX on Linux
MAX_NAME_PART_BYTES = 255  # NAME_MAX on every usual filesystem
MAX_NAME_DEPTH = 64
# Largest modification time os.utime takes everywhere (year 2262 as nanoseconds).
_MAX_MTIME = 2**63 // 10**9
# What a truncated or corrupt archive raises while it is read (bz2 raises a plain OSError,
# which is mapped only while reading, never while writing).
_DAMAGED: tuple[type[Exception], ...] = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    lzma.LZMAError,
)
_READ_ERRORS: tuple[type[Exception], ...] = (*_DAMAGED, OSError)
_EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
# C0/C1 controls (newline, ESC...), bidi overrides that disguise a name, and lone surrogates
# (bytes that are not UTF-8): none belongs in a file name a person will read.
_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_FS_BLOCK = 4096


class ArchiveDamagedError(UnsafeArchiveError):
    """The archive is truncated or corrupt; downloading it again usually fixes it."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """The archive would pass a cap: bytes, members, expansion ratio or header size."""


class ArchiveDiskSpaceError(UnsafeArchiveError, OSError):
    """The destination disk has too little free space for what the archive unpacks to."""


def _shown(name: str) -> str:
    """The name for a message: quoted, and cut so a hostile name cannot flood it."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


def _sparse(name: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Archive member {_shown(name)} is a sparse file; not allowed (its holes can make a "
        "tiny archive fill the disk). Download the archive again."
    )


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses huge or endless extended headers and sparse files before
    tarfile reads them: tarfile calls _proc_member for every header it has just parsed."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size < 0:
            raise ArchiveDamagedError(
                f"The archive header at byte {self.offset} has a negative size; the archive "
                "is damaged. Download it again."
            )
        chain = getattr(tar, "_header_chain", 0)
        if self.type in _EXTENDED:
            if self.size > MAX_HEADER_BYTES:
                raise ArchiveTooLargeError(
                    f"The archive has a {self.size:,}-byte extended header at byte "
                    f"{self.offset}; real ones are a few KiB (limit {MAX_HEADER_BYTES:,}). "
                    "The archive is damaged or hostile: download it again."
                )
            if chain >= MAX_HEADER_CHAIN:
                raise ArchiveDamagedError(
                    f"The archive has more than {MAX_HEADER_CHAIN} extended headers in a row "
                    f"at byte {self.offset}; it is damaged or hostile. Download it again."
                )
            tar._header_chain = chain + 1  # type: ignore[attr-defined]
        else:
            tar._header_chain = 0  # type: ignore[attr-defined]
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise _sparse(self.name)
        member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[misc]
        return member

    # PAX sparse formats 0.0, 0.1 and 1.0 (1.0 reads an unbounded map from the data).
    def _proc_gnusparse_00(self, next: tarfile.TarInfo, *args: Any) -> None:
        raise _sparse(next.name)

    def _proc_gnusparse_01(self, next: tarfile.TarInfo, *args: Any) -> None:
        raise _sparse(next.name)

    def _proc_gnusparse_10(self, next: tarfile.TarInfo, *args: Any) -> None:
        raise _sparse(next.name)


def _check_name(name: str) -> None:
    if not name or "\\" in name:
        raise UnsafeArchiveError(f"Archive member {_shown(name)} has an unsafe name.")
    bad = _BAD_CHAR.search(name)
    if bad is not None:
        raise UnsafeArchiveError(
            f"Archive member {_shown(name)} has an unsafe name: it holds the control "
            f"character {bad.group()!r}, which can disguise what is written. Download the "
            "archive again; if you made it, rename that file."
        )
    if len(name) > MAX_NAME_CHARS:
        raise UnsafeArchiveError(
            f"Archive member {_shown(name)} has a {len(name)}-character name (limit "
            f"{MAX_NAME_CHARS}); no filesystem takes it."
        )
    path = PurePosixPath(name)
    first = path.parts[0] if path.parts else ""
    # A drive ("C:") would make the name absolute on Windows.
    if path.is_absolute() or ":" in first:
        raise UnsafeArchiveError(f"Archive member {_shown(name)} has an absolute path.")
    if ".." in path.parts:
        raise UnsafeArchiveError(
            f"Archive member {_shown(name)} points outside the archive ('..')."
        )
    if len(path.parts) > MAX_NAME_DEPTH:
        raise UnsafeArchiveError(
            f"Archive member {_shown(name)} is {len(path.parts)} folders deep (limit "
            f"{MAX_NAME_DEPTH}); adapters are a folder or two deep."
        )
    if any(len(part.encode("utf-8")) > MAX_NAME_PART_BYTES for part in path.parts):
        raise UnsafeArchiveError(
            f"Archive member {_shown(name)} has a name part over {MAX_NAME_PART_BYTES} bytes, "
            "which no usual filesystem takes."
        )


def _check_member(member: tarfile.TarInfo) -> None:
    _check_name(member.name)
    if member.issym() or member.islnk():
        kind = "a symlink" if member.issym() else "a hard link"
        raise UnsafeArchiveError(
            f"Archive member {_shown(member.name)} is {kind} (to {_shown(member.linkname)}); "
            "links are not allowed."
        )
    if member.isdev():
        kind = "a FIFO" if member.isfifo() else "a device file"
        raise UnsafeArchiveError(f"Archive member {_shown(member.name)} is {kind}; not allowed.")
    if member.issparse():
        raise _sparse(member.name)
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchiveError(
            f"Archive member {_shown(member.name)} is not a regular file or directory."
        )
    if member.isreg() and member.name.rsplit("/", 1)[-1] in ("", "."):
        # "a/." or "." as a file: writing it would hit the folder it names, half-way through.
        raise UnsafeArchiveError(
            f"Archive member {_shown(member.name)} is a file with a folder's name; the archive "
            "is damaged. Download it again."
        )
    if member.size < 0:
        raise ArchiveDamagedError(
            f"Archive member {_shown(member.name)} has a negative size; the archive is "
            "damaged. Download it again."
        )
    mtime = member.mtime
    # os.utime raises OverflowError/ValueError on these while extracting, half-way through.
    if not (isinstance(mtime, (int, float)) and math.isfinite(mtime) and abs(mtime) < _MAX_MTIME):
        raise ArchiveDamagedError(
            f"Archive member {_shown(member.name)} has an impossible modification time "
            f"({mtime!r}); the archive is damaged. Download it again."
        )


def _check_layout(member: tarfile.TarInfo, seen: dict[str, bool]) -> None:
    """Refuse a file that collides with another member or sits under one (a half-written
    extraction otherwise); `seen` maps each path met so far to whether it is a folder."""
    parts = [p for p in PurePosixPath(member.name).parts if p != "."]
    if not parts:
        return
    path = "/".join(parts)
    previous = seen.get(path)
    if previous is not None and not (previous and member.isdir()):
        raise UnsafeArchiveError(
            f"Archive member {_shown(member.name)} appears twice or collides with a folder of "
            "the same name; the archive is not one an adapter download makes."
        )
    # Walking up stops at the first known folder: its own parents were checked already.
    for depth in range(len(parts) - 1, 0, -1):
        parent = "/".join(parts[:depth])
        known = seen.get(parent)
        if known is False:
            raise UnsafeArchiveError(
                f"Archive member {_shown(member.name)} sits under {_shown(parent)}, which the "
                "archive also holds as a file."
            )
        if known:
            break
        seen[parent] = True
    seen[path] = member.isdir()


def validate_members(
    tar: tarfile.TarFile,
    *,
    max_bytes: int,
    max_members: int,
    max_stream: int | None = None,
    free_bytes: int | None = None,
) -> list[tarfile.TarInfo]:
    """Every member checked (names, types, caps) before anything is written.

    `max_stream` caps the decompressed tar stream (headers and data: what reading costs) and
    `free_bytes` what the files take on disk."""
    members: list[tarfile.TarInfo] = []
    seen: dict[str, bool] = {}
    total = 0
    on_disk = 0
    for member in tar:
        if len(members) >= max_members:
            raise ArchiveTooLargeError(
                f"The archive has more than {max_members} members "
                f"(member {_shown(member.name)} is past the limit)."
            )
        _check_member(member)
        size = member.size if member.isreg() else 0
        total += size
        if total > max_bytes:
            raise ArchiveTooLargeError(
                f"The archive unpacks to more than {max_bytes} bytes "
                f"(reached at member {_shown(member.name)})."
            )
        # Checked before tarfile skips over this member's data, so a bomb is never inflated.
        if max_stream is not None and member.offset_data + size > max_stream:
            raise ArchiveTooLargeError(
                f"The archive expands to more than {max_stream:,} bytes (at member "
                f"{_shown(member.name)}, which says it holds {size:,} bytes): past the limit for "
                "an archive of its size, which real adapters and checkpoints never reach. It "
                "looks like a decompression bomb: download it again, or unpack it by hand if you "
                "trust it."
            )
        on_disk += -(-size // _FS_BLOCK) * _FS_BLOCK + _FS_BLOCK
        if free_bytes is not None and on_disk > free_bytes:
            raise ArchiveDiskSpaceError(
                f"The archive needs more than {on_disk / 2**20:,.0f} MiB (reached at member "
                f"{_shown(member.name)}) but the destination has {free_bytes / 2**20:,.0f} MiB "
                f"to spare (keeping {DISK_RESERVE_BYTES // 2**20} MiB free). Free some disk "
                "space or unpack it on another disk."
            )
        _check_layout(member, seen)
        members.append(member)
    return members


def _free_bytes(folder: Path) -> int:
    """What may be written in `folder` while keeping DISK_RESERVE_BYTES free."""
    return max(0, shutil.disk_usage(folder).free - DISK_RESERVE_BYTES)


def _damaged(tar_path: Path | str, exc: BaseException) -> ArchiveDamagedError:
    return ArchiveDamagedError(f"{tar_path} is a damaged tar archive ({exc}). Download it again.")


def safe_extract(
    tar_path: Path | str,
    target_dir: Path | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_ratio: float = MAX_RATIO,
) -> Path:
    """Extract `tar_path` (any compression tarfile reads) into `target_dir`, all or nothing.

    All members are validated before any is extracted; extraction goes to a temporary
    directory beside `target_dir`, which is then renamed into place. `target_dir` must not
    exist or be an empty directory. Output is capped by `max_bytes`, by `max_ratio` times the
    archive's size (at least RATIO_FLOOR_BYTES) and by the destination's free space. Raises
    UnsafeArchiveError (ArchiveDamagedError, ArchiveTooLargeError, ArchiveDiskSpaceError)
    naming the offending member.
    """
    target = Path(target_dir).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not an empty directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    archive_size = os.path.getsize(tar_path)
    max_stream = max(int(archive_size * max_ratio), RATIO_FLOOR_BYTES)
    try:
        tar = tarfile.TarFile.open(tar_path, mode="r:*", tarinfo=_GuardedTarInfo)
    except UnsafeArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveDamagedError(
            f"{tar_path} is not a readable tar archive ({exc}). Download it again."
        ) from None
    with tar:
        try:
            members = validate_members(
                tar,
                max_bytes=max_bytes,
                max_members=max_members,
                max_stream=max_stream,
                free_bytes=_free_bytes(target.parent),
            )
        except UnsafeArchiveError:
            raise
        except _READ_ERRORS as exc:
            raise _damaged(tar_path, exc) from None
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
        try:
            # The "data" filter re-checks every member as it is written (belt and braces).
            tar.extractall(staging, members=members, filter="data")
            if target.exists():
                target.rmdir()
            os.replace(staging, target)
        except _DAMAGED as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise _damaged(tar_path, exc) from None
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ArchiveDiskSpaceError(
                    f"The disk filled up while unpacking {tar_path} ({exc}). Free some disk "
                    "space or unpack it on another disk."
                ) from exc
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target
