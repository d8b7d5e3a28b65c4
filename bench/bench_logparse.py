"""Benchmark (not a test): hostile log lines through the parser and the line splitter.

Run: .venv/bin/python bench/bench_logparse.py [--stream-mib 1024] [--old-kb 32] [--repeat 5]

- the median time to parse 1 MiB lines of several shapes (target < 50 ms), and beside it the
  parser's former tqdm pattern on a `--old-kb` line, whose time grew with the square of the
  line (the new parser's time on the same line is printed next to it);
- the peak RSS growth while a newline-free stream of `--stream-mib` MiB goes through the
  LineSplitter in 1 MiB chunks made as it goes (target < 100 MB), beside the former splitter
  on a 64 MiB stream, which held all of it.

The splitter runs first, so that the peak RSS it is measured by is not an earlier part's.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambda_gui.core.logparse import parse_events  # noqa: E402
from lambda_gui.remote.logtail import LINE_LIMIT, LineSplitter  # noqa: E402

MIB = 1 << 20
_GOOD_BAR = " 99%|\u2588| 99/100 [00:10<00:01,  9.90it/s]"
_BROKEN_BAR = "Map: 12%|\u2588\u258f        | 3/25 [00:0"
_OLD_NUMBER = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[kMGTPEZY]?"
_OLD_TQDM = re.compile(
    r"(?P<desc>[^\r]*?)\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*"
    rf"(?P<n>{_OLD_NUMBER})/(?P<total>{_OLD_NUMBER}|\?)\s*"
    r"\[(?P<elapsed>\d+(?::\d\d){1,2})<(?P<remaining>\d+(?::\d\d){1,2}|\?)"
    rf"(?:,\s*(?P<rate>{_OLD_NUMBER}|\?)\s*(?P<rate_unit>s/[^,\]]+|[^,\]/]*/s))?"
)


class _OldSplitter:
    """The splitter as it was: the partial line held whole, however long."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete lines of `pending + chunk`."""
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        return lines


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _chunks(total_mib: int) -> Iterator[bytes]:
    """`total_mib` newline-free 1 MiB chunks, each a fresh rotation of one pattern."""
    base = bytes(range(256)).replace(b"\n", b"_") * (MIB // 256)
    for i in range(total_mib):
        at = (i * 4099) % MIB
        yield base[at:] + base[:at]


def _stream(feed: Callable[[bytes], object], total_mib: int) -> tuple[float, float]:
    """(seconds, peak RSS growth in MB) to feed `total_mib` MiB without a newline."""
    before = _peak_rss_mb()
    started = time.perf_counter()
    for chunk in _chunks(total_mib):
        feed(chunk)
    return time.perf_counter() - started, _peak_rss_mb() - before


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def _repeat_to(unit: str, size: int) -> str:
    return _GOOD_BAR + (unit * (size // len(unit) + 1))[: size - len(_GOOD_BAR)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-mib", type=int, default=1024)
    parser.add_argument("--old-kb", type=int, default=32, help="0 skips the former pattern")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    splitter = LineSplitter(0)
    seconds, growth = _stream(splitter.feed, args.stream_mib)
    assert len(splitter.pending) <= LINE_LIMIT
    print(f"LineSplitter, {args.stream_mib} MiB without a newline, 1 MiB chunks")
    print(f"  now      {growth:7.1f} MB peak RSS growth (target < 100)  {seconds:6.2f} s")
    old = _OldSplitter()
    seconds, growth = _stream(old.feed, 64)
    print(f"  before   {growth:7.1f} MB peak RSS growth on 64 MiB only    {seconds:6.2f} s")

    print(f"\nparse_events on a 1 MiB line, median of {args.repeat} (target < 50 ms)")
    shapes = {
        "tqdm bars, one per \\r": "\r".join(
            f" {i % 100:2d}%|\u2588| {i}/9000 [00:01<00:09,  2.41it/s]" for i in range(30_000)
        )[:MIB],
        "cut-short bars, no \\r": _repeat_to(_BROKEN_BAR, MIB),
        "'1%|' repeated": _repeat_to("1%|", MIB),
        "plain text": _repeat_to("a", MIB),
        "trainer dicts, one per \\r": _repeat_to("{'loss': 1.0}\r", MIB),
    }
    for name, line in shapes.items():
        ms = _median_ms(lambda line=line: parse_events(line), args.repeat)
        print(f"  {name:26s} {ms:8.1f} ms")

    if args.old_kb:
        line = _repeat_to(_BROKEN_BAR, args.old_kb * 1000)
        print(f"\na {args.old_kb} KB cut-short-bars line (the former pattern: one run)")
        started = time.perf_counter()
        for _ in _OLD_TQDM.finditer(line):
            pass
        old_ms = (time.perf_counter() - started) * 1000.0
        new_ms = _median_ms(lambda: parse_events(line), args.repeat)
        print(f"  before   {old_ms:10.1f} ms  (tqdm pattern alone)")
        print(f"  now      {new_ms:10.2f} ms  (whole parse)   {old_ms / new_ms:9.0f}x faster")


if __name__ == "__main__":
    main()
