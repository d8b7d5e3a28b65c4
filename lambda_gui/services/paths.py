"""Where the app keeps its data: the platformdirs user data dir (XDG_DATA_HOME on Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "lambda-gui"


@dataclass(frozen=True)
class AppPaths:
    """The app's data folders; created on first use with owner-only permissions."""

    root: Path

    @classmethod
    def default(cls) -> AppPaths:
        """The per-user data dir; read at call time so XDG_DATA_HOME set by a test counts."""
        return cls(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))

    @property
    def store(self) -> Path:
        """The SQLite job store."""
        return self.root / "store.sqlite3"

    @property
    def keys(self) -> Path:
        """Private SSH keys the app generated through Lambda (0600 files, 0700 folder)."""
        return self._dir("keys")

    @property
    def known_hosts(self) -> Path:
        """One pinned known_hosts file per instance id."""
        return self._dir("known_hosts")

    def job_dir(self, job_id: str) -> Path:
        """Local copies of a job's log, metrics and adapter."""
        return self._dir("jobs", job_id)

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            os.chmod(path, 0o700)
        return path
