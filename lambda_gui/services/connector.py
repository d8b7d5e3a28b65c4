"""LambdaLabsConnector: the seed's public API (design.md §6) over the services."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.errors import LambdaAPIError, NotConnectedError
from lambda_gui.core.logparse import MetricEvent, parse_events
from lambda_gui.core.models import JobStatus, PricingInfo, Resource, TrainingConfig
from lambda_gui.services import artifacts
from lambda_gui.services.catalog import Catalog
from lambda_gui.services.events import EventBus
from lambda_gui.services.instance_control import Timing
from lambda_gui.services.job_log import JobLogs
from lambda_gui.services.job_runner import JobRunner, RunnerContext
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.ssh_keys import LoginKey, ensure_login_key
from lambda_gui.services.store import JobRecord, JobStore
from lambda_gui.services.tasks import TaskGroup

DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1"


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
    ) -> None:
        self._paths_override = paths
        self.timing = timing or Timing()
        self.events = EventBus()
        self._tasks = TaskGroup(self.events)
        self._logs = JobLogs(lambda job_id: self.paths.job_dir(job_id))
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
            )
        )
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
        self._runner = None
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
        runner = self._require_runner()
        return await runner.submit(config, auto_terminate=await self.auto_terminate())

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
