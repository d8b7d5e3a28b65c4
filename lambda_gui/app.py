"""Composition root: the qasync event loop, the services, the main window, a clean shutdown."""

from __future__ import annotations

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before qasync loads)

# isort: split

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog

from lambda_gui.gui.app_identity import apply_identity
from lambda_gui.gui.async_slots import exec_dialog
from lambda_gui.gui.dialogs.welcome import WelcomeDialog
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.gc_guard import GuiThreadCollector, freeze_what_lives
from lambda_gui.gui.headless import run_headless_demo
from lambda_gui.gui.main_window import MainWindow, close_and_disconnect
from lambda_gui.gui.style import apply_accessible_palette
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.demo import DemoCloud, start_demo
from lambda_gui.services.demo_python import DemoSetupError


@dataclass
class AppOptions:
    """What the command line asked for."""

    demo: bool = False
    headless: bool = False
    screenshot: Path | None = None
    base_url: str | None = None
    # With --demo: the Python the simulated instances train with (None: found as the app
    # finds it, services/demo.py training_python).
    training_python: Path | None = None


def run(options: AppOptions) -> int:
    """Start Qt and the event loop, run the app until its window closes; the exit status."""
    if options.headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    apply_identity(app)  # name, icon, desktop file name (Wayland docks match it)
    apply_accessible_palette(app)  # text at >= 4.5:1 whichever window opens first
    app.setQuitOnLastWindowClosed(False)
    collector = GuiThreadCollector(app)  # cycles holding Qt objects die on this thread
    collector.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        status: int = loop.run_until_complete(run_app(options))
        return status
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        collector.stop()


async def run_app(options: AppOptions, credentials: CredentialStore | None = None) -> int:
    """The app's life on a running loop: choose the mode, show the window, shut down."""
    credentials = credentials or CredentialStore()
    if options.headless and not options.demo:
        print("--headless runs the demo: use it with --demo.", file=sys.stderr)
        return 2
    connector = LambdaLabsConnector(secrets=credentials)
    demo_wanted = options.demo
    if not demo_wanted and not await credentials.api_key():
        choice = await welcome(connector, credentials, options.base_url)
        if choice is None:
            await connector.disconnect()
            return 0
        demo_wanted = choice == "demo"
    demo: DemoCloud | None = None
    window: MainWindow | None = None
    try:
        if demo_wanted:
            await connector.disconnect()
            try:
                demo = await start_demo_showing_progress(options.headless, options.training_python)
            except DemoSetupError as exc:
                print(f"The demo cannot start: {exc}", file=sys.stderr)
                if not options.headless:
                    box = QMessageBox(
                        QMessageBox.Icon.Critical,
                        "Lambda GUI demo",
                        f"The demo cannot start: {exc}",
                    )
                    await exec_dialog(box)
                return 1
            connector = demo.make_connector(secrets=credentials)
        window = MainWindow(
            connector,
            credentials,
            demo=demo,
            dialogs=not options.headless,
            base_url=options.base_url,
        )
        if options.headless:
            assert demo is not None
            return await run_headless_demo(window, demo, options.screenshot)
        return await run_window(window, connector)
    finally:
        await shutdown(window, connector, demo)


async def start_demo_showing_progress(
    headless: bool, training_python: Path | None = None
) -> DemoCloud:
    """Start the demo cloud, saying so (it takes ~30 s the first time: the tiny model; a
    packaged app first prepares a Python to train with, which takes minutes once)."""
    text = "Starting the simulated cloud… The first start builds a tiny model (about 30 s)."
    print(text, flush=True)
    if headless:
        return await start_demo(training_python=training_python, say=_print_line)
    progress = QProgressDialog(text, "", 0, 0)
    progress.setCancelButton(None)
    progress.setWindowTitle("Lambda GUI demo")
    progress.setMinimumDuration(0)
    progress.show()

    def say(line: str) -> None:
        print(line, flush=True)
        progress.setLabelText(f"{text}\n\n{line[:120]}")

    try:
        return await start_demo(training_python=training_python, say=say)
    finally:
        progress.close()
        progress.deleteLater()


async def welcome(
    connector: LambdaLabsConnector, credentials: CredentialStore, base_url: str | None = None
) -> str | None:
    """The first-start dialog: "connect" (the connector is connected), "demo", or None."""

    async def connect_with(api_key: str) -> None:
        values = {"api_key": api_key}
        if base_url:
            values["base_url"] = base_url
        key_path = await credentials.ssh_key_path()
        if key_path:
            values["ssh_key_path"] = key_path
        await connector.connect(values)

    dialog = WelcomeDialog(credentials, connect_with, ErrorReporter(None))
    await dialog.prepare()
    await exec_dialog(dialog)
    return dialog.choice


async def run_window(window: MainWindow, connector: LambdaLabsConnector) -> int:
    """Show the window, connect, and wait until it is closed."""
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    _on_interrupt(window.close)
    window.show()
    if window.demo is not None or not await connector.verify_connection():
        try:
            await window.reconnect()
        except Exception as exc:
            window.reporter.report_exception("Could not connect to Lambda Cloud", exc)
    else:
        window.connected = True
        window.connection_label.setText(window.where())
        await window.load_all()
    # After the first paint and the first load: what lives now (the window, the connection)
    # lives long, and later full collections skip it.
    freeze_what_lives()
    await closed.wait()
    return 0


def _on_interrupt(callback: object) -> None:
    # Ctrl-C in the terminal closes the window (Qt's loop would otherwise swallow it).
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, callback)  # type: ignore[arg-type]
    except (NotImplementedError, RuntimeError, ValueError):
        pass


async def shutdown(
    window: MainWindow | None, connector: LambdaLabsConnector, demo: DemoCloud | None
) -> None:
    """Cancel the GUI's tasks, disconnect (jobs keep running on their instances), stop the demo."""
    await close_and_disconnect(window, connector)
    if demo is not None:
        await demo.stop()


def _print_line(line: str) -> None:
    print(line, flush=True)
