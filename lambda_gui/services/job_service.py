"""Everything about jobs behind one object: the runner, reattach, the limits watch, the orphan
sweep, the offline queue and the cloud watch. The connector (the seed's API) and the window
call this; it owns the background tasks it starts."""

from __future__ import annotations

import asyncio
import logging

from lambda_gui.core.dataset_format import Progress
from lambda_gui.core.errors import APIUnavailableError, LambdaAPIError
from lambda_gui.core.job_state import Billing, Phase
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services.events import Orphan, OrphansFound, TaskFailed
from lambda_gui.services.instance_control import terminate_confirmed
from lambda_gui.services.job_context import JobContext
from lambda_gui.services.job_runner import JobRunner, task_name
from lambda_gui.services.limits_watch import watch_limits
from lambda_gui.services.orphans import find_orphans
from lambda_gui.services.reattach import reattach_jobs
from lambda_gui.services.store import JobRecord

# How long a retry waits for the task of the failed download to finish.
_WIND_DOWN_S = 30.0

log = logging.getLogger(__name__)


class JobService:
    """Submits, drives, watches and settles jobs; one per connection."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.runner = JobRunner(ctx)
        self.runner.on_queued = self._ensure_queue_task

    async def start(self) -> None:
        """Reattach what the store knows, then start the limits and cloud watches."""
        reattached = await self.reattach_once()
        self.ctx.tasks.spawn("limits", watch_limits(self.runner))
        self.ctx.tasks.spawn("cloud-watch", self._watch_cloud(first_done=reattached))

    # -- jobs ---------------------------------------------------------------------------

    async def submit(self, config: TrainingConfig, progress: Progress | None = None) -> str:
        """Validate, record and launch a job (see JobRunner.submit)."""
        return await self.runner.submit(config, progress)

    async def cancel(self, job_id: str) -> bool:
        """Stop a job and terminate its instance; True once Lambda confirms it going."""
        return await self.runner.cancel(job_id)

    async def retry_download(self, job_id: str) -> bool:
        """Drive a job whose adapter download failed (its instance kept) again; False when it
        is not in that state or already driven."""
        job = await self.ctx.store.get_job(job_id)
        if job.phase is not Phase.DOWNLOADING:
            return False
        running = self.ctx.tasks.get(task_name(job_id))
        if running is not None and job.error:
            # The failed download is recorded while its task still winds down (closing the
            # SSH session): a retry asked in that moment waits for it rather than refusing.
            await asyncio.wait({running}, timeout=_WIND_DOWN_S)
            running = self.ctx.tasks.get(task_name(job_id))
            if (await self.ctx.store.get_job(job_id)).phase is not Phase.DOWNLOADING:
                return False
        if running is not None and not running.done():
            return False
        return self.runner.start(job_id)

    async def billing_jobs(self) -> list[JobRecord]:
        """Jobs whose instance may be billing right now (running, or not confirmed gone)."""
        return [j for j in await self.ctx.store.list_jobs() if j.billing.may_bill]

    async def stop_all(self) -> dict[str, bool]:
        """Cancel every unfinished job and terminate its instance (closing the app)."""
        jobs = [j for j in await self.ctx.store.list_jobs() if not j.phase.is_terminal]
        results = await asyncio.gather(*(self.runner.cancel(j.id) for j in jobs))
        return {j.id: ok for j, ok in zip(jobs, results, strict=True)}

    # -- money --------------------------------------------------------------------------

    async def find_orphans(self) -> list[Orphan]:
        """Billing instances of ours no job here owns (raises if Lambda cannot be asked)."""
        return await find_orphans(self.runner)

    async def terminate_instance(self, instance_id: str) -> bool:
        """Terminate one instance (an orphan) until Lambda confirms it is going."""
        return await terminate_confirmed(self.ctx.client, instance_id, timing=self.ctx.timing)

    async def retry_terminations(self) -> None:
        """Terminate again every finished job's instance Lambda has not confirmed gone
        (never one the app lost track of: the user decides those)."""
        auto = (await self.ctx.settings.load()).auto_terminate
        for job in await self.billing_jobs():
            if not job.phase.is_terminal or self.ctx.tasks.get(task_name(job.id)):
                continue
            if job.billing is Billing.UNKNOWN:
                continue
            if job.phase is not Phase.COMPLETED or auto:
                await self.runner.terminate(job.id)

    async def reattach_once(self) -> bool:
        """Reattach every unsettled job; False (and the user told) when Lambda cannot say."""
        try:
            await reattach_jobs(self.runner)
        except (LambdaAPIError, ConnectionError) as exc:
            self.ctx.bus.publish(
                TaskFailed(
                    "reattach",
                    f"Could not ask Lambda about this app's jobs ({exc}); will try again. "
                    "Until then their instances may be billing.",
                )
            )
            return False
        return True

    # -- background ---------------------------------------------------------------------

    def _ensure_queue_task(self) -> None:
        task = self.ctx.tasks.get("offline-queue")
        if task is None or task.done():
            self.ctx.tasks.spawn("offline-queue", self._run_queue())

    async def _run_queue(self) -> None:
        """Launch queued jobs, oldest first, once Lambda answers again (paced, once each)."""
        while True:
            queued = [j for j in await self.ctx.store.list_jobs() if j.phase is Phase.QUEUED]
            if not queued:
                return
            try:
                await self.ctx.catalog.resources(refresh=True)
            except (APIUnavailableError, ConnectionError):
                await asyncio.sleep(self.ctx.timing.queue_retry_s)
                continue
            for job in sorted(queued, key=lambda j: j.created_at):
                try:
                    await self.runner.launch_queued(job.id)
                except (LambdaAPIError, ConnectionError) as exc:
                    log.warning("queued job %s: %s", job.id, exc)
            await asyncio.sleep(self.ctx.timing.queue_retry_s)

    async def _watch_cloud(self, *, first_done: bool) -> None:
        """Every few minutes: reattach what is not driven, terminate unconfirmed instances,
        sweep for orphans."""
        skip_reattach = first_done
        while True:
            if not skip_reattach:
                await self.reattach_once()
            skip_reattach = False
            try:
                await self.retry_terminations()
                orphans = await self.find_orphans()
                self.ctx.bus.publish(OrphansFound(tuple(orphans)))
                if orphans and (await self.ctx.settings.load()).auto_terminate_orphans:
                    for orphan in orphans:
                        await self.terminate_instance(orphan.instance_id)
            except (LambdaAPIError, ConnectionError) as exc:
                # A failed list never counts as "no instances": say so, keep the last result.
                self.ctx.bus.publish(TaskFailed("orphan-sweep", f"Orphan check failed: {exc}"))
            await asyncio.sleep(self.ctx.timing.sweep_s)
