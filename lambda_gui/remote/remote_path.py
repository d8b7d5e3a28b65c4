"""Remote paths relative to the login home, checked and quoted for the fixed commands we run."""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath

# Paths we generate: job ids are [a-z0-9-], file names are ours. Anything else is refused so a
# path can never smuggle shell syntax, even quoted.
SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9._+-]+$")


def check_rel_path(rel_path: str) -> str:
    """Return `rel_path` if it is a plain path under the login home, else raise ValueError."""
    path = PurePosixPath(rel_path)
    if not rel_path or path.is_absolute():
        raise ValueError(f"remote path {rel_path!r} must be relative to the login home")
    parts = path.parts
    for part in parts:
        if part in (".", "..") or not SAFE_COMPONENT.match(part) or part.startswith("-"):
            raise ValueError(f"remote path {rel_path!r} has an unsafe component {part!r}")
    return "/".join(parts)


def quote_rel_path(rel_path: str) -> str:
    """The checked path, shell-quoted, for a fixed command line."""
    return shlex.quote(check_rel_path(rel_path))
