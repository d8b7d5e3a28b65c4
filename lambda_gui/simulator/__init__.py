"""A local Lambda Cloud: Lambda's REST API (spec v1.8.3) on 127.0.0.1 whose instances are real
SSH servers running commands in sandbox directories. Demo mode and the tests stand on it."""

from lambda_gui.simulator.config import SimulatorConfig
from lambda_gui.simulator.faults import FAULT_KINDS, FaultInjector
from lambda_gui.simulator.pipeline import RequestRecord
from lambda_gui.simulator.simulator import Simulator

__all__ = ["FAULT_KINDS", "FaultInjector", "RequestRecord", "Simulator", "SimulatorConfig"]
