"""Streamed log lines waiting for the next flush, kept as the tuples they came in.

A flood queues a hundred thousand lines between two flushes. In one list, each collection of
the young generation that finds the list walks every line (the GUI thread collects, every
100 ms: gui/gc_guard.py), 3-10 ms each. A tuple of bytes is walked once, then left out of
collections for good (the collector untracks a tuple that holds no container), so the lines
are queued as one tuple per read from the follower.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any


class QueuedLines(Sequence[bytes]):
    """Lines in arrival order, added a read at a time."""

    __slots__ = ("_count", "_parts")

    def __init__(self, lines: Iterable[bytes] = ()) -> None:
        self._parts: list[tuple[bytes, ...]] = []
        self._count = 0
        self.add(lines)

    def add(self, lines: Iterable[bytes]) -> None:
        """Queue `lines` after the others."""
        part = tuple(lines)
        if part:
            self._parts.append(part)
            self._count += len(part)

    def clear(self) -> None:
        """Drop every line (a reference kept elsewhere then holds nothing)."""
        self._parts = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(self._parts)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(islice(self, *index.indices(self._count)))
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("queued line index out of range")
        for part in self._parts:
            if position < len(part):
                return part[position]
            position -= len(part)
        raise IndexError("queued line index out of range")  # unreachable: counted above
