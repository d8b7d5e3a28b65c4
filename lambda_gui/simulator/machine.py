"""The machine behind an instance: its sandbox home, environment, SSH server, cloud-init run
and processes, and the GPUs its type has, simulated. Power on, power off, nothing about the API.

An instance of a GPU type has no GPU here: its commands see SIMULATED_GPUS_VAR (the count; only
the simulator sets it) and an `nvidia-smi` stand-in on PATH that lists that many GPUs.
bootstrap.sh honours the variable in its CUDA check and trains with one process per simulated
GPU, on CPU, up to what this machine's CPUs run (docs/scale-out.md)."""

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

#: How many GPUs the instance's type has; set by the simulator only (bootstrap.sh reads it).
SIMULATED_GPUS_VAR = "LGUI_SIMULATED_GPUS"
#: Their name as the catalog describes it, for the nvidia-smi stand-in.
SIMULATED_GPU_NAME_VAR = "LGUI_SIMULATED_GPU_NAME"

# Answers bootstrap.sh's query (name, memory.total, driver_version) and `nvidia-smi -L` with one
# line per simulated GPU; anything else gets the list too. Says "simulated" in every line.
NVIDIA_SMI_SHIM = f"""#!/bin/sh
# lambda-gui simulator: this instance has no GPU; its type has ${SIMULATED_GPUS_VAR}, simulated.
n=${{{SIMULATED_GPUS_VAR}:-0}}
name=${{{SIMULATED_GPU_NAME_VAR}:-GPU}}
i=0
while [ "$i" -lt "$n" ]; do
    case "$*" in
        *--query-gpu*) echo "$name (simulated), simulated, simulated" ;;
        *) echo "GPU $i: $name (simulated by lambda-gui's simulator; training runs on its CPU)" ;;
    esac
    i=$((i + 1))
done
"""


def write_gpu_shim(folder: Path) -> Path:
    """The nvidia-smi stand-in in `folder` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "nvidia-smi"
    shim.write_text(NVIDIA_SMI_SHIM)
    shim.chmod(0o755)
    return folder


def instance_environment(
    instance_id: str,
    home: Path,
    extra: Mapping[str, str],
    python_dir: str | None = None,
    gpus: int = 0,
    gpu_name: str = "",
    gpu_shim_dir: str | None = None,
) -> dict[str, str]:
    """The environment commands on the instance see. `python_dir` (default: the app's
    interpreter's folder) comes first on PATH, standing in for Lambda Stack's Python; an
    instance with `gpus` has the simulated-GPU variables and `gpu_shim_dir` next on PATH."""
    python_dir = python_dir or os.path.dirname(sys.executable)
    path = [python_dir]
    if gpus > 0 and gpu_shim_dir:
        path.append(gpu_shim_dir)
    env = {
        "HOME": str(home),
        "PWD": str(home),
        "USER": LOGIN_USER,
        "LOGNAME": LOGIN_USER,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "PATH": ":".join([*path, _SYSTEM_PATH]),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    if gpus > 0:
        env[SIMULATED_GPUS_VAR] = str(gpus)
        env[SIMULATED_GPU_NAME_VAR] = gpu_name or "GPU"
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
        gpus: int = 0,
        gpu_name: str = "",
        gpu_shim_dir: str | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.home = home
        self.gpus = gpus
        self.env = instance_environment(
            instance_id, home, extra_env, python_dir, gpus, gpu_name, gpu_shim_dir
        )
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
