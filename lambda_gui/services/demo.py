"""Demo mode: the built-in simulator as the cloud, in this process, and a tiny local model.

The simulator serves Lambda's API on 127.0.0.1 and its "instances" run the job on this
computer's CPU; nothing is billed. The tiny model is built once into the app data dir (in an
executor: it trains for half a minute the first time) and reused after that.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services import demo_python
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.demo_python import Say
from lambda_gui.services.instance_control import Timing
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.tracker_secrets import SecretKeeper
from lambda_gui.simulator.tiny_model import (
    DEMO_SETTINGS,
    build_tiny_model,
    demo_dataset_path,
)

if TYPE_CHECKING:
    from lambda_gui.simulator import Simulator

DEMO_KEY_NAME = "lambda-gui-demo"
DEMO_BOOT_SECONDS = 3.0
DEMO_INSTANCE_TYPE = "gpu_1x_a10"
# The simulator has no rate limits and boots in seconds: poll it often so the demo is brisk.
DEMO_TIMING = Timing(
    poll_s=0.5,
    boot_deadline_s=120.0,
    boot_deadline_multi_gpu_s=120.0,
    ssh_deadline_s=60.0,
    terminate_attempts=6,
    terminate_backoff_s=0.5,
)


def training_threads() -> int:
    """CPU threads for the demo's training: every core but one."""
    return max(1, (os.cpu_count() or 2) - 1)


def demo_model_dir(data_root: Path | None = None) -> Path:
    """Where the tiny demo model is cached (the app data dir unless given)."""
    root = data_root if data_root is not None else AppPaths.default().root
    return root / "demo" / "tiny-llama"


@dataclass
class DemoCloud:
    """A running simulator, the credentials to reach it and the demo model."""

    simulator: Simulator
    credentials: dict[str, str]
    model_dir: Path
    root: Path

    @property
    def paths(self) -> AppPaths:
        """The demo's own app data (store, job logs, adapters), removed when it stops."""
        return AppPaths(self.root / "app")

    def make_connector(
        self, *, pacer: Pacer | None = None, secrets: SecretKeeper | None = None
    ) -> LambdaLabsConnector:
        """A connector whose store and downloads live in this demo's own folder."""
        return LambdaLabsConnector(
            paths=self.paths,
            pacer=pacer or Pacer(min_interval=0.1, launch_interval=1.0),
            timing=DEMO_TIMING,
            secrets=secrets,
        )

    def training_config(self, resource_id: str = DEMO_INSTANCE_TYPE) -> TrainingConfig:
        """The demo job: the tiny local model on the bundled demo dataset."""
        return demo_training_config(self.model_dir, resource_id)

    async def stop(self) -> None:
        """Power off every simulated instance and remove the demo's store and files."""
        await self.simulator.stop()
        await asyncio.to_thread(shutil.rmtree, self.root, True)


def _quiet(_line: str) -> None:
    pass


def demo_draft(model_dir: Path, resource_id: str = DEMO_INSTANCE_TYPE) -> dict[str, Any]:
    """Wizard draft values for the demo job (a dict over TrainingConfig fields)."""
    values: dict[str, Any] = {
        "base_model": str(model_dir),
        "model_source": "local",
        "dataset_path": str(demo_dataset_path()),
        "resource_id": resource_id,
        "project_name": "demo",
        "max_seq_length": 128,
        "warmup_ratio": 0.05,
        "lr_scheduler": "cosine",
    }
    values.update({k: list(v) if isinstance(v, list) else v for k, v in DEMO_SETTINGS.items()})
    return values


def demo_training_config(model_dir: Path, resource_id: str = DEMO_INSTANCE_TYPE) -> TrainingConfig:
    """The demo job as a TrainingConfig (the wizard-only size dropped)."""
    return TrainingConfig.from_dict(demo_draft(model_dir, resource_id))


async def start_demo(
    *,
    model_dir: Path | None = None,
    boot_seconds: float = DEMO_BOOT_SECONDS,
    training_python: Path | None = None,
    say: Say | None = None,
) -> DemoCloud:
    """Start the simulator, register a key pair, build (or reuse) the tiny model.

    The simulated instances train with this process's Python, unless `training_python` is
    given or the app is packaged (no PyTorch inside): then with that Python, or python3 on
    PATH, prepared once in a cached venv (services/demo_python.py); `say` hears the progress.
    DemoSetupError says what to install when there is no usable Python."""
    from lambda_gui.simulator import Simulator, SimulatorConfig

    target = model_dir if model_dir is not None else demo_model_dir()
    python: Path | None = None
    shared_venv: Path | None = None
    if training_python is not None or demo_python.is_frozen():
        base = demo_python.find_python(training_python)
        shared_venv = target.parent / "training-venv"
        python = await demo_python.prepare(base, shared_venv, say or _quiet)
        built = await demo_python.build_model(python, target, demo_dataset_path(), say or _quiet)
    else:
        built = await asyncio.to_thread(build_tiny_model, target)
    root = Path(await asyncio.to_thread(partial(tempfile.mkdtemp, prefix="lambda-gui-demo-")))
    simulator = Simulator(
        SimulatorConfig(
            root_dir=root / "cloud",
            boot_seconds=boot_seconds,
            terminate_seconds=0.5,
            terminated_linger_seconds=30.0,
            extra_env={
                # The tiny model is local: the Hub is never needed, so never waited for.
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                # Training shares this computer with the app: leave it a core.
                "OMP_NUM_THREADS": str(training_threads()),
                # A Python without PyTorch gets the CPU build (bootstrap.sh reads this).
                "LGUI_TORCH_INDEX": demo_python.torch_index(),
            },
            python=python,
            shared_venv=shared_venv,
        )
    )
    try:
        await simulator.start()
        key_path = await asyncio.to_thread(simulator.generate_key_pair, DEMO_KEY_NAME)
    except BaseException:
        await simulator.stop()
        await asyncio.to_thread(shutil.rmtree, root, True)
        raise
    credentials = {
        "api_key": simulator.api_key,
        "ssh_key_path": str(key_path),
        "base_url": simulator.base_url,
    }
    return DemoCloud(simulator, credentials, built, root)
