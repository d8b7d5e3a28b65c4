"""A local folder as an upload sends it: every file, symlinks followed, names checked.

One walk serves the check before a launch and the upload after boot, so a folder that passes
the check uploads (a Hugging Face cache snapshot, whose files are symlinks into ``blobs/``,
is a normal input). Hidden entries (``.git``, the ``.cache`` a Hub download leaves, ``.DS_Store``)
are not needed to train and are skipped. Names must be ones a remote path may hold
(remote_path.SAFE_COMPONENT), since they become paths on the instance.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from lambda_gui.remote.remote_path import SAFE_COMPONENT

# A model folder holds tens of files; a home folder chosen by mistake holds millions.
MAX_FILES = 10_000


class TreeError(ValueError):
    """The folder cannot be uploaded as it is; the message says which entry and what to do."""


@dataclass(frozen=True)
class TreeFile:
    """One file to upload: where its bytes are (a symlink's target), its path in the upload
    (POSIX, relative), its size and permission bits."""

    source: Path
    rel: str
    size: int
    mode: int


def walk_tree(folder: Path) -> list[TreeFile]:
    """Every file under `folder` in upload order; TreeError for anything the upload refuses."""
    root = folder.expanduser()
    if not root.is_dir():
        raise TreeError(f"{root} is not a folder on this computer.")
    files: list[TreeFile] = []
    seen = {root.resolve()}
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        here, rel_here = pending.pop(0)
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise TreeError(f"{here} cannot be read ({exc.strerror or exc}).") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = f"{rel_here}/{entry.name}" if rel_here else entry.name
            if not SAFE_COMPONENT.fullmatch(entry.name) or entry.name.startswith("-"):
                raise TreeError(
                    f"{rel!r} in {root} has a name the upload cannot use: only letters, digits "
                    "and . _ + - (not first). Rename it, or move it out of the folder."
                )
            path = Path(entry.path)
            info = _stat(path, rel, root)
            if stat.S_ISDIR(info.st_mode):
                real = path.resolve()
                if real in seen:
                    raise TreeError(f"{rel!r} in {root} links back to a folder above it.")
                seen.add(real)
                pending.append((path, rel))
            elif stat.S_ISREG(info.st_mode):
                files.append(
                    TreeFile(path.resolve(), rel, info.st_size, stat.S_IMODE(info.st_mode))
                )
                if len(files) > MAX_FILES:
                    raise TreeError(
                        f"{root} holds more than {MAX_FILES:,} files: is it the model folder? "
                        "Choose the folder save_pretrained wrote."
                    )
            else:
                raise TreeError(f"{rel!r} in {root} is not a file or folder (a pipe or device).")
    return files


def _stat(path: Path, rel: str, root: Path) -> os.stat_result:
    """The entry's own stat, through any symlink, with what went wrong in words."""
    try:
        return path.stat()
    except FileNotFoundError:
        target = os.readlink(path) if path.is_symlink() else "?"
        raise TreeError(
            f"{rel!r} in {root} is a link to {target}, which does not exist (an interrupted "
            "Hugging Face download?). Download the model again, or choose another folder."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TreeError(f"{rel!r} in {root} is a link that points to itself.") from None
        raise TreeError(f"{rel!r} in {root} cannot be read ({exc.strerror or exc}).") from None
