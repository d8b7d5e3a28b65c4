"""Benchmark (not a test): downloading a file over a real loopback sshd, ours vs OpenSSH scp.

Run: .venv/bin/python bench/bench_transfer.py [--mib 256] [--repeat 3] [--rtt-ms 0]

Cases, each timed from connect to a closed connection and a file on disk, median of --repeat:
  ours        lambda_gui.remote.transfer.download (exec `tail -c +N` over the tuned transport,
              sha256 computed while receiving, fsync, rename)
  scp-pkg     the `scp` package with a 1 MiB buffer on the same tuned transport
  sftp        paramiko SFTP get with its defaults, on the same tuned transport (slow: opt-in)
  openssh     OpenSSH's scp CLI (-c aes128-gcm@openssh.com)
--rtt-ms N puts a proxy on loopback that delays every chunk N/2 ms each way, like a real link
to a cloud region.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scp import SCPClient  # noqa: E402

from lambda_gui.remote.ssh_session import connect  # noqa: E402
from lambda_gui.remote.ssh_target import SSHTarget, SSHTimeouts  # noqa: E402
from lambda_gui.remote.transfer import download  # noqa: E402
from tests.plugins.sshd import SSHDServer, running_sshd  # noqa: E402

MiB = 1024 * 1024


def make_file(path: Path, size: int) -> str:
    """Write `size` random bytes and return their sha256."""
    digest = hashlib.sha256()
    block = os.urandom(4 * MiB)
    with path.open("wb") as f:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


class DelayProxy:
    """A TCP proxy on loopback that forwards each chunk `delay_s` later, in order."""

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        """Cancel the proxy's connections and stop its loop."""

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        while data := await reader.read(256 * 1024):
            await queue.put((time.monotonic() + self.delay_s, data))
        await queue.put((0.0, b""))
        await sender

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer),
                self._pump(up_reader, writer),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # Shutting the proxy down: the connection just ends.
            writer.close()
            up_writer.close()


def timed(runs: dict[str, Callable[[], None]], repeat: int, size: int) -> dict[str, float]:
    """Median seconds per case; rounds interleave the cases so load drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
            times[name].append(seconds)
            print(f"  round {i + 1} {name:8s} {seconds:6.2f} s  {size / seconds / 1e6:7.1f} MB/s")
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument(
        "--cases", default="ours,scp-pkg,openssh", help="any of ours,scp-pkg,sftp,openssh"
    )
    args = parser.parse_args()
    size = args.mib * MiB
    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        base = Path(tmp)
        (base / "sshd").mkdir()
        with running_sshd(base / "sshd") as server:
            run_cases(server, base, size, args.repeat, args.rtt_ms, cases)


def run_cases(
    server: SSHDServer, base: Path, size: int, repeat: int, rtt_ms: float, cases: list[str]
) -> None:
    rel = f"{server.rel_dir}/payload.bin"
    print(f"making a {size // MiB} MiB file ...")
    sha = make_file(server.workdir / "payload.bin", size)
    port = server.port
    proxy = DelayProxy(server.port, rtt_ms / 2000) if rtt_ms > 0 else None
    if proxy is not None:
        port = proxy.port
    target = SSHTarget(
        host="127.0.0.1",
        port=port,
        username=server.username,
        key_path=server.key_path,
        instance_id="bench",
    )
    timeouts = SSHTimeouts(read=120, command=120)
    dest = base / "dest.bin"
    loop = asyncio.new_event_loop()

    def run_async(make: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        def run() -> None:
            dest.unlink(missing_ok=True)
            loop.run_until_complete(make())

        return run

    async def ours() -> None:
        async with await connect(target, base / "kh", timeouts=timeouts) as session:
            await download(session, rel, dest, expected_sha256=sha)

    async def scp_pkg() -> None:
        async with await connect(target, base / "kh", timeouts=timeouts) as session:
            client = SCPClient(session.transport, buff_size=MiB, socket_timeout=120)
            await asyncio.to_thread(client.get, rel, str(dest))

    async def sftp() -> None:
        async with await connect(target, base / "kh", timeouts=timeouts) as session:
            await asyncio.to_thread(lambda: session.client.open_sftp().get(rel, str(dest)))

    def openssh() -> None:
        dest.unlink(missing_ok=True)
        subprocess.run(
            [
                "scp",
                "-q",
                "-P",
                str(port),
                "-i",
                str(server.key_path),
                "-c",
                "aes128-gcm@openssh.com",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                f"{server.username}@127.0.0.1:{rel}",
                str(dest),
            ],
            check=True,
        )

    runs: dict[str, Callable[[], None]] = {
        "ours": run_async(ours),
        "scp-pkg": run_async(scp_pkg),
        "sftp": run_async(sftp),
        "openssh": openssh,
    }
    rtt = f", {rtt_ms:g} ms RTT proxy" if rtt_ms else ", loopback"
    print(f"{size // MiB} MiB{rtt}, median of {repeat}")

    def checked(name: str) -> Callable[[], None]:
        def run() -> None:
            runs[name]()
            assert dest.stat().st_size == size, f"{name} wrote a file of the wrong size"

        return run

    medians = timed({name: checked(name) for name in cases}, repeat, size)
    print("\nmedians:")
    for name, seconds in medians.items():
        line = f"  {name:8s} {seconds:6.2f} s  {size / seconds / 1e6:7.1f} MB/s"
        if "openssh" in medians and name != "openssh":
            line += f"  {medians['openssh'] / seconds:5.2f}x OpenSSH scp"
        print(line)
    loop.close()
    if proxy is not None:
        proxy.close()


if __name__ == "__main__":
    main()
