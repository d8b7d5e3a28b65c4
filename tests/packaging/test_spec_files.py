"""The packaging files agree with the package: version, app id, paths the spec names."""

from __future__ import annotations

import re
from pathlib import Path

from lambda_gui import __version__
from lambda_gui.gui.app_identity import APP_ID

ROOT = Path(__file__).resolve().parents[2]


def test_windows_version_resource_matches_the_package() -> None:
    text = (ROOT / "packaging" / "windows-version.txt").read_text()
    parts = tuple(int(p) for p in __version__.split("."))
    four = ", ".join(str(p) for p in (*parts, 0, 0, 0)[:4])
    assert f"filevers=({four})" in text and f"prodvers=({four})" in text
    assert f"'FileVersion', '{__version__}'" in text
    assert f"'ProductVersion', '{__version__}'" in text


def test_every_file_the_spec_names_exists() -> None:
    spec = (ROOT / "packaging" / "lambda-gui.spec").read_text()
    assert f'APP_ID = "{APP_ID}"' in spec
    for parts in re.findall(r'ROOT((?: / "[^"]+")+)', spec):
        path = ROOT.joinpath(*re.findall(r'"([^"]+)"', parts))
        assert path.exists(), path
    # onedir: a onefile bundle unpacks to /tmp on every start.
    assert "exclude_binaries=True" in spec and "COLLECT(" in spec
