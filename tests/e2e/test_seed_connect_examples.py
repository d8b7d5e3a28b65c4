"""Done-when of the foundation issue: the seed's connect / list / pricing examples run as
written against `python -m lambda_gui.simulator`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def standalone_simulator(sim_process: Any) -> dict[str, str]:
    """`python -m lambda_gui.simulator --json` in a subprocess; gpu_1x_a100 (the seed's type,
    which has no capacity in the simulator's realistic catalog) gets capacity in us-east-1."""
    body = json.dumps({"instance_type_name": "gpu_1x_a100", "region": "us-east-1", "n": 2})
    req = urllib.request.Request(
        sim_process.control_url + "/capacity",
        data=body.encode(),
        headers={"Authorization": f"Bearer {sim_process.api_key}"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200
    return {
        "base_url": sim_process.base_url,
        "api_key": sim_process.api_key,
        "ssh_key_path": sim_process.ssh_key_path,
    }


def _env(sim: dict[str, str]) -> dict[str, str]:
    return os.environ | {
        "LAMBDA_API_KEY": sim["api_key"],
        "LAMBDA_SSH_KEY_PATH": sim["ssh_key_path"],
        "LAMBDA_BASE_URL": sim["base_url"],
    }


def test_seed_connect_list_and_pricing_examples(
    standalone_simulator: dict[str, str], tmp_path: Path
) -> None:
    env = _env(standalone_simulator)
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


@pytest.mark.slow
def test_seed_submit_monitor_download_cancel_examples(
    standalone_simulator: dict[str, str], tmp_path: Path, tiny_model: Path
) -> None:
    from lambda_gui.simulator.tiny_model import demo_dataset_path

    env = _env(standalone_simulator) | {
        "TINY_MODEL": str(tiny_model),
        "DEMO_DATASET": str(demo_dataset_path()),
    }
    out = subprocess.run(
        [sys.executable, str(HERE / "seed_examples" / "submit_monitor_download_cancel.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    text = out.stdout
    assert "Job submitted: " in text
    assert "Job status: pending" in text
    assert "LGUI_METRIC" in text
    assert "Final status: completed" in text
    assert "Saved adapter.tar.gz: " in text
    assert (tmp_path / "adapter.tar.gz").stat().st_size > 1000
    assert "Job cancelled successfully" in text
    assert "Cancelled status: cancelled" in text
