"""On start (and at every cloud sweep): find every unfinished job of the store again, ask
Lambda for its instance, and resume it where it was — or say what happened to it. The cloud
is the truth (docs/architecture.md)."""

from __future__ import annotations

import logging

from lambda_gui.cloud.wire import Instance
from lambda_gui.core.job_state import Billing, Phase, Reason
from lambda_gui.services.instance_control import GONE_STATUSES
from lambda_gui.services.job_runner import (
    JobRunner,
    adopt,
    find_job_instance,
    task_name,
    unreadable_job_instance,
)
from lambda_gui.services.store import JobRecord

log = logging.getLogger(__name__)


async def reattach_jobs(runner: JobRunner) -> dict[str, str]:
    """Resume or settle every job that may still have an instance; returns job id -> what was
    done. A failed instance list raises (it never counts as "no instances")."""
    ctx = runner.ctx
    jobs = [j for j in await ctx.store.list_jobs() if not j.phase.is_terminal or j.billing.may_bill]
    if not jobs:
        return {}
    instances = await ctx.client.list_instances()
    outcome: dict[str, str] = {}
    for job in jobs:
        if ctx.tasks.get(task_name(job.id)) is not None or ctx.locks.holds(job.id):
            continue  # driven by this process already
        # Another window or process may drive (or be settling) this job: never touch it
        # without its lock.
        if not ctx.locks.acquire(job.id):
            outcome[job.id] = "driven by another window"
            continue
        drive = False
        try:
            # Read again under the lock: the other holder may just have moved it.
            job = await ctx.store.get_job(job.id)
            inst = find_job_instance(instances, job)
            if inst is None and unreadable_job_instance(instances, job):
                outcome[job.id] = "Lambda listed an instance it could not read: left as is"
            else:
                what, drive = await _settle(runner, job, inst)
                outcome[job.id] = what
        finally:
            if drive:
                runner.resume_locked(job.id)
            else:
                ctx.locks.release(job.id)
        log.info("reattach %s: %s", job.id, outcome[job.id])
    return outcome


async def _settle(runner: JobRunner, job: JobRecord, inst: Instance | None) -> tuple[str, bool]:
    """What to do with one job; True when it must be driven again."""
    lc = runner.lc
    if job.phase is Phase.QUEUED:
        runner.on_queued()
        return "queued", False
    if job.launch_sent_at is None and job.billing is Billing.NONE:
        if job.phase.is_terminal:
            return "nothing to do", False
        # The app stopped before the launch request left: nothing exists, launch it now.
        await lc.move(
            job.id,
            Reason.LAUNCH_NOT_SENT,
            "The launch never went out; launching it now.",
            phase=Phase.QUEUED,
        )
        runner.on_queued()
        return "queued (launch never sent)", False
    if inst is None:
        return await _not_listed(runner, job), False
    if inst.status in GONE_STATUSES:
        job = await adopt(runner, job, inst)
        if not job.phase.is_terminal:
            await lc.fail(job.id, Reason.INSTANCE_GONE, _vanished(job, f"went {inst.status}"))
        return f"instance {inst.status}", False
    if job.billing is Billing.UNKNOWN and job.phase.is_terminal:
        return "rebuilt job: its instance is shown, the user decides", False
    if job.instance_id != inst.id or job.billing is not Billing.BILLING:
        job = await adopt(runner, job, inst)
    if job.phase.is_terminal:
        settings = await runner.ctx.settings.load()
        if job.phase is Phase.COMPLETED and not settings.auto_terminate:
            return "completed; instance kept running (Settings)", False
        runner.ctx.tasks.spawn(f"terminate:{job.id}", runner.terminate(job.id))
        return "terminating a finished job's instance", False
    return f"resumed ({job.phase.value})", True


async def _not_listed(runner: JobRunner, job: JobRecord) -> str:
    lc = runner.lc
    if job.instance_id is None:
        # A launch whose outcome was never learned, and Lambda lists nothing for it.
        if job.billing.may_bill:
            await lc.move(job.id, Reason.INSTANCE_NOT_FOUND, billing=Billing.NONE)
        if not job.phase.is_terminal:
            await lc.fail(
                job.id,
                Reason.INSTANCE_NOT_FOUND,
                f"The launch did not go through: Lambda lists no instance for job {job.id} "
                f"({job.instance_name}). Nothing is billing; submit the job again.",
            )
        return "failed (never launched)"
    # Lambda drops terminated instances from its list after a while: gone.
    if job.billing.may_bill:
        await lc.move(job.id, Reason.INSTANCE_GONE, billing=Billing.TERMINATED)
    if not job.phase.is_terminal:
        await lc.fail(job.id, Reason.INSTANCE_GONE, _vanished(job, "is no longer listed by Lambda"))
    return "instance gone"


def _vanished(job: JobRecord, what: str) -> str:
    return (
        f"Instance {job.instance_name} {what} while the app was not following the job. "
        "The log up to that point was kept; submit the job again to retrain."
    )
