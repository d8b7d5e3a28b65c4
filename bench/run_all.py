"""`make bench`: run every benchmark that compares us with a reference, side by side, and write
docs/benchmarks.md (each figure beside its reference, the ratio, the goal, the machine, the date).

Run: .venv/bin/python bench/run_all.py [--out docs/benchmarks.md] [--quick]

Each benchmark is a script in bench/ that writes its figures with --json; they run one after
the other (never together: they would measure each other). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lambda_gui.core.planner_references import (  # noqa: E402
    compare_all,
    markdown_table,
    median_memory_error,
    median_throughput_ratio,
)

# (script, arguments, arguments with --quick)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("bench_startup.py", ["--repeat", "7"], ["--repeat", "3"]),
    ("bench_transfer.py", ["--repeat", "5"], ["--repeat", "1", "--mib", "64"]),
    ("bench_firehose.py", [], ["--lines", "100000"]),
    ("bench_firehose.py", ["--live-generator"], ["--lines", "100000", "--live-generator"]),
]


def machine() -> str:
    """The machine in one line: CPU model, cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def run_one(script: str, args: list[str]) -> list[dict[str, Any]]:
    """Run one benchmark; its figures (an entry saying it failed if it did)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        sys.stdout.write(done.stdout)
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return [{"name": script, "error": f"exit {done.returncode}: {' | '.join(tail)}"}]
        return [normalize(f) for f in json.loads(out.read_text())]


def normalize(figure: dict[str, Any]) -> dict[str, Any]:
    """One benchmark's record in the table's terms (name, value, unit, reference, ratio, goal)."""
    if "case" in figure:  # bench_transfer.py: MB/s against OpenSSH scp
        case = str(figure["case"])
        return {
            "name": case[:1].upper() + case[1:],
            "value": figure.get("mb_s"),
            "unit": "MB/s",
            "reference": figure.get("reference"),
            "reference_value": figure.get("reference_mb_s"),
            "ratio": figure.get("ratio"),
            "goal": ">= 4x" if "RTT" in case else ">= 0.9x",
        }
    if "ok" in figure:  # bench_firehose.py: figures against the targets
        met = "met" if figure["ok"] else "NOT met"
        return {**figure, "goal": f"the target ({met})"}
    return figure


def _cell(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        value = f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value} {unit}".strip()


def render(figures: list[dict[str, Any]], when: str, where: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run_all.py`): every figure is measured beside its",
        "reference in the same run, on the machine below, one benchmark at a time. Ratios, not",
        "absolute times, are what the goals speak of.",
        "",
        f"- Date: {when}",
        f"- Machine: {where}",
        "",
        "| Benchmark | Ours | Reference | Reference's figure | Ratio | Goal |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        if "error" in f:
            lines.append(f"| {f['name']} | failed: {f['error']} | | | | |")
            continue
        unit = f.get("unit", "")
        ratio = f.get("ratio")
        lines.append(
            f"| {f['name']} | {_cell(f.get('value'), unit)} | {f.get('reference') or '—'} | "
            f"{_cell(f.get('reference_value'), unit)} | "
            f"{_cell(ratio) + 'x' if ratio is not None else '—'} | {f.get('goal') or '—'} |"
        )
    comparisons = compare_all()
    lines += [
        "",
        "The firehose's log is generated before the flood and copied to train.log as fast as",
        "the instance can (cat): the simulated instance shares these two cores with the app, a",
        'real one does not. The rows marked "generator live" generate it during the flood, on',
        "the app's cores. The firehose's path, where its time goes and what is left:",
        "docs/log-pipeline.md.",
        "",
        "## The planner against published measurements",
        "",
        f"Median error of peak memory {median_memory_error(comparisons):.1%}; median",
        f"throughput ratio {median_throughput_ratio(comparisons):.2f}x (goals: <= 20%, <= 2x).",
        "Sources, setups and what the planner does not model: docs/planner-references.md",
        "(rows in `lambda_gui/core/planner_references.py`, held by its tests).",
        "",
        markdown_table(comparisons),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args()
    figures: list[dict[str, Any]] = []
    for script, full, quick in BENCHMARKS:
        print(f"== {script}", flush=True)
        figures += run_one(script, quick if args.quick else full)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.out.write_text(render(figures, when, machine()), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
