"""The version: one value in pyproject.toml and lambda_gui.__version__, and `--version` prints
it without loading Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import lambda_gui

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert lambda_gui.__version__ == project["version"]


def test_version_option_prints_it_without_qt() -> None:
    code = (
        "import sys\n"
        "from lambda_gui.__main__ import main\n"
        "status = main(['--version'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'qasync', 'pyqtgraph'))\n"
        "print('status', status, 'qt', loaded)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"lambda-gui {lambda_gui.__version__}", "status 0 qt []"]
