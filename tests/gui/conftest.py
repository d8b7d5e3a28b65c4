"""GUI tests run on a real qasync loop: pytest-asyncio builds each test's event loop with
qasync.QEventLoop over the one QApplication, so async tests, async fixtures (the simulator)
and Qt widgets share one loop, as in the app. Waiting is done with `await`, never with
qtbot.wait (a nested Qt loop would re-enter the asyncio loop)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring.backend
import pytest
import qasync
from PySide6.QtWidgets import QApplication

from lambda_gui.cloud.pacing import Pacer
from lambda_gui.gui.async_slots import cancel_slot_tasks
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.demo import DemoCloud, start_demo
from tests.e2e.conftest import FAST


def _qt_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    # As in the app: closing the last window (a dialog) must not quit Qt, which would stop
    # the qasync loop under the running test.
    app.setQuitOnLastWindowClosed(False)
    return app


class _TestQEventLoop(qasync.QEventLoop):  # type: ignore[misc,name-defined]
    """qasync's loop without the extra event pass at the end of run_until_complete.

    pytest-asyncio runs each fixture's set-up, the test and each tear-down as separate
    run_until_complete calls on one loop. qasync processes Qt events once more after the loop
    stopped; a background task (the connector's watchers) stepped in that pass is not inside
    a running loop and dies with "no running event loop". Here those events simply wait for
    the next call.
    """

    def run_until_complete(self, future: Any) -> Any:
        if self.is_running():
            raise RuntimeError("Event loop already running")
        task = asyncio.ensure_future(future, loop=self)

        def stop(_done: Any) -> None:
            self.stop()

        task.add_done_callback(stop)
        try:
            self.run_forever()
        finally:
            task.remove_done_callback(stop)
        if not task.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return task.result()


def _qasync_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop = _TestQEventLoop(_qt_app())
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test under tests/gui runs on a qasync loop."""
    return {"qasync": _qasync_loop}


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend holding secrets in a dict (what a system keyring does, in memory)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def credentials(memory_keyring: MemoryKeyring) -> CredentialStore:
    """A credential store over an in-memory keyring (the user's keyring is never touched)."""
    return CredentialStore(backend=memory_keyring)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The tiny demo model, built once and cached across test sessions (it takes ~35 s)."""
    from lambda_gui.simulator.tiny_model import build_tiny_model

    return build_tiny_model(Path(tempfile.gettempdir()) / "lambda-gui-test-cache" / "tiny-llama")


def sim_credentials(sim: Any) -> dict[str, str]:
    """connect() credentials for the test simulator."""
    return {
        "api_key": sim.api_key,
        "ssh_key_path": str(sim.test_key_path),
        "base_url": sim.base_url,
    }


@pytest.fixture
async def gui_connector(sim: Any) -> AsyncIterator[LambdaLabsConnector]:
    """A connector to the test simulator with no pacing and short waits."""
    connector = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), timing=FAST)
    await connector.connect(sim_credentials(sim))
    try:
        yield connector
    finally:
        await connector.disconnect()


@pytest.fixture
async def window(
    gui_connector: LambdaLabsConnector, credentials: CredentialStore, sim: Any
) -> AsyncIterator[MainWindow]:
    """The main window over a connected connector, loaded."""
    win = MainWindow(gui_connector, credentials)
    win.resize(1280, 820)
    win.show()
    win.connected = True
    await win.load_all()
    try:
        yield win
    finally:
        await close_window(win)


async def close_window(win: MainWindow) -> None:
    """Cancel the GUI's tasks and close the window for good."""
    await cancel_slot_tasks()
    win.bridge.detach()
    win.quitting = True
    win.close()
    win.deleteLater()


@pytest.fixture
def no_file_dialogs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail a test that opens a real file dialog (they block); tests monkeypatch answers."""
    from PySide6.QtWidgets import QFileDialog

    opened: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[1:2]))
        raise AssertionError("a real file dialog was opened in a test")

    for name in ("getSaveFileName", "getOpenFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(refuse))
    yield opened


@dataclass
class DemoApp:
    """The app's main window on a running demo cloud (the simulator and the tiny model)."""

    demo: DemoCloud
    window: MainWindow


@pytest.fixture
async def demo_app(tiny_model: Path, credentials: CredentialStore) -> AsyncIterator[DemoApp]:
    """The main window connected to a demo cloud whose instances boot in half a second; its
    tracker secrets go to `credentials` (an in-memory keyring)."""
    demo = await start_demo(model_dir=tiny_model, boot_seconds=0.5)
    connector = demo.make_connector(
        pacer=Pacer(min_interval=0.0, launch_interval=0.0), secrets=credentials
    )
    window = MainWindow(connector, credentials, demo=demo)
    window.resize(1280, 820)
    window.show()
    try:
        await window.connect_with(demo.credentials)
        yield DemoApp(demo, window)
    finally:
        await close_window(window)
        await connector.disconnect()
        await demo.stop()
