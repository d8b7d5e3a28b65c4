"""Settings of one simulated Lambda Cloud."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: validate_response(method, path_template, status, body_bytes) -> None; called for every reply
#: the spec governs (injected faults and rate-limit replies are not passed to it).
ResponseValidator = Callable[[str, str, int, bytes], None]


@dataclass
class SimulatorConfig:
    """How the simulator behaves: timings, limits, capacity and where its files live."""

    root_dir: Path | None = None
    boot_seconds: float = 0.5
    terminate_seconds: float = 0.3
    rate_limits: bool = False
    api_key: str | None = None
    capacity: dict[tuple[str, str], int] | None = None
    validate_response: ResponseValidator | None = None
    port: int = 0
    #: Terminated instances stay in GET /instances this long, then answer 404 (as on Lambda).
    terminated_linger_seconds: float = 5.0
    #: Most instances the account may hold at once (booting, active, unhealthy); None = no quota.
    instance_quota: int | None = None
    #: General API pacing: sustained requests per second and the burst allowed on top.
    rate_per_second: float = 1.0
    rate_burst: int = 5
    #: Launch pacing: one launch per this many seconds.
    launch_interval_seconds: float = 12.0
    #: Extra environment for every command run on an instance (e.g. HF_HUB_OFFLINE=1 in tests).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The interpreter instances find as `python3`, standing in for Lambda Stack's (None: the
    #: simulator's own). One without PyTorch makes bootstrap.sh install what is missing.
    python: Path | None = None
    #: A folder every instance uses as its ~/lambda-gui/venv, so what bootstrap.sh installs
    #: once is reused by later instances (None: each instance makes its own, as on Lambda).
    shared_venv: Path | None = None
