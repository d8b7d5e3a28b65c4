"""A local Lambda Cloud: Lambda's REST API (spec v1.8.3) on 127.0.0.1 whose instances are real
SSH servers running commands in sandbox directories. Demo mode and the tests stand on it.

The names are imported on first use, so `lambda_gui.simulator.tiny_model` (used by the app's
demo set-up) does not pull in asyncssh and aiohttp's server at start-up."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_gui.simulator.config import SimulatorConfig
    from lambda_gui.simulator.faults import FAULT_KINDS, FaultInjector
    from lambda_gui.simulator.records import RequestRecord
    from lambda_gui.simulator.simulator import Simulator

__all__ = ["FAULT_KINDS", "FaultInjector", "RequestRecord", "Simulator", "SimulatorConfig"]

_HOME = {
    "SimulatorConfig": "config",
    "FAULT_KINDS": "faults",
    "FaultInjector": "faults",
    "RequestRecord": "records",
    "Simulator": "simulator",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"lambda_gui.simulator.{_HOME[name]}"), name)
    raise AttributeError(name)
