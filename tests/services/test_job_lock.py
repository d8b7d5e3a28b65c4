from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from lambda_gui.services.job_lock import JobLocks

_HOLD = (
    "import sys, time; from pathlib import Path; from lambda_gui.services.job_lock import "
    "JobLocks; locks = JobLocks(Path(sys.argv[1])); ok = locks.acquire(sys.argv[2]); "
    "print('held' if ok else 'refused', flush=True); time.sleep(float(sys.argv[3]) if ok else 0)"
)


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


def test_the_os_drops_the_lock_of_a_holder_that_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path), "job1", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        locks = JobLocks(tmp_path)
        assert not locks.acquire("job1")
        assert not locks.holds("job1")
        holder.kill()  # no clean-up code runs: only the OS can give the lock back
        holder.wait(timeout=30)
        assert locks.acquire("job1") and locks.holds("job1")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_release_from_another_thread_and_release_all(tmp_path: Path) -> None:
    locks = JobLocks(tmp_path)
    assert locks.acquire("job1") and locks.acquire("job2")
    # The app may give a lock back from another thread than the one that took it.
    thread = threading.Thread(target=locks.release, args=("job1",))
    thread.start()
    thread.join()
    assert not locks.holds("job1") and locks.holds("job2")
    other = subprocess.run(
        [sys.executable, "-c", _HOLD, str(tmp_path), "job1", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.stdout.strip() == "held"  # really released: another process took it
    locks.release("job1")  # releasing twice, or a lock never held, is harmless
    locks.release("never")
    locks.release_all()
    assert not locks.holds("job2")
    assert JobLocks(tmp_path).acquire("job2")
