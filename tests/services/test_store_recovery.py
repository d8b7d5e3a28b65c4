from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from lambda_gui.cloud.wire import Instance, decode_instance
from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase
from lambda_gui.services.events import EventBus
from lambda_gui.services.job_context import JOB_TAG_KEY, job_id_of
from lambda_gui.services.lifecycle import Lifecycle
from lambda_gui.services.store import JobStore
from lambda_gui.services.store_recovery import RECOVERED_MODEL, rebuild_jobs
from tests.cloud import recorded

RUNNING_ID = "0123456789ab"
BOOTING_ID = "aaaaaaaaaaaa"
GONE_ID = "bbbbbbbbbbbb"
TAGGED_ID = "cccccccccccc"
FOLDER_ID = "dddddddddddd"
EMPTY_ID = "eeeeeeeeeeee"


def _instance(**changes: Any) -> Instance:
    """A recorded GET /instances/{id} reply, with a few fields changed, decoded for real."""
    data = copy.deepcopy(recorded.load("instance.json")["data"])
    data.update(changes)
    return decode_instance(data)


def _instances() -> list[Instance]:
    return [
        _instance(id="inst-run", name=f"lambda-gui-{RUNNING_ID}", status="active", tags=[]),
        _instance(
            id="inst-boot", name=f"lambda-gui-{BOOTING_ID}", status="booting", ip=None, tags=[]
        ),
        _instance(id="inst-gone", name=f"lambda-gui-{GONE_ID}", status="terminated", tags=[]),
        _instance(
            id="inst-tag",
            name="renamed by the user",
            status="active",
            tags=[{"key": "lambda-gui:job", "value": TAGGED_ID}],
        ),
        _instance(id="inst-other", name="My Instance", status="active"),
        _instance(id="inst-odd", name="lambda-gui-demo", status="active", tags=[]),
    ]


def _folders(jobs_root: Path) -> None:
    run = jobs_root / RUNNING_ID
    run.mkdir(parents=True)
    (run / "train.log").write_text("step 1\n")
    done = jobs_root / FOLDER_ID
    done.mkdir()
    (done / "train.log").write_text("step 1\nstep 2\n")
    (done / "adapter.tar.gz").write_bytes(b"adapter")
    (jobs_root / EMPTY_ID).mkdir()
    (jobs_root / GONE_ID).mkdir()
    (jobs_root / "not-a-job").mkdir()
    (jobs_root / "ffffffffffff").write_text("a file, not a job folder")


async def test_jobs_are_rebuilt_from_instances_and_folders(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"damaged beyond reading\n" * 100)
    store = JobStore(path)
    await store.open()
    assert store.moved_aside is not None
    jobs_root = tmp_path / "jobs"
    _folders(jobs_root)

    rebuilt = await rebuild_jobs(Lifecycle(store, EventBus(), time.time), _instances(), jobs_root)

    assert sorted(rebuilt) == sorted(
        [RUNNING_ID, BOOTING_ID, TAGGED_ID, FOLDER_ID, EMPTY_ID, GONE_ID]
    )
    jobs = {j.id: j for j in await store.list_jobs()}
    assert set(jobs) == set(rebuilt)
    assert all(j.phase is JobPhase.FAILED for j in jobs.values())
    assert all(j.config.base_model == RECOVERED_MODEL for j in jobs.values())

    running = jobs[RUNNING_ID]
    assert running.billing is Billing.UNKNOWN and running.billing.may_bill
    assert (running.instance_id, running.instance_name, running.instance_type) == (
        "inst-run",
        f"lambda-gui-{RUNNING_ID}",
        "gpu_8x_a100",
    )
    assert (running.price_cents_per_hour, running.region, running.ip) == (
        1032,
        "us-west-1",
        "198.51.100.2",
    )
    assert running.adapter_path is None
    error = running.error or ""
    assert "lost when the job store was damaged" in error
    assert str(store.moved_aside) in error
    assert f"lambda-gui-{RUNNING_ID}" in error and "$10.32/h" in error
    assert "the log" in error and str(jobs_root / RUNNING_ID) in error
    assert "terminate" in error

    assert jobs[BOOTING_ID].billing is Billing.UNKNOWN and jobs[BOOTING_ID].ip is None
    tagged = jobs[TAGGED_ID]
    assert (tagged.instance_id, tagged.instance_name) == ("inst-tag", "renamed by the user")

    # A terminated instance is no instance: its folder makes a job that does not bill.
    gone = jobs[GONE_ID]
    assert (gone.billing, gone.instance_id) == (Billing.NONE, None)

    folder_only = jobs[FOLDER_ID]
    assert folder_only.billing is Billing.NONE and folder_only.instance_id is None
    assert folder_only.instance_name == f"lambda-gui-{FOLDER_ID}"
    assert folder_only.adapter_path == str(jobs_root / FOLDER_ID / "adapter.tar.gz")
    assert "the log and the adapter" in (folder_only.error or "")
    assert "Nothing is billing" in (folder_only.error or "")
    assert jobs[EMPTY_ID].adapter_path is None

    # Running it again (a second start) adds nothing and fails on nothing.
    assert (
        await rebuild_jobs(Lifecycle(store, EventBus(), time.time), _instances(), jobs_root) == []
    )
    await store.close()


async def test_a_missing_jobs_root_rebuilds_from_instances_only(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store.sqlite3")
    await store.open()
    rebuilt = await rebuild_jobs(
        Lifecycle(store, EventBus(), time.time), _instances()[:1], tmp_path / "no-jobs-here"
    )
    assert rebuilt == [RUNNING_ID]
    job = await store.get_job(RUNNING_ID)
    assert job.billing is Billing.UNKNOWN
    assert "damaged file is kept" not in (job.error or "")
    await store.close()


async def test_the_job_id_comes_from_the_tag_then_the_name() -> None:
    assert job_id_of(_instance(name=f"lambda-gui-{RUNNING_ID}", tags=[])) == RUNNING_ID
    tagged = _instance(name="x", tags=[{"key": JOB_TAG_KEY, "value": TAGGED_ID}])
    assert job_id_of(tagged) == TAGGED_ID
    assert job_id_of(_instance(name="lambda-gui-demo", tags=[])) is None
    assert job_id_of(_instance(name=None, tags=[])) is None
