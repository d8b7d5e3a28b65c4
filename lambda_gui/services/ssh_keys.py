"""Making sure Lambda knows the SSH key the app will log in with (done at connect).

Keys generated through Lambda are recorded in keys/generated.json (name -> private key file).
A record that cannot be read is moved aside, kept for the user, and connect goes on as if
none existed: a key is generated again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambda_gui.core.errors import KeyIndexCorruptError, SSHKeyError
from lambda_gui.remote.keyfile import KeyIdentity, load_identity, save_private_key

if TYPE_CHECKING:
    from lambda_gui.cloud.client import LambdaCloudClient

log = logging.getLogger(__name__)

_GENERATED_INDEX = "generated.json"


@dataclass(frozen=True)
class LoginKey:
    """The Lambda-registered key name and the private key file that goes with it."""

    name: str
    path: Path
    # Something the user should know about how the key was found (a record moved aside).
    notice: str | None = field(default=None, compare=False)


async def ensure_login_key(
    client: LambdaCloudClient, key_path: Path | None, keys_dir: Path
) -> LoginKey:
    """Find the registered key matching `key_path` (registering it if none does), or, with no
    path, reuse the key the app generated before, or generate one through Lambda."""
    loop = asyncio.get_running_loop()
    registered = await client.list_ssh_keys()
    if key_path is not None:
        ident: KeyIdentity = await loop.run_in_executor(None, load_identity, key_path)
        for key in registered:
            if ident.matches(key.public_key):
                return LoginKey(name=key.name, path=ident.path)
        name = _unique_name(_key_name(ident.fingerprint), {k.name for k in registered})
        added = await client.add_ssh_key(name, ident.public_key)
        return LoginKey(name=added.name, path=ident.path)

    index, problem = await loop.run_in_executor(None, _read_index, keys_dir)
    notice = problem.message if problem is not None else None
    for key in registered:
        known = index.get(key.name)
        if known is not None:
            return LoginKey(name=key.name, path=Path(known), notice=notice)
    name = _unique_name(_key_name("generated"), {k.name for k in registered})
    generated = await client.generate_ssh_key(name)
    private_key = generated.private_key
    if not private_key:
        raise SSHKeyError(
            f"Lambda generated SSH key {generated.name!r} but returned no private key.",
            suggestion="Delete that key in the Lambda dashboard and choose a key file instead.",
        )
    path = await loop.run_in_executor(None, save_private_key, keys_dir, generated.name, private_key)
    index[generated.name] = str(path)
    await loop.run_in_executor(None, _write_index, keys_dir, index)
    return LoginKey(name=generated.name, path=path, notice=notice)


def _key_name(suffix: str) -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", platform.node() or "host")[:24]
    tail = re.sub(r"[^A-Za-z0-9-]", "", suffix.removeprefix("SHA256:"))[:10]
    return f"lambda-gui-{host}-{tail}"


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _read_index(keys_dir: Path) -> tuple[dict[str, str], KeyIndexCorruptError | None]:
    """The generated keys' record, and the problem when it had to be moved aside; blocking."""
    path = keys_dir / _GENERATED_INDEX
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError("it is not an object of key names and file paths")
        # A key file the user deleted is forgotten: a new key is generated instead.
        return {k: v for k, v in data.items() if Path(v).is_file()}, None
    except (ValueError, RecursionError, OSError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and a path holding NUL.
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return {}, _move_aside(path, reason[:160])


def _move_aside(path: Path, reason: str) -> KeyIndexCorruptError:
    """Rename an unreadable record out of the way (kept for the user) and say so."""
    stem = f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    aside, n = path.with_name(stem), 2
    while aside.exists():
        aside, n = path.with_name(f"{stem}-{n}"), n + 1
    try:
        path.rename(aside)
    except OSError as exc:
        raise KeyIndexCorruptError(
            f"The record of SSH keys the app generated, {path}, cannot be read ({reason}) "
            f"and could not be moved aside ({exc}).",
            suggestion="Move or delete that file, then connect again.",
        ) from None
    problem = KeyIndexCorruptError(
        f"The record of SSH keys the app generated, {path}, could not be read ({reason}); it "
        f"was moved to {aside.name} and a new key will be generated.",
        suggestion="Nothing to do; the keys it listed are still in that folder.",
    )
    log.warning("%s", problem)
    return problem


def _write_index(keys_dir: Path, index: dict[str, str]) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    # Written aside then renamed over: a crash mid-write leaves the old record, not half a one.
    path = keys_dir / _GENERATED_INDEX
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(index, indent=1), encoding="utf-8")
    partial.replace(path)
