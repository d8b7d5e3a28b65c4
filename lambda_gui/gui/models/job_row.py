"""A job as the jobs table shows it: a plain value (no Qt), fed from the services' records."""

from __future__ import annotations

from dataclasses import dataclass

from lambda_gui.core.models import JobPhase, PricingInfo


@dataclass(frozen=True)
class JobRow:
    """One job. Times are epoch seconds; billing runs from launch until termination is confirmed.

    `pricing` (the instance type's PricingInfo) bills by its increment; without it the cost is
    `hourly_rate` pro rata.
    """

    job_id: str
    name: str
    base_model: str
    instance_type: str
    phase: JobPhase
    created_at: float
    hourly_rate: float = 0.0
    region: str | None = None
    finished_at: float | None = None
    billing_started_at: float | None = None
    billing_ended_at: float | None = None
    step: int | None = None
    total_steps: int | None = None
    pricing: PricingInfo | None = None
    message: str = ""

    @property
    def billing(self) -> bool:
        """True while the instance may still be billing."""
        return self.billing_started_at is not None and self.billing_ended_at is None

    @property
    def ticking(self) -> bool:
        """True while elapsed time or cost still change with the clock."""
        return self.billing or (not self.phase.is_terminal and self.finished_at is None)

    def elapsed_seconds(self, now: float) -> float:
        """Seconds since the job was created, until it finished."""
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.created_at)

    def billed_seconds(self, now: float) -> float:
        """Seconds the instance has been billing."""
        if self.billing_started_at is None:
            return 0.0
        end = self.billing_ended_at if self.billing_ended_at is not None else now
        return max(0.0, end - self.billing_started_at)

    def cost_so_far(self, now: float) -> float:
        """Dollars billed so far (by the billing increment when pricing is known)."""
        seconds = self.billed_seconds(now)
        if self.pricing is not None:
            return self.pricing.cost_for(seconds) if seconds > 0 else 0.0
        return self.hourly_rate * seconds / 3600.0


def format_duration(seconds: float) -> str:
    """A short duration: "42 s", "3 min 05 s", "2 h 07 min"."""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
