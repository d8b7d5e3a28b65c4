"""Instance lifecycles over time: booting -> active, terminating -> terminated, restarts,
preemption. One task per instance drives its current transition."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shlex
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from lambda_gui.simulator.account import Account
from lambda_gui.simulator.config import SimulatorConfig
from lambda_gui.simulator.machine import Machine, write_gpu_shim
from lambda_gui.simulator.records import InstanceRecord

log = logging.getLogger(__name__)

Step = Callable[[InstanceRecord], Coroutine[Any, Any, None]]


class Fleet:
    """Drives every instance's machine and status."""

    def __init__(self, account: Account, config: SimulatorConfig, instances_dir: Path) -> None:
        self.account = account
        self.config = config
        self.instances_dir = instances_dir
        self.machines: dict[str, Machine] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The chosen interpreter as `python3` (and `python`) in a folder put first on PATH:
        # small scripts that exec it, not symlinks, since a venv's python found through a
        # symlink elsewhere does not find its pyvenv.cfg (and so not its packages).
        self.python_dir: str | None = None
        if config.python is not None:
            folder = instances_dir.parent / "python-bin"
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("python3", "python"):
                launcher = folder / name
                launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(str(config.python))} "$@"\n')
                launcher.chmod(0o755)
            self.python_dir = str(folder)
        # The nvidia-smi stand-in GPU types' instances find on PATH (machine.py).
        self.gpu_shim_dir = str(write_gpu_shim(instances_dir.parent / "gpu-bin"))

    def machine(self, instance_id: str) -> Machine:
        """The machine of an instance ever launched (kept after it leaves the API's list)."""
        try:
            return self.machines[instance_id]
        except KeyError:
            raise KeyError(f"no instance {instance_id!r} was launched here") from None

    def _drive(self, record: InstanceRecord, step: Step) -> None:
        """Replace the instance's running transition with `step`."""
        previous = self._tasks.pop(record.id, None)
        task = asyncio.ensure_future(self._after(previous, step, record))
        task.set_name(f"sim{step.__name__}-{record.id[:8]}")
        self._tasks[record.id] = task
        task.add_done_callback(functools.partial(self._finished, record.id))

    @staticmethod
    async def _after(
        previous: asyncio.Task[None] | None, step: Step, record: InstanceRecord
    ) -> None:
        if previous is not None and not previous.done():
            previous.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await previous
        await step(record)

    def _finished(self, instance_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(instance_id) is task:
            del self._tasks[instance_id]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "simulated instance %s failed a transition", instance_id, exc_info=task.exception()
            )

    # --- transitions the API and the fault API ask for --------------------------------

    def launch(self, record: InstanceRecord) -> None:
        """Create the machine and boot it."""
        self.machines[record.id] = Machine(
            record.id,
            record.home,
            record.public_key,
            self.config.extra_env,
            self.python_dir,
            self.config.shared_venv,
            gpus=record.instance_type.gpus,
            gpu_name=record.instance_type.gpu_description,
            gpu_shim_dir=self.gpu_shim_dir,
        )
        self._drive(record, self._first_boot)

    def terminate(self, record: InstanceRecord) -> None:
        """terminating now, terminated after terminate_seconds; processes die at once."""
        if record.status in ("terminating", "terminated"):
            return
        if record.status == "preempted":
            self.account.end(record, "terminated")
            return
        record.status = "terminating"
        self._drive(record, self._terminate)

    def restart(self, record: InstanceRecord) -> None:
        """Reboot: processes die, SSH goes away, the instance boots again (same port, same key)."""
        if record.status not in ("active", "unhealthy"):
            return
        record.status = "booting"
        self._drive(record, self._reboot)

    def preempt(self, record: InstanceRecord) -> None:
        """The cloud takes the machine back."""
        if record.status in ("terminating", "terminated", "preempted"):
            return
        self.account.end(record, "preempted")
        self._drive(record, self._power_off)

    def set_unhealthy(self, record: InstanceRecord, unhealthy: bool) -> None:
        """Flip between active and unhealthy (SSH keeps answering, as on a failed health check)."""
        if unhealthy and record.status == "active":
            record.status = "unhealthy"
        elif not unhealthy and record.status == "unhealthy":
            record.status = "active"

    def sweep(self) -> None:
        """Forget terminated instances once they have lingered long enough."""
        cutoff = time.monotonic() - self.config.terminated_linger_seconds
        for rid, rec in list(self.account.instances.items()):
            if rec.status == "terminated" and rec.ended_at is not None and rec.ended_at <= cutoff:
                del self.account.instances[rid]

    async def shutdown(self) -> None:
        """Cancel every transition and power every machine off."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        machines = list(self.machines.values())
        results = await asyncio.gather(*(m.power_off() for m in machines), return_exceptions=True)
        for machine, result in zip(machines, results, strict=True):
            if isinstance(result, BaseException):
                log.error("powering off %s failed: %r", machine.instance_id, result)

    # --- the steps -------------------------------------------------------------------

    async def _first_boot(self, record: InstanceRecord) -> None:
        await asyncio.sleep(self.config.boot_seconds)
        machine = self.machines[record.id]
        record.ssh_port = await machine.power_on()
        record.ip_assigned = True
        record.status = "active"
        if record.user_data:
            await machine.run_user_data(record.user_data)

    async def _reboot(self, record: InstanceRecord) -> None:
        machine = self.machines[record.id]
        await machine.power_off()
        await asyncio.sleep(self.config.boot_seconds)
        await machine.power_on()
        record.status = "active"

    async def _terminate(self, record: InstanceRecord) -> None:
        await self.machines[record.id].power_off()
        await asyncio.sleep(self.config.terminate_seconds)
        self.account.end(record, "terminated")

    async def _power_off(self, record: InstanceRecord) -> None:
        await self.machines[record.id].power_off()
