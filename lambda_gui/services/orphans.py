"""Instances this app launched (tagged, or named lambda-gui-*) that no job here owns: shown
with their cost, one click to terminate (or terminated automatically, a setting)."""

from __future__ import annotations

from lambda_gui.cloud.wire import Instance
from lambda_gui.services.events import Orphan
from lambda_gui.services.instance_control import GONE_STATUSES
from lambda_gui.services.job_context import is_ours, job_id_of
from lambda_gui.services.job_runner import JobRunner


async def find_orphans(runner: JobRunner) -> list[Orphan]:
    """Every unowned instance of ours that may bill. Raises when the list call fails."""
    ctx = runner.ctx
    instances = await ctx.client.list_instances()
    owned_ids: set[str] = set()
    owned_jobs: set[str] = set()
    for job in await ctx.store.list_jobs():
        if not job.phase.is_terminal or job.billing.may_bill:
            owned_jobs.add(job.id)
            if job.instance_id:
                owned_ids.add(job.instance_id)
    return [
        _orphan(inst)
        for inst in instances
        if is_ours(inst)
        and inst.status not in GONE_STATUSES
        and inst.id not in owned_ids
        and job_id_of(inst) not in owned_jobs
    ]


def _orphan(inst: Instance) -> Orphan:
    return Orphan(
        instance_id=inst.id,
        name=inst.name or "",
        status=inst.status,
        instance_type=inst.instance_type.name,
        region=inst.region.name,
        dollars_per_hour=inst.instance_type.price_cents_per_hour / 100.0,
    )
