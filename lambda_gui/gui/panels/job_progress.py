"""What the jobs tab shows of a job beyond its record: step, loss, ETA, dollars spent and
projected.

Plain values (no Qt): fed from parsed log events and the store's JobRecord.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_gui.core.logparse import LogEvent, MetricEvent, MetricRun, ProgressEvent
from lambda_gui.core.models import JobPhase
from lambda_gui.gui.models.job_row import JobRow
from lambda_gui.services.costing import billing_span, job_pricing
from lambda_gui.services.store import JobRecord

QUEUED_TEXT = "Queued — waiting for Lambda to be reachable; it launches once, as soon as it is."


@dataclass
class LiveProgress:
    """Step, total, latest loss and time left of one job, from its log."""

    step: int | None = None
    total: int | None = None
    loss: float | None = None
    remaining_s: float | None = None
    seen_at: float = 0.0
    _times: list[tuple[float, int]] = field(default_factory=list)

    def feed(self, events: Iterable[LogEvent], now: float | None = None) -> bool:
        """Take in log events; True when something shown changed. The time left comes from
        whichever was last: the metrics' rate or a bar's own estimate."""
        changed = False
        times = self._times
        timed = False  # a metric with a time came after the last bar's estimate
        for event in events:
            if isinstance(event, MetricRun):
                # A run's latest step and loss are what shows; its clock readings feed
                # the rate (the last 20 are kept).
                changed |= self._set(max(event.steps), event.planned_steps)
                changed |= self._set_loss(event.latest("loss"))
                clocked = _last_clocked(event.times, event.steps, 20)
                if clocked:
                    times += clocked
                    timed = True
            elif isinstance(event, MetricEvent):
                if event.source != "lgui" or event.step is None:
                    continue
                changed |= self._set(event.step, event.max_steps)
                changed |= self._set_loss(event.loss)
                if event.time is not None:
                    times.append((event.time, event.step))
                    timed = True
            elif isinstance(event, ProgressEvent) and event.is_training_bar:
                total = int(event.total) if event.total else None
                changed |= self._set(int(event.step), total)
                if event.remaining_s is not None:
                    self.remaining_s = event.remaining_s
                    changed = True
                    timed = False
        if len(times) > 20:
            del times[:-20]
        if timed:
            self.remaining_s = self._rate_estimate()
        if changed:
            self.seen_at = time.time() if now is None else now
        return changed

    def feed_metrics(self, records: Iterable[Mapping[str, Any]], now: float | None = None) -> None:
        """Take in metrics.jsonl records (the backfill of a job selected mid-run)."""
        for record in records:
            step, total, at = record.get("step"), record.get("max_steps"), record.get("time")
            if isinstance(step, int):
                self._set(step, total if isinstance(total, int) else None)
                loss = record.get("loss")
                self._set_loss(float(loss) if isinstance(loss, int | float) else None)
                if isinstance(at, int | float):
                    self._times = (self._times + [(float(at), step)])[-20:]
        estimate = self._rate_estimate()
        if estimate is not None and estimate != self.remaining_s and self._times:
            # Estimated as of the last record: the countdown runs from then (never from a
            # time ahead of this computer's clock).
            now = time.time() if now is None else now
            self.remaining_s = estimate
            self.seen_at = min(now, self._times[-1][0])

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds of training left, counted down since the last reading."""
        if self.remaining_s is None:
            return None
        now = time.time() if now is None else now
        return max(0.0, self.remaining_s - max(0.0, now - self.seen_at))

    def _set(self, step: int, total: int | None) -> bool:
        before = (self.step, self.total)
        self.step = max(step, self.step or 0)
        if total is not None and total > 0:
            self.total = total
        return before != (self.step, self.total)

    def _set_loss(self, loss: float | None) -> bool:
        if loss is None or loss == self.loss:
            return False
        self.loss = loss
        return True

    def _rate_estimate(self) -> float | None:
        if len(self._times) < 2 or self.total is None or self.step is None:
            return self.remaining_s
        (t0, s0), (t1, s1) = self._times[0], self._times[-1]
        if s1 <= s0 or t1 <= t0:
            return self.remaining_s
        return (self.total - self.step) * (t1 - t0) / (s1 - s0)


def job_row(job: JobRecord, progress: LiveProgress | None = None, message: str = "") -> JobRow:
    """The jobs table's row for a job."""
    start, end = billing_span(job)
    cfg = job.config
    return JobRow(
        job_id=job.id,
        name=f"{cfg.project_name} · {job.id}",
        base_model=_short_model(cfg.base_model, cfg.model_source),
        instance_type=job.instance_type,
        phase=job.phase,
        created_at=job.created_at,
        hourly_rate=job.price_cents_per_hour / 100.0,
        region=job.region,
        finished_at=job.ended_at if job.phase.is_terminal else None,
        billing_started_at=start,
        billing_ended_at=end,
        step=progress.step if progress else None,
        total_steps=progress.total if progress else None,
        pricing=job_pricing(job),
        message=status_message(job, message),
        loss=progress.loss if progress else None,
        eta_s=progress.remaining_s if progress else None,
        eta_at=progress.seen_at if progress else 0.0,
        download_kept=download_kept(job),
    )


def status_message(job: JobRecord, message: str = "") -> str:
    """What to say about a job beside its phase: its error, the last event's words, or why a
    queued job waits."""
    if job.phase is JobPhase.QUEUED:
        return QUEUED_TEXT + (f" ({message})" if message and message != QUEUED_TEXT else "")
    return job.error or message


def download_kept(job: JobRecord) -> bool:
    """True when the job's adapter download failed and its instance is kept (still billing,
    the adapter on it) until the user retries the download or terminates it: no task drives
    such a job, and its `error` says what went wrong."""
    return job.phase is JobPhase.DOWNLOADING and bool(job.error)


def _short_model(name: str, source: str) -> str:
    if source == "local":
        return name.rstrip("/").rsplit("/", 1)[-1] + " (local)"
    return name


def _last_clocked(
    times: Sequence[float | None], steps: Sequence[int], count: int
) -> list[tuple[float, int]]:
    """The last `count` (time, step) pairs that have a time, in order."""
    found: list[tuple[float, int]] = []
    for at in range(len(times) - 1, -1, -1):
        value = times[at]
        if value is not None:
            found.append((value, steps[at]))
            if len(found) == count:
                break
    found.reverse()
    return found
