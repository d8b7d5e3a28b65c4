"""Benchmark (not a test): downloading a file over a real loopback sshd, ours vs OpenSSH scp.

Run: .venv/bin/python bench/bench_transfer.py [--mib 256] [--repeat 3] [--rtt-ms 0,50]
                                              [--cases ours,scp-pkg,openssh] [--json FILE]

Cases, each timed from connect to a closed connection and a file on disk, median of --repeat
rounds that interleave the cases (so a load drift on the machine hits all of them alike):
  ours        lambda_gui.remote.transfer.download (pipelined SFTP reads over the tuned
              transport, sha256 computed while receiving, one fsync, rename)
  scp-pkg     the `scp` package with a 1 MiB buffer on the same tuned transport
  sftp        paramiko SFTP get with its defaults, on the same tuned transport (slow: opt-in)
  openssh     OpenSSH's scp CLI (-c aes128-gcm@openssh.com; OpenSSH 9+ speaks SFTP)
Each --rtt-ms value is a run of its own: 0 is plain loopback, N > 0 puts a proxy on loopback
that delays every chunk N/2 ms each way, like a real link to a cloud region. The proxy runs in
a process of its own, so it does not share ours' GIL. --json writes one record per case and
link, {"case", "mb_s", "reference": "openssh scp", "reference_mb_s", "ratio"}, the ratio being
OpenSSH scp's median time over the case's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
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
        try:
            while data := await reader.read(256 * 1024):
                await queue.put((time.monotonic() + self.delay_s, data))
            await queue.put((0.0, b""))
            await sender
        except ConnectionError:
            # One side reset the connection (a client closing it abruptly): it just ends.
            writer.close()
        finally:
            sender.cancel()

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


@contextlib.contextmanager
def delay_proxy(upstream_port: int, delay_s: float) -> Iterator[int]:
    """A DelayProxy in a child process (see --serve-proxy); yields its port."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-proxy", f"{upstream_port}:{delay_s}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield int(child.stdout.readline())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve_proxy(spec: str) -> None:
    """The child side of delay_proxy: print the port, forward until stdin closes."""
    upstream, delay = spec.split(":")
    proxy = DelayProxy(int(upstream), float(delay))
    print(proxy.port, flush=True)
    sys.stdin.read()
    # The proxy's loop thread is a daemon: leave without waiting for its connections.
    os._exit(0)


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
    parser.add_argument(
        "--rtt-ms", default="0,50", help="comma-separated round trips to run; 0 is loopback"
    )
    parser.add_argument(
        "--cases", default="ours,scp-pkg,openssh", help="any of ours,scp-pkg,sftp,openssh"
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file as JSON")
    parser.add_argument("--serve-proxy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(args.serve_proxy)
        return
    size = args.mib * MiB
    cases = args.cases.split(",")
    records: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        base = Path(tmp)
        (base / "sshd").mkdir()
        with running_sshd(base / "sshd") as server:
            print(f"making a {size // MiB} MiB file ...")
            sha = make_file(server.workdir / "payload.bin", size)
            for rtt_ms in (float(v) for v in args.rtt_ms.split(",")):
                with contextlib.ExitStack() as stack:
                    port = server.port
                    if rtt_ms > 0:
                        port = stack.enter_context(delay_proxy(server.port, rtt_ms / 2000))
                    medians = run_cases(server, port, sha, base, size, args.repeat, rtt_ms, cases)
                records += figures(medians, size, args.mib, rtt_ms)
    print(f"\nsummary (median of {args.repeat}; ratio = OpenSSH scp's time / the case's):")
    for record in records:
        ratio = f"{record['ratio']:5.2f}x OpenSSH scp" if record["ratio"] is not None else ""
        print(f"  {record['case']:40s} {record['mb_s']:7.1f} MB/s  {ratio}")
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=2) + "\n")
        print(f"figures written to {args.json}")


def figures(
    medians: dict[str, float], size: int, mib: int, rtt_ms: float
) -> list[dict[str, object]]:
    """The --json records of one link: every case but the reference, against it."""
    link = f"{rtt_ms:g} ms RTT" if rtt_ms else "loopback"
    reference = medians.get("openssh")
    out: list[dict[str, object]] = []
    for name, seconds in medians.items():
        if name == "openssh":
            continue
        label = "" if name == "ours" else f" ({name})"
        out.append(
            {
                "case": f"download {mib} MiB, {link}{label}",
                "mb_s": round(size / seconds / 1e6, 1),
                "reference": "openssh scp" if reference else None,
                "reference_mb_s": round(size / reference / 1e6, 1) if reference else None,
                "ratio": round(reference / seconds, 3) if reference else None,
            }
        )
    return out


def run_cases(
    server: SSHDServer,
    port: int,
    sha: str,
    base: Path,
    size: int,
    repeat: int,
    rtt_ms: float,
    cases: list[str],
) -> dict[str, float]:
    """Time the cases against `port` (the sshd, or a proxy in front of it): median seconds."""
    rel = f"{server.rel_dir}/payload.bin"
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
    print(f"\n{size // MiB} MiB{rtt}, median of {repeat}")

    def checked(name: str) -> Callable[[], None]:
        def run() -> None:
            runs[name]()
            assert dest.stat().st_size == size, f"{name} wrote a file of the wrong size"

        return run

    try:
        medians = timed({name: checked(name) for name in cases}, repeat, size)
    finally:
        loop.close()
    print("medians:")
    for name, seconds in medians.items():
        line = f"  {name:8s} {seconds:6.2f} s  {size / seconds / 1e6:7.1f} MB/s"
        if "openssh" in medians and name != "openssh":
            line += f"  {medians['openssh'] / seconds:5.2f}x OpenSSH scp"
        print(line)
    return medians


if __name__ == "__main__":
    main()
