"""A job's life (design.md §4): record, launch, wait, set up, train, stream, download,
terminate. One tracked task per job drives it; the store records every step first."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.wire import Instance, LaunchRequest
from lambda_gui.core.config_validation import validate_config
from lambda_gui.core.errors import (
    APIUnavailableError,
    InsufficientCapacityError,
    LambdaAPIError,
    LaunchOutcomeUnknownError,
    RateLimitedError,
)
from lambda_gui.core.models import JobPhase, Resource, TrainingConfig
from lambda_gui.services.catalog import Catalog
from lambda_gui.services.events import BillingWarning, EventBus, JobPhaseChanged
from lambda_gui.services.instance_control import (
    Timing,
    terminate_confirmed,
    wait_until_active,
)
from lambda_gui.services.job_lock import JobLocks
from lambda_gui.services.job_log import JobLogs
from lambda_gui.services.job_remote import RemoteJob
from lambda_gui.services.local_inputs import check_local_inputs
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.ssh_keys import LoginKey
from lambda_gui.services.store import JobRecord, JobStore
from lambda_gui.services.tasks import TaskGroup

log = logging.getLogger(__name__)

INSTANCE_PREFIX = "lambda-gui-"
_PHASE_ORDER = list(JobPhase)


def new_job_id() -> str:
    """12 lowercase hex digits: safe in paths, commands and Lambda instance names."""
    return secrets.token_hex(6)


def task_name(job_id: str) -> str:
    """The tracked task that drives a job."""
    return f"job:{job_id}"


@dataclass
class RunnerContext:
    """What the runner needs from the connector; replaced as a whole on reconnect."""

    client: LambdaCloudClient
    catalog: Catalog
    store: JobStore
    paths: AppPaths
    login_key: LoginKey
    bus: EventBus
    tasks: TaskGroup
    logs: JobLogs
    timing: Timing
    locks: JobLocks
    # The connector's hooks: the launch's cloud-init (opt-in self-termination), and a
    # nudge for the offline queue.
    user_data_for: Callable[[JobRecord], str | None]
    on_queued: Callable[[], None]
    clock: Callable[[], float] = time.time


class JobRunner:
    """Submits jobs and drives each one to a final phase."""

    def __init__(self, ctx: RunnerContext) -> None:
        self.ctx = ctx
        self._cancelling: set[str] = set()

    # -- submit ---------------------------------------------------------------------------

    async def submit(self, cfg: TrainingConfig) -> str:
        """Validate, record, launch; returns the job id once Lambda accepted the launch.

        While Lambda cannot be reached the job is recorded as queued instead, and launched
        (once) when the connection is back."""
        validate_config(cfg)
        await check_local_inputs(cfg)
        try:
            resources = await self.ctx.catalog.resources(refresh=True)
        except APIUnavailableError as exc:
            return await self._queue_new(cfg, str(exc))
        resource = await self.ctx.catalog.resource(cfg.resource_id)
        region = await self._pick_region(resource, cfg.region, resources)
        job_id = new_job_id()
        job = JobRecord(
            id=job_id,
            config=cfg,
            phase=JobPhase.PENDING,
            instance_name=INSTANCE_PREFIX + job_id,
            instance_type=resource.name,
            price_cents_per_hour=resource.price_cents_per_hour,
            region=region,
        )
        await self.ctx.store.insert_job(job)
        self.ctx.locks.acquire(job.id)
        self.publish_phase(job.id, JobPhase.PENDING, f"Launching {resource.name} in {region}.")
        try:
            sent = await self._launch(job, resource)
        except BaseException:
            self.ctx.locks.release(job.id)
            raise
        if not sent:
            self.ctx.locks.release(job.id)
            self.ctx.on_queued()
            return job.id
        self._start_locked(job.id)
        return job.id

    async def _queue_new(self, cfg: TrainingConfig, why: str) -> str:
        cached = {r.name: r for r in await self.ctx.catalog.cached()}
        known = cached.get(cfg.resource_id)
        job_id = new_job_id()
        job = JobRecord(
            id=job_id,
            config=cfg,
            phase=JobPhase.QUEUED,
            instance_name=INSTANCE_PREFIX + job_id,
            instance_type=cfg.resource_id,
            price_cents_per_hour=known.price_cents_per_hour if known else 0,
            region=cfg.region,
        )
        await self.ctx.store.insert_job(job)
        self.publish_phase(
            job.id,
            JobPhase.QUEUED,
            f"Lambda is unreachable ({why}); the job will launch when the connection is back.",
        )
        self.ctx.on_queued()
        return job.id

    async def launch_queued(self, job_id: str) -> bool:
        """Launch a queued job now (the connection is back); False if it stays queued."""
        if not self.ctx.locks.acquire(job_id):
            return False
        try:
            job = await self.ctx.store.get_job(job_id)
            if job.phase is not JobPhase.QUEUED:
                self.ctx.locks.release(job_id)
                return False
            resources = await self.ctx.catalog.resources(refresh=True)
            resource = await self.ctx.catalog.resource(job.instance_type)
            try:
                region = await self._pick_region(resource, job.config.region, resources)
            except InsufficientCapacityError as exc:
                await self.fail(job_id, str(exc), billing="none")
                self.ctx.locks.release(job_id)
                return True
            job = await self.ctx.store.update_job(
                job_id,
                phase=JobPhase.PENDING,
                region=region,
                price_cents_per_hour=resource.price_cents_per_hour,
            )
            self.publish_phase(job_id, JobPhase.PENDING, f"Launching {resource.name} in {region}.")
            if not await self._launch(job, resource):
                self.ctx.locks.release(job_id)
                return False
        except BaseException:
            self.ctx.locks.release(job_id)
            raise
        self._start_locked(job_id)
        return True

    def start(self, job_id: str) -> bool:
        """Drive a recorded, launched job in the background (reattach); False when another
        window or process already drives it."""
        if not self.ctx.locks.acquire(job_id):
            return False
        self._start_locked(job_id)
        return True

    def _start_locked(self, job_id: str) -> None:
        self.ctx.logs.reopen(job_id)
        self.ctx.tasks.spawn(task_name(job_id), self._drive(job_id))

    async def _pick_region(
        self, resource: Resource, wanted: str | None, resources: list[Resource]
    ) -> str:
        regions = [r.name for r in resource.regions]
        if wanted and wanted in regions:
            return wanted
        if regions and not wanted:
            default = await self.ctx.store.get_setting("default_region")
            return default if default in regions else regions[0]
        others = [r.name for r in resources if r.available and r.gpu_count > 0]
        where = f"in {wanted}" if wanted else "in any region"
        hint = (
            f" Regions with {resource.name} now: {', '.join(regions)}."
            if regions
            else f" Types with capacity now: {', '.join(others) or 'none'}."
        )
        raise InsufficientCapacityError(
            f"Lambda has no capacity for {resource.name} {where} right now.{hint}",
            code="instance-operations/launch/insufficient-capacity",
        )

    async def _launch(self, job: JobRecord, resource: Resource) -> bool:
        """Send the launch (once). False when Lambda could not be reached: nothing was sent
        and the job is queued again."""
        store = self.ctx.store
        # The intent is recorded before the request leaves: a crash from here on leaves a
        # job that the next start looks for by instance name.
        await store.update_job(job.id, launch_sent_at=self.ctx.clock(), billing="may_bill")
        request = LaunchRequest(
            region_name=job.region or "",
            instance_type_name=resource.name,
            ssh_key_names=(self.ctx.login_key.name,),
            name=job.instance_name,
            user_data=self.ctx.user_data_for(job),
        )
        try:
            ids = await self.ctx.client.launch(request)
        except LaunchOutcomeUnknownError as exc:
            await self.fail(job.id, str(exc), billing="may_bill")
            raise
        except RateLimitedError:
            raise
        except APIUnavailableError as exc:
            # Not reached: the request never left (the client re-sends nothing it sent).
            await store.update_job(
                job.id, phase=JobPhase.QUEUED, launch_sent_at=None, billing="none"
            )
            self.publish_phase(
                job.id, JobPhase.QUEUED, f"Lambda is unreachable ({exc}); the job is queued."
            )
            return False
        except (LambdaAPIError, ConnectionError) as exc:
            # A definite refusal: nothing was created, nothing bills.
            await self.fail(job.id, f"Lambda refused the launch: {exc}", billing="none")
            raise
        await store.update_job(job.id, instance_id=ids[0], phase=JobPhase.PROVISIONING)
        self.publish_phase(job.id, JobPhase.PROVISIONING, f"Instance {ids[0]} requested.")
        return True

    # -- the drive ------------------------------------------------------------------------

    async def _drive(self, job_id: str) -> None:
        try:
            await self._drive_locked(job_id)
        finally:
            self.ctx.locks.release(job_id)

    async def _drive_locked(self, job_id: str) -> None:
        ok = False
        try:
            job = await self.ctx.store.get_job(job_id)
            remote = await self._bring_up(job)
            try:
                ok = await remote.run_to_end()
            finally:
                await remote.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job %s failed: %s", job_id, exc)
            await self.fail(job_id, str(exc) or type(exc).__name__)
        if job_id in self._cancelling:
            return
        if not ok or await self.auto_terminate():
            await self.terminate(job_id)
        job = await self.ctx.store.get_job(job_id)
        if ok:
            gone = job.billing == "terminated"
            note = "Adapter saved and verified" + (
                "; instance terminated." if gone else "; the instance is still running."
            )
            await self.set_phase(job_id, JobPhase.COMPLETED, note, ended_at=self.ctx.clock())
        await self.ctx.logs.finish(job_id)

    async def _bring_up(self, job: JobRecord) -> RemoteJob:
        if job.instance_id is None:
            raise RuntimeError(f"Job {job.id} has no instance id recorded.")
        multi = job.config.resource_id and (await self.gpu_count(job)) > 1
        timing = self.ctx.timing
        deadline = timing.boot_deadline_multi_gpu_s if multi else timing.boot_deadline_s

        async def on_status(inst: Instance) -> None:
            if inst.status == "booting" and job.phase in (JobPhase.PENDING, JobPhase.PROVISIONING):
                job.phase = JobPhase.BOOTING
                await self.set_phase(job.id, JobPhase.BOOTING, f"Instance {inst.id} is booting.")

        inst = await wait_until_active(
            self.ctx.client,
            job.instance_id,
            deadline_s=deadline,
            timing=timing,
            on_status=on_status,
        )
        changes: dict[str, Any] = {"ip": inst.ip, "ssh_port": inst.ssh_port}
        if job.started_at is None:
            changes["started_at"] = self.ctx.clock()
        await self.ctx.store.update_job(job.id, **changes)
        if _PHASE_ORDER.index(job.phase) < _PHASE_ORDER.index(JobPhase.SETTING_UP):
            await self.set_phase(
                job.id, JobPhase.SETTING_UP, f"Instance {inst.id} is active at {inst.ip}."
            )
        remote = RemoteJob.on_instance(self, await self.ctx.store.get_job(job.id), inst)
        await remote.connect()
        return remote

    async def gpu_count(self, job: JobRecord) -> int:
        try:
            return (await self.ctx.catalog.resource(job.instance_type)).gpu_count
        except (LambdaAPIError, ConnectionError, ValueError):
            return 1

    # -- cancel / terminate ---------------------------------------------------------------

    async def cancel(self, job_id: str, reason: str | None = None) -> bool:
        """Stop training, save what can be saved (log, checkpoint), terminate the instance.

        `reason` is set when a limit, not the user, stopped the job. True once Lambda
        confirms the instance terminating or gone."""
        job = await self.ctx.store.get_job(job_id)
        if job.phase.is_terminal and job.billing != "may_bill":
            return False
        if job_id in self._cancelling:
            return False
        self._cancelling.add(job_id)
        try:
            task = self.ctx.tasks.get(task_name(job_id))
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            job = await self.ctx.store.get_job(job_id)
            saved: list[str] = []
            if job.ip and job.instance_id and not job.phase.is_terminal:
                saved = await RemoteJob.stop_and_save(self, job)
            confirmed = await self.terminate(job_id)
            if not job.phase.is_terminal:
                message = f"Stopped: {reason}." if reason else "Cancelled by the user."
                if saved:
                    message += " Saved: " + ", ".join(saved) + "."
                await self.set_phase(
                    job_id,
                    JobPhase.CANCELLED,
                    message,
                    ended_at=self.ctx.clock(),
                    error=message if reason else None,
                )
            await self.ctx.logs.finish(job_id)
            return confirmed
        finally:
            self._cancelling.discard(job_id)

    def stop_soon(self, job_id: str, reason: str) -> None:
        """Stop a job for a limit from inside its own drive (the stop runs as its own task)."""
        if job_id in self._cancelling or self.ctx.tasks.get(f"stop:{job_id}") is not None:
            return
        self.ctx.tasks.spawn(f"stop:{job_id}", self.cancel(job_id, reason))

    async def terminate(self, job_id: str) -> bool:
        """Terminate the job's instance and record it gone once Lambda confirms."""
        job = await self.ctx.store.get_job(job_id)
        instance_id = job.instance_id or await self._find_instance(job)
        if instance_id is None:
            await self.ctx.store.update_job(job_id, billing="none")
            return True
        rate = job.price_cents_per_hour / 100.0

        async def unconfirmed(problem: str) -> None:
            self.ctx.bus.publish(
                BillingWarning(instance_id, job.instance_name, rate, problem + " Retrying.")
            )

        ok = await terminate_confirmed(
            self.ctx.client, instance_id, timing=self.ctx.timing, on_unconfirmed=unconfirmed
        )
        if ok:
            await self.ctx.store.update_job(job_id, instance_id=instance_id, billing="terminated")
            self.ctx.bus.publish(
                BillingWarning(instance_id, job.instance_name, rate, "Terminated.", resolved=True)
            )
        else:
            await self.ctx.store.update_job(job_id, instance_id=instance_id, billing="may_bill")
            self.ctx.bus.publish(
                BillingWarning(
                    instance_id,
                    job.instance_name,
                    rate,
                    f"Instance {job.instance_name} may still be billing ${rate:.2f}/h: Lambda "
                    "did not confirm the terminate. Terminate it in the Lambda dashboard.",
                )
            )
        return ok

    async def _find_instance(self, job: JobRecord) -> str | None:
        if job.launch_sent_at is None:
            return None
        found = await self.ctx.client.find_instances_by_name(job.instance_name)
        return found[0].id if found else None

    # -- recording ------------------------------------------------------------------------

    async def set_phase(self, job_id: str, phase: JobPhase, message: str, **more: Any) -> None:
        """Record a job's new phase (with other fields) and tell the listeners why."""
        await self.ctx.store.update_job(job_id, phase=phase, **more)
        self.publish_phase(job_id, phase, message)

    async def fail(self, job_id: str, message: str, **more: Any) -> None:
        """Record the job failed, with the message the user will read."""
        await self.set_phase(
            job_id, JobPhase.FAILED, message, error=message, ended_at=self.ctx.clock(), **more
        )

    async def auto_terminate(self) -> bool:
        """The setting: terminate a finished job's instance once its adapter is saved."""
        return (await self.ctx.store.get_setting("auto_terminate", "1")) == "1"

    def publish_phase(self, job_id: str, phase: JobPhase, message: str) -> None:
        """Tell the listeners about a phase (already recorded)."""
        self.ctx.bus.publish(JobPhaseChanged(job_id, phase, message))
