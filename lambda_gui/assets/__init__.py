"""Bundled runtime data, read through importlib.resources so a frozen app finds it too."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_json(name: str) -> Any:
    """Parse one bundled JSON file (lambda-catalog.json, gpu-prices.json, billing.json)."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
