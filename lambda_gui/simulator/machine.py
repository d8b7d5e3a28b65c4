"""The machine behind an instance: its sandbox home, environment, SSH server, cloud-init run
and processes. Power on, power off, nothing about the API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncssh

from lambda_gui.simulator.processes import MARKER_VAR, kill_instance_processes
from lambda_gui.simulator.ssh_server import LOGIN_USER, InstanceSSHServer

_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def instance_environment(
    instance_id: str, home: Path, extra: Mapping[str, str], python_dir: str | None = None
) -> dict[str, str]:
    """The environment commands on the instance see. `python_dir` (default: the app's
    interpreter's folder) comes first on PATH, standing in for Lambda Stack's Python."""
    python_dir = python_dir or os.path.dirname(sys.executable)
    env = {
        "HOME": str(home),
        "PWD": str(home),
        "USER": LOGIN_USER,
        "LOGNAME": LOGIN_USER,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "PATH": f"{python_dir}:{_SYSTEM_PATH}",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    env[MARKER_VAR] = instance_id
    return env


class Machine:
    """Power states of one instance's sandbox."""

    def __init__(
        self,
        instance_id: str,
        home: Path,
        public_key: str,
        extra_env: Mapping[str, str],
        python_dir: str | None = None,
        shared_venv: Path | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.home = home
        self.env = instance_environment(instance_id, home, extra_env, python_dir)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.ssh = InstanceSSHServer(home, public_key, self.host_key, self.env)
        self._cloud_init: asyncio.subprocess.Process | None = None
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
        if shared_venv is not None:
            shared_venv.mkdir(parents=True, exist_ok=True)
            (home / "lambda-gui").mkdir(exist_ok=True)
            venv = home / "lambda-gui" / "venv"
            if not venv.is_symlink():
                venv.symlink_to(shared_venv, target_is_directory=True)

    @property
    def host_public_key(self) -> str:
        """The host key clients should see, OpenSSH one-line format."""
        return self.host_key.export_public_key("openssh").decode().strip()

    async def power_on(self) -> int:
        """Start sshd (on the port it had before, if any); returns the port."""
        return await self.ssh.start()

    async def power_off(self) -> None:
        """Stop sshd, cut connections and kill every process the instance started (the
        processes die even when stopping sshd fails: a powered-off machine runs nothing)."""
        try:
            await self.ssh.stop()
        finally:
            await asyncio.to_thread(kill_instance_processes, self.instance_id)
        if self._cloud_init is not None:
            await self._cloud_init.wait()
            self._cloud_init = None

    async def run_user_data(self, user_data: str) -> None:
        """What cloud-init would do with the launch's user data: run a #! script in the
        background, logging to ~/cloud-init-output.log. Other formats are only logged."""
        log_path = self.home / "cloud-init-output.log"
        if not user_data.startswith("#!"):
            first = user_data.splitlines()[0] if user_data else ""
            log_path.write_text(
                f"lambda-gui simulator: user data {first!r} is not a #! script; "
                "the simulator runs only scripts, so nothing was run.\n"
            )
            return
        script_dir = self.home / ".cloud-init"
        script_dir.mkdir(exist_ok=True)
        script = script_dir / "user-data"
        script.write_text(user_data)
        script.chmod(0o700)
        with log_path.open("ab") as log:
            self._cloud_init = await asyncio.create_subprocess_exec(
                str(script),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.home,
                env=self.env,
                start_new_session=True,
            )
