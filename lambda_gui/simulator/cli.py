"""The standalone simulator: prints where it listens and the credentials to use, runs until
Ctrl-C or SIGTERM, then terminates every instance and removes every file it made."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from lambda_gui.simulator.config import SimulatorConfig
from lambda_gui.simulator.simulator import Simulator

KEY_NAME = "lambda-gui-simulator"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m lambda_gui.simulator",
        description="Run a local Lambda Cloud (REST API + SSH instances) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    parser.add_argument(
        "--boot-seconds", type=float, default=3.0, help="seconds an instance spends booting"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON line {"base_url", "api_key", "ssh_key_path"} when ready',
    )
    parser.add_argument(
        "--rate-limits", action="store_true", help="pace requests as Lambda does (429s)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start, announce, wait for a stop signal, clean up."""
    sim = Simulator(
        SimulatorConfig(
            port=args.port, boot_seconds=args.boot_seconds, rate_limits=args.rate_limits
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await sim.start()
        key_path = sim.generate_key_pair(KEY_NAME)
        if args.json:
            line = {"base_url": sim.base_url, "api_key": sim.api_key, "ssh_key_path": str(key_path)}
            print(json.dumps(line), flush=True)
        else:
            print(f"Lambda Cloud simulator at {sim.base_url}", flush=True)
            print(f"API key:      {sim.api_key}", flush=True)
            print(f"SSH key:      {key_path} (registered as {KEY_NAME!r})", flush=True)
            print("Ctrl-C stops it and removes every instance and file.", flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    return 0
