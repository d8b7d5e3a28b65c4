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
        "--base-url",
        metavar="URL",
        help="Lambda Cloud API root (default https://cloud.lambda.ai/api/v1), e.g. a simulator "
        "started with `python -m lambda_gui.simulator`",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    # Imported here so --help answers without loading Qt; app pins the Qt binding first.
    from lambda_gui.app import AppOptions, run

    return run(
        AppOptions(
            demo=args.demo,
            headless=args.headless,
            screenshot=args.screenshot,
            base_url=args.base_url,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
