"""Recorded Lambda Cloud replies (tests/cloud/data) and the OpenAPI spec the tests read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SPEC_PATH = Path(__file__).parent.parent / "data" / "openapi.json"


def load(name: str) -> Any:
    """A recorded JSON reply."""
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    """A recorded reply body as bytes."""
    return (DATA / name).read_bytes()


def spec() -> dict[str, Any]:
    """The Lambda Cloud OpenAPI document (v1.8.3)."""
    result: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return result
