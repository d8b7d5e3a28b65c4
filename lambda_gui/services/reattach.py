"""On start: find every unfinished job of the store again, ask Lambda for its instance, and
resume it where it was — or say what happened to it (design.md §4, the cloud is the truth)."""

from __future__ import annotations

import logging

from lambda_gui.cloud.wire import Instance
from lambda_gui.core.models import JobPhase
from lambda_gui.services.instance_control import GONE_STATUSES
from lambda_gui.services.job_runner import JobRunner
from lambda_gui.services.store import JobRecord

log = logging.getLogger(__name__)


async def reattach_jobs(runner: JobRunner) -> dict[str, str]:
    """Resume or settle every job that may still have an instance; returns job id -> what was
    done. A failed instance list raises (it never counts as "no instances")."""
    ctx = runner.ctx
    jobs = [
        j for j in await ctx.store.list_jobs() if not j.phase.is_terminal or j.billing == "may_bill"
    ]
    if not jobs:
        return {}
    instances = await ctx.client.list_instances()
    by_id = {i.id: i for i in instances}
    by_name = {i.name: i for i in instances if i.name and i.status not in GONE_STATUSES}
    outcome: dict[str, str] = {}
    for job in jobs:
        if ctx.tasks.get(f"job:{job.id}") is not None or ctx.locks.holds(job.id):
            continue  # driven by this process already
        inst = by_id.get(job.instance_id or "") or by_name.get(job.instance_name)
        outcome[job.id] = await _settle(runner, job, inst)
        log.info("reattach %s: %s", job.id, outcome[job.id])
    return outcome


async def _settle(runner: JobRunner, job: JobRecord, inst: Instance | None) -> str:
    store = runner.ctx.store
    if job.phase is JobPhase.QUEUED:
        runner.ctx.on_queued()
        return "queued"
    if job.launch_sent_at is None:
        # The app stopped before the launch request left: nothing exists, launch it now.
        await store.update_job(job.id, phase=JobPhase.QUEUED, billing="none")
        runner.publish_phase(
            job.id, JobPhase.QUEUED, "The launch never went out; launching it now."
        )
        runner.ctx.on_queued()
        return "queued (launch never sent)"
    if inst is None:
        if job.instance_id is None:
            await runner.fail(
                job.id,
                f"The launch did not go through: Lambda lists no instance named "
                f"{job.instance_name}. Submit the job again.",
                billing="none",
            )
            return "failed (never launched)"
        await store.update_job(job.id, billing="terminated")
        if not job.phase.is_terminal:
            await runner.fail(job.id, _vanished(job, "is no longer listed by Lambda"))
        return "instance gone"
    if inst.status in GONE_STATUSES:
        await store.update_job(job.id, instance_id=inst.id, billing="terminated")
        if not job.phase.is_terminal:
            await runner.fail(job.id, _vanished(job, f"went {inst.status}"))
        return f"instance {inst.status}"
    if job.instance_id is None:
        await store.update_job(job.id, instance_id=inst.id, phase=JobPhase.PROVISIONING)
    if job.phase.is_terminal:
        if job.phase is JobPhase.COMPLETED and not await runner.auto_terminate():
            return "completed; instance kept running (Settings)"
        runner.ctx.tasks.spawn(f"terminate:{job.id}", runner.terminate(job.id))
        return "terminating a finished job's instance"
    if not runner.start(job.id):
        return "driven by another window"
    return f"resumed ({job.phase.value})"


def _vanished(job: JobRecord, what: str) -> str:
    return (
        f"Instance {job.instance_name} {what} while the app was not following the job. "
        "The log up to that point was kept; submit the job again to retrain."
    )
