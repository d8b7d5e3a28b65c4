"""Guards docs/architecture.md#library-facts: PySide6 6.12.0 on CPython 3.11 drops a reference to None per void call."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_void_qt_calls_keep_none_refcount() -> None:
    obj = QObject()
    before = sys.getrefcount(None)
    for i in range(10_000):
        obj.setObjectName(f"o{i % 7}")  # returns void
    after = sys.getrefcount(None)
    assert after >= before - 50, f"None refcount fell from {before} to {after}"
