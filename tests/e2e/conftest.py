"""Fixtures for end-to-end jobs: the tiny local model (built once) and a fast connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lambda_gui import LambdaLabsConnector, TrainingConfig
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.services.instance_control import Timing
from lambda_gui.simulator.tiny_model import build_tiny_model, demo_dataset_path

FAST = Timing(
    poll_s=0.2,
    boot_deadline_s=60,
    boot_deadline_multi_gpu_s=60,
    ssh_deadline_s=60,
    terminate_attempts=4,
    terminate_backoff_s=0.2,
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


def demo_config(model: Path, **changes: Any) -> TrainingConfig:
    """The demo job: the tiny local model on the demo dataset, a minute of CPU training."""
    values: dict[str, Any] = dict(
        base_model=str(model),
        model_source="local",
        algorithm="lora",
        rank=8,
        alpha=16,
        dropout=0.0,
        target_modules=["q_proj", "v_proj"],
        resource_id="gpu_1x_a10",
        dataset_path=str(demo_dataset_path()),
        learning_rate=5e-3,
        max_steps=40,
        batch_size=8,
        max_seq_length=64,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        logging_steps=2,
    )
    values.update(changes)
    return TrainingConfig(**values)


@pytest.fixture
async def connector(sim: Any) -> AsyncIterator[LambdaLabsConnector]:
    c = LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0), timing=FAST)
    await c.connect(
        {"api_key": sim.api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
    )
    try:
        yield c
    finally:
        await c.disconnect()
