"""The simulator as its HTTP handlers see it: a Protocol, and the aiohttp key it is stored under.

routes, pipeline and control reach the Simulator only through this module, so they need not
import simulator.py, which imports them to build its app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from lambda_gui.simulator.account import Account
from lambda_gui.simulator.faults import FaultInjector
from lambda_gui.simulator.fleet import Fleet
from lambda_gui.simulator.rate_limit import RateLimiter
from lambda_gui.simulator.records import RequestRecord

API_PREFIX = "/api/v1"


class SimulatorState(Protocol):
    """What the handlers and middlewares use of the Simulator."""

    api_key: str
    account: Account
    fleet: Fleet
    faults: FaultInjector
    limiter: RateLimiter | None
    requests: list[RequestRecord]
    instances_dir: Path
    firewall_rules: list[dict[str, Any]]

    def next_429_is_json(self) -> bool:
        """Whether the next 429 body is the JSON envelope (else plain text)."""
        ...

    def validate(self, method: str, path_template: str, status: int, body: bytes) -> None:
        """Pass a reply to the configured validator, if any."""
        ...

    def instance_home(self, instance_id: str) -> Path:
        """The sandbox home directory of an instance."""
        ...

    def instance_ssh_port(self, instance_id: str) -> int:
        """The port of the instance's SSH server."""
        ...

    def instance_host_key(self, instance_id: str) -> str:
        """The instance's SSH host public key."""
        ...

    def drop_ssh_connections(self, instance_id: str) -> None:
        """Cut every SSH connection to the instance."""
        ...

    def preempt(self, instance_id: str) -> None:
        """The cloud takes the instance back."""
        ...

    def set_unhealthy(self, instance_id: str, unhealthy: bool = True) -> None:
        """Report the instance as unhealthy (or active again)."""
        ...

    def set_capacity(self, type_name: str, region: str, n: int) -> None:
        """How many more instances of a type a region can start now."""
        ...

    def set_account_inactive(self, inactive: bool = True) -> None:
        """Make every API call answer 403 global/account-inactive (or stop doing so)."""
        ...

    def set_quota(self, n: int | None) -> None:
        """Most instances the account may hold at once (None: no limit)."""
        ...


SIM: web.AppKey[SimulatorState] = web.AppKey("simulator")
