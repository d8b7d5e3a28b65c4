"""Imports flow one way: gui -> services -> cloud, remote -> core (docs/architecture.md#layers), the simulator
is a peer, and Qt is imported only in gui/, app.py and __main__.py. Read with ast, so a lazy
import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lambda_gui"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6", "qasync", "pyqtgraph")
QT_ALLOWED = ("gui", "app", "__main__")

# What each part may import from the package (besides itself and the data-only `assets`).
ALLOWED: dict[str, set[str]] = {
    "assets": set(),
    "core": set(),
    "cloud": {"core"},
    "remote": {"core"},
    "services": {"core", "cloud", "remote"},
    "gui": {"core", "cloud", "remote", "services"},
    "simulator": {"core"},
    "app": {"core", "services", "gui"},
    "__main__": {"app", "gui"},
    "__init__": {"core", "services"},
}
# The simulator is a peer: demo mode starts it in process, nothing else depends on it.
SIMULATOR_USERS = {"lambda_gui/services/demo.py", "lambda_gui/gui/self_test.py"}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; write lambda_gui.... in full")
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "bundle_files" not in p.parts)


def test_sources_were_found() -> None:
    parts = {_part(p) for p in SOURCES}
    assert {"core", "cloud", "remote", "services", "gui", "simulator", "app"} <= parts


def violations(part: str, rel: str, imports: list[str]) -> list[str]:
    """What breaks the rules among one module's imports."""
    allowed = ALLOWED.get(part)
    if allowed is None:
        return [f"{rel}: no layering rule for package part '{part}'"]
    found = []
    for name in imports:
        top = name.split(".")[0]
        if top in QT_MODULES and part not in QT_ALLOWED:
            found.append(f"{rel} imports {name}: Qt belongs in gui/ and app.py")
        if top != "lambda_gui" or name == "lambda_gui":
            continue
        target = name.split(".")[1]
        if target in (part, "assets") or (target == "simulator" and rel in SIMULATOR_USERS):
            continue
        if target not in allowed:
            found.append(f"{rel} imports {name}: '{part}' may not depend on '{target}'")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    rel = str(path.relative_to(PACKAGE.parent))
    assert violations(_part(path), rel, _imports(path)) == []


def test_the_rules_catch_breaches() -> None:
    assert violations("services", "lambda_gui/services/x.py", ["lambda_gui.gui.bridge"])
    assert violations("core", "lambda_gui/core/x.py", ["PySide6.QtCore"])
    assert violations("cloud", "lambda_gui/cloud/x.py", ["lambda_gui.remote.ssh_session"])
    assert violations("gui", "lambda_gui/gui/x.py", ["lambda_gui.simulator"])
    assert not violations("services", "lambda_gui/services/demo.py", ["lambda_gui.simulator"])
    assert not violations(
        "gui", "lambda_gui/gui/x.py", ["PySide6.QtCore", "lambda_gui.core.models"]
    )


def test_bundle_scripts_import_nothing_of_the_package() -> None:
    # train.py runs on the instance, where lambda_gui is not installed.
    for path in (PACKAGE / "remote" / "bundle_files").glob("*.py"):
        assert not [n for n in _imports(path) if n.split(".")[0] == "lambda_gui"], path
