"""Benchmark (not a test): a 1,000,000-line training log, end to end into the main window.

Run: .venv/bin/python bench/bench_firehose.py [--lines 1000000] [--json PATH] [--live-generator]

The simulator runs in its own process (a real instance does not share our interpreter); the
app (connector + MainWindow, offscreen unless DISPLAY is set) runs here on a qasync loop as it
does for a user. The job is submitted through the connector as any job is; only its bundle's
bootstrap.sh is swapped for one that writes realistic trainer output (tqdm bars with carriage
returns, the trainer's metric dicts, LGUI_METRIC / LGUI_STATUS lines, warnings, a
traceback-looking block, a few 10-100 KB lines; steps up to the job's max_steps) to train.log
as fast as the instance can, then leaves a small adapter and exit code 0. The lines are
generated beforehand and copied (cat): the simulated instance shares this machine's cores
with the app, and a real one does not (--live-generator generates them during the flood, the
way this bench ran until 2026-12-01). Everything after that is the app's own path:
follow over SSH -> batch -> parse -> events -> bridge -> Jobs tab (log view + loss curves).

Measured:
  lines/s       first line handed to the log view -> the last one read by it (and shown)
  lateness      a 10 ms QTimer on the GUI thread: how late each tick came (max, p99)
  RSS growth    this process's RSS when the first line arrives -> after the last one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Nothing heavy is imported at the top: the app's log reader process is spawned, and a spawned
# process imports the main module (this file) first; the app's own main module is light.

TARGET_LINES_PER_S = 300_000
TARGET_LATE_MAX_MS = 50.0
TARGET_LATE_P99_MS = 16.0
TARGET_RSS_MB = 100.0
TICK_MS = 10
GENERATOR_FILE = "firehose_gen.py"

# Runs on the simulated instance (its stdout is train.log). Lines per training step: a few
# tqdm redraws joined by carriage returns, the trainer's dict, an LGUI_METRIC line, and now
# and then plain text, a warning, a checkpoint status, a traceback-looking block, a long line.
GENERATOR = r"""
import json, sys
total = int(sys.argv[1])
out = sys.stdout.buffer
buf = []
n = 0
step = 0
max_steps = total // 5  # five lines or more a step: the steps stay within it, as a trainer's do
def emit(line):
    global n
    if n < total:
        buf.append(line)
        n += 1
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/home/ubuntu/lambda-gui/jobs/x/train.py", line 412, in <module>',
    "    main()",
    '  File "/usr/lib/python3/dist-packages/torch/utils/data/dataloader.py", line 631, in n',
    "    data = self._next_data()",
    "RuntimeError: DataLoader worker (pid 4242) is killed by signal: Bus error.",
    "Retrying the batch (firehose benchmark: not a real failure)",
]
emit(b'LGUI_STATUS {"phase": "training", "max_steps": %d, "world_size": 1}\n' % max_steps)
while n < total:
    step += 1
    loss = 2.5 / (1 + step / 5000) + (step % 7) * 0.001
    lr = 5e-5 * (1 - step / (max_steps + 1))
    pct = min(100, step * 100 // max_steps)
    bar = "%3d%%|%s%s| %d/%d [01:%02d<12:%02d, 8.31it/s]" % (
        pct, "#" * (pct // 10), " " * (10 - pct // 10), step, max_steps, step % 60, step % 60)
    emit(("\r" + bar + "\r" + bar + "\r" + bar + "\n").encode())
    emit(("{'loss': '%.4f', 'grad_norm': '%.4f', 'learning_rate': '%.3e', 'epoch': '%.2f'}\n"
          % (loss, 0.4 + (step % 13) * 0.01, lr, step / 1000)).encode())
    emit(b"LGUI_METRIC " + json.dumps({"step": step, "max_steps": max_steps,
         "epoch": round(step / 1000, 4), "loss": round(loss, 5), "learning_rate": lr,
         "grad_norm": 0.4 + (step % 13) * 0.01, "num_tokens": step * 4096,
         "time": 1000.0 + step * 0.12}).encode() + b"\n")
    emit(b"[rank0] step %d: 4096 tokens in 0.120 s\n" % step)
    emit(b"%s\n" % (bar.encode()))
    if step % 50 == 0:
        emit(b"/usr/lib/python3/dist-packages/torch/utils/checkpoint.py:91: UserWarning: "
             b"None of the inputs have requires_grad=True. Gradients will be None\n")
    if step % 2000 == 0:
        emit(b'LGUI_STATUS {"phase": "checkpoint", "step": %d}\n' % step)
    if step % 20000 == 0:
        for line in TRACEBACK:
            emit(line.encode() + b"\n")
    if step % 10000 == 5000:
        size = 10_000 + (step * 7919) % 90_000
        emit(b"tokenizer vocab dump: " + b"x" * size + b"\n")
    if len(buf) >= 4096:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
out.flush()
import time
with open("firehose_cpu.txt", "w") as cpu:  # what writing the log cost this process
    cpu.write(str(time.process_time()))
"""

# The log is written beforehand, then copied to train.log as fast as the instance can (cat):
# the simulated instance shares this machine's two cores with the app, and the generator's
# own Python (~1.6 s of CPU a million lines) would be charged to the app's flood, where a
# real instance writes on its own machine. --live-generator runs it during the flood instead.
BOOTSTRAP = """#!/bin/bash
cd "$(dirname "$0")"
{prepare}
echo 'LGUI_STATUS {"phase": "setting_up", "step": "start"}'
{write}
echo firehose > adapter.txt
tar czf adapter.tar.gz adapter.txt
sha256sum adapter.tar.gz > adapter.tar.gz.sha256
echo 0 > exit_code
"""


def _swap_bootstrap(lines: int, live: bool = False) -> None:
    """Make every bundle built in this process write the firehose log instead of training
    (`live`: the generator writes train.log during the flood, not beforehand)."""
    from lambda_gui.remote import bundle as B

    original: Callable[..., Any] = B.build_bundle
    # bootstrap.sh's status line is one of the lines.
    generate = f'"{sys.executable}" {GENERATOR_FILE} {lines - 1}'
    prepare, write = ("", generate) if live else (f"{generate} > firehose.log", "cat firehose.log")

    def build(*args: Any, **kwargs: Any) -> Any:
        built = original(*args, **kwargs)
        script = BOOTSTRAP.replace("{prepare}", prepare).replace("{write}", write)
        files = [
            replace(item, data=script.encode()) if item.path == B.BOOTSTRAP_FILE else item
            for item in built.files
        ]
        files.append(B.BundleFile(GENERATOR_FILE, GENERATOR.encode(), 0o644))
        return replace(built, files=tuple(files))

    B.build_bundle = build  # type: ignore[assignment]


def _start_simulator(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Any]:
    # Its output goes to a file: a pipe nobody reads would fill and stall the simulator.
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lambda_gui.simulator", "--json", "--boot-seconds", "0.5"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                return proc, json.loads(line)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the simulator did not start:\n" + log.read_text(errors="replace")[-2000:])


def _cpu_by_part(app: Any, simulator_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the app's process, its log reader process, and the simulator
    with what runs on its instances (the generator, tail): the simulated instance shares this
    machine's cores with the app, where a real one would not."""
    import psutil

    def cpu(process: Any, reaped: bool = False) -> float:
        # `reaped`: with what its children that ended used (the generator, once bash reaped it).
        try:
            t = process.cpu_times()
            return float(t.user + t.system + (t.children_user + t.children_system if reaped else 0))
        except psutil.Error:
            return 0.0

    parts = {"app": cpu(app), "reader": 0.0, "simulator": 0.0}
    for child in app.children(recursive=True):
        if child.pid == simulator_pid:
            parts["simulator"] += cpu(child, reaped=True)
        else:
            try:
                lineage = {p.pid for p in child.parents()}
            except psutil.Error:
                lineage = set()
            if simulator_pid in lineage:
                parts["simulator"] += cpu(child, reaped=True)
            else:
                parts["reader"] += cpu(child)
    return parts


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(lines: int, timeout_s: float) -> dict[str, float]:
    import psutil
    from PySide6.QtCore import Qt, QTimer

    from lambda_gui.cloud.pacing import Pacer
    from lambda_gui.core.models import TrainingConfig
    from lambda_gui.gui.async_slots import cancel_slot_tasks
    from lambda_gui.gui.gc_guard import freeze_what_lives
    from lambda_gui.gui.main_window import MainWindow
    from lambda_gui.services.connector import LambdaLabsConnector
    from lambda_gui.services.credentials import CredentialStore
    from lambda_gui.services.paths import AppPaths
    from lambda_gui.simulator.tiny_model import demo_dataset_path
    from tests.e2e.conftest import FAST  # the tests' short deadlines
    from tests.gui.conftest import MemoryKeyring  # the user's keyring is never touched

    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="bench-firehose-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        sim, creds = _start_simulator(env, Path(tmp) / "simulator.log")
        connector = LambdaLabsConnector(
            paths=AppPaths(Path(tmp) / "app"),
            pacer=Pacer(min_interval=0.0, launch_interval=0.0),
            timing=FAST,
        )
        win: MainWindow | None = None
        try:
            await connector.connect(creds)
            win = MainWindow(connector, CredentialStore(backend=MemoryKeyring()), dialogs=False)
            win.resize(1280, 820)
            win.show()
            win.connected = True
            await win.load_all()
            freeze_what_lives()  # as the app does once its window is up

            config = TrainingConfig(
                base_model="HuggingFaceTB/SmolLM2-135M",
                model_source="huggingface",
                resource_id="gpu_1x_a10",
                dataset_path=str(demo_dataset_path()),
                max_steps=lines // 5,  # as the generator says
                logging_steps=1,
            )
            job_id = await connector.submit_job(config)
            win.show_job(job_id)
            detail = win.jobs.detail
            view = detail.log_view
            plot = detail.plot  # the curves are built (they are lazy) and shown

            received = 0
            first_at = 0.0
            rss_first = 0
            cpu_first: dict[str, float] = {}
            original_append = view.append_lines

            late: list[float] = []
            rss_peak = 0
            last_tick = 0.0

            def counting_append(batch: Any, shown: Any = None) -> None:
                nonlocal received, first_at, rss_first, last_tick
                if len(batch) and not first_at:
                    # The bench's own sampling (psutil reads /proc: a few ms on this thread)
                    # is kept out of the window and out of the timer's lateness.
                    rss_first = process.memory_info().rss
                    cpu_first.update(_cpu_by_part(process, sim.pid))
                    first_at = time.perf_counter()
                    last_tick = 0.0  # the next tick starts the count
                received += len(batch)
                original_append(batch, shown)

            view.append_lines = counting_append  # type: ignore[method-assign,assignment]

            def on_tick() -> None:
                nonlocal last_tick, rss_peak
                now = time.perf_counter()
                if last_tick and first_at:
                    late.append(max(0.0, now - last_tick - TICK_MS / 1000))
                last_tick = now
                if len(late) % 50 == 0:
                    rss_peak = max(rss_peak, process.memory_info().rss)

            ticker = QTimer()
            ticker.setTimerType(Qt.TimerType.PreciseTimer)
            ticker.setInterval(TICK_MS)
            ticker.timeout.connect(on_tick)
            ticker.start()

            deadline = time.perf_counter() + timeout_s
            report = time.perf_counter() + 5
            while received < lines or view.pending_count:
                if time.perf_counter() > report:
                    report += 5
                    print(f"  ... {received:,} lines in the view", flush=True)
                if time.perf_counter() > deadline:
                    job = await connector.get_job(job_id)
                    print(f"job {job.phase} {job.error}; backfilling {detail.backfilling}")
                    for task in asyncio.all_tasks():
                        task.print_stack(limit=3)
                    raise SystemExit(f"timed out: {received} of {lines} lines reached the log view")
                await asyncio.sleep(0.005)
            done_at = time.perf_counter()
            ticker.stop()
            rss_end = process.memory_info().rss
            cpu_end = _cpu_by_part(process, sim.pid)
            # The generator runs detached on the simulated instance: it reports its own CPU.
            cpu_end["generator"] = sum(
                float(path.read_text() or 0) for path in Path(tmp).rglob("firehose_cpu.txt")
            )
            rss_peak = max(rss_peak, rss_end)
            seconds = done_at - first_at
            await asyncio.sleep(0.3)  # the plot's next redraw
            points = plot.series_length("loss")
            print(
                f"{received:,} lines in {seconds:.2f} s (view shows {view.line_count:,} rows; "
                f"loss curve {points:,} points)"
            )
            return {
                "lines_per_s": received / seconds,
                "seconds": seconds,
                "late_max_ms": max(late, default=0.0) * 1000,
                "late_p99_ms": _percentile(late, 0.99) * 1000,
                "ticks": float(len(late)),
                "rss_growth_mb": (rss_end - rss_first) / 2**20,
                "rss_peak_growth_mb": (rss_peak - rss_first) / 2**20,
                "loss_points": float(points),
                **{
                    f"cpu_{part}_s": cpu_end.get(part, 0.0) - cpu_first.get(part, 0.0)
                    for part in cpu_end
                },
            }
        finally:
            if win is not None:
                await cancel_slot_tasks()
                win.bridge.detach()
                win.quitting = True
                win.close()
            try:
                await asyncio.wait_for(connector.disconnect(), 30)
            except (TimeoutError, Exception) as exc:  # noqa: BLE001  (a benchmark's clean-up)
                print(f"disconnect: {exc!r}", file=sys.stderr)
            sim.terminate()
            sim.wait(30)


def _entries(result: dict[str, float], label: str = "") -> list[dict[str, Any]]:
    def entry(name: str, value: float, unit: str, target: float, higher: bool) -> dict[str, Any]:
        return {
            "name": name + label,
            "value": round(value, 2),
            "unit": unit,
            "reference": "target (issue: performance to the limit)",
            "reference_value": target,
            "ratio": round(value / target, 3) if target else None,
            "ok": value >= target if higher else value <= target,
        }

    return [
        entry("firehose_lines_per_s", result["lines_per_s"], "lines/s", TARGET_LINES_PER_S, True),
        entry("firehose_late_max", result["late_max_ms"], "ms", TARGET_LATE_MAX_MS, False),
        entry("firehose_late_p99", result["late_p99_ms"], "ms", TARGET_LATE_P99_MS, False),
        entry("firehose_rss_growth", result["rss_growth_mb"], "MB", TARGET_RSS_MB, False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (seconds)")
    parser.add_argument("--json", type=Path, help="write the figures here (a list of entries)")
    parser.add_argument(
        "--live-generator",
        action="store_true",
        help="generate the lines during the flood, on the cores the app runs on",
    )
    args = parser.parse_args()

    import qasync
    from PySide6.QtWidgets import QApplication

    import lambda_gui.gui  # noqa: F401  (pins the Qt binding)
    from lambda_gui.gui.gc_guard import GuiThreadCollector

    _swap_bootstrap(args.lines, live=args.live_generator)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    collector = GuiThreadCollector(app)  # as in the app: collection on the GUI thread only
    collector.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        result = loop.run_until_complete(run(args.lines, args.timeout))
    collector.stop()
    entries = _entries(result, " (generator live)" if args.live_generator else "")
    for item in entries:
        mark = "ok " if item["ok"] else "MISS"
        print(
            f"  {mark} {item['name']:22s} {item['value']:>12,.2f} {item['unit']:8s}"
            f" (target {item['reference_value']:,})"
        )
    print(
        f"  CPU during the flood: app {result['cpu_app_s']:.2f} s, log reader process "
        f"{result['cpu_reader_s']:.2f} s, simulator and its instance "
        f"{result['cpu_simulator_s']:.2f} s, "
        + (
            f"the instance's log generator {result['cpu_generator_s']:.2f} s"
            if args.live_generator
            else f"(the log generated beforehand: {result['cpu_generator_s']:.2f} s)"
        )
        + f" (2 cores x {result['seconds']:.2f} s)\n"
        f"  RSS peak growth {result['rss_peak_growth_mb']:.1f} MB, "
        f"{int(result['ticks'])} timer ticks"
    )
    if args.json:
        args.json.write_text(json.dumps(entries, indent=2) + "\n")


if __name__ == "__main__":
    main()
