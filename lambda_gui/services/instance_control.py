"""Waiting for an instance to come up, and terminating it until Lambda confirms it is gone."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambda_gui.core.errors import LambdaAPIError, ObjectNotFoundError

if TYPE_CHECKING:
    from lambda_gui.cloud.client import LambdaCloudClient
    from lambda_gui.cloud.wire import Instance

log = logging.getLogger(__name__)

GONE_STATUSES = frozenset({"terminating", "terminated", "preempted"})


@dataclass(frozen=True)
class Timing:
    """How long to wait for things in the cloud; tests shorten them."""

    poll_s: float = 5.0
    boot_deadline_s: float = 20 * 60.0
    boot_deadline_multi_gpu_s: float = 45 * 60.0
    unhealthy_grace_s: float = 5 * 60.0
    ssh_deadline_s: float = 10 * 60.0
    terminate_attempts: int = 12
    terminate_backoff_s: float = 2.0
    terminate_backoff_max_s: float = 60.0
    limits_poll_s: float = 10.0
    queue_retry_s: float = 15.0
    # How long a launch whose reply was lost is looked for before it counts as not made.
    launch_lookup_s: float = 120.0
    sweep_s: float = 300.0


class InstanceFailedError(RuntimeError):
    """The instance never became usable (deadline passed, preempted, unhealthy)."""


async def wait_until_active(
    client: LambdaCloudClient,
    instance_id: str,
    *,
    deadline_s: float,
    timing: Timing,
    on_status: Callable[[Instance], Awaitable[None]],
) -> Instance:
    """Poll the instance until it is `active` with an ip; raise InstanceFailedError otherwise."""
    started = time.monotonic()
    unhealthy_since: float | None = None
    while True:
        inst = await client.get_instance(instance_id)
        await on_status(inst)
        now = time.monotonic()
        if inst.status == "active" and inst.ip:
            return inst
        if inst.status in GONE_STATUSES:
            raise InstanceFailedError(
                f"Instance {instance_id} went {inst.status} before it became active "
                "(Lambda reclaimed it). Submit the job again."
            )
        if inst.status == "unhealthy":
            unhealthy_since = unhealthy_since or now
            if now - unhealthy_since > timing.unhealthy_grace_s:
                raise InstanceFailedError(
                    f"Instance {instance_id} stayed unhealthy for "
                    f"{timing.unhealthy_grace_s / 60:.0f} min; it was terminated. "
                    "Try another region or instance type."
                )
        else:
            unhealthy_since = None
        if now - started > deadline_s:
            raise InstanceFailedError(
                f"Instance {instance_id} did not become active within {deadline_s / 60:.0f} min "
                f"(last status: {inst.status}); it was terminated. Try again or pick another "
                "region."
            )
        await asyncio.sleep(timing.poll_s)


async def terminate_confirmed(
    client: LambdaCloudClient,
    instance_id: str,
    *,
    timing: Timing,
    on_unconfirmed: Callable[[str], Awaitable[None]] | None = None,
) -> bool:
    """Ask Lambda to terminate, retrying with backoff, until it reports the instance
    terminating or gone. False when the attempts ran out (the instance may still bill)."""
    delay = timing.terminate_backoff_s
    for attempt in range(1, timing.terminate_attempts + 1):
        try:
            try:
                await client.terminate([instance_id])
            except ObjectNotFoundError:
                return True
            inst = await client.get_instance(instance_id)
            if inst.status in GONE_STATUSES:
                return True
            problem = f"Lambda still reports instance {instance_id} as {inst.status}."
        except ObjectNotFoundError:
            return True
        except (LambdaAPIError, ConnectionError) as exc:
            problem = f"Terminating instance {instance_id} failed: {exc}"
        log.warning("terminate attempt %d: %s", attempt, problem)
        if on_unconfirmed is not None:
            await on_unconfirmed(problem)
        if attempt < timing.terminate_attempts:
            await asyncio.sleep(delay)
            delay = min(delay * 2, timing.terminate_backoff_max_s)
    return False
