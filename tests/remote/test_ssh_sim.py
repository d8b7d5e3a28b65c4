"""The SSH layer against the simulator's instances (asyncssh servers with sandbox homes)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from lambda_gui.remote.known_hosts import known_hosts_path
from lambda_gui.remote.logtail import LogFollower, remote_file_exists
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH, wait_for_ssh
from lambda_gui.remote.ssh_target import SSHTarget, SSHTimeouts
from lambda_gui.remote.transfer import download, fetch_remote_sha256, part_path
from tests.simulator.helpers import launch_active

FAST = SSHTimeouts(connect=3, banner=5, handshake=5, auth=5, channel_open=5, command=10, read=10)
MiB = 1024 * 1024


async def _instance(sim: Any) -> tuple[str, SSHTarget, Path]:
    instance_id, _ = await launch_active(sim)
    target = SSHTarget(
        host="127.0.0.1",
        port=sim.instance_ssh_port(instance_id),
        key_path=sim.test_key_path,
        instance_id=instance_id,
    )
    return instance_id, target, sim.instance_home(instance_id)


def _write_random(path: Path, size: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def test_session_on_a_sim_instance(sim: Any, tmp_path: Path) -> None:
    instance_id, target, home = await _instance(sim)
    session = await wait_for_ssh(target, 20, tmp_path, timeouts=FAST)
    async with session:
        assert await session.run("echo $USER; exit 4") == (4, b"ubuntu\n", b"")
        await session.put_bytes("lambda-gui/jobs/j-1/config.json", b"{}", mode=0o600)
        assert (home / "lambda-gui/jobs/j-1/config.json").read_bytes() == b"{}"
        await session.probe()
    pinned = known_hosts_path(tmp_path, instance_id).read_text()
    assert sim.instance_host_key(instance_id).split()[1] in pinned


async def test_log_follow_survives_sim_drops(sim: Any, tmp_path: Path) -> None:
    instance_id, target, home = await _instance(sim)
    job = home / "lambda-gui" / "jobs" / "j-2"
    job.mkdir(parents=True)
    log = job / "train.log"
    log.write_bytes(b"")
    ssh = ReconnectingSSH(target, tmp_path, timeouts=FAST, backoff_s=0.05)
    follower = LogFollower(
        ssh,
        "lambda-gui/jobs/j-2/train.log",
        stop=remote_file_exists("lambda-gui/jobs/j-2/exit_code"),
        poll_interval=0.2,
    )

    def writer() -> None:
        for i in range(6000):
            with log.open("ab") as f:
                f.write(b"step %d loss %.5f\n" % (i, 1 / (i + 1)))
            if i % 300 == 0:
                time.sleep(0.02)
        (job / "exit_code").write_text("0\n")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    collected = bytearray()
    count = 0
    async for line, _offset in follower.lines():
        collected += line
        count += 1
        if count in (1000, 3000):
            sim.drop_ssh_connections(instance_id)
    thread.join()
    assert follower.reconnects >= 2
    assert bytes(collected) == log.read_bytes()
    await ssh.close()


async def test_download_resumes_after_sim_drop(sim: Any, tmp_path: Path) -> None:
    instance_id, target, home = await _instance(sim)
    size = 48 * MiB
    expected = _write_random(home / "lambda-gui/jobs/j-3/adapter.tar.gz", size)
    (home / "lambda-gui/jobs/j-3/adapter.tar.gz.sha256").write_text(f"{expected}  adapter.tar.gz\n")
    dest = tmp_path / "adapter.tar.gz"
    ssh = ReconnectingSSH(target, tmp_path, timeouts=FAST, backoff_s=0.05)
    sha = await fetch_remote_sha256(await ssh.session(), "lambda-gui/jobs/j-3/adapter.tar.gz")
    assert sha == expected
    dropped = threading.Event()
    finished = threading.Event()

    def saboteur() -> None:
        while not finished.is_set():
            have = part_path(dest).stat().st_size if part_path(dest).exists() else 0
            if have >= size // 3:
                sim.drop_ssh_connections(instance_id)
                dropped.set()
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=saboteur, daemon=True)
    watcher.start()
    try:
        await download(ssh, "lambda-gui/jobs/j-3/adapter.tar.gz", dest, expected_sha256=sha)
    finally:
        finished.set()
        watcher.join()
    assert dropped.is_set() and ssh.dials >= 2
    digest = await asyncio.to_thread(lambda: hashlib.sha256(dest.read_bytes()).hexdigest())
    assert digest == expected
    await ssh.close()
