"""The first paint pays only for Qt and our widgets (bench/bench_startup.py measures the time;
this holds the cause): building and painting the main window imports no network, SSH, keyring
or plotting library. They load when first needed: at connect, or on the tab that needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "aiohttp",
    "paramiko",
    "cryptography",
    "asyncssh",
    "numpy",
    "pyqtgraph",
    "keyring",
    # The log reader (its pool is held by the connector from the start) and the process
    # machinery load with the first followed log.
    "lambda_gui.core.log_reader",
    "concurrent.futures.process",
)

PAINT = """
import asyncio, json, sys
import lambda_gui.gui
import qasync
from PySide6.QtWidgets import QApplication
from lambda_gui import LambdaLabsConnector
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.credentials import CredentialStore
app = QApplication([])
asyncio.set_event_loop(qasync.QEventLoop(app))
w = MainWindow(LambdaLabsConnector(), CredentialStore(), dialogs=False)
w.resize(1280, 820); w.show(); w.grab()
painted = sorted(m for m in HEAVY if m in sys.modules)
w.tabs.setCurrentIndex(1)  # Pricing: its chart needs pyqtgraph
w.grab()
print(json.dumps({"painted": painted, "pricing": "pyqtgraph" in sys.modules,
                  "tab": type(w.tabs.currentWidget()).__name__}))
"""


def test_the_first_paint_imports_no_heavy_library() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = f"HEAVY = {HEAVY!r}\n" + PAINT
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["painted"] == []
    # The tab that needs a library loads it when it is shown, and callers see the real panel.
    assert result["pricing"] is True
    assert result["tab"] == "PricingPanel"
