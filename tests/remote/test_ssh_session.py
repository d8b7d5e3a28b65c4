"""SSH connection, host-key pinning, auth errors, exec and upload against a real OpenSSH sshd."""

from __future__ import annotations

import asyncio
import socket
import stat
import threading
from pathlib import Path

import pytest

from lambda_gui.core.errors import HostKeyMismatchError, SSHError
from lambda_gui.remote.known_hosts import known_hosts_path
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH, wait_for_ssh
from lambda_gui.remote.ssh_session import connect
from lambda_gui.remote.ssh_target import MAX_PACKET_SIZE, WINDOW_SIZE, SSHTarget, SSHTimeouts
from tests.plugins.sshd import SSHDServer, _free_port, _keygen

FAST = SSHTimeouts(connect=3, banner=5, handshake=5, auth=5, channel_open=5, command=10, read=10)


def _read_text(path: str) -> str:
    return Path(path).read_text()


async def test_connect_pins_host_key_and_runs_commands(sshd: SSHDServer, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    async with await connect(sshd.target("i-one"), kh, timeouts=FAST) as session:
        assert await session.run("echo out; echo err >&2; exit 3") == (3, b"out\n", b"err\n")
        assert (await session.run(["printf", "%s", "it's; $(x)"])).stdout == b"it's; $(x)"
        pwd = (await session.check("pwd")).decode().strip()
        assert Path(pwd) == sshd.home
        await session.probe()
    pinned = known_hosts_path(kh, "i-one").read_text()
    host_pub = _read_text(f"{sshd.host_key_path}.pub").split()[1]
    assert host_pub in pinned
    # The second connection is checked against the pin and accepted.
    async with await connect(sshd.target("i-one"), kh, timeouts=FAST) as session:
        assert (await session.run("true")).exit_code == 0


async def test_transport_is_tuned(sshd: SSHDServer, tmp_path: Path) -> None:
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        transport = session.transport
        assert transport.local_cipher == "aes128-gcm@openssh.com"
        assert transport.remote_cipher == "aes128-gcm@openssh.com"
        assert transport.default_window_size == WINDOW_SIZE
        assert transport.default_max_packet_size == MAX_PACKET_SIZE
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # type: ignore[union-attr]
        keepalive = transport.packetizer._Packetizer__keepalive_interval  # type: ignore[attr-defined]
        assert keepalive == FAST.keepalive


async def test_changed_host_key_is_refused(sshd: SSHDServer, tmp_path: Path) -> None:
    async with await connect(sshd.target("i-two"), tmp_path, timeouts=FAST):
        pass
    before = known_hosts_path(tmp_path, "i-two").read_text()
    sshd.restart(new_host_key=True)
    with pytest.raises(HostKeyMismatchError) as info:
        await connect(sshd.target("i-two"), tmp_path, timeouts=FAST)
    message = str(info.value)
    assert "i-two" in message and "changed" in message and "SHA256:" in message
    assert str(known_hosts_path(tmp_path, "i-two")) in message
    # The pin is not overwritten, and another instance id pins independently.
    assert known_hosts_path(tmp_path, "i-two").read_text() == before
    async with await connect(sshd.target("i-three"), tmp_path, timeouts=FAST):
        pass


async def test_pinned_key_under_another_address_is_still_enforced(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    async with await connect(sshd.target("i-four"), tmp_path, timeouts=FAST):
        pass
    sshd.restart(new_host_key=True)
    # Same instance reached under another name: the file is the instance's, so still refused.
    moved = SSHTarget(
        host="localhost", port=sshd.port, username=sshd.username, key_path=sshd.key_path,
        instance_id="i-four",
    )  # fmt: skip
    with pytest.raises(HostKeyMismatchError):
        await connect(moved, tmp_path, timeouts=FAST)


async def test_wrong_key_is_refused_with_a_clear_error(sshd: SSHDServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    _keygen(other)
    target = SSHTarget(
        host=sshd.host, port=sshd.port, username=sshd.username, key_path=other,
        instance_id="i-five",
    )  # fmt: skip
    with pytest.raises(SSHError) as info:
        await connect(target, tmp_path, timeouts=FAST)
    message = str(info.value)
    assert "refused the SSH key" in message and str(other) in message
    assert "SHA256:" in message and sshd.username in message


async def test_missing_key_and_unreachable_host(sshd: SSHDServer, tmp_path: Path) -> None:
    missing = SSHTarget(host=sshd.host, port=sshd.port, key_path=tmp_path / "nope", instance_id="i")
    with pytest.raises(SSHError, match="does not exist"):
        await connect(missing, tmp_path, timeouts=FAST)
    closed = SSHTarget(host="127.0.0.1", port=_free_port(), key_path=sshd.key_path, instance_id="i")
    with pytest.raises(SSHError, match="Could not reach"):
        await connect(closed, tmp_path, timeouts=FAST)


async def test_silent_server_hits_the_banner_deadline(tmp_path: Path, sshd: SSHDServer) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    target = SSHTarget(
        host="127.0.0.1", port=listener.getsockname()[1], key_path=sshd.key_path,
        instance_id="i-silent",
    )  # fmt: skip
    timeouts = SSHTimeouts(connect=2, banner=1, handshake=1, auth=1)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(SSHError, match="handshake"):
            await connect(target, tmp_path, timeouts=timeouts)
        assert loop.time() - start < 5
    finally:
        listener.close()


async def test_run_with_stdin_and_timeout(sshd: SSHDServer, tmp_path: Path) -> None:
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        data = bytes(range(256)) * 4096
        assert await session.run("cat", stdin=data) == (0, data, b"")
        big = await session.run("head -c 5000000 /dev/zero")
        assert big.stdout == b"\0" * 5_000_000
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(SSHError, match="did not finish within 0.5 s"):
            await session.run("sleep 5", timeout=0.5)
        assert loop.time() - start < 3
        # Several commands at once on one connection.
        results = await asyncio.gather(*(session.run(f"echo {i}") for i in range(8)))
        assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(8)]


async def test_uploads_create_parents_and_keep_modes(sshd: SSHDServer, tmp_path: Path) -> None:
    rel = sshd.rel_dir
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        await session.put_bytes(f"{rel}/jobs/abc-1/config.json", b'{"a": 1}', mode=0o600)
        target = sshd.workdir / "jobs/abc-1/config.json"
        assert target.read_bytes() == b'{"a": 1}'
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert not (sshd.workdir / "jobs/abc-1/config.json.part").exists()

        local = tmp_path / "tree"
        (local / "data" / "sub").mkdir(parents=True)
        (local / "bootstrap.sh").write_text("#!/bin/sh\necho ok\n")
        (local / "bootstrap.sh").chmod(0o755)
        payload = bytes(range(256)) * 40_000
        (local / "data" / "sub" / "train.jsonl").write_bytes(payload)
        await session.put_tree(local, f"{rel}/jobs/abc-1/bundle")
        remote = sshd.workdir / "jobs/abc-1/bundle"
        assert (remote / "data/sub/train.jsonl").read_bytes() == payload
        assert stat.S_IMODE((remote / "bootstrap.sh").stat().st_mode) == 0o755
        assert await session.run(f"sh {rel}/jobs/abc-1/bundle/bootstrap.sh") == (0, b"ok\n", b"")

        await session.put_file(local / "bootstrap.sh", f"{rel}/single.sh", mode=0o700)
        assert stat.S_IMODE((sshd.workdir / "single.sh").stat().st_mode) == 0o700
        with pytest.raises(ValueError):
            await session.put_bytes("/etc/evil", b"")
        with pytest.raises(ValueError):
            await session.put_bytes(f"{rel}/../evil", b"")


async def test_probe_fails_after_drop_and_reconnecting_redials(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST, backoff_s=0.1)
    first = await ssh.session()
    assert await ssh.session() is first
    assert sshd.drop_connections() >= 1
    with pytest.raises(SSHError):
        await first.probe(timeout=2)
    second = await ssh.session()
    assert second is not first
    await second.probe()
    assert ssh.dials == 2
    await ssh.close()


async def test_reconnecting_gives_up_after_bounded_attempts(
    sshd: SSHDServer, tmp_path: Path
) -> None:
    ssh = ReconnectingSSH(sshd.target(), tmp_path, timeouts=FAST, attempts=3, backoff_s=0.05)
    await ssh.session()
    sshd.stop()
    await ssh.reset()
    with pytest.raises(SSHError, match="after 3 attempts"):
        await ssh.session()
    assert ssh.dials == 4


async def test_wait_for_ssh_waits_for_a_booting_server(sshd: SSHDServer, tmp_path: Path) -> None:
    sshd.stop()
    timer = threading.Timer(1.5, sshd.start)
    timer.start()
    try:
        session = await wait_for_ssh(
            sshd.target(), 20, tmp_path, timeouts=FAST, interval_s=0.2, max_interval_s=0.3
        )
    finally:
        timer.join()
    await session.probe()
    await session.close()


async def test_wait_for_ssh_gives_up_at_the_deadline(sshd: SSHDServer, tmp_path: Path) -> None:
    sshd.stop()
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(SSHError, match="did not become ready within 1 s"):
        await wait_for_ssh(sshd.target(), 1, tmp_path, timeouts=FAST, interval_s=0.2)
    assert loop.time() - start < 4


async def test_rekey_storm_does_not_stall_the_transport(sshd: SSHDServer, tmp_path: Path) -> None:
    # A re-key every ~2 KiB makes paramiko start one while the server closes a channel; plain
    # paramiko then stalls its own thread until clear_to_send_timeout and drops the connection.
    async with await connect(sshd.target(), tmp_path, timeouts=FAST) as session:
        transport = session.transport
        transport.clear_to_send_timeout = 3.0
        transport.packetizer.REKEY_BYTES = 2048  # type: ignore[attr-defined]
        transport.packetizer.REKEY_PACKETS = 2048  # type: ignore[attr-defined]
        for _ in range(25):
            result = await session.run("head -c 3000 /dev/zero", timeout=5)
            assert result == (0, b"\0" * 3000, b"")
        assert session.is_active()
