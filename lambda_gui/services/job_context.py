"""What the job services share: the client, catalog, store, lifecycle writer and the rest;
replaced as a whole on reconnect. Kept apart so runner and remote job do not import each other."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambda_gui.cloud.wire import Instance, Tag
from lambda_gui.core.errors import LambdaAPIError
from lambda_gui.services.catalog import Catalog
from lambda_gui.services.events import EventBus
from lambda_gui.services.instance_control import Timing
from lambda_gui.services.job_lock import JobLocks
from lambda_gui.services.job_log import JobLogs
from lambda_gui.services.lifecycle import Lifecycle
from lambda_gui.services.log_read_pool import LogReadPool
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.settings import Settings
from lambda_gui.services.store import JobRecord, JobStore
from lambda_gui.services.tasks import TaskGroup
from lambda_gui.services.tracker_secrets import SecretKeeper

if TYPE_CHECKING:
    from lambda_gui.cloud.client import LambdaCloudClient
    from lambda_gui.services.ssh_keys import LoginKey

INSTANCE_PREFIX = "lambda-gui-"
# Launch tags (spec v1.8.3: key ^[a-z][a-z0-9-:]+$, at most 55 characters).
APP_TAG = ("lambda-gui:app", "lambda-gui")
JOB_TAG_KEY = "lambda-gui:job"
# Job ids are 12 lowercase hex digits (job_runner.new_job_id).
_JOB_ID = re.compile(r"[0-9a-f]{12}")


def job_tags(job_id: str) -> tuple[Tag, ...]:
    """The tags a job's instance is launched with: the app's identity and the job id."""
    return (Tag(*APP_TAG), Tag(JOB_TAG_KEY, job_id))


def tag_of(inst: Instance, key: str) -> str | None:
    """The value of one of the instance's tags, if it has it."""
    for tag in inst.tags:
        if tag.key == key:
            return tag.value
    return None


def job_id_of(inst: Instance) -> str | None:
    """The job an instance was launched for: its job tag first, its name second."""
    tagged = tag_of(inst, JOB_TAG_KEY)
    if tagged and _JOB_ID.fullmatch(tagged):
        return tagged
    name = inst.name or ""
    tail = name[len(INSTANCE_PREFIX) :]
    return tail if name.startswith(INSTANCE_PREFIX) and _JOB_ID.fullmatch(tail) else None


def is_ours(inst: Instance) -> bool:
    """True for an instance this app launched (tagged, or named lambda-gui-*)."""
    return tag_of(inst, APP_TAG[0]) == APP_TAG[1] or job_id_of(inst) is not None


@dataclass
class JobContext:
    """What the job services need from the connection."""

    client: LambdaCloudClient
    catalog: Catalog
    store: JobStore
    lifecycle: Lifecycle
    settings: Settings
    paths: AppPaths
    login_key: LoginKey
    bus: EventBus
    tasks: TaskGroup
    logs: JobLogs
    timing: Timing
    locks: JobLocks
    # The opt-in self-termination's cloud-init for a launch (None: not opted in).
    user_data_for: Callable[[JobRecord], str | None]
    # Tracker secrets by name (the stored config holds names only).
    secrets: SecretKeeper
    clock: Callable[[], float] = time.time
    # Reads flooding logs in a worker process (started when first needed).
    readers: LogReadPool = field(default_factory=LogReadPool)

    async def gpu_count(self, job: JobRecord) -> int:
        """GPUs of the job's instance type (1 when the catalog cannot say)."""
        try:
            return (await self.catalog.resource(job.instance_type)).gpu_count
        except (LambdaAPIError, ConnectionError, ValueError):
            return 1
