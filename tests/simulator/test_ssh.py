"""Instances as SSH servers, driven with paramiko and the scp package as the app does."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
from pathlib import Path
from typing import Any

import asyncssh
import paramiko
import pytest
import scp

from tests.simulator.helpers import call, connect, launch_active, pid_alive, run, wait_status


@pytest.fixture
async def instance(sim: Any) -> tuple[str, int]:
    """An active instance: (id, ssh port)."""
    instance_id, data = await launch_active(sim)
    return instance_id, data["ssh_port"]


@pytest.fixture
async def client(sim: Any, instance: tuple[str, int]) -> Any:
    ssh = await asyncio.to_thread(connect, instance[1], sim.test_key_path)
    yield ssh
    ssh.close()


async def test_exec_runs_bash_in_home_with_app_python_first(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    home = str(sim.instance_home(instance[0]))
    status, out, err = await asyncio.to_thread(
        run, client, 'pwd; echo "$HOME"; command -v python; echo "$USER"; echo oops >&2; exit 3'
    )
    lines = out.decode().splitlines()
    assert status == 3 and err == b"oops\n"
    assert lines == [home, home, os.path.join(os.path.dirname(sys.executable), "python"), "ubuntu"]


async def test_exec_stdin_and_binary_output(client: paramiko.SSHClient) -> None:
    payload = bytes(range(256)) * 1000
    status, out, _ = await asyncio.to_thread(run, client, "cat", payload)
    assert status == 0 and out == payload


async def test_command_killed_by_signal_reports_no_exit_status(client: paramiko.SSHClient) -> None:
    status, _, _ = await asyncio.to_thread(run, client, "kill -9 $$")
    assert status == -1  # paramiko's value for an exit-signal instead of an exit-status


async def test_sftp_relative_paths_land_in_home(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    home = sim.instance_home(instance[0])

    def transfer() -> tuple[str, bytes]:
        sftp = client.open_sftp()
        try:
            sftp.mkdir("lambda-gui")
            sftp.putfo(io.BytesIO(b"config"), "lambda-gui/config.json")
            sftp.chmod("lambda-gui/config.json", 0o600)
            got = io.BytesIO()
            sftp.getfo("lambda-gui/config.json", got)
            return sftp.normalize("."), got.getvalue()
        finally:
            sftp.close()

    cwd, data = await asyncio.to_thread(transfer)
    assert cwd == str(home) and data == b"config"
    target = home / "lambda-gui" / "config.json"
    assert target.read_bytes() == b"config"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # asyncssh's stock SFTP server would have put it in the server process's cwd.
    assert not await asyncio.to_thread(Path("lambda-gui").exists)


async def test_sftp_absolute_paths_are_real_paths(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    home = sim.instance_home(instance[0])
    (home / "note.txt").write_text("hi")

    def read() -> bytes:
        sftp = client.open_sftp()
        try:
            with sftp.open(str(home / "note.txt")) as f:
                return f.read()
        finally:
            sftp.close()

    assert await asyncio.to_thread(read) == b"hi"


async def test_scp_upload_and_download_relative_to_home(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient, tmp_path: Path
) -> None:
    home = sim.instance_home(instance[0])
    (home / "out").mkdir()
    (home / "out" / "adapter.bin").write_bytes(os.urandom(300_000))

    def transfer() -> None:
        with scp.SCPClient(client.get_transport(), buff_size=1024 * 1024) as channel:
            channel.putfo(io.BytesIO(b"uploaded"), "up.txt")
            channel.get("out/adapter.bin", str(tmp_path / "adapter.bin"))

    await asyncio.to_thread(transfer)
    assert (home / "up.txt").read_bytes() == b"uploaded"
    assert (tmp_path / "adapter.bin").read_bytes() == (home / "out" / "adapter.bin").read_bytes()


async def test_other_key_and_other_user_are_refused(
    sim: Any, instance: tuple[str, int], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    with pytest.raises(paramiko.AuthenticationException):
        await asyncio.to_thread(connect, instance[1], other)
    with pytest.raises(paramiko.AuthenticationException):
        await asyncio.to_thread(connect, instance[1], sim.test_key_path, "root")


async def test_key_registered_later_is_not_authorized(sim: Any, instance: tuple[str, int]) -> None:
    """Only the launch's key is in authorized_keys, as on Lambda."""
    later = sim.generate_key_pair("added-after-launch")
    with pytest.raises(paramiko.AuthenticationException):
        await asyncio.to_thread(connect, instance[1], later)


async def test_host_key_is_the_instance_own(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    seen = client.get_transport().get_remote_server_key()  # type: ignore[union-attr]
    assert sim.instance_host_key(instance[0]).split()[1] == seen.get_base64()


async def test_setsid_process_outlives_session_and_dies_on_terminate(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    _, out, _ = await asyncio.to_thread(
        run, client, "setsid nohup sleep 300 > sleep.log 2>&1 < /dev/null & echo $!"
    )
    pid = int(out)
    client.close()
    await asyncio.sleep(0.2)
    assert pid_alive(pid)
    again = await asyncio.to_thread(connect, instance[1], sim.test_key_path)
    assert (await asyncio.to_thread(run, again, f"kill -0 {pid} && echo alive"))[1] == b"alive\n"
    again.close()
    await call(sim, "POST", "/instance-operations/terminate", {"instance_ids": [instance[0]]})
    assert (await wait_status(sim, instance[0], "terminated"))["status"] == "terminated"
    assert not pid_alive(pid)
    with pytest.raises((OSError, paramiko.SSHException)):
        await asyncio.to_thread(connect, instance[1], sim.test_key_path)


async def test_drop_ssh_connections_keeps_commands_running(
    sim: Any, instance: tuple[str, int], client: paramiko.SSHClient
) -> None:
    _, out, _ = await asyncio.to_thread(
        run, client, "setsid nohup sleep 300 > /dev/null 2>&1 < /dev/null & echo $!"
    )
    pid = int(out)
    sim.drop_ssh_connections(instance[0])
    for _ in range(100):
        if not client.get_transport().is_active():  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.02)
    assert not client.get_transport().is_active()  # type: ignore[union-attr]
    assert pid_alive(pid)
    again = await asyncio.to_thread(connect, instance[1], sim.test_key_path)
    assert (await asyncio.to_thread(run, again, "echo back"))[1] == b"back\n"
    again.close()
