"""Simulated GPUs: an instance of a GPU type tells its commands how many GPUs its type has (the
variable bootstrap.sh's CUDA check honours) and lists them with an nvidia-smi stand-in; a CPU
type has neither."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lambda_gui.simulator.machine import SIMULATED_GPUS_VAR
from tests.simulator.helpers import connect, launch_active, run

QUERY = "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader"


async def _run_on(sim: Any, data: dict[str, Any], command: str) -> tuple[int, bytes, bytes]:
    """Run `command` on a launched instance over SSH: (exit status, stdout, stderr)."""
    client = await asyncio.to_thread(connect, data["ssh_port"], sim.test_key_path)
    try:
        result: tuple[int, bytes, bytes] = await asyncio.to_thread(run, client, command)
        return result
    finally:
        client.close()


@pytest.mark.parametrize(
    ("type_name", "region", "gpus"),
    [("gpu_2x_h100_sxm5", "us-south-2", 2), ("gpu_8x_a100", "us-west-1", 8)],
)
async def test_a_gpu_type_lists_its_gpus_as_simulated(
    sim: Any, type_name: str, region: str, gpus: int
) -> None:
    instance_id, data = await launch_active(sim, instance_type_name=type_name, region_name=region)
    status, out, err = await _run_on(
        sim, data, f'echo "${SIMULATED_GPUS_VAR}"; {QUERY}; nvidia-smi -L'
    )
    assert status == 0, err
    lines = out.decode().splitlines()
    assert lines[0] == str(gpus)
    queried, listed = lines[1 : 1 + gpus], lines[1 + gpus :]
    assert len(queried) == len(listed) == gpus
    assert all("(simulated)" in line and line.count(",") == 2 for line in queried)
    assert [line.split(":")[0] for line in listed] == [f"GPU {i}" for i in range(gpus)]
    assert all("simulated" in line for line in listed)


async def test_a_cpu_type_has_no_simulated_gpu(sim: Any) -> None:
    _, data = await launch_active(sim, instance_type_name="cpu_4x_general")
    status, out, _ = await _run_on(sim, data, f'echo "[${SIMULATED_GPUS_VAR}]"; echo "$PATH"')
    assert status == 0
    variable, path = out.decode().splitlines()
    assert variable == "[]"
    assert "gpu-bin" not in path
