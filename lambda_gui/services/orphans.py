"""Instances named lambda-gui-* that no live job of this app owns: shown with their cost, one
click to terminate (or terminated automatically, a setting)."""

from __future__ import annotations

from lambda_gui.services.events import Orphan
from lambda_gui.services.instance_control import GONE_STATUSES
from lambda_gui.services.job_runner import INSTANCE_PREFIX, JobRunner

AUTO_TERMINATE_ORPHANS_SETTING = "auto_terminate_orphans"


async def find_orphans(runner: JobRunner) -> list[Orphan]:
    """Every unowned lambda-gui-* instance that may bill. Raises when the list call fails."""
    ctx = runner.ctx
    instances = await ctx.client.list_instances()
    owned_ids: set[str] = set()
    owned_names: set[str] = set()
    for job in await ctx.store.list_jobs():
        if not job.phase.is_terminal or job.billing == "may_bill":
            owned_names.add(job.instance_name)
            if job.instance_id:
                owned_ids.add(job.instance_id)
    return [
        Orphan(
            instance_id=inst.id,
            name=inst.name or "",
            status=inst.status,
            instance_type=inst.instance_type.name,
            region=inst.region.name,
            dollars_per_hour=inst.instance_type.price_cents_per_hour / 100.0,
        )
        for inst in instances
        if (inst.name or "").startswith(INSTANCE_PREFIX)
        and inst.status not in GONE_STATUSES
        and inst.id not in owned_ids
        and inst.name not in owned_names
    ]
