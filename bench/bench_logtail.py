"""Benchmark (not a test): lines per second through logtail.follow over a loopback sshd.

Run: .venv/bin/python bench/bench_logtail.py [--lines 1000000] [--repeat 3]

A log of trainer-like lines is written first; the follower then reads it from offset 0 and
the time until the last line is yielded is measured. `ssh ... cat` is timed beside it as the
floor a CLI gets over the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambda_gui.remote.ssh_session import connect  # noqa: E402
from tests.plugins.sshd import SSHDServer, running_sshd  # noqa: E402


def write_log(path: Path, lines: int) -> int:
    """Write `lines` trainer-like lines; returns the byte size."""
    with path.open("wb") as f:
        for i in range(lines):
            f.write(
                b"{'loss': '%.4f', 'grad_norm': '0.4258', 'learning_rate': '0.004417', "
                b"'epoch': '%d'}\n" % (1 / (i + 1), i)
            )
    return path.stat().st_size


async def follow_all(server: SSHDServer, rel: str, lines: int, known_hosts: Path) -> float:
    """Seconds to receive every line through follow()."""
    async with await connect(server.target(), known_hosts) as session:
        start = time.perf_counter()
        count = 0
        stream = session.follow(rel, 0)
        async for _line, _offset in stream:
            count += 1
            if count == lines:
                break
        seconds = time.perf_counter() - start
        await stream.aclose()  # type: ignore[attr-defined]
    return seconds


def ssh_cat(server: SSHDServer, rel: str) -> float:
    """Seconds for `ssh host cat file > /dev/null` (connection set-up included)."""
    start = time.perf_counter()
    subprocess.run(
        [
            "ssh",
            "-p",
            str(server.port),
            "-i",
            str(server.key_path),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"{server.username}@{server.host}",
            f"cat {rel}",
        ],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-logtail-") as tmp:
        base = Path(tmp)
        (base / "sshd").mkdir()
        with running_sshd(base / "sshd") as server:
            rel = f"{server.rel_dir}/train.log"
            size = write_log(server.workdir / "train.log", args.lines)
            print(f"{args.lines} lines, {size / 1e6:.1f} MB, median of {args.repeat}")
            ours, cli = [], []
            for _ in range(args.repeat):
                ours.append(asyncio.run(follow_all(server, rel, args.lines, base / "kh")))
                cli.append(ssh_cat(server, rel))
            for name, times in (("follow()", ours), ("ssh cat", cli)):
                median = statistics.median(times)
                print(f"  {name:9s} {median:6.2f} s  {args.lines / median / 1e3:7.0f} k lines/s")


if __name__ == "__main__":
    main()
