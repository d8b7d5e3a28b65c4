"""GUI tests run on a real qasync loop: pytest-asyncio builds each test's event loop with
qasync.QEventLoop over the one QApplication, so async tests, async fixtures (the simulator)
and Qt widgets share one loop, as in the app. Waiting is done with `await`, never with
qtbot.wait (a nested Qt loop would re-enter the asyncio loop)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest
import qasync
from PySide6.QtWidgets import QApplication


def _qt_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    return app


def _qasync_loop() -> asyncio.AbstractEventLoop:
    return qasync.QEventLoop(_qt_app())


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test under tests/gui runs on a qasync loop."""
    return {"qasync": _qasync_loop}
