"""`lambda-gui --demo --headless`: one whole demo job without a window on screen, printed as
it goes, and a screenshot of the main window rendered offscreen."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lambda_gui.core.job_state import Billing
from lambda_gui.core.logparse import MetricEvent, expand_runs
from lambda_gui.core.models import JobPhase
from lambda_gui.gui.error_report import Report
from lambda_gui.gui.main_window import MainWindow
from lambda_gui.remote.archive import safe_extract
from lambda_gui.services.demo import DemoCloud
from lambda_gui.services.events import Event, JobLogEvents, JobPhaseChanged

Print = Callable[[str], None]
JOB_DEADLINE_S = 15 * 60.0
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def verify_adapter(archive: Path, target: Path) -> list[str]:
    """Unpack the adapter safely; the problems found (none: it is a usable PEFT adapter)."""
    folder = safe_extract(archive, target)
    problems = []
    configs = list(folder.rglob("adapter_config.json"))
    if not configs:
        problems.append("no adapter_config.json in the archive")
    elif not any((configs[0].parent / name).is_file() for name in ADAPTER_WEIGHTS):
        problems.append("no adapter weights beside adapter_config.json")
    return problems


def default_screenshot_path() -> Path:
    """Where the screenshot goes when no --screenshot was given."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"lambda-gui-demo-{stamp}.png"


async def run_headless_demo(
    window: MainWindow, demo: DemoCloud, screenshot: Path | None, out: Print = print
) -> int:
    """Run the demo job end to end; 0 only when it completed, verified and terminated."""
    started = time.monotonic()
    connector = window.connector
    window.reporter.reported.connect(
        lambda report: (
            out(f"ERROR {report.title}: {report.text.full()}")
            if isinstance(report, Report)
            else None
        )
    )
    window.resize(1280, 820)
    window.show()
    out(f"Simulated Lambda Cloud at {demo.simulator.base_url} (training runs on this CPU)")
    await window.connect_with(demo.credentials)
    resources = await connector.list_resources()
    free = [r for r in resources if r.available and r.gpu_count > 0]
    out(f"Catalog: {len(resources)} instance types, {len(free)} with capacity now:")
    for r in free[:6]:
        regions = ", ".join(g.name for g in r.regions)
        out(f"  {r.name:<24} {r.gpu_count}x {r.gpu_type:<28} ${r.hourly_rate:>6.2f}/h  {regions}")

    config = demo.training_config()
    finished = asyncio.Event()
    job_ref: list[str] = []

    def listen(event: Event) -> None:
        if job_ref and getattr(event, "job_id", None) != job_ref[0]:
            return
        if isinstance(event, JobPhaseChanged):
            out(f"[{time.monotonic() - started:6.1f}s] {event.phase.value}: {event.message}")
            if event.phase.is_terminal:
                finished.set()
        elif isinstance(event, JobLogEvents):
            for e in expand_runs(event.events):
                if isinstance(e, MetricEvent) and e.source == "lgui" and e.loss is not None:
                    lr = f"  lr {e.learning_rate:.4g}" if e.learning_rate is not None else ""
                    out(f"  step {e.step}/{e.max_steps}  loss {e.loss:.4f}{lr}")

    unsubscribe = connector.events.subscribe(listen)
    try:
        out(
            f"Submitting: {Path(config.base_model).name} (local) on "
            f"{Path(config.dataset_path).name}, {config.algorithm} r={config.rank}, "
            f"{config.resource_id}"
        )
        job_id = await connector.submit_job(config)
        job_ref.append(job_id)
        out(f"Job {job_id} accepted")
        window.show_job(job_id)
        if not (await connector.get_job(job_id)).phase.is_terminal:
            await asyncio.wait_for(finished.wait(), JOB_DEADLINE_S)
    finally:
        unsubscribe()

    job = await connector.get_job(job_id)
    ok = job.phase is JobPhase.COMPLETED
    if not ok:
        out(f"Job ended {job.phase.value}: {job.error or 'no error recorded'}")
    verified = False
    if ok:
        work = Path(
            await asyncio.to_thread(partial(tempfile.mkdtemp, prefix="lambda-gui-adapter-"))
        )
        dest = await connector.download_artifact(job_id, work / "adapter.tar.gz")
        data = await asyncio.to_thread(dest.read_bytes)
        digest = hashlib.sha256(data).hexdigest()
        problems = await asyncio.to_thread(verify_adapter, dest, work / "adapter")
        verified = not problems
        out(
            f"Adapter downloaded to {dest} ({len(data):,} bytes, sha256 {digest[:16]}…): "
            + (
                "verified, unpacked into " + str(work / "adapter")
                if verified
                else "; ".join(problems)
            )
        )
    status = demo.simulator.instance_status(job.instance_id) if job.instance_id else None
    terminated = job.billing is Billing.TERMINATED and status in (None, "terminating", "terminated")
    out(
        f"Instance {job.instance_name}: "
        + ("terminated" if terminated else f"NOT confirmed terminated (API says {status})")
    )

    path = screenshot or default_screenshot_path()
    await asyncio.sleep(0.5)  # let the plot's redraw timer and the log flush run
    window.jobs.detail.plot.redraw()
    window.jobs.detail.log_view.flush()
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        out(f"Could not save the screenshot to {path}")
    else:
        out(f"Screenshot of the main window: {path}")
    result = 0 if ok and verified and terminated else 1
    out(f"Demo {'succeeded' if result == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return result
