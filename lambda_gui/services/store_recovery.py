"""Rebuilds job records after a damaged job store was moved aside, from what outlived it: the
app's instances on Lambda (named lambda-gui-<job id>) and the job folders on this computer.

A rebuilt job is FAILED (its training settings are gone), keeps its instance's identity and
price, and counts as maybe billing while an instance exists: the app never terminates it on its
own, the user decides."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambda_gui.cloud.wire import GONE_STATUSES, Instance
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services.job_context import job_id_of
from lambda_gui.services.lifecycle import Lifecycle
from lambda_gui.services.store import JobRecord, JobStore

log = logging.getLogger(__name__)

INSTANCE_PREFIX = "lambda-gui-"
# The launch tag that carries the job id; both spellings are read, the name is the fallback.
RECOVERED_MODEL = "(recovered)"
UNKNOWN_TYPE = "(unknown)"
LOG_FILE = "train.log"
ADAPTER_FILE = "adapter.tar.gz"
_JOB_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class _Folder:
    """What a job folder holds."""

    path: Path
    has_log: bool
    adapter: Path | None
    mtime: float


async def rebuild_jobs(
    lifecycle: Lifecycle, instances: Sequence[Instance], jobs_root: Path
) -> list[str]:
    """Record a FAILED job per live lambda-gui instance and per orphan job folder; their ids."""
    store = lifecycle.store
    # Jobs the store already holds are left alone, so running it twice adds nothing.
    folders = await asyncio.to_thread(_scan_folders, jobs_root)
    known = {job.id for job in await store.list_jobs()} | {r.job_id for r in store.skipped_rows}
    by_job: dict[str, Instance] = {}
    for inst in instances:
        job_id = job_id_of(inst)
        if job_id is None or inst.status in GONE_STATUSES:
            continue
        # Two live instances for one job should not happen; the billing one is the one to show.
        if job_id not in by_job or (inst.is_billing and not by_job[job_id].is_billing):
            by_job[job_id] = inst
    rebuilt: list[str] = []
    now = time.time()
    for job_id in sorted(by_job.keys() | folders.keys()):
        if job_id in known:
            continue
        record = _record(job_id, by_job.get(job_id), folders.get(job_id), store, now)
        await lifecycle.recover(record)
        rebuilt.append(job_id)
        log.warning("job %s rebuilt after the job store was damaged: %s", job_id, record.error)
    return rebuilt


def _scan_folders(jobs_root: Path) -> dict[str, _Folder]:
    """Job id -> what its folder holds, for every folder named like a job id."""
    if not jobs_root.is_dir():
        return {}
    found: dict[str, _Folder] = {}
    for path in jobs_root.iterdir():
        if not (path.is_dir() and _JOB_ID.match(path.name)):
            continue
        adapter = path / ADAPTER_FILE
        log_file = path / LOG_FILE
        stamps = [p.stat().st_mtime for p in (path, log_file) if p.exists()]
        found[path.name] = _Folder(
            path=path,
            has_log=log_file.is_file(),
            adapter=adapter if adapter.is_file() else None,
            mtime=min(stamps),
        )
    return found


def _record(
    job_id: str, inst: Instance | None, folder: _Folder | None, store: JobStore, now: float
) -> JobRecord:
    config = TrainingConfig(
        base_model=RECOVERED_MODEL,
        resource_id=inst.instance_type.name if inst else UNKNOWN_TYPE,
        region=inst.region.name if inst else None,
    )
    return JobRecord(
        id=job_id,
        config=config,
        phase=JobPhase.FAILED,
        instance_name=(inst.name if inst and inst.name else INSTANCE_PREFIX + job_id),
        instance_type=inst.instance_type.name if inst else UNKNOWN_TYPE,
        price_cents_per_hour=inst.instance_type.price_cents_per_hour if inst else 0,
        region=inst.region.name if inst else None,
        instance_id=inst.id if inst else None,
        ip=inst.ip if inst else None,
        ssh_port=inst.ssh_port if inst else None,
        # The folder's age is the best guess of when the job began; it orders the job list.
        created_at=folder.mtime if folder else now,
        updated_at=now,
        ended_at=now,
        error=_message(job_id, inst, folder, store.moved_aside),
        adapter_path=str(folder.adapter) if folder and folder.adapter else None,
        billing=Billing.UNKNOWN if inst else Billing.NONE,
    )


def _message(job_id: str, inst: Instance | None, folder: _Folder | None, kept: Path | None) -> str:
    """What the user reads on the rebuilt job: what happened, what was found, what to do."""
    where = f" (the damaged file is kept at {kept})" if kept else ""
    parts = [
        f"This job's record was lost when the job store was damaged{where}; it was rebuilt "
        "from what remained, without its training settings."
    ]
    if inst is not None:
        rate = inst.instance_type.price_cents_per_hour / 100
        parts.append(
            f"Found: instance {inst.name or inst.id} ({inst.instance_type.name}, "
            f"{inst.region.name}) still {inst.status} on Lambda at ${rate:.2f}/h."
        )
    if folder is not None:
        kept_files = [
            name
            for name, present in (("the log", folder.has_log), ("the adapter", folder.adapter))
            if present
        ]
        held = " and ".join(kept_files) if kept_files else "nothing yet"
        parts.append(f"Found: {held} in {folder.path}.")
    if inst is not None:
        parts.append(
            "The instance may still be billing and the app will not terminate it on its own: "
            "open it on Lambda to fetch what you need, then terminate it from this job."
        )
    elif folder is not None and folder.adapter is not None:
        parts.append(f"Nothing is billing. The adapter at {folder.adapter} can still be used.")
    else:
        parts.append("Nothing is billing; no instance of this job is left on Lambda.")
    return " ".join(parts)
