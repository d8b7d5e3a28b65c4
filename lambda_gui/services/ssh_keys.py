"""Making sure Lambda knows the SSH key the app will log in with (done at connect)."""

from __future__ import annotations

import asyncio
import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.core.errors import SSHKeyError
from lambda_gui.remote.keyfile import KeyIdentity, load_identity, save_private_key

_GENERATED_INDEX = "generated.json"


@dataclass(frozen=True)
class LoginKey:
    """The Lambda-registered key name and the private key file that goes with it."""

    name: str
    path: Path


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

    index = await loop.run_in_executor(None, _read_index, keys_dir)
    for key in registered:
        known = index.get(key.name)
        if known is not None:
            return LoginKey(name=key.name, path=Path(known))
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
    return LoginKey(name=generated.name, path=path)


def _key_name(suffix: str) -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", platform.node() or "host")[:24]
    tail = re.sub(r"[^A-Za-z0-9-]", "", suffix.removeprefix("SHA256:"))[:10]
    return f"lambda-gui-{host}-{tail}"


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _read_index(keys_dir: Path) -> dict[str, str]:
    path = keys_dir / _GENERATED_INDEX
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    # A key file the user deleted is forgotten: a new key is generated instead.
    return {str(k): str(v) for k, v in data.items() if Path(str(v)).is_file()}


def _write_index(keys_dir: Path, index: dict[str, str]) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    (keys_dir / _GENERATED_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
