"""A job as the jobs table shows it: a plain value (no Qt), fed from the services' records."""

from __future__ import annotations

from dataclasses import dataclass

from lambda_gui.core.models import JobPhase, PricingInfo

PHASE_LABELS = {
    JobPhase.QUEUED: "Queued",
    JobPhase.PENDING: "Pending",
    JobPhase.PROVISIONING: "Launching",
    JobPhase.BOOTING: "Booting",
    JobPhase.SETTING_UP: "Setting up",
    JobPhase.RUNNING: "Training",
    JobPhase.SAMPLING: "Sampling",
    JobPhase.EXPORTING: "Exporting",
    JobPhase.DOWNLOADING: "Downloading",
    JobPhase.COMPLETED: "Completed",
    JobPhase.FAILED: "Failed",
    JobPhase.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class JobRow:
    """One job. Times are epoch seconds; billing runs from launch until termination is confirmed.

    `pricing` (the instance type's PricingInfo) bills by its increment; without it the cost is
    `hourly_rate` pro rata. `eta_s` is the training time left as estimated at `eta_at`; it
    counts down from there. `download_kept`: the adapter download failed and the instance is
    kept (billing) until the user retries or terminates it.
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
    loss: float | None = None
    eta_s: float | None = None
    eta_at: float = 0.0
    download_kept: bool = False

    @property
    def billing(self) -> bool:
        """True while the instance may still be billing."""
        return self.billing_started_at is not None and self.billing_ended_at is None

    @property
    def ticking(self) -> bool:
        """True while elapsed time or cost still change with the clock."""
        return self.billing or (not self.phase.is_terminal and self.finished_at is None)

    @property
    def billing_after_end(self) -> bool:
        """True when the job is over (or waits for the user) while its instance still bills."""
        return self.billing and (self.phase.is_terminal or self.download_kept)

    def status_text(self) -> str:
        """The phase in words, saying so when an instance bills past the job's end."""
        if self.download_kept:
            return "Download failed — instance billing"
        label = PHASE_LABELS[self.phase]
        return f"{label} — instance billing" if self.billing_after_end else label

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
        return self._cost_for(self.billed_seconds(now))

    def eta_seconds(self, now: float) -> float | None:
        """Seconds of training left while it trains (None: not training or not yet known)."""
        if self.phase is not JobPhase.RUNNING or self.eta_s is None:
            return None
        return max(0.0, self.eta_s - max(0.0, now - self.eta_at))

    def projected_cost(self, now: float) -> float | None:
        """Dollars the job will have cost once its instance is gone (None: not yet knowable,
        or open-ended: an instance billing until the user ends it)."""
        if not self.billing:
            return self.cost_so_far(now)
        if self.download_kept or self.phase.is_terminal:
            return None
        from lambda_gui.core.planner import FINISH_SECONDS  # the planner loads with a job

        if self.phase is JobPhase.DOWNLOADING:
            left = FINISH_SECONDS
        else:
            eta = self.eta_seconds(now)
            if eta is None:
                return None
            left = eta + FINISH_SECONDS
        return self._cost_for(self.billed_seconds(now) + left)

    def _cost_for(self, seconds: float) -> float:
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


def format_clock(seconds: float) -> str:
    """A duration as a clock, for narrow columns: "0:42", "3:05", "2:07:00"."""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """A count with its noun: "1 instance", "2 instances" (`many` defaults to `one` + "s")."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
