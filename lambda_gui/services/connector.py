"""LambdaLabsConnector: the seed's public API (docs/architecture.md#the-connector-api) over the
services.

Importing and constructing it is cheap: the HTTP client (aiohttp), the SSH stack (paramiko,
cryptography) and the job services load in connect(), so a window can paint before any of
them is imported (bench/bench_startup.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_gui.core.dataset_format import Progress
from lambda_gui.core.errors import LambdaAPIError, NotConnectedError
from lambda_gui.core.models import JobStatus, PricingInfo, Resource, Sample, TrainingConfig
from lambda_gui.services.events import EventBus, Orphan, TaskFailed
from lambda_gui.services.instance_control import Timing
from lambda_gui.services.job_lock import JobLocks
from lambda_gui.services.job_log import JobLogs
from lambda_gui.services.log_read_pool import LogReadPool
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.tasks import TaskGroup
from lambda_gui.services.tracker_secrets import SecretKeeper, SessionSecrets, stash_secrets

if TYPE_CHECKING:
    import aiohttp

    from lambda_gui.cloud.client import LambdaCloudClient
    from lambda_gui.cloud.pacing import Pacer
    from lambda_gui.cloud.wire import Instance
    from lambda_gui.services.catalog import Catalog
    from lambda_gui.services.job_delete import DeletedJob, JobFolder
    from lambda_gui.services.job_service import JobService
    from lambda_gui.services.settings import Settings
    from lambda_gui.services.ssh_keys import LoginKey
    from lambda_gui.services.store import JobRecord, JobStore

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
        secrets: SecretKeeper | None = None,
    ) -> None:
        self._paths_override = paths
        # Tracker secrets: the app passes its keyring (CredentialStore); a library user who
        # passes none keeps them for this process only.
        self.secrets: SecretKeeper = secrets if secrets is not None else SessionSecrets()
        self.timing = timing or Timing()
        self.clock = clock
        self._api_key = ""
        self.events = EventBus()
        self._tasks = TaskGroup(self.events)
        self._logs = JobLogs(lambda job_id: self.paths.job_dir(job_id))
        self._locks = JobLocks(self.paths.root / "locks")
        self._readers = LogReadPool()  # reads flooding logs in a worker process
        self._jobs: JobService | None = None
        self._settings: Settings | None = None
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
        # Loaded on the first connect, not at import (see the module docstring).
        import aiohttp

        from lambda_gui.cloud.client import LambdaCloudClient
        from lambda_gui.cloud.tls import tls_context
        from lambda_gui.services.catalog import Catalog
        from lambda_gui.services.job_context import JobContext
        from lambda_gui.services.job_service import JobService
        from lambda_gui.services.lifecycle import Lifecycle
        from lambda_gui.services.settings import Settings
        from lambda_gui.services.ssh_keys import ensure_login_key
        from lambda_gui.services.store import JobStore

        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        key_path = credentials.get("ssh_key_path")
        # certifi's CA bundle: a frozen app's OpenSSL may not find the system's certificates.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_context()))
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
            try:
                await store.open()
            except BaseException:
                await store.close()
                raise
            await self._recover_store(client, store)
            if self._login_key.notice:
                self.events.publish(TaskFailed("ssh-key", self._login_key.notice))
        except BaseException:
            await self.disconnect()
            raise
        self._api_key = api_key
        self._client = client
        self._catalog = Catalog(client)
        self._store = store
        self._settings = Settings(store)
        self._jobs = JobService(
            JobContext(
                client=client,
                catalog=self._catalog,
                store=store,
                lifecycle=Lifecycle(store, self.events, self.clock),
                settings=self._settings,
                paths=self.paths,
                login_key=self._login_key,
                bus=self.events,
                tasks=self._tasks,
                logs=self._logs,
                timing=self.timing,
                locks=self._locks,
                user_data_for=self._user_data_for,
                secrets=self.secrets,
                clock=self.clock,
                readers=self._readers,
            )
        )
        await self._jobs.start()
        return True

    async def _recover_store(self, client: LambdaCloudClient, store: JobStore) -> None:
        """Say what the store could not keep: a damaged file moved aside (the job list is
        rebuilt from Lambda's instances and the job folders), rows that could not be read."""
        from lambda_gui.services.store import describe_moved_aside, describe_skipped

        if store.moved_aside is not None:
            from lambda_gui.services.lifecycle import Lifecycle
            from lambda_gui.services.store_recovery import rebuild_jobs

            instances: Sequence[Instance] = ()
            try:
                instances = await client.list_instances()
            except (LambdaAPIError, ConnectionError):
                pass  # rebuilt from the job folders; the orphan sweep shows the instances
            lifecycle = Lifecycle(store, self.events, self.clock)
            await rebuild_jobs(lifecycle, instances, self.paths.root / "jobs")
            self.events.publish(TaskFailed("store", describe_moved_aside(store.moved_aside)))
        await store.list_jobs()
        skipped = describe_skipped(store.skipped_rows)
        if skipped:
            self.events.publish(TaskFailed("store", skipped))

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
        self._readers.close()
        self._locks.release_all()
        self._jobs = None
        self._settings = None
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

    @property
    def settings(self) -> Settings:
        """The app's typed settings (stored with the jobs)."""
        if self._settings is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._settings

    @property
    def jobs(self) -> JobService:
        """The job service (submit, cancel, money safety) of this connection."""
        if self._jobs is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._jobs

    async def auto_terminate(self) -> bool:
        """Whether a finished job's instance is terminated once its adapter is saved."""
        return (await self.settings.load()).auto_terminate

    async def set_auto_terminate(self, value: bool) -> None:
        """Change what happens when a job ends (download, then terminate is the default)."""
        await self.settings.update(auto_terminate=value)

    # -- jobs --------------------------------------------------------------------------

    async def keep_tracker_secrets(self, config: TrainingConfig) -> TrainingConfig:
        """Move the tracker secrets typed in `config` (HF_TOKEN, WANDB_API_KEY, ...) to the
        keyring; returns `config` holding only their names, fit to be written to a file."""
        return await stash_secrets(config, self.secrets)

    async def submit_job(self, config: TrainingConfig, progress: Progress | None = None) -> str:
        """Validate, record and launch a job; returns its id once Lambda accepted the launch.

        The rest (boot, set-up, training, download, terminate) runs in the background.
        Invalid config -> ValueError naming the field; no capacity -> RuntimeError.
        `progress(bytes read, file size)` follows the check of the whole dataset file."""
        return await self.jobs.submit(config, progress)

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

    async def get_samples(self, job_id: str) -> list[Sample]:
        """The job's samples (prompt, base, tuned, reference); [] when it generated none."""
        await self.store.get_job(job_id)
        from lambda_gui.services.samples import read_samples

        return await asyncio.to_thread(read_samples, self.paths.job_dir(job_id))

    async def resume_job(self, job_id: str) -> str:
        """Continue a cancelled, capped or failed job from its last checkpoint (optimizer,
        scheduler and RNG state included) on a new instance; the new job's id."""
        job = await self.store.get_job(job_id)
        from lambda_gui.services.job_resume import resume_config

        config = await resume_config(job, self.paths.job_dir(job_id))
        return await self.jobs.submit(config)

    async def push_to_hub(
        self, job_id: str, repo_id: str, *, private: bool = True, what: str = "adapter"
    ) -> str:
        """Push a completed job's adapter, with its model card and loss curve, to the Hugging
        Face Hub as `repo_id` (created if needed); the repo's URL. The token is the keyring's
        HF_TOKEN; it is never logged, stored elsewhere or sent to an instance."""
        if what != "adapter":
            raise ValueError(
                f"what={what!r}: only the adapter is pushed from the desktop; the merged model "
                "is downloaded (merged.tar in the job folder) and can be uploaded from there."
            )
        from lambda_gui.services import hub_push

        repo_id = hub_push.check_repo_id(repo_id)
        job = await self.store.get_job(job_id)
        from lambda_gui.services import artifacts

        archive = artifacts.require_adapter(job)
        metrics = await self.read_metrics(job_id)
        token = await hub_push.hub_token(self.secrets)
        return await hub_push.push_adapter(job, archive, metrics, repo_id, token, private=private)

    async def job_folder(self, job_id: str) -> JobFolder:
        """A job's folder on this computer and the bytes it holds (what Delete would remove)."""
        from lambda_gui.services import job_delete

        return await job_delete.job_folder(self.store, self.paths, job_id)

    async def delete_job(self, job_id: str) -> DeletedJob:
        """Delete a finished job's row and folder on this computer (nothing on Lambda);
        JobNotDeletableError while its instance may bill or it is not over."""
        from lambda_gui.services import job_delete

        return await job_delete.delete_job(self.store, self.paths, job_id)

    async def cancel_job(self, job_id: str) -> bool:
        """Stop training and terminate the instance; True once Lambda confirms it going."""
        return await self.jobs.cancel(job_id)

    async def retry_download(self, job_id: str) -> bool:
        """Download again the adapter of a job whose download failed (its instance was kept)."""
        return await self.jobs.retry_download(job_id)

    async def fetch_artifact(self, job_id: str) -> bytes:
        """The adapter.tar.gz of a completed job, as bytes."""
        from lambda_gui.services import artifacts

        return await artifacts.read_adapter(await self.store.get_job(job_id))

    async def download_artifact(
        self,
        job_id: str,
        dest: Path | str,
        progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Save a completed job's adapter.tar.gz to `dest` (verified, via `<dest>.part`)."""
        job = await self.store.get_job(job_id)
        from lambda_gui.services import artifacts

        return await artifacts.copy_adapter(job, Path(dest), progress)

    # -- money: orphans, billing, stopping everything ---------------------------------------

    async def find_orphans(self) -> list[Orphan]:
        """Billing instances of ours no job here owns (raises if Lambda cannot be asked)."""
        return await self.jobs.find_orphans()

    async def terminate_instance(self, instance_id: str) -> bool:
        """Terminate one instance (an orphan) until Lambda confirms it is going."""
        return await self.jobs.terminate_instance(instance_id)

    async def billing_jobs(self) -> list[JobRecord]:
        """Jobs whose instance may be billing right now (running, or not confirmed gone)."""
        return await self.jobs.billing_jobs()

    async def stop_all_jobs(self) -> dict[str, bool]:
        """Cancel every unfinished job and terminate its instance (closing the app)."""
        return await self.jobs.stop_all()

    async def retry_terminations(self) -> None:
        """Terminate again every finished job's instance Lambda has not confirmed gone."""
        await self.jobs.retry_terminations()

    def _user_data_for(self, job: JobRecord) -> str | None:
        # Only with the user's opt-in does the API key leave this computer (item 6).
        if not job.config.self_terminate:
            return None
        cfg = job.config
        grace_s = cfg.self_terminate_grace_minutes * 60
        from lambda_gui.remote.self_terminate import build_user_data

        return build_user_data(
            api_key=self._api_key,
            base_url=self.base_url,
            instance_name=job.instance_name,
            job_id=job.id,
            max_runtime_s=cfg.max_runtime_minutes * 60 if cfg.max_runtime_minutes else None,
            grace_s=grace_s,
            poll_s=max(1.0, min(30.0, grace_s / 4)),
        )


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
        from lambda_gui.core.logparse import MetricEvent, parse_events

        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            for event in parse_events(line):
                if isinstance(event, MetricEvent) and event.source == "lgui":
                    records.append({"step": event.step, "epoch": event.epoch, **event.values})
    return records
