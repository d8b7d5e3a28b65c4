"""The watcher that stops jobs at their run-time or budget cap, and all of them at the cap
over all running jobs (a setting)."""

from __future__ import annotations

import asyncio
import logging

from lambda_gui.core.limits import JobCost, limit_reached, total_limit_reached
from lambda_gui.services.costing import job_cost
from lambda_gui.services.job_runner import JobRunner

log = logging.getLogger(__name__)


async def watch_limits(runner: JobRunner) -> None:
    """Check every job's limits every `timing.limits_poll_s` seconds, forever."""
    while True:
        await asyncio.sleep(runner.ctx.timing.limits_poll_s)
        await check_limits_once(runner)


async def check_limits_once(runner: JobRunner) -> list[str]:
    """Stop the jobs over a limit; returns their ids."""
    ctx = runner.ctx
    now = ctx.clock()
    costs: dict[str, JobCost] = {}
    stopped: list[str] = []
    for job in await ctx.store.list_jobs():
        if job.phase.is_terminal or not job.billing.may_bill:
            continue
        cost = job_cost(job, now)
        costs[job.id] = cost
        reason = limit_reached(
            cost,
            max_runtime_minutes=job.config.max_runtime_minutes,
            budget_usd=job.config.budget_usd,
        )
        if reason:
            runner.stop_soon(job.id, reason)
            stopped.append(job.id)
    cap = (await ctx.settings.load()).global_budget_usd
    reason = total_limit_reached(list(costs.values()), cap)
    if reason:
        for job_id in costs:
            if job_id not in stopped:
                runner.stop_soon(job_id, reason)
                stopped.append(job_id)
    return stopped
