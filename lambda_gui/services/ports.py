"""What each part of the window needs from the services, as small Protocols.

The GUI's panels, dialogs and widgets depend on these, not on LambdaLabsConnector: only the
main window (which composes them) knows the concrete connector, and it satisfies every
Protocol here structurally (tests/gui/test_ports.py checks it, and mypy checks each place the
window hands its connector to a panel). A test can hand a panel a small fake instead.

Signatures match LambdaLabsConnector's methods exactly (names, defaults, keyword-only-ness).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

# Types only: the window imports these Protocols before its first paint, and none of them is
# needed at run time (tests/gui/test_ports.py reads them for its checks).
if TYPE_CHECKING:
    from lambda_gui.core.dataset_format import Progress
    from lambda_gui.core.models import PricingInfo, Resource, Sample, TrainingConfig
    from lambda_gui.services.events import Orphan
    from lambda_gui.services.job_delete import DeletedJob, JobFolder
    from lambda_gui.services.paths import AppPaths
    from lambda_gui.services.settings import AppSettings
    from lambda_gui.services.store import JobRecord
    from lambda_gui.services.tracker_secrets import SecretKeeper


class CatalogSource(Protocol):
    """The instance types Lambda offers and their prices (Catalog tab)."""

    async def list_resources(self, *, refresh: bool = False) -> list[Resource]:
        """Every instance type with its specs, price and regions with capacity now."""
        ...

    async def get_pricing(self, resource_id: str) -> PricingInfo:
        """Price per hour and billing terms of one instance type."""
        ...

    @property
    def catalog_fetched_at(self) -> float:
        """Wall-clock time of the last catalog fetch (0 before the first)."""
        ...


class JobSubmitter(Protocol):
    """Launching a job (New job tab)."""

    async def submit_job(self, config: TrainingConfig, progress: Progress | None = None) -> str:
        """Validate, record and launch a job; its id (`progress` follows the dataset check)."""
        ...

    async def keep_tracker_secrets(self, config: TrainingConfig) -> TrainingConfig:
        """Move the secrets typed in `config` to the keyring; `config` with their names only."""
        ...


class JobLister(Protocol):
    """The jobs the store knows."""

    async def get_job(self, job_id: str) -> JobRecord:
        """Everything the store knows of a job."""
        ...

    async def list_jobs(self) -> list[JobRecord]:
        """Every job, newest first."""
        ...


class JobReader(JobLister, Protocol):
    """A job's record, log and metrics."""

    async def read_metrics(self, job_id: str) -> list[dict[str, Any]]:
        """The metrics logged so far."""
        ...

    def stream_logs(self, job_id: str, offset: int = 0) -> AsyncIterator[str]:
        """The job's log lines from byte `offset`, following until the job ends (an async
        generator: call it without await)."""
        ...


class JobControl(JobSubmitter, JobReader, Protocol):
    """Everything the Jobs tab does to a job: read it, cancel it, retry its download, save its
    adapter."""

    async def cancel_job(self, job_id: str) -> bool:
        """Stop training and terminate the instance; True once Lambda confirms it going."""
        ...

    async def retry_download(self, job_id: str) -> bool:
        """Drive again a job whose adapter download failed (its instance kept); False when it
        is not in that state or already driven."""
        ...

    async def download_artifact(
        self,
        job_id: str,
        dest: Path | str,
        progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Save a completed job's verified adapter to `dest`."""
        ...


class MoneyWatch(Protocol):
    """Instances that may be billing: the banners and the quit prompt."""

    async def billing_jobs(self) -> list[JobRecord]:
        """Jobs whose instance may be billing right now."""
        ...

    async def find_orphans(self) -> list[Orphan]:
        """Billing instances of ours no job here owns."""
        ...

    async def terminate_instance(self, instance_id: str) -> bool:
        """Terminate one instance (an orphan) until Lambda confirms it is going."""
        ...

    async def retry_terminations(self) -> None:
        """Terminate again every finished job's instance Lambda has not confirmed gone."""
        ...

    async def stop_all_jobs(self) -> dict[str, bool]:
        """Cancel every unfinished job and terminate its instance."""
        ...

    async def auto_terminate(self) -> bool:
        """Whether a finished job's instance is terminated once its adapter is saved."""
        ...


class QuitControl(JobLister, MoneyWatch, Protocol):
    """Quitting while jobs run: stop them all and follow their phases."""


class SettingsStore(Protocol):
    """The app's typed settings."""

    async def load(self) -> AppSettings:
        """Every setting (defaults for those never saved)."""
        ...

    async def update(self, **changes: object) -> AppSettings:
        """Change some settings, keep the rest; the result."""
        ...


class SettingsSource(Protocol):
    """Where the settings dialog reads and writes the settings."""

    @property
    def settings(self) -> SettingsStore:
        """The settings of this connection (NotConnectedError when not connected)."""
        ...


# After training (docs/after-training.md). Runtime-checkable: the job detail panel offers an
# action only when what it was given can do it (a test fake may not).


@runtime_checkable
class JobDeleter(Protocol):
    """Deleting a finished job's local files (the connector)."""

    async def job_folder(self, job_id: str) -> JobFolder:
        """The job's folder on this computer and its size."""
        ...

    async def delete_job(self, job_id: str) -> DeletedJob:
        """Delete the job's row and folder (refused while it may bill or is not over)."""
        ...


@runtime_checkable
class JobResumer(Protocol):
    """Resuming a stopped job from its checkpoint (the connector)."""

    @property
    def paths(self) -> AppPaths:
        """Where the app keeps its data (a job's folder holds its checkpoint)."""
        ...

    async def resume_job(self, job_id: str) -> str:
        """Continue a cancelled or failed job from its last checkpoint; the new job's id."""
        ...


@runtime_checkable
class SampleReader(Protocol):
    """Where a job's samples come from (the connector)."""

    async def get_samples(self, job_id: str) -> list[Sample]:
        """The job's samples; [] when it generated none (SamplesUnreadableError when its
        samples.json cannot be read)."""
        ...


@runtime_checkable
class HubPusher(Protocol):
    """Pushing a completed job's adapter to the Hub (the connector)."""

    secrets: SecretKeeper

    @property
    def paths(self) -> AppPaths:
        """Where the app keeps its data (a job's folder holds merged.tar when it merged)."""
        ...

    async def push_to_hub(
        self, job_id: str, repo_id: str, *, private: bool = True, what: str = "adapter"
    ) -> str:
        """Push the job's adapter as `repo_id`; the repo's URL."""
        ...
