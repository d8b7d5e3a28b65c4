"""Benchmark (not a test): start-up to the first painted main window, against a bare Qt window.

Run: .venv/bin/python bench/bench_startup.py [--repeat 5]

Each case runs in a fresh interpreter (so imports are really paid for), offscreen, and prints
the seconds from process start to a painted window (QWidget.grab forces the paint):
  reference   QApplication + an empty QMainWindow (what any PySide6 app pays)
  lambda-gui  QApplication + the app's MainWindow with every tab, not connected
The ratio says what our own imports and widgets add on top of Qt itself.

A third case, "connected": the same window connected to a simulator started beforehand (not
timed: it stands for Lambda), from connect() to the catalog's rows shown; it pays for aiohttp,
paramiko and the job services, which the first paint leaves out. `--json PATH` writes the
figures for `make bench`.
"""

from __future__ import annotations

import argparse
import json
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


CONNECTED = """
import asyncio, time
import lambda_gui.gui
import qasync
from PySide6.QtWidgets import QApplication
from lambda_gui import LambdaLabsConnector
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.demo import start_demo
app = QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)

async def run():
    demo = await start_demo()
    w = MainWindow(LambdaLabsConnector(), CredentialStore(), dialogs=False)
    w.resize(1280, 820); w.show(); w.grab()
    t0 = time.perf_counter()
    await w.connect_with(dict(demo.credentials))
    while w.catalog.model.rowCount() == 0:
        await asyncio.sleep(0.001)
    w.grab()
    seconds = time.perf_counter() - t0
    await w.connector.disconnect()
    await demo.stop()
    return seconds

print(loop.run_until_complete(run()), flush=True)
import os
os._exit(0)  # qasync's executor threads would abort the interpreter's teardown
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
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    args = parser.parse_args()
    ref = statistics.median(_time(REFERENCE) for _ in range(args.repeat))
    ours = statistics.median(_time(OURS) for _ in range(args.repeat))
    print(f"reference (bare Qt window): {ref * 1000:7.0f} ms")
    print(f"lambda-gui main window:     {ours * 1000:7.0f} ms")
    print(f"ratio: {ours / ref:.2f}x")
    connected = statistics.median(_time(CONNECTED) for _ in range(max(1, args.repeat // 2)))
    print(f"connected, catalog shown:   {connected * 1000:7.0f} ms (after connect() is called)")
    if args.json:
        figures = [
            {
                "name": "First paint of the main window",
                "value": round(ours * 1000),
                "unit": "ms",
                "reference": "a bare Qt window (QApplication + QMainWindow)",
                "reference_value": round(ref * 1000),
                "ratio": round(ours / ref, 2),
                "goal": "<= 3x",
            },
            {
                "name": "Connected, catalog shown (simulator)",
                "value": round(connected * 1000),
                "unit": "ms",
                "reference": None,
                "reference_value": None,
                "ratio": None,
                "goal": "",
            },
        ]
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=1)


if __name__ == "__main__":
    main()
