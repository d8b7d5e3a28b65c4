"""LambdaLabsConnector: the seed's public API (design.md §6) over the services."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.errors import APIUnavailableError, LambdaAPIError, NotConnectedError
from lambda_gui.core.logparse import MetricEvent, parse_events
from lambda_gui.core.models import JobPhase, JobStatus, PricingInfo, Resource, TrainingConfig
from lambda_gui.remote.self_terminate import build_user_data
from lambda_gui.services import artifacts
from lambda_gui.services.catalog import Catalog
from lambda_gui.services.events import EventBus, Orphan, OrphansFound, TaskFailed
from lambda_gui.services.instance_control import Timing, terminate_confirmed
from lambda_gui.services.job_lock import JobLocks
from lambda_gui.services.job_log import JobLogs
from lambda_gui.services.job_runner import JobRunner, RunnerContext
from lambda_gui.services.limits_watch import watch_limits
from lambda_gui.services.orphans import AUTO_TERMINATE_ORPHANS_SETTING, find_orphans
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.reattach import reattach_jobs
from lambda_gui.services.ssh_keys import LoginKey, ensure_login_key
from lambda_gui.services.store import JobRecord, JobStore
from lambda_gui.services.tasks import TaskGroup

DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1"

log = logging.getLogger(__name__)


class LambdaLabsConnector:
    """Connects to Lambda Cloud, lists and prices instance types, runs fine-tuning jobs."""

    def __init__(
        self,
        *,
        paths: AppPaths | None = None,
        pacer: Pacer | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._paths_override = paths
        self.timing = timing or Timing()
        self.clock = clock
        self._api_key = ""
        self.events = EventBus()
        self._tasks = TaskGroup(self.events)
        self._logs = JobLogs(lambda job_id: self.paths.job_dir(job_id))
        self._locks = JobLocks(self.paths.root / "locks")
        self._runner: JobRunner | None = None
        self._pacer = pacer
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._client: LambdaCloudClient | None = None
        self._catalog: Catalog | None = None
        self._store: JobStore | None = None
        self._login_key: LoginKey | None = None
        self.base_url = DEFAULT_BASE_URL

    # -- connection ------------------------------------------------------------------

    async def connect(self, credentials: Mapping[str, Any]) -> bool:
        """Check the API key against Lambda, make sure an SSH key is registered, open the store.

        A wrong key raises ValueError with Lambda's message; an unreachable API raises
        ConnectionError within the timeout.
        """
        api_key = str(credentials.get("api_key") or "").strip()
        if not api_key:
            raise ValueError(
                "api_key is missing. Create an API key in the Lambda Cloud dashboard "
                "(API keys page) and pass it as credentials['api_key']."
            )
        await self.disconnect()
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        key_path = credentials.get("ssh_key_path")
        self._session = aiohttp.ClientSession()
        try:
            client = LambdaCloudClient(
                self._session,
                self.base_url,
                api_key,
                pacer=self._pacer,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
            )
            self._login_key = await ensure_login_key(
                client, Path(str(key_path)) if key_path else None, self.paths.keys
            )
            store = JobStore(self.paths.store)
            await store.open()
        except BaseException:
            await self.disconnect()
            raise
        self._api_key = api_key
        self._client = client
        self._catalog = Catalog(client)
        self._store = store
        self._runner = JobRunner(
            RunnerContext(
                client=client,
                catalog=self._catalog,
                store=store,
                paths=self.paths,
                login_key=self._login_key,
                bus=self.events,
                tasks=self._tasks,
                logs=self._logs,
                timing=self.timing,
                locks=self._locks,
                user_data_for=self._user_data_for,
                on_queued=self._ensure_queue_task,
                clock=self.clock,
            )
        )
        await self._reattach_once()
        self._tasks.spawn("limits", watch_limits(self._runner))
        self._tasks.spawn("cloud-watch", self._watch_cloud())
        return True

    async def verify_connection(self) -> bool:
        """True when Lambda answers this API key now."""
        if self._client is None:
            return False
        try:
            await self._client.list_ssh_keys()
        except (LambdaAPIError, ConnectionError):
            return False
        return True

    async def disconnect(self) -> None:
        """Stop following jobs (their instances keep running and are recorded as such),
        close the HTTP session and the store. Safe to call twice."""
        await self._tasks.close()
        self._locks.release_all()
        self._runner = None
        self._api_key = ""
        if self._store is not None:
            await self._store.close()
        if self._session is not None:
            await self._session.close()
        self._session = self._client = self._catalog = self._store = None

    @property
    def paths(self) -> AppPaths:
        """Where this connector keeps its data."""
        return self._paths_override or AppPaths.default()

    @property
    def login_key(self) -> LoginKey:
        """The Lambda-registered SSH key the app logs in with."""
        if self._login_key is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._login_key

    # -- catalog -----------------------------------------------------------------------

    async def list_resources(self, *, refresh: bool = False) -> list[Resource]:
        """Every Lambda instance type with its specs, price and regions with capacity now."""
        return await self._require_catalog().resources(refresh=refresh)

    async def get_pricing(self, resource_id: str) -> PricingInfo:
        """Price per hour and billing terms of one instance type (ValueError if unknown)."""
        return await self._require_catalog().pricing(resource_id)

    def _require_catalog(self) -> Catalog:
        if self._catalog is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._catalog

    @property
    def catalog_fetched_at(self) -> float:
        """Wall-clock time of the last catalog fetch (0 before the first)."""
        return self._catalog.fetched_at if self._catalog is not None else 0.0

    @property
    def store(self) -> JobStore:
        """The job store (settings live there too)."""
        if self._store is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._store

    async def auto_terminate(self) -> bool:
        """Whether a finished job's instance is terminated once its adapter is saved."""
        return (await self.store.get_setting("auto_terminate", "1")) == "1"

    async def set_auto_terminate(self, value: bool) -> None:
        """Change what happens when a job ends (download, then terminate is the default)."""
        await self.store.set_setting("auto_terminate", "1" if value else "0")

    # -- jobs --------------------------------------------------------------------------

    async def submit_job(self, config: TrainingConfig) -> str:
        """Validate, record and launch a job; returns its id once Lambda accepted the launch.

        The rest (boot, set-up, training, download, terminate) runs in the background.
        Invalid config -> ValueError naming the field; no capacity -> RuntimeError."""
        return await self._require_runner().submit(config)

    async def get_job(self, job_id: str) -> JobRecord:
        """Everything the store knows of a job."""
        return await self.store.get_job(job_id)

    async def list_jobs(self) -> list[JobRecord]:
        """Every job this app knows, newest first."""
        return await self.store.list_jobs()

    async def get_job_status(self, job_id: str) -> JobStatus:
        """The seed's status; `get_job(job_id).phase` has the finer phase."""
        return (await self.store.get_job(job_id)).phase.status

    async def stream_logs(self, job_id: str, offset: int = 0) -> AsyncIterator[str]:
        """The job's log lines from byte `offset`, following until the job ends."""
        job = await self.store.get_job(job_id)
        if job.phase.is_terminal:
            await self._logs.finish(job_id)
        async for line in self._logs.lines(job_id, offset):
            yield line

    async def read_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The metrics logged so far (to backfill a loss curve)."""
        await self.store.get_job(job_id)
        path = self.paths.job_dir(job_id)
        return await asyncio.to_thread(_read_metrics, path)

    async def cancel_job(self, job_id: str) -> bool:
        """Stop training and terminate the instance; True once Lambda confirms it going."""
        return await self._require_runner().cancel(job_id)

    async def fetch_artifact(self, job_id: str) -> bytes:
        """The adapter.tar.gz of a completed job, as bytes."""
        return await artifacts.read_adapter(await self.store.get_job(job_id))

    async def download_artifact(
        self,
        job_id: str,
        dest: Path | str,
        progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Save a completed job's adapter.tar.gz to `dest` (verified, via `<dest>.part`)."""
        job = await self.store.get_job(job_id)
        return await artifacts.copy_adapter(job, Path(dest), progress)

    # -- money: orphans, billing, stopping everything ---------------------------------------

    async def find_orphans(self) -> list[Orphan]:
        """Billing lambda-gui-* instances no job here owns (raises if Lambda cannot be asked)."""
        return await find_orphans(self._require_runner())

    async def terminate_instance(self, instance_id: str) -> bool:
        """Terminate one instance (an orphan) until Lambda confirms it is going."""
        client = self._require_runner().ctx.client
        return await terminate_confirmed(client, instance_id, timing=self.timing)

    async def billing_jobs(self) -> list[JobRecord]:
        """Jobs whose instance may be billing right now (running, or not confirmed gone)."""
        return [j for j in await self.store.list_jobs() if j.billing == "may_bill"]

    async def stop_all_jobs(self) -> dict[str, bool]:
        """Cancel every unfinished job and terminate its instance (closing the app)."""
        runner = self._require_runner()
        jobs = [j for j in await self.store.list_jobs() if not j.phase.is_terminal]
        results = await asyncio.gather(*(runner.cancel(j.id) for j in jobs))
        return {j.id: ok for j, ok in zip(jobs, results, strict=True)}

    async def retry_terminations(self) -> None:
        """Terminate again every finished job's instance Lambda has not confirmed gone."""
        runner = self._require_runner()
        for job in await self.billing_jobs():
            if job.phase.is_terminal and (
                job.phase is not JobPhase.COMPLETED or await runner.auto_terminate()
            ):
                await runner.terminate(job.id)

    def _user_data_for(self, job: JobRecord) -> str | None:
        # Only with the user's opt-in does the API key leave this computer (item 6).
        if not job.config.self_terminate:
            return None
        cfg = job.config
        grace_s = cfg.self_terminate_grace_minutes * 60
        return build_user_data(
            api_key=self._api_key,
            base_url=self.base_url,
            instance_name=job.instance_name,
            job_id=job.id,
            max_runtime_s=cfg.max_runtime_minutes * 60 if cfg.max_runtime_minutes else None,
            grace_s=grace_s,
            poll_s=max(1.0, min(30.0, grace_s / 4)),
        )

    def _ensure_queue_task(self) -> None:
        task = self._tasks.get("offline-queue")
        if (task is None or task.done()) and self._runner is not None:
            self._tasks.spawn("offline-queue", self._run_queue(self._runner))

    async def _run_queue(self, runner: JobRunner) -> None:
        """Launch queued jobs, oldest first, once Lambda answers again (paced, once each)."""
        while True:
            queued = [j for j in await self.store.list_jobs() if j.phase is JobPhase.QUEUED]
            if not queued:
                return
            try:
                await runner.ctx.catalog.resources(refresh=True)
            except (APIUnavailableError, ConnectionError):
                await asyncio.sleep(self.timing.queue_retry_s)
                continue
            for job in sorted(queued, key=lambda j: j.created_at):
                try:
                    await runner.launch_queued(job.id)
                except (LambdaAPIError, ConnectionError) as exc:
                    log.warning("queued job %s: %s", job.id, exc)
            await asyncio.sleep(self.timing.queue_retry_s)

    async def _reattach_once(self) -> bool:
        try:
            await reattach_jobs(self._require_runner())
        except (LambdaAPIError, ConnectionError) as exc:
            self.events.publish(
                TaskFailed(
                    "reattach",
                    f"Could not ask Lambda about this app's jobs ({exc}); will try again. "
                    "Until then their instances may be billing.",
                )
            )
            return False
        return True

    async def _watch_cloud(self) -> None:
        """Every few minutes: reattach what could not be, terminate unconfirmed instances,
        sweep for orphans."""
        pending_reattach = False
        while True:
            try:
                if pending_reattach:
                    pending_reattach = not await self._reattach_once()
                await self.retry_terminations()
                orphans = await self.find_orphans()
                self.events.publish(OrphansFound(tuple(orphans)))
                if orphans and await self.store.get_setting(AUTO_TERMINATE_ORPHANS_SETTING) == "1":
                    for orphan in orphans:
                        await self.terminate_instance(orphan.instance_id)
            except (LambdaAPIError, ConnectionError) as exc:
                # A failed list never counts as "no instances": say so, keep the last result.
                self.events.publish(TaskFailed("orphan-sweep", f"Orphan check failed: {exc}"))
                pending_reattach = True
            await asyncio.sleep(self.timing.sweep_s)

    def _require_runner(self) -> JobRunner:
        if self._runner is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._runner


def _read_metrics(job_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl when it was brought back, else the metric lines of the local log."""
    records: list[dict[str, Any]] = []
    metrics = job_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                records.append(item)
        return records
    log_file = job_dir / "train.log"
    if log_file.is_file():
        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            for event in parse_events(line):
                if isinstance(event, MetricEvent) and event.source == "lgui":
                    records.append({"step": event.step, "epoch": event.epoch, **event.values})
    return records
