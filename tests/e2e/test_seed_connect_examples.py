"""Done-when of the foundation issue: the seed's connect / list / pricing examples run as
written against `python -m lambda_gui.simulator`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def standalone_simulator(tmp_path: Path) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambda_gui.simulator", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, (
            f"simulator printed nothing; stderr: {proc.stderr.read() if proc.stderr else ''}"
        )
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_seed_connect_list_and_pricing_examples(
    standalone_simulator: dict[str, str], tmp_path: Path
) -> None:
    env = os.environ | {
        "LAMBDA_API_KEY": standalone_simulator["api_key"],
        "LAMBDA_SSH_KEY_PATH": standalone_simulator["ssh_key_path"],
        "LAMBDA_BASE_URL": standalone_simulator["base_url"],
    }
    out = subprocess.run(
        [sys.executable, str(HERE / "seed_examples" / "connect_list_price.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "connected: True" in text
    assert "gpu_1x_a100: A100 (40 GB PCIe) - $1.99/hr" in text
    assert "  VRAM: 40GB" in text
    assert "Price: $1.99/hr" in text
    assert "Billing: Every 60s" in text
    assert "Minimum charge: 0s" in text
