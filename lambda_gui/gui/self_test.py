"""`lambda-gui --self-test`: check that this installation (a frozen app included) works.

Each check exercises what a frozen app most often loses: Qt's platform plugin, the files read
through importlib.resources (the job scripts sent to instances, the JSON assets), pyqtgraph's
painting, the CA bundle for TLS, the keyring's backends, the SSH libraries' native code, an
HTTP round trip to the built-in simulator and the main window. Nothing touches the network, the
user's keyring or the user's data folder.

One line per check, `ok    name: detail` or `FAIL  name: error`, then a summary; a check that
fails does not stop the others. The exit status is 0 only when every check passed.
"""

from __future__ import annotations

from lambda_gui.gui import qt_env  # noqa: F401  (pins the Qt binding before qasync loads)
from lambda_gui.gui.app_identity import apply_identity
from lambda_gui.gui.gc_guard import GuiThreadCollector

# isort: split

import asyncio
import inspect
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

import qasync
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

#: A check that has not finished after this long fails (the others still run).
CHECK_TIMEOUT_S = 10.0
#: The bundled JSON assets the app reads (lambda_gui/assets).
ASSET_FILES = ("billing.json", "gpu-prices.json", "lambda-catalog.json")


class SelfTestError(Exception):
    """A check found something wrong."""


def _require(condition: object, problem: str) -> None:
    if not condition:
        raise SelfTestError(problem)


@dataclass
class SelfTestContext:
    """What the checks share: how the Qt platform was chosen."""

    platform_note: str = ""


# -- the checks --------------------------------------------------------------------------


def check_qt_platform(ctx: SelfTestContext) -> str:
    """Qt's platform plugin loaded."""
    import PySide6
    from PySide6.QtCore import qVersion

    name = QGuiApplication.platformName()
    _require(name, "no Qt platform plugin is loaded")
    return f"platform {name}{ctx.platform_note}, Qt {qVersion()}, PySide6 {PySide6.__version__}"


def check_remote_scripts(ctx: SelfTestContext) -> str:
    """The files sent to instances and the JSON assets are readable as package data."""
    from lambda_gui.remote.bundle_files.protocol import (
        BOOTSTRAP_FILE,
        FORMAT_FILE,
        PROTOCOL_FILE,
        TRAIN_FILE,
    )
    from lambda_gui.remote.self_terminate import WATCHDOG_FILE

    # Read the way remote/bundle.py and remote/self_terminate.py read them.
    bundled = resources.files("lambda_gui.remote").joinpath("bundle_files")
    sources = {
        name: bundled.joinpath(name).read_bytes()
        for name in (BOOTSTRAP_FILE, TRAIN_FILE, PROTOCOL_FILE, WATCHDOG_FILE)
    }
    sources[FORMAT_FILE] = resources.files("lambda_gui.core").joinpath(FORMAT_FILE).read_bytes()
    for name, data in sources.items():
        _require(data.strip(), f"{name} is empty")
        if name.endswith(".py"):
            compile(data, name, "exec")  # a cut-off or mangled file raises SyntaxError
    assets = resources.files("lambda_gui.assets")
    found = sorted(e.name for e in assets.iterdir() if e.name.endswith(".json"))
    missing = [name for name in ASSET_FILES if name not in found]
    _require(not missing, f"assets missing: {', '.join(missing)}")
    for name in found:
        try:
            json.loads(assets.joinpath(name).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SelfTestError(f"assets/{name} is not valid JSON: {exc}") from exc
    demo_rows = assets.joinpath("demo", "demo_dataset.jsonl").read_bytes()
    _require(demo_rows.strip(), "assets/demo/demo_dataset.jsonl is empty")
    return f"{len(sources)} instance files, {len(found)} JSON assets and the demo dataset read"


async def check_plot(ctx: SelfTestContext) -> str:
    """pyqtgraph draws a curve into an image."""
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    try:
        widget.resize(400, 300)
        widget.plot([0.0, 1.0, 4.0, 9.0, 16.0], pen=pg.mkPen("r", width=3))
        widget.show()
        await asyncio.sleep(0.05)
        image = widget.grab().toImage()
        _require(not image.isNull(), "grab() gave a null image")
        colours = _sampled_colours(image)
        _require(len(colours) > 1, "the plot image is a single colour: nothing was drawn")
        return f"{image.width()}x{image.height()} image, {len(colours)} colours sampled"
    finally:
        widget.close()
        widget.deleteLater()


def _sampled_colours(image: QImage, step: int = 4) -> set[int]:
    return {
        image.pixel(x, y)
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }


def check_tls(ctx: SelfTestContext) -> str:
    """The CA bundle ships with the app and the HTTPS context verifies with it."""
    import ssl

    import certifi

    from lambda_gui.cloud.tls import tls_context

    bundle = Path(certifi.where())
    _require(bundle.is_file(), f"certifi's CA bundle is missing: {bundle}")
    context = tls_context()
    count = context.cert_store_stats()["x509_ca"]
    _require(count > 0, f"no CA certificates were loaded from {bundle}")
    _require(context.verify_mode == ssl.CERT_REQUIRED, "certificates are not verified")
    _require(context.check_hostname, "host names are not checked")
    return f"{count} CA certificates from {bundle.name}, verification on ({ssl.OPENSSL_VERSION})"


async def check_keyring(ctx: SelfTestContext) -> str:
    """The keyring library loads and finds a backend."""
    import keyring

    from lambda_gui.services.credentials import describe_backend

    # Only asks which backend is in use: no secret is read or written.
    backend = await asyncio.to_thread(keyring.get_keyring)
    info = describe_backend(backend)
    if not info.can_store:
        return f"{info.name}: no system keyring: keys kept for this session only"
    return info.name + ("" if info.secure else " (stores secrets in plain text)")


def check_ssh_libraries(ctx: SelfTestContext) -> str:
    """paramiko, scp and asyncssh load, with their native cryptography."""
    import asyncssh
    import paramiko
    import scp  # noqa: F401  (imported to prove it is there)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    # An Ed25519 key made by cryptography, read by paramiko (its Ed25519 code is PyNaCl's),
    # then a signature made and checked: every native library the SSH code needs.
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(pem))
    public = paramiko.Ed25519Key(data=key.asbytes())
    signature = paramiko.Message(key.sign_ssh_data(b"lambda-gui self-test").asbytes())
    _require(
        public.verify_ssh_sig(b"lambda-gui self-test", signature),
        "paramiko could not verify its own Ed25519 signature",
    )
    asyncssh.generate_private_key("ssh-ed25519")
    return f"paramiko {paramiko.__version__}, asyncssh {asyncssh.__version__}, Ed25519 keys work"


