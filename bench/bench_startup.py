"""Benchmark (not a test): start-up to the first painted main window, against a bare Qt window.

Run: .venv/bin/python bench/bench_startup.py [--repeat 5]

Each case runs in a fresh interpreter (so imports are really paid for), offscreen, and prints
the seconds from process start to a painted window (QWidget.grab forces the paint):
  reference   QApplication + an empty QMainWindow (what any PySide6 app pays)
  lambda-gui  QApplication + the app's MainWindow with every tab, not connected
The ratio says what our own imports and widgets add on top of Qt itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

REFERENCE = """
import time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1280, 820); w.show(); w.grab()
print(time.perf_counter() - t0)
"""

OURS = """
import time
t0 = time.perf_counter()
import asyncio
import lambda_gui.gui  # pins the Qt binding
import qasync
from PySide6.QtWidgets import QApplication
from lambda_gui import LambdaLabsConnector
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.credentials import CredentialStore
app = QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)
w = MainWindow(LambdaLabsConnector(), CredentialStore(), dialogs=False)
w.resize(1280, 820); w.show(); w.grab()
print(time.perf_counter() - t0)
"""


def _time(code: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ref = statistics.median(_time(REFERENCE) for _ in range(args.repeat))
    ours = statistics.median(_time(OURS) for _ in range(args.repeat))
    print(f"reference (bare Qt window): {ref * 1000:7.0f} ms")
    print(f"lambda-gui main window:     {ours * 1000:7.0f} ms")
    print(f"ratio: {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
