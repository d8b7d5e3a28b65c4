"""The simulator: a local Lambda Cloud (the REST API on aiohttp, instances as SSH servers)."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import shutil
import tempfile
from pathlib import Path

import asyncssh
from aiohttp import web

from lambda_gui.simulator.account import Account
from lambda_gui.simulator.app_state import API_PREFIX, SIM
from lambda_gui.simulator.config import SimulatorConfig
from lambda_gui.simulator.control import add_control_routes, control_guard
from lambda_gui.simulator.faults import FaultInjector
from lambda_gui.simulator.fleet import Fleet
from lambda_gui.simulator.pipeline import api_pipeline
from lambda_gui.simulator.rate_limit import RateLimiter
from lambda_gui.simulator.records import InstanceRecord, RequestRecord
from lambda_gui.simulator.routes import DEFAULT_FIREWALL_RULES, add_api_routes

log = logging.getLogger(__name__)


def new_api_key() -> str:
    """A key shaped like Lambda's (secret_<name>_<hex>.<hex>)."""
    return f"secret_lambda-gui-sim_{secrets.token_hex(16)}.{secrets.token_hex(16)}"


class Simulator:
    """A local Lambda Cloud. `await start()`, use `base_url` and `api_key`, `await stop()`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.api_key = self.config.api_key or new_api_key()
        self._owns_root = self.config.root_dir is None
        self.root_dir = (
            Path(tempfile.mkdtemp(prefix="lambda-sim-"))
            if self.config.root_dir is None
            else Path(self.config.root_dir)
        )
        self.instances_dir = self.root_dir / "instances"
        self.keys_dir = self.root_dir / "keys"
        self.account = Account(self.config.capacity, self.config.instance_quota)
        self.fleet = Fleet(self.account, self.config, self.instances_dir)
        self.faults = FaultInjector()
        self.limiter = (
            RateLimiter(
                self.config.rate_per_second,
                self.config.rate_burst,
                self.config.launch_interval_seconds,
            )
            if self.config.rate_limits
            else None
        )
        self.requests: list[RequestRecord] = []
        self.firewall_rules = [dict(r) for r in DEFAULT_FIREWALL_RULES]
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._429_replies = itertools.count()

    # --- start / stop -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root, e.g. http://127.0.0.1:PORT/api/v1."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def control_url(self) -> str:
        """The root of the /_sim/ fault-injection endpoints."""
        return f"http://127.0.0.1:{self.port}/_sim"

    async def start(self) -> None:
        """Create the root dir and serve the API on 127.0.0.1."""
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        self.keys_dir.chmod(0o700)
        # A launch may carry 1 MB of user data plus its JSON quoting.
        app = web.Application(
            middlewares=[control_guard, api_pipeline], client_max_size=4 * 1024 * 1024
        )
        app[SIM] = self
        add_api_routes(app)
        add_control_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.config.port, reuse_address=True)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def stop(self) -> None:
        """Power off every instance (killing its processes), stop serving, remove every file."""
        await self.fleet.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._owns_root:
            shutil.rmtree(self.root_dir, ignore_errors=True)
        else:
            for sub in (self.instances_dir, self.keys_dir):
                shutil.rmtree(sub, ignore_errors=True)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def next_429_is_json(self) -> bool:
        """429 bodies alternate: JSON envelope first, then plain text, and so on."""
        return next(self._429_replies) % 2 == 0

    def validate(self, method: str, path_template: str, status: int, body: bytes) -> None:
        """Pass a reply to the configured validator, if any."""
        if self.config.validate_response is not None:
            self.config.validate_response(method, path_template, status, body)

    # --- account set-up ---------------------------------------------------------------

    def add_ssh_key(self, name: str, public_key: str) -> str:
        """Register a public key as POST /ssh-keys would; returns its id."""
        record, _ = self.account.add_ssh_key(name, public_key)
        return record.id

    def generate_key_pair(self, name: str) -> Path:
        """Make an ed25519 pair, register the public half as `name`, return the private key
        file (0600, OpenSSH format) under the root dir."""
        key = asyncssh.generate_private_key("ssh-ed25519", comment=name)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "key"
        path = self.keys_dir / safe
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_bytes(key.export_private_key("openssh"))
        public = key.export_public_key("openssh").decode().strip()
        path.with_name(safe + ".pub").write_text(public + "\n")
        self.add_ssh_key(name, public)
        return path

    def set_capacity(self, type_name: str, region: str, n: int) -> None:
        """How many more instances of a type a region can start now."""
        self.account.set_capacity(type_name, region, n)

    def set_account_inactive(self, inactive: bool = True) -> None:
        """Make every API call answer 403 global/account-inactive (or stop doing so)."""
        self.account.active = not inactive

    def set_quota(self, n: int | None) -> None:
        """Most instances the account may hold at once (None: no limit)."""
        self.account.quota = n

    # --- instances --------------------------------------------------------------------

    def instance_home(self, instance_id: str) -> Path:
        """The sandbox home directory of an instance (what ~ is over SSH)."""
        return self.fleet.machine(instance_id).home

    def instance_ssh_port(self, instance_id: str) -> int:
        """The port of the instance's SSH server (0 before its first boot)."""
        return self.fleet.machine(instance_id).ssh.port

    def instance_host_key(self, instance_id: str) -> str:
        """The instance's SSH host public key, one OpenSSH line."""
        return self.fleet.machine(instance_id).host_public_key

    def instance_status(self, instance_id: str) -> str | None:
        """The status the API reports, or None once it answers 404."""
        record = self.account.instances.get(instance_id)
        return None if record is None else record.status

    def drop_ssh_connections(self, instance_id: str) -> None:
        """Cut every SSH connection to the instance (its commands keep running)."""
        self.fleet.machine(instance_id).ssh.drop_connections()

    def preempt(self, instance_id: str) -> None:
        """The cloud takes the instance back: status preempted, its processes killed."""
        self.fleet.preempt(self._record(instance_id))

    def set_unhealthy(self, instance_id: str, unhealthy: bool = True) -> None:
        """Report the instance as unhealthy (or active again)."""
        self.fleet.set_unhealthy(self._record(instance_id), unhealthy)

    def _record(self, instance_id: str) -> InstanceRecord:
        try:
            return self.account.instances[instance_id]
        except KeyError:
            raise KeyError(f"no instance {instance_id!r} in the API's list") from None
