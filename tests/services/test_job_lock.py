from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lambda_gui.services.job_lock import JobLocks


def test_one_holder_per_job_in_and_across_processes(tmp_path: Path) -> None:
    locks = JobLocks(tmp_path)
    assert locks.acquire("job1")
    assert not locks.acquire("job1")  # a second click in this process
    assert JobLocks(tmp_path).acquire("job1") is False  # a second window's locks
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from lambda_gui.services.job_lock import "
            "JobLocks; sys.exit(0 if JobLocks(Path(sys.argv[1])).acquire('job1') else 3)",
            str(tmp_path),
        ],
        check=False,
    )
    assert other.returncode == 3  # another process
    assert JobLocks(tmp_path).acquire("job2")
    locks.release("job1")
    assert JobLocks(tmp_path).acquire("job1")
