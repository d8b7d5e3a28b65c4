"""The one writer of a job's phase and billing: checks each move against the lifecycle table
(core/job_state.py), persists it, then tells the listeners (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lambda_gui.core.job_state import INITIAL_STATES, Billing, Phase, Reason, transition
from lambda_gui.services.events import BillingChanged, EventBus, JobPhaseChanged, TaskFailed
from lambda_gui.services.store import JobRecord, JobStore

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 30.0


class Lifecycle:
    """Applies, persists and publishes every change of a job's phase or billing."""

    def __init__(
        self,
        store: JobStore,
        bus: EventBus,
        clock: Callable[[], float],
        *,
        persist_retry_s: float = _RETRY_FIRST_S,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_s = persist_retry_s

    async def create(self, job: JobRecord, message: str) -> JobRecord:
        """Record a new job in one of the initial states, then announce it."""
        if job.state not in INITIAL_STATES:
            raise ValueError(f"a job cannot start as {job.state}")
        await self._persist(job.id, lambda: self.store.insert_job(job))
        self.bus.publish(JobPhaseChanged(job.id, job.phase, message))
        return job

    async def recover(self, job: JobRecord) -> JobRecord:
        """Record a job rebuilt after the store was lost (in whatever state the cloud shows)."""
        await self._persist(job.id, lambda: self.store.insert_job(job))
        self.bus.publish(JobPhaseChanged(job.id, job.phase, job.error or ""))
        log.info("job %s: rebuilt as %s (%s)", job.id, job.state, Reason.RECOVERED.name)
        return job

    async def move(
        self,
        job_id: str,
        reason: Reason,
        message: str = "",
        *,
        phase: Phase | None = None,
        billing: Billing | None = None,
        **fields: Any,
    ) -> JobRecord:
        """Move a job (phase and/or billing) for `reason`, with other fields written alongside.

        Refuses a move the table does not allow (IllegalTransitionError). A store that cannot
        be written (disk full) is retried until it can: the move is never dropped."""
        async with self._locks.setdefault(job_id, asyncio.Lock()):
            job = await self.store.get_job(job_id)
            new = transition(job.state, reason, phase=phase, billing=billing)
            changes = dict(fields)
            if new.phase is not job.phase:
                changes["phase"] = new.phase
                if new.phase.is_terminal and "ended_at" not in changes:
                    changes["ended_at"] = self.clock()
            if new.billing is not job.billing:
                changes["billing"] = new.billing
            if changes:
                saved = await self._persist(
                    job_id, lambda: self.store.write_state(job_id, **changes)
                )
            else:
                saved = job
        if phase is not None:
            self.bus.publish(JobPhaseChanged(job_id, new.phase, message))
        if new.billing is not job.billing:
            self.bus.publish(BillingChanged(job_id, job.billing, new.billing, reason.value))
        log.info("job %s: %s (%s)", job_id, new, reason.name)
        return saved

    async def fail(self, job_id: str, reason: Reason, message: str, **fields: Any) -> JobRecord:
        """Move a job to FAILED with the message the user will read."""
        return await self.move(job_id, reason, message, phase=Phase.FAILED, error=message, **fields)

    async def _persist(self, job_id: str, write: Callable[[], Awaitable[T]]) -> T:
        delay = self._retry_s
        warned = False
        while True:
            try:
                return await write()
            except (sqlite3.OperationalError, OSError) as exc:
                if not _is_full(exc):
                    raise
                if not warned:
                    self.bus.publish(
                        TaskFailed(
                            f"store:{job_id}",
                            f"Cannot save job {job_id}'s state: the disk holding "
                            f"{self.store.path} is full ({exc}). Free some space; the app "
                            "keeps trying and loses nothing meanwhile.",
                        )
                    )
                    warned = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)


def _is_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "full" in text or "no space" in text or getattr(exc, "errno", None) == 28
