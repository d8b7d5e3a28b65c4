"""The Python the demo trains with, when the app itself cannot (the packaged app ships no
PyTorch): found, prepared once in a cached virtual environment, and used to build the tiny
model and as the simulated instances' `python3`.

Preparing does what a fresh instance's bootstrap.sh does, in the same venv the simulated
instances then reuse (SimulatorConfig.shared_venv): a venv with the base Python's packages,
PyTorch from the CPU wheel index when it is missing, and the tiny model's builders
(transformers, tokenizers). The rest of what train.py needs is installed by bootstrap.sh on the
first simulated instance, with progress in that job's log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from lambda_gui.core.errors import LambdaGUIError

# CPU builds: a plain `pip install torch` on Linux pulls CUDA wheels of several GB. A mirror
# can be named in LGUI_TORCH_INDEX (read by torch_index and by bootstrap.sh).
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
BUILDERS = ("torch", "transformers", "tokenizers")
MIN_PYTHON = (3, 10)
Say = Callable[[str], None]


class DemoSetupError(LambdaGUIError, RuntimeError):
    """The demo cannot find or prepare a Python to train with; the message says what to do."""


def torch_index() -> str:
    """Where PyTorch's CPU wheels come from: LGUI_TORCH_INDEX, else PyTorch's own index."""
    return os.environ.get("LGUI_TORCH_INDEX") or CPU_TORCH_INDEX


def is_frozen() -> bool:
    """True inside the packaged (PyInstaller) app."""
    return bool(getattr(sys, "frozen", False))


def find_python(chosen: Path | None) -> Path:
    """The interpreter the user chose, else python3 on PATH; DemoSetupError when none."""
    if chosen is not None:
        path = Path(chosen).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DemoSetupError(
                f"{path} is not a Python interpreter that can be run.",
                suggestion="Pass --training-python the path of python3 (3.10 or newer).",
            )
        return path
    found = shutil.which("python3")
    if found is None:
        raise DemoSetupError(
            "The demo trains a tiny model on this computer and needs Python 3.10 or newer, "
            "and no python3 was found on PATH.",
            suggestion="Install it (Debian/Ubuntu: sudo apt install python3 python3-venv; "
            "Fedora: sudo dnf install python3), or start with --training-python PATH.",
        )
    return Path(found)


async def prepare(base: Path, venv: Path, say: Say) -> Path:
    """A Python with the tiny model's builders: `base` when it has them, else `venv` (made
    once from `base`, with the missing ones installed). DemoSetupError on failure."""
    version = await _output(base, "-c", "import sys; print(*sys.version_info[:2])")
    major, minor = (int(p) for p in version.split()[:2])
    if (major, minor) < MIN_PYTHON:
        raise DemoSetupError(
            f"{base} is Python {major}.{minor}; the demo needs 3.10 or newer.",
            suggestion="Install a newer python3, or pass --training-python PATH.",
        )
    if not await _missing(base):
        return base
    python = venv / "bin" / "python"
    if not python.exists():
        say(f"Creating a Python environment for the demo in {venv} (once).")
        await _run(say, base, "-m", "venv", "--system-site-packages", str(venv))
    missing = await _missing(python)
    if "torch" in missing:
        say("Installing PyTorch (CPU build, about 200 MB, once)…")
        await _run(say, python, "-m", "pip", "install", "--index-url", torch_index(), "torch")
    rest = [name for name in missing if name != "torch"]
    if rest:
        say(f"Installing {', '.join(rest)} (once)…")
        await _run(say, python, "-m", "pip", "install", *rest)
    still = await _missing(python)
    if still:
        raise DemoSetupError(
            f"{', '.join(still)} could not be installed into {venv}.",
            suggestion="Check the messages above and your network, then try the demo again.",
        )
    return python


async def build_model(python: Path, dest: Path, dataset: Path, say: Say) -> Path:
    """Build the tiny model with `python`, from the script shipped in the package."""
    script = resources.files("lambda_gui.simulator").joinpath("tiny_model.py")
    with resources.as_file(script) as path:
        await _run(say, python, str(path), str(dest), "--dataset", str(dataset))
    return dest


async def _missing(python: Path) -> list[str]:
    code = (
        "import importlib.util as u; "
        f"print(' '.join(n for n in {BUILDERS!r} if u.find_spec(n) is None))"
    )
    return (await _output(python, "-c", code)).split()


async def _output(python: Path, *args: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise DemoSetupError(
            f"{python} cannot be run ({exc.strerror or exc}).",
            suggestion="Pass --training-python the path of a working python3.",
        ) from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise DemoSetupError(
            f"{python} failed: {err.decode(errors='replace').strip()[-300:]}",
            suggestion="Pass --training-python the path of a working python3.",
        )
    return out.decode(errors="replace").strip()


async def _run(say: Say, python: Path, *args: str) -> None:
    """Run `python args`, passing each output line to `say`; DemoSetupError on failure."""
    proc = await asyncio.create_subprocess_exec(
        str(python),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    tail: list[str] = []
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line:
            say(line[:300])
            tail = [*tail[-19:], line]
    if await proc.wait() != 0:
        raise DemoSetupError(
            f"Preparing the demo's Python failed ({Path(args[0]).name if args else python}):"
            f" {' / '.join(tail[-3:])[-400:]}",
            suggestion="Check your network (packages come from PyPI and download.pytorch.org), "
            "or pass --training-python a Python that has torch and transformers.",
        )
