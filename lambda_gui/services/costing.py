"""What a job's instance has cost: one place for the caps (limits_watch) and the meter the
window shows, so the two never disagree."""

from __future__ import annotations

from functools import cache

from lambda_gui.assets import load_json
from lambda_gui.core.billing import BillingTerms, pricing_info
from lambda_gui.core.job_state import Billing
from lambda_gui.core.limits import JobCost
from lambda_gui.core.limits import job_cost as cost_between
from lambda_gui.core.models import PricingInfo
from lambda_gui.services.store import JobRecord


@cache
def billing_terms() -> BillingTerms:
    """Lambda's billing increment and minimum, from the bundled dated data."""
    return BillingTerms.from_json(load_json("billing.json"))


def job_pricing(job: JobRecord) -> PricingInfo | None:
    """The billing terms of the job's instance, when its price is known."""
    if job.price_cents_per_hour <= 0:
        return None
    return pricing_info(job.instance_type, job.price_cents_per_hour, billing_terms())


def billing_span(job: JobRecord) -> tuple[float | None, float | None]:
    """When the instance started and stopped billing (None: not started / still billing).

    It counts from the moment the launch was sent: Lambda may bill from then on."""
    if job.launch_sent_at is None:
        return None, None
    if job.billing is Billing.TERMINATED:
        return job.launch_sent_at, job.ended_at or job.updated_at
    if job.billing is Billing.NONE:
        # Lambda confirmed nothing was created.
        return None, None
    return job.launch_sent_at, None


def job_cost(job: JobRecord, now: float) -> JobCost:
    """Seconds billed and dollars spent so far by the job's instance."""
    start, end = billing_span(job)
    pricing = job_pricing(job)
    if start is None or pricing is None:
        return JobCost(0.0, 0.0)
    return cost_between(pricing, start, end if end is not None else now)
