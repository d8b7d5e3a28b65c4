"""Render each part of the app in demo mode into docs/screenshots/*.png, at 1280x820 and 900x600.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/render_screenshots.py
    .venv/bin/python scripts/render_screenshots.py [--out docs/screenshots] [--sizes 1280x820]

Under X (Xvfb) it renders with the xcb platform, as a person sees it; without a display,
offscreen. Starts the built-in simulator (the first run builds the tiny demo model, ~30 s),
fills the window as a user would, runs one demo job per size, and grabs the window at each step:
NAME.png at 1280x820, NAME-900x600.png at 900x600. Every shot is checked for clipped text (a
label or button narrower than its text, without wrapping) and nested scroll bars (a visible
scroll bar inside a scroll area that shows one too); any found is listed and the exit status
is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
# Screenshots never read or write the keyring of the machine that renders them.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

from lambda_gui.gui import qt_env  # noqa: E402,F401  (pins the Qt binding)

# isort: split

import aiohttp  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QLabel,
    QLineEdit,
    QScrollBar,
    QWidget,
)

from lambda_gui.cloud.pacing import Pacer  # noqa: E402
from lambda_gui.core.models import JobPhase  # noqa: E402
from lambda_gui.gui.app_identity import apply_identity  # noqa: E402
from lambda_gui.gui.dialogs.welcome import WelcomeDialog  # noqa: E402
from lambda_gui.gui.error_report import ErrorReporter  # noqa: E402
from lambda_gui.gui.main_window import MainWindow  # noqa: E402
from lambda_gui.gui.style import apply_accessible_palette  # noqa: E402
from lambda_gui.services.connector import LambdaLabsConnector  # noqa: E402
from lambda_gui.services.credentials import CredentialStore  # noqa: E402
from lambda_gui.services.demo import (  # noqa: E402
    DEMO_INSTANCE_TYPE,
    DEMO_KEY_NAME,
    DEMO_TIMING,
    DemoCloud,
    start_demo,
)
from lambda_gui.services.events import Event, JobPhaseChanged  # noqa: E402
from lambda_gui.services.instance_control import Timing  # noqa: E402

SIZES = ((1280, 820), (900, 600))
PROBLEMS: list[str] = []
TERMINATE = "/api/v1/instance-operations/terminate"


async def settle(seconds: float = 0.4) -> None:
    """Let timers (plot redraw, log flush) and layouts run: the qasync loop runs Qt's events
    while it waits (QApplication.processEvents here would re-enter asyncio's tasks)."""
    await asyncio.sleep(seconds)


async def poll(predicate: Callable[[], bool], seconds: float = 600.0) -> None:
    """Wait until `predicate()` holds (RuntimeError after `seconds`)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the demo job")
        await asyncio.sleep(0.1)


def save(widget: QWidget, out: Path, name: str, suffix: str = "") -> None:
    """Grab a widget into out/name{suffix}.png, after checking what it shows."""
    path = out / f"{name}{suffix}.png"
    PROBLEMS.extend(f"{path.name}: {p}" for p in layout_problems(widget))
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(f"wrote {path}")


def layout_problems(root: QWidget) -> list[str]:
    """Clipped one-line texts and nested scroll bars among the visible children of `root`."""
    found = []
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) or w.width() <= 0:
            continue
        name = w.objectName() or type(w).__name__
        if isinstance(w, QLabel) and not w.wordWrap() and w.text():
            if w.minimumSizeHint().width() > w.width() + 1:
                found.append(f"clipped label {name}: {w.text()[:50]!r}")
        elif isinstance(w, QAbstractButton) and w.text():
            if w.sizeHint().width() > w.width() + 1:
                found.append(f"clipped button {name}: {w.text()[:50]!r}")
        elif isinstance(w, QScrollBar) and w.orientation().name == "Vertical":
            areas = []
            parent = w.parentWidget()
            while parent is not None and parent is not root.parentWidget():
                if isinstance(parent, QAbstractScrollArea):
                    bar = parent.verticalScrollBar()
                    if bar.isVisibleTo(root) and bar.maximum() > 0:
                        areas.append(parent)
                parent = parent.parentWidget()
            if len(areas) > 1:
                names = " inside ".join(a.objectName() or type(a).__name__ for a in areas)
                found.append(f"nested scroll bars: {names}")
    return sorted(set(found))


async def render(out: Path, sizes: tuple[tuple[int, int], ...] = SIZES) -> None:
    """Every screenshot, in the order a first-time user meets them, at each size."""
    credentials = CredentialStore()

    async def refuse(_key: str) -> None:
        raise RuntimeError("not used")

    welcome = WelcomeDialog(credentials, refuse, ErrorReporter(None, dialogs=False))
    await welcome.prepare()
    welcome.show()
    await settle()
    save(welcome, out, "welcome")
    welcome.close()
    for width, height in sizes:
        suffix = "" if (width, height) == SIZES[0] else f"-{width}x{height}"
        await render_window(out, credentials, (width, height), suffix)


async def render_window(
    out: Path, credentials: CredentialStore, size: tuple[int, int], suffix: str
) -> None:
    """The main window's screens at one size, with a demo job of its own."""
    demo = await start_demo(boot_seconds=2.0)
    # The demo's connector, giving up a refused terminate sooner (for the banners' shot).
    connector = LambdaLabsConnector(
        paths=demo.paths,
        pacer=Pacer(min_interval=0.0, launch_interval=0.0),
        timing=Timing(**{**DEMO_TIMING.__dict__, "terminate_attempts": 2}),
    )
    window = MainWindow(connector, credentials, demo=demo, dialogs=False)
    window.resize(*size)
    window.show()
    try:
        await window.connect_with(demo.credentials)
        await settle()
        save(window, out, "catalog", suffix)

        window.tabs.setCurrentWidget(window.pricing)
        pricing = window.pricing
        for row in range(pricing.proxy.rowCount()):
            if pricing.proxy.index(row, 0).data().startswith("H100"):
                pricing.table.selectRow(row)
                break
        await settle()
        save(window, out, "pricing", suffix)

        wizard = window.wizard
        window.tabs.setCurrentWidget(wizard)
        await settle()
        save(window, out, "wizard-model", suffix)
        wizard.go_next()
        await wizard.dataset_page.read_preview()
        await settle(1.0)
        save(window, out, "wizard-dataset", suffix)
        wizard.go_next()
        wizard.go_next()
        await settle()
        save(window, out, "wizard-hyperparameters", suffix)
        wizard.go_next()
        await settle()
        save(window, out, "wizard-compute", suffix)
        wizard.go_next()
        limits = wizard.limits_page
        plan = wizard.wizard.plan()
        budget = limits.editors["budget_usd"].widget
        runtime = limits.editors["max_runtime_minutes"].widget
        assert isinstance(budget, QLineEdit) and isinstance(runtime, QLineEdit)
        runtime.setText("30")
        if plan is not None:
            budget.setText(f"{plan.cost / 2:.2f}")  # below the estimate: the warning shows
        await settle()
        save(window, out, "wizard-limits", suffix)
        budget.setText("")
        wizard.go_next()
        await settle()
        save(window, out, "wizard-after", suffix)
        wizard.go_next()
        await settle()
        save(window, out, "wizard-review", suffix)

        # A longer run than the demo's default, so the shot catches it mid-training.
        wizard.wizard.set("num_epochs", 16.0)
        job_id = await wizard.launch()
        if job_id is None:
            raise RuntimeError("the demo job did not launch")
        detail = window.jobs.detail

        def phase() -> JobPhase:
            return window.jobs.records[job_id].phase

        await poll(lambda: detail.plot.series_length("loss") >= 150 or phase().is_terminal)
        await settle(0.6)
        save(window, out, "jobs-training", suffix)
        await poll(lambda: phase().is_terminal)
        await settle(0.6)
        if window.jobs.records[job_id].phase is not JobPhase.COMPLETED:
            raise RuntimeError(f"the demo job ended {window.jobs.records[job_id].phase.value}")
        save(window, out, "jobs-completed", suffix)

        if not suffix:
            dialog = window.settings_dialog()
            await dialog.prepare()
            dialog.show()
            await settle()
            save(dialog, out, "settings")
            dialog.close()

        await render_banners(window, demo)
        save(window, out, "money-banners", suffix)
    finally:
        window.quitting = True
        window.close()
        await connector.disconnect()
        await demo.stop()


async def render_banners(window: MainWindow, demo: DemoCloud) -> None:
    """A real orphan and a real refused terminate, for the red banners."""
    sim = demo.simulator
    body = {
        "region_name": "us-east-1",
        "instance_type_name": DEMO_INSTANCE_TYPE,
        "ssh_key_names": [DEMO_KEY_NAME],
        "name": "lambda-gui-0a1b2c3d4e5f",
    }
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.base_url}/instance-operations/launch", json=body, headers=headers) as r,
    ):
        r.raise_for_status()

    def refuse_terminates(event: Event) -> None:
        if isinstance(event, JobPhaseChanged) and event.phase is JobPhase.DOWNLOADING:
            sim.faults.fail_next(1000, kind="500", method="POST", path_prefix=TERMINATE)

    unsubscribe = window.connector.events.subscribe(refuse_terminates)
    try:
        job_id = await window.connector.submit_job(demo.training_config())
        window.show_job(job_id)
        await poll(lambda: "has not confirmed it terminated" in window.billing_banner.text(), 180)
    finally:
        unsubscribe()
    await window.check_orphans()
    await settle(0.6)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument(
        "--sizes",
        default="1280x820,900x600",
        help="window sizes, comma-separated (the first gives the unsuffixed names)",
    )
    args = parser.parse_args(argv)
    sizes = tuple((int(w), int(h)) for w, h in (part.split("x") for part in args.sizes.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    apply_identity(app)
    apply_accessible_palette(app)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(render(args.out, sizes))
    for problem in PROBLEMS:
        print(f"layout problem: {problem}", file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
