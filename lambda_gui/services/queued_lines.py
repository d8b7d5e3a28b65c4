"""Streamed log lines waiting for the next flush, kept as the blocks they came in.

A flood queues a hundred thousand lines between two flushes. As a list of lines, each
collection of the young generation that found the list walked every line (the GUI thread
collects every 100 ms: gui/gc_guard.py), 3-10 ms each. The follower hands over each read's
lines as one block (remote/logtail.py, LineBlock), and they stay blocks here: the collector
has nothing to walk, and the lines are split only where they are read one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from lambda_gui.remote.logtail import LineBlock


class QueuedLines(Sequence[bytes]):
    """Lines in arrival order, added a block (or a list) at a time."""

    __slots__ = ("_blocks", "_count")

    def __init__(self, lines: LineBlock | Iterable[bytes] = ()) -> None:
        self._blocks: list[LineBlock] = []
        self._count = 0
        self.add(lines)

    def add(self, lines: LineBlock | Iterable[bytes]) -> None:
        """Queue `lines` (a block, or lines each ending with its newline) after the others."""
        if not isinstance(lines, LineBlock):
            listed = list(lines)
            lines = LineBlock(b"".join(listed), len(listed))
        if lines.count:
            self._blocks.append(lines)
            self._count += lines.count

    def clear(self) -> None:
        """Drop every line (a reference kept elsewhere then holds nothing)."""
        self._blocks = []
        self._count = 0

    @property
    def blocks(self) -> list[bytes]:
        """The lines' bytes, a block at a time (what a file takes in a few writes)."""
        return [block.data for block in self._blocks]

    def size_of_first(self, count: int) -> int:
        """The bytes of the first `count` lines."""
        size = 0
        for block in self._blocks:
            if count >= block.count:
                size += len(block.data)
                count -= block.count
                continue
            if count:
                size += sum(map(len, block.lines()[:count]))
            break
        return size

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(block.lines() for block in self._blocks)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(islice(self, *index.indices(self._count)))
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("queued line index out of range")
        for block in self._blocks:
            if position < block.count:
                return block.lines()[position]
            position -= block.count
        raise IndexError("queued line index out of range")  # unreachable: counted above