async def check_simulator_request(ctx: SelfTestContext) -> str:
    """An HTTP round trip on this loop: the built-in simulator lists its instance types."""
    import aiohttp

    from lambda_gui.cloud.client import LambdaCloudClient
    from lambda_gui.cloud.pacing import Pacer
    from lambda_gui.simulator import Simulator, SimulatorConfig

    with tempfile.TemporaryDirectory(prefix="lambda-gui-self-test-") as root:
        simulator = Simulator(SimulatorConfig(root_dir=Path(root) / "cloud"))
        try:
            await simulator.start()
            async with aiohttp.ClientSession() as session:
                client = LambdaCloudClient(
                    session,
                    simulator.base_url,
                    simulator.api_key,
                    pacer=Pacer(min_interval=0.0, launch_interval=0.0),
                    connect_timeout=5.0,
                    read_timeout=5.0,
                )
                types = await client.list_instance_types()
        finally:
            await simulator.stop()
    _require(types, "the simulator listed no instance types")
    return f"{len(types)} instance types listed by the simulator"


async def check_main_window(ctx: SelfTestContext) -> str:
    """The main window builds, shows and paints, then closes without leaving tasks behind."""
    import keyring.backends.fail

    from lambda_gui.gui.main_window import MainWindow, close_and_disconnect
    from lambda_gui.services.connector import LambdaLabsConnector
    from lambda_gui.services.credentials import CredentialStore
    from lambda_gui.services.paths import AppPaths

    with tempfile.TemporaryDirectory(prefix="lambda-gui-self-test-") as root:
        connector = LambdaLabsConnector(paths=AppPaths(Path(root) / "app"))
        # The fail backend: nothing is read from or written to the user's keyring.
        no_keyring = keyring.backends.fail.Keyring()  # type: ignore[no-untyped-call]
        credentials = CredentialStore(backend=no_keyring)
        window: MainWindow | None = None
        try:
            window = MainWindow(connector, credentials, dialogs=False)
            window.resize(1000, 700)
            window.show()
            await asyncio.sleep(0.2)
            image = window.grab().toImage()
            _require(not image.isNull(), "grab() gave a null image")
            _require(len(_sampled_colours(image, 8)) > 1, "the window image is a single colour")
            tabs = window.tabs.count()
            return f"{image.width()}x{image.height()} image, {tabs} tabs"
        finally:
            await close_and_disconnect(window, connector)


