"""`lambda-gui` / `python -m lambda_gui`: parse the command line and start the app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="lambda-gui",
        description="Fine-tune LLMs with LoRA on Lambda Cloud GPUs.",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the version and exit",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that this installation works (Qt, bundled files, TLS, keyring, SSH, the "
        "simulated cloud, the main window) without a network or an account, and exit",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the built-in simulated cloud: training runs on this computer, nothing is billed",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="with --demo: run one whole demo job without a window and print its progress",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="with --headless: where to save a screenshot of the main window (PNG)",
    )
    parser.add_argument(
        "--training-python",
        type=Path,
        metavar="PATH",
        help="with --demo: the Python interpreter the simulated instances train with (it needs "
        "torch, transformers, peft, trl, datasets and accelerate)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="Lambda Cloud API root (default https://cloud.lambda.ai/api/v1), e.g. a simulator "
        "started with `python -m lambda_gui.simulator`",
    )
    args = parser.parse_args(argv)
    if args.training_python is not None and not args.demo:
        parser.error("--training-python works with --demo only")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    if getattr(sys, "frozen", False):
        # A packaged app is its own Python: the log reader's worker process
        # (services/log_read_pool.py) starts as this executable, and runs here, not the app.
        import multiprocessing

        multiprocessing.freeze_support()
    args = parse_args(argv)
    if args.version:
        # Answered before anything loads Qt.
        from lambda_gui import __version__

        print(f"lambda-gui {__version__}")
        return 0
    if args.self_test:
        from lambda_gui.gui.self_test import run_self_test

        return run_self_test()
    # Imported here so --help answers without loading Qt; app pins the Qt binding first.
    from lambda_gui.app import AppOptions, run

    return run(
        AppOptions(
            demo=args.demo,
            headless=args.headless,
            screenshot=args.screenshot,
            base_url=args.base_url,
            training_python=args.training_python,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
