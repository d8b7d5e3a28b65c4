"""Fixtures for tests that need a Lambda Cloud: `sim` (in-process, every reply checked against
the OpenAPI spec) and `sim_process` (`python -m lambda_gui.simulator --json` in a subprocess)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from lambda_gui.simulator import Simulator, SimulatorConfig
from tests.spec_validation import SpecValidator

TEST_KEY_NAME = "lambda-gui-test-key"


class TestSimulator(Simulator):
    """A Simulator with a registered key pair for tests to log in with."""

    __test__ = False
    test_key_path: Path
    test_key_name: str


# scripts/install-deps.sh keeps the sdist llama.cpp's converter comes from here; instances
# use it instead of downloading it (remote/bundle_files/gguf_export.py).
LLAMA_CPP_SDISTS = Path(__file__).resolve().parents[2] / ".cache" / "llama-cpp"


def instance_env() -> dict[str, str]:
    """What the simulated instances' environment adds: no Hub, the local converter sources."""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    sdists = sorted(LLAMA_CPP_SDISTS.glob("llama_cpp_python-*.tar.gz"))
    if sdists:
        env["LGUI_LLAMA_CPP_SDIST"] = str(sdists[-1])
    return env


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[TestSimulator]:
    """A started simulator (boot 0.3 s, no rate limits) whose every reply is validated against
    the spec; the test fails at teardown if any reply broke it."""
    validator = SpecValidator()
    simulator = TestSimulator(
        SimulatorConfig(
            root_dir=tmp_path / "lambda-sim",
            boot_seconds=0.3,
            terminate_seconds=0.2,
            terminated_linger_seconds=1.0,
            rate_limits=False,
            validate_response=validator,
            extra_env=instance_env(),
        )
    )
    await simulator.start()
    simulator.test_key_name = TEST_KEY_NAME
    simulator.test_key_path = simulator.generate_key_pair(TEST_KEY_NAME)
    try:
        yield simulator
    finally:
        await simulator.stop()
    if validator.violations:
        pytest.fail(
            "simulator replies broke the OpenAPI spec:\n" + "\n".join(validator.violations),
            pytrace=False,
        )


@dataclass
class SimulatorProcess:
    """A standalone simulator in a subprocess, and what it printed."""

    process: subprocess.Popen[str]
    stderr: IO[str]
    base_url: str
    api_key: str
    ssh_key_path: str

    @property
    def control_url(self) -> str:
        """Root of its /_sim/ fault-injection endpoints."""
        return self.base_url.removesuffix("/api/v1") + "/_sim"

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM it and wait; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.stderr.close()

    def stderr_text(self) -> str:
        """What it wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()


def start_simulator_process(*args: str, timeout: float = 30.0) -> SimulatorProcess:
    """Run `python -m lambda_gui.simulator --json ARGS` and read its one JSON line."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # A file, not a pipe, for stderr: nobody reads it while the simulator runs.
    stderr = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_gui.simulator", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"the simulator printed nothing in {timeout} s")
        line = process.stdout.readline()
        info = json.loads(line)
    except BaseException:
        process.kill()
        process.wait()
        stderr.seek(0)
        text = stderr.read()
        stderr.close()
        raise RuntimeError(f"simulator did not start; stderr:\n{text}") from None
    return SimulatorProcess(
        process, stderr, info["base_url"], info["api_key"], info["ssh_key_path"]
    )


@pytest.fixture
def sim_process() -> Iterator[SimulatorProcess]:
    """A standalone simulator (boot 0.3 s) for cross-process tests; SIGTERMed at teardown."""
    running = start_simulator_process("--boot-seconds", "0.3")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