async def check_log_reader_process(ctx: SelfTestContext) -> str:
    """The worker process that reads a flooding log starts (as this program, when packaged)
    and reads a batch as the app's own reader does."""
    from lambda_gui.core.log_reader import LogReader, decode_lines
    from lambda_gui.services.log_read_pool import LogReadPool
    from lambda_gui.services.queued_lines import QueuedLines

    lines = [b'LGUI_METRIC {"step": %d, "loss": 1.5}\n' % i for i in range(1, 501)]
    pool = LogReadPool(min_lines=1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lambda-gui-self-test-") as folder:
        log = Path(folder) / "train.log"  # the worker reads a batch from the local log
        log.write_bytes(b"".join(lines))
        span = (str(log), 0, log.stat().st_size)
        try:
            while True:  # the first calls start the worker; they read nothing
                queued = QueuedLines(lines)
                done = await pool.read(LogReader(keep=100), queued, span, pool.slot("t"))
                _require(not pool.broken, "the worker process failed (see the log)")
                if done is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            pool.close()
        _reader, text, read = done
        want = LogReader(keep=100).read(decode_lines(lines))
        same = list(text) == decode_lines(lines) and read == want  # the text: from the file
    _require(same, "the worker read the lines otherwise")
    return f"worker process read {len(lines)} lines ({time.perf_counter() - started:.2f} s)"


#: Each check returns its detail or raises; a check that only reads runs synchronously.
CHECKS: tuple[tuple[str, Callable[[SelfTestContext], Awaitable[str] | str]], ...] = (
    ("qt-platform", check_qt_platform),
    ("remote-scripts", check_remote_scripts),
    ("plot", check_plot),
    ("tls", check_tls),
    ("keyring", check_keyring),
    ("ssh-libraries", check_ssh_libraries),
    ("simulator-request", check_simulator_request),
    ("main-window", check_main_window),
    ("log-reader-process", check_log_reader_process),
)


# -- running -----------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, SelfTestError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _run_one(
    check: Callable[[SelfTestContext], Awaitable[str] | str], ctx: SelfTestContext
) -> str:
    result = check(ctx)
    if not inspect.isawaitable(result):
        return result
    scope = asyncio.timeout(CHECK_TIMEOUT_S)
    try:
        async with scope:
            detail: str = await result
            return detail
    except TimeoutError:
        if scope.expired():
            raise SelfTestError(f"did not finish within {CHECK_TIMEOUT_S:g} s") from None
        raise


async def run_checks(ctx: SelfTestContext, out: TextIO) -> int:
    """Run every check on the running loop, printing one line each; how many passed."""
    passed = 0
    for name, check in CHECKS:
        try:
            detail = await _run_one(check, ctx)
        except Exception as exc:
            line = f"FAIL  {name}: {_one_line(exc)}"
        else:
            passed += 1
            line = f"ok    {name}: {detail}"
        print(line, file=out, flush=True)
    print(f"self-test: {passed} of {len(CHECKS)} checks passed", file=out, flush=True)
    return passed


def _choose_platform() -> str:
    """Use the offscreen platform where no display can be reached (Linux without X or
    Wayland); QT_QPA_PLATFORM, when set, is left alone. What was chosen, for the report."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return ""
    if sys.platform in ("darwin", "win32") or sys.platform.startswith("cygwin"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return " (no DISPLAY or WAYLAND_DISPLAY: offscreen chosen)"


def run_self_test(out: TextIO = sys.stdout) -> int:
    """Create Qt and a qasync loop, run every check, print the report; 0 when all passed."""
    ctx = SelfTestContext()
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        ctx.platform_note = _choose_platform()
        app = QApplication(sys.argv[:1])
        apply_identity(app)  # the icon is loaded from the package: checked too
    # Closing a check's window must not quit Qt under the running loop.
    app.setQuitOnLastWindowClosed(False)
    collector = GuiThreadCollector(app)  # as in the app: cycles die on the GUI thread
    collector.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        passed = loop.run_until_complete(run_checks(ctx, out))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        collector.stop()
    return 0 if passed == len(CHECKS) else 1
