"""Where a secret leaked: files under a sandbox home, and every readable process's argv and
environment. Tests call `key_exposures` and assert it finds nothing (or only allowed files)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def key_exposures(home: Path, api_key: str, *, allowed: Iterable[Path] = ()) -> list[str]:
    """Every place the key (raw or base64) was found: files under `home` (except `allowed`),
    /proc/*/cmdline and /proc/*/environ of the processes this user can read."""
    if not api_key:
        raise ValueError("an empty key would be found everywhere")
    needles = (api_key.encode(), base64.b64encode(api_key.encode()))
    skip = {Path(p).resolve() for p in allowed}
    found = [
        f"file {path}"
        for path in _files(home)
        if path.resolve() not in skip and _file_holds(path, needles)
    ]
    found.extend(_process_exposures(needles))
    return found


def _files(root: Path) -> Iterable[Path]:
    for folder, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _file_holds(path: Path, needles: tuple[bytes, ...]) -> bool:
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                window = tail + chunk
                if any(n in window for n in needles):
                    return True
                tail = window[-overlap:]
    except OSError:
        return False
    return False


def _process_exposures(needles: tuple[bytes, ...]) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                data = (entry / part).read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(f"{part} of pid {entry.name} ({_comm(entry)})")
    return found


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return "?"
