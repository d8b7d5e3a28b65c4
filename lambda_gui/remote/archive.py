"""Extract a downloaded tar archive without letting it write anything outside its target."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from lambda_gui.core.errors import UnsafeArchiveError

DEFAULT_MAX_BYTES = 20 * 1024**3
DEFAULT_MAX_MEMBERS = 10_000
# What a truncated or corrupt archive raises while it is read.
_DAMAGED = (tarfile.TarError, EOFError, zlib.error)


def _check_name(name: str) -> None:
    if not name or "\\" in name or "\x00" in name:
        raise UnsafeArchiveError(f"Archive member {name!r} has an unsafe name.")
    path = PurePosixPath(name)
    first = path.parts[0] if path.parts else ""
    # A drive ("C:") would make the name absolute on Windows.
    if path.is_absolute() or ":" in first:
        raise UnsafeArchiveError(f"Archive member {name!r} has an absolute path.")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"Archive member {name!r} points outside the archive ('..').")


def _check_member(member: tarfile.TarInfo) -> None:
    _check_name(member.name)
    if member.issym() or member.islnk():
        kind = "a symlink" if member.issym() else "a hard link"
        raise UnsafeArchiveError(
            f"Archive member {member.name!r} is {kind} (to {member.linkname!r}); "
            "links are not allowed."
        )
    if member.isdev():
        kind = "a FIFO" if member.isfifo() else "a device file"
        raise UnsafeArchiveError(f"Archive member {member.name!r} is {kind}; not allowed.")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchiveError(
            f"Archive member {member.name!r} is not a regular file or directory."
        )


def validate_members(
    tar: tarfile.TarFile, *, max_bytes: int, max_members: int
) -> list[tarfile.TarInfo]:
    """Every member checked (names, types, caps) before anything is written."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(members) >= max_members:
            raise UnsafeArchiveError(
                f"The archive has more than {max_members} members "
                f"(member {member.name!r} is past the limit)."
            )
        _check_member(member)
        total += max(member.size, 0)
        if total > max_bytes:
            raise UnsafeArchiveError(
                f"The archive unpacks to more than {max_bytes} bytes "
                f"(reached at member {member.name!r})."
            )
        members.append(member)
    return members


def safe_extract(
    tar_path: Path | str,
    target_dir: Path | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Extract `tar_path` (any compression tarfile reads) into `target_dir`, all or nothing.

    All members are validated before any is extracted; extraction goes to a temporary
    directory beside `target_dir`, which is then renamed into place. `target_dir` must not
    exist or be an empty directory. Raises UnsafeArchiveError naming the offending member.
    """
    target = Path(target_dir).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not an empty directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(tar_path, mode="r:*")
    except _DAMAGED as exc:
        raise UnsafeArchiveError(f"{tar_path} is not a readable tar archive: {exc}") from None
    with tar:
        try:
            members = validate_members(tar, max_bytes=max_bytes, max_members=max_members)
        except _DAMAGED as exc:
            raise UnsafeArchiveError(f"{tar_path} is a damaged tar archive: {exc}") from None
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
        try:
            # The "data" filter re-checks every member as it is written (belt and braces).
            tar.extractall(staging, members=members, filter="data")
            if target.exists():
                target.rmdir()
            os.replace(staging, target)
        except _DAMAGED as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise UnsafeArchiveError(f"{tar_path} is a damaged tar archive: {exc}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target
