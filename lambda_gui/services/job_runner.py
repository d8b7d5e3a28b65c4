"""A job's life (docs/architecture.md): record, launch, find the instance, wait, set up, train,
stream, download, terminate. One tracked task per job drives it; every phase and billing change
goes through the lifecycle writer (services/lifecycle.py), recorded before it is acted on."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from lambda_gui.cloud.wire import Instance, LaunchRequest
from lambda_gui.core.config_validation import validate_config
from lambda_gui.core.dataset_format import Progress
from lambda_gui.core.errors import (
    APIUnavailableError,
    InsufficientCapacityError,
    LambdaAPIError,
    LaunchOutcomeUnknownError,
    RateLimitedError,
)
from lambda_gui.core.job_state import Billing, Phase, Reason
from lambda_gui.core.models import Resource, TrainingConfig
from lambda_gui.services.events import BillingWarning
from lambda_gui.services.instance_control import (
    GONE_STATUSES,
    InstanceFailedError,
    terminate_confirmed,
    wait_until_active,
)
from lambda_gui.services.job_context import INSTANCE_PREFIX, JobContext, job_id_of, job_tags
from lambda_gui.services.job_remote import Outcome, RemoteJob
from lambda_gui.services.local_inputs import check_local_inputs
from lambda_gui.services.store import JobRecord
from lambda_gui.services.tracker_secrets import stash_secrets, tracker_environment

log = logging.getLogger(__name__)

_EARLY = (Phase.PENDING, Phase.PROVISIONING, Phase.BOOTING)


def new_job_id() -> str:
    """12 lowercase hex digits: safe in paths, commands and Lambda instance names."""
    return secrets.token_hex(6)


def task_name(job_id: str) -> str:
    """The tracked task that drives a job."""
    return f"job:{job_id}"


def unreadable_job_instance(instances: list[Instance], job: JobRecord) -> bool:
    """True when Lambda listed an instance that may be the job's but could not be read: its
    absence from the list then proves nothing."""
    skipped = getattr(instances, "skipped", ())
    return any(
        s.id == job.instance_id or s.name == job.instance_name or s.id is None for s in skipped
    )


def find_job_instance(instances: list[Instance], job: JobRecord) -> Instance | None:
    """The job's instance in Lambda's list: by id, then by job tag, then by name; a live one
    before a terminated one."""
    mine = [
        i
        for i in instances
        if i.id == job.instance_id or job_id_of(i) == job.id or i.name == job.instance_name
    ]
    mine.sort(key=lambda i: (i.id != job.instance_id, i.status in GONE_STATUSES))
    return mine[0] if mine else None


class JobRunner:
    """Submits jobs and drives each one to a final phase."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.lc = ctx.lifecycle
        self._cancelling: set[str] = set()
        # Set by the job service: nudges the offline queue.
        self.on_queued: Callable[[], None] = lambda: None

    # -- submit ---------------------------------------------------------------------------

    async def submit(self, cfg: TrainingConfig, progress: Progress | None = None) -> str:
        """Validate, record, launch; returns the job id once the launch was sent.

        While Lambda cannot be reached (or limits launches) the job is recorded as queued
        instead, and launched (once) when Lambda accepts it. `progress(bytes read, size)` follows
        the dataset check, which reads the whole file first."""
        validate_config(cfg)
        await check_local_inputs(cfg, progress)
        # Secret values go to the keyring; the job is stored with their names only, and every
        # one must be readable back before anything is launched.
        cfg = await stash_secrets(cfg, self.ctx.secrets)
        await tracker_environment(cfg, self.ctx.secrets)
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
            phase=Phase.PENDING,
            instance_name=INSTANCE_PREFIX + job_id,
            instance_type=resource.name,
            price_cents_per_hour=resource.price_cents_per_hour,
            region=region,
        )
        self.ctx.locks.acquire(job.id)
        try:
            await self.lc.create(job, f"Launching {resource.name} in {region}.")
            sent = await self._launch(job, resource)
        except BaseException:
            self.ctx.locks.release(job.id)
            raise
        if not sent:
            self.ctx.locks.release(job.id)
            self.on_queued()
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
            phase=Phase.QUEUED,
            instance_name=INSTANCE_PREFIX + job_id,
            instance_type=cfg.resource_id,
            price_cents_per_hour=known.price_cents_per_hour if known else 0,
            region=cfg.region,
        )
        await self.lc.create(
            job,
            f"Lambda is unreachable ({why}); the job will launch when the connection is back.",
        )
        self.on_queued()
        return job.id

    async def launch_queued(self, job_id: str) -> bool:
        """Launch a queued job now (the connection is back); False if it stays queued."""
        if not self.ctx.locks.acquire(job_id):
            return False
        try:
            job = await self.ctx.store.get_job(job_id)
            if job.phase is not Phase.QUEUED:
                self.ctx.locks.release(job_id)
                return False
            resources = await self.ctx.catalog.resources(refresh=True)
            resource = await self.ctx.catalog.resource(job.instance_type)
            try:
                region = await self._pick_region(resource, job.config.region, resources)
            except InsufficientCapacityError as exc:
                await self.lc.fail(job_id, Reason.LAUNCH_REFUSED, str(exc))
                self.ctx.locks.release(job_id)
                return True
            job = await self.lc.move(
                job_id,
                Reason.CONNECTION_BACK,
                f"Launching {resource.name} in {region}.",
                phase=Phase.PENDING,
                region=region,
                price_cents_per_hour=resource.price_cents_per_hour,
            )
            if not await self._launch(job, resource):
                self.ctx.locks.release(job_id)
                return False
        except BaseException:
            self.ctx.locks.release(job_id)
            raise
        self._start_locked(job_id)
        return True

    def start(self, job_id: str) -> bool:
        """Drive a recorded, launched job in the background (reattach, retry download);
        False when another window or process already drives it."""
        if not self.ctx.locks.acquire(job_id):
            return False
        self._start_locked(job_id)
        return True

    def resume_locked(self, job_id: str) -> None:
        """Drive a job whose lock this process already took (reattach)."""
        self._start_locked(job_id)

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
            default = (await self.ctx.settings.load()).default_region
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
        """Send the launch (once). True when an instance may now exist (the drive takes it
        from there); False when nothing was created and the job is queued again."""
        # The intent is recorded before the request leaves: a crash from here on leaves a
        # job that the next start looks for by tag and name.
        await self.lc.move(
            job.id,
            Reason.LAUNCH_RECORDED,
            billing=Billing.LAUNCHING,
            launch_sent_at=self.ctx.clock(),
        )
        request = LaunchRequest(
            region_name=job.region or "",
            instance_type_name=resource.name,
            ssh_key_names=(self.ctx.login_key.name,),
            name=job.instance_name,
            user_data=self.ctx.user_data_for(job),
            tags=job_tags(job.id),
        )
        try:
            ids = await self.ctx.client.launch(request)
        except LaunchOutcomeUnknownError as exc:
            await self._outcome_unknown(job.id, str(exc))
            return True
        except RateLimitedError as exc:
            await self._requeue(
                job.id,
                Reason.LAUNCH_RATE_LIMITED,
                f"Lambda is limiting requests ({exc}); nothing was launched. The job is "
                "queued and launches as soon as Lambda accepts it.",
            )
            return False
        except APIUnavailableError as exc:
            # Not reached: the request never left (the client re-sends nothing it sent).
            await self._requeue(
                job.id, Reason.LAUNCH_NOT_SENT, f"Lambda is unreachable ({exc}); the job is queued."
            )
            return False
        except (LambdaAPIError, ConnectionError) as exc:
            # A definite refusal: nothing was created, nothing bills.
            await self.lc.fail(
                job.id,
                Reason.LAUNCH_REFUSED,
                f"Lambda refused the launch: {exc}",
                billing=Billing.NONE,
                launch_sent_at=None,
            )
            raise
        if not ids:
            await self._outcome_unknown(job.id, "Lambda accepted the launch but named no instance")
            return True
        await self.lc.move(
            job.id,
            Reason.LAUNCH_ACCEPTED,
            f"Instance {ids[0]} requested.",
            phase=Phase.PROVISIONING,
            billing=Billing.BILLING,
            instance_id=ids[0],
        )
        return True

    async def _outcome_unknown(self, job_id: str, why: str) -> None:
        await self.lc.move(
            job_id,
            Reason.LAUNCH_OUTCOME_UNKNOWN,
            f"{why}. Looking for the job's instance before anything else is launched; "
            "until it is found or ruled out, it may be billing.",
            phase=Phase.PENDING,
            billing=Billing.MAY_BILL,
        )

    async def _requeue(self, job_id: str, reason: Reason, message: str) -> None:
        await self.lc.move(
            job_id, reason, message, phase=Phase.QUEUED, billing=Billing.NONE, launch_sent_at=None
        )

    # -- the drive ------------------------------------------------------------------------

    async def _drive(self, job_id: str) -> None:
        try:
            await self._drive_locked(job_id)
        finally:
            self.ctx.locks.release(job_id)

    async def _drive_locked(self, job_id: str) -> None:
        outcome = Outcome.FAILED
        notes: list[str] = []
        saved = ["adapter"]
        try:
            job = await self.ctx.store.get_job(job_id)
            if job.instance_id is None:
                found = await self._find_launched(job)
                if found is None:
                    return
                job = found
            remote = await self._bring_up(job)
            try:
                outcome = await remote.run_to_end()
                notes, saved = remote.notes, remote.saved
            finally:
                await remote.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job %s failed: %s", job_id, exc)
            await self._fail_if_running(job_id, str(exc) or type(exc).__name__)
        if job_id in self._cancelling:
            return
        if outcome is Outcome.KEPT:
            return  # the download failed; the instance is kept for a retry (it says so)
        settings = await self.ctx.settings.load()
        if outcome is Outcome.FAILED or settings.auto_terminate:
            await self.terminate(job_id)
        if outcome is Outcome.COMPLETED:
            gone = (await self.ctx.store.get_job(job_id)).billing is Billing.TERMINATED
            what = ", ".join(saved[:-1]) + " and " + saved[-1] if len(saved) > 1 else saved[0]
            note = (
                what[:1].upper()
                + what[1:]
                + " saved and verified"
                + ("; instance terminated." if gone else "; the instance is still running.")
            )
            if notes:
                note += " Note: " + "; ".join(notes) + "."
            await self.lc.move(job_id, Reason.DOWNLOAD_VERIFIED, note, phase=Phase.COMPLETED)
        await self.ctx.logs.finish(job_id)

    async def _fail_if_running(self, job_id: str, message: str) -> None:
        if not (await self.ctx.store.get_job(job_id)).phase.is_terminal:
            await self.lc.fail(job_id, Reason.JOB_ERROR, message)

    async def _find_launched(self, job: JobRecord) -> JobRecord | None:
        """A launch whose reply was lost: look for the instance by tag and name until the
        look-up deadline. Returns the adopted job, or None (failed, or left to the sweep)."""
        timing = self.ctx.timing
        deadline = asyncio.get_running_loop().time() + timing.launch_lookup_s
        listed = False
        while True:
            try:
                instances = await self.ctx.client.list_instances()
                inst = find_job_instance(instances, job)
                listed = not unreadable_job_instance(instances, job)
            except (LambdaAPIError, ConnectionError) as exc:
                log.info("job %s: instance look-up failed: %s", job.id, exc)
                inst = None
            if inst is not None:
                return await adopt(self, job, inst)
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(timing.poll_s)
        if not listed:
            # Nothing could be checked: it may bill. The cloud watch looks again.
            self.lc.bus.publish(
                BillingWarning(
                    "",
                    job.instance_name,
                    job.price_cents_per_hour / 100.0,
                    f"Could not check whether {job.instance_name} was launched: Lambda's "
                    "instance list could not be read. The app will look again; it may be "
                    "billing until then.",
                )
            )
            return None
        await self.lc.fail(
            job.id,
            Reason.INSTANCE_NOT_FOUND,
            f"The launch did not go through: Lambda lists no instance for job {job.id} "
            f"({job.instance_name}). Nothing is billing; submit the job again.",
            billing=Billing.NONE,
        )
        return None

    async def _bring_up(self, job: JobRecord) -> RemoteJob:
        if job.instance_id is None:
            raise RuntimeError(f"Job {job.id} has no instance id recorded.")
        multi = (await self.ctx.gpu_count(job)) > 1
        timing = self.ctx.timing
        deadline = timing.boot_deadline_multi_gpu_s if multi else timing.boot_deadline_s
        phase = job.phase

        async def on_status(inst: Instance) -> None:
            nonlocal phase
            if inst.status == "booting" and phase is Phase.PROVISIONING:
                phase = Phase.BOOTING
                await self.lc.move(
                    job.id,
                    Reason.INSTANCE_BOOTING,
                    f"Instance {inst.id} is booting.",
                    phase=Phase.BOOTING,
                )

        try:
            inst = await wait_until_active(
                self.ctx.client,
                job.instance_id,
                deadline_s=deadline,
                timing=timing,
                on_status=on_status,
            )
        except InstanceFailedError as exc:
            await self.lc.fail(job.id, Reason.INSTANCE_FAILED, str(exc))
            raise
        changes: dict[str, Any] = {"ip": inst.ip, "ssh_port": inst.ssh_port}
        if job.started_at is None:
            changes["started_at"] = self.ctx.clock()
        if phase in _EARLY:
            await self.lc.move(
                job.id,
                Reason.INSTANCE_ACTIVE,
                f"Instance {inst.id} is active at {inst.ip}.",
                phase=Phase.SETTING_UP,
                **changes,
            )
        else:
            await self.ctx.store.update_job(job.id, **changes)
        remote = RemoteJob(self.ctx, await self.ctx.store.get_job(job.id), self.stop_soon)
        await remote.connect()
        return remote

    # -- cancel / terminate ---------------------------------------------------------------

    async def cancel(self, job_id: str, reason: str | None = None) -> bool:
        """Stop training, save what can be saved (log, checkpoint), terminate the instance.

        `reason` is set when a limit, not the user, stopped the job. True once Lambda
        confirms the instance terminating or gone."""
        job = await self.ctx.store.get_job(job_id)
        if job.phase.is_terminal and not job.billing.may_bill:
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
                saved = await RemoteJob.stop_and_save(self.ctx, job)
            confirmed = await self.terminate(job_id)
            if not job.phase.is_terminal:
                message = f"Stopped: {reason}." if reason else "Cancelled by the user."
                if saved:
                    message += " Saved: " + ", ".join(saved) + "."
                await self.lc.move(
                    job_id,
                    Reason.LIMIT_REACHED if reason else Reason.USER_CANCELLED,
                    message,
                    phase=Phase.CANCELLED,
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
        """Terminate the job's instance; billing is `terminated` only once Lambda confirms."""
        job = await self.ctx.store.get_job(job_id)
        if not job.billing.may_bill:
            return True
        instance_id = job.instance_id
        if instance_id is None:
            instances = await self.ctx.client.list_instances()
            found = find_job_instance(instances, job)
            if found is None and unreadable_job_instance(instances, job):
                return False  # it may be the one Lambda listed unreadably: it may bill
            if found is None:
                await self.lc.move(job_id, Reason.INSTANCE_NOT_FOUND, billing=Billing.NONE)
                return True
            job = await adopt(self, job, found, drive=False)
            instance_id = found.id
            if not job.billing.may_bill:
                return True
        rate = job.price_cents_per_hour / 100.0
        await self.lc.move(
            job_id, Reason.TERMINATE_REQUESTED, billing=Billing.TERMINATING, instance_id=instance_id
        )

        async def unconfirmed(problem: str) -> None:
            self.ctx.bus.publish(
                BillingWarning(
                    instance_id, job.instance_name, rate, problem + " Retrying.", retrying=True
                )
            )

        ok = await terminate_confirmed(
            self.ctx.client, instance_id, timing=self.ctx.timing, on_unconfirmed=unconfirmed
        )
        if ok:
            await self.lc.move(job_id, Reason.TERMINATE_CONFIRMED, billing=Billing.TERMINATED)
            self.ctx.bus.publish(
                BillingWarning(instance_id, job.instance_name, rate, "Terminated.", resolved=True)
            )
        else:
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


async def adopt(
    runner: JobRunner, job: JobRecord, inst: Instance, *, drive: bool = True
) -> JobRecord:
    """Record the instance Lambda lists for a job whose launch reply was lost (or whose record
    was rebuilt): gone -> billing confirmed over; alive -> billing, and provisioning when the
    job was still pending."""
    lc = runner.lc
    if inst.status in GONE_STATUSES:
        return await lc.move(
            job.id, Reason.INSTANCE_GONE, billing=Billing.TERMINATED, instance_id=inst.id
        )
    phase = Phase.PROVISIONING if job.phase is Phase.PENDING and drive else None
    return await lc.move(
        job.id,
        Reason.INSTANCE_FOUND,
        f"Found instance {inst.id} ({inst.status}) launched for this job.",
        phase=phase,
        billing=Billing.BILLING if job.billing is not Billing.TERMINATING else None,
        instance_id=inst.id,
    )
