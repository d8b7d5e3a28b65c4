"""Suite-wide set-up: Qt binding pinned, offscreen Qt, app data in a temp dir."""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No test reads or writes the keyring of the machine it runs on (tests pass their own backend).
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
# No test reaches the Hugging Face Hub (model shapes fall back to the known-models table).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gc
from collections.abc import Iterator

import pytest

from lambda_gui.gui.gc_guard import collect_due_generation

# Fixtures shared across the suite live in tests/plugins/ (one module per real server).
pytest_plugins: list[str] = []
for _plugin in ("simulator", "sshd", "fake_hub"):
    if os.path.exists(os.path.join(os.path.dirname(__file__), "plugins", f"{_plugin}.py")):
        pytest_plugins.append(f"tests.plugins.{_plugin}")


@pytest.fixture(autouse=True)
def _isolated_app_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own XDG data dir, so no test touches the user's store or keys."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture(autouse=True)
def _collect_on_the_main_thread() -> Iterator[None]:
    """Cyclic garbage is collected between tests on the main thread, never automatically.

    Automatic collection runs in whichever thread crosses a threshold; a cycle holding a Qt
    widget left by an earlier GUI test, collected on an executor or paramiko thread, crashes
    the process (lambda_gui/gui/gc_guard.py; the app collects on a GUI-thread timer).
    """
    gc.disable()
    yield
    collect_due_generation()
