"""The connector's first half against the running simulator: connect, keys, catalog, pricing."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest

from lambda_gui import LambdaLabsConnector
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.services.paths import AppPaths


def _fast() -> LambdaLabsConnector:
    return LambdaLabsConnector(pacer=Pacer(min_interval=0.0, launch_interval=0.0))


async def _registered_keys(sim: Any) -> list[str]:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"{sim.base_url}/ssh-keys", headers={"Authorization": f"Bearer {sim.api_key}"}
        ) as r:
            return [k["public_key"] for k in (await r.json())["data"]]


async def test_wrong_key_raises_value_error_with_lambdas_message(sim: Any) -> None:
    c = _fast()
    with pytest.raises(ValueError) as info:
        await c.connect({"api_key": "secret_wrong", "base_url": sim.base_url})
    assert "API key" in str(info.value)
    assert "secret_wrong" not in str(info.value)
    assert not await c.verify_connection()


async def test_unreachable_api_raises_connection_error_within_timeout() -> None:
    c = LambdaLabsConnector(
        pacer=Pacer(min_interval=0.0, launch_interval=0.0), connect_timeout=1.0, read_timeout=1.0
    )
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        # Port 9 on loopback: nothing listens, the connect is refused.
        await c.connect({"api_key": "k", "base_url": "http://127.0.0.1:9/api/v1"})
    assert time.monotonic() - started < 30


async def test_registered_key_is_matched_not_added_again(sim: Any) -> None:
    before = await _registered_keys(sim)
    c = _fast()
    assert await c.connect(
        {"api_key": sim.api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
    )
    assert await c.verify_connection()
    assert c.login_key.name == sim.test_key_name
    assert await _registered_keys(sim) == before
    await c.disconnect()


async def test_unregistered_key_is_registered(sim: Any, tmp_path: Path) -> None:
    key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    path = tmp_path / "mine"
    if key is None:
        rsa = paramiko.RSAKey.generate(2048)
        rsa.write_private_key_file(str(path))
        public = f"{rsa.get_name()} {rsa.get_base64()}"
    else:  # pragma: no cover - paramiko has no Ed25519 generator today
        key.write_private_key_file(str(path))
        public = f"{key.get_name()} {key.get_base64()}"
    c = _fast()
    await c.connect({"api_key": sim.api_key, "ssh_key_path": str(path), "base_url": sim.base_url})
    assert any(k.split()[:2] == public.split() for k in await _registered_keys(sim))
    await c.disconnect()


async def test_no_key_generates_one_in_the_data_dir_and_reuses_it(sim: Any) -> None:
    c = _fast()
    await c.connect({"api_key": sim.api_key, "base_url": sim.base_url})
    login = c.login_key
    assert login.path.parent == AppPaths.default().keys
    assert str(login.path).startswith(os.environ["XDG_DATA_HOME"])
    assert stat.S_IMODE(login.path.stat().st_mode) == 0o600
    paramiko.PKey.from_path(str(login.path))  # a real, readable private key
    await c.disconnect()

    again = _fast()
    await again.connect({"api_key": sim.api_key, "base_url": sim.base_url})
    assert again.login_key == login
    await again.disconnect()


async def test_resources_and_pricing(sim: Any) -> None:
    c = _fast()
    await c.connect(
        {"api_key": sim.api_key, "ssh_key_path": str(sim.test_key_path), "base_url": sim.base_url}
    )
    resources = {r.name: r for r in await c.list_resources()}
    a100 = resources["gpu_1x_a100"]
    assert (a100.gpu_count, a100.vram_gb, a100.hourly_rate) == (1, 40, 1.99)
    assert a100.vcpus > 0 and a100.memory_gib > 0 and a100.storage_gib > 0
    assert a100.available == bool(a100.regions)
    h100x8 = resources["gpu_8x_h100_sxm5"]
    assert (h100x8.gpu_count, h100x8.vram_gb, h100x8.total_vram_gb) == (8, 80, 640)

    pricing = await c.get_pricing("gpu_1x_a100")
    assert pricing.price_per_hour == 1.99
    assert pricing.billing_increment_seconds == 60
    assert pricing.minimum_charge_seconds == 0
    assert pricing.billing_source
    with pytest.raises(ValueError, match="gpu_1x_a100"):
        await c.get_pricing("gpu_1x_nonexistent")
    await c.disconnect()


# --- hostile input around the generated key -------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"name": ["not", "a", "path"]}', b"\xff\xfe\x00", b"[" * 100_000],
    ids=["bad-json", "a-list", "odd-values", "not-utf8", "deep"],
)
async def test_a_corrupt_key_record_is_moved_aside_and_connect_goes_on(
    sim: Any, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    keys = AppPaths.default().keys
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "generated.json").write_bytes(content)
    caplog.set_level(logging.WARNING)
    c = _fast()
    assert await c.connect({"api_key": sim.api_key, "base_url": sim.base_url})
    (aside,) = keys.glob("generated.json.corrupt-*")
    assert aside.read_bytes() == content  # kept for the user, not deleted
    login = c.login_key
    record = json.loads((keys / "generated.json").read_text(encoding="utf-8"))
    assert record == {login.name: str(login.path)}  # a new key, recorded afresh
    paramiko.PKey.from_path(str(login.path))
    assert login.notice is not None and f"was moved to {aside.name}" in login.notice
    assert "could not be read" in caplog.text and aside.name in caplog.text
    await c.disconnect()


async def test_a_generated_keys_name_from_the_api_never_becomes_a_path(sim: Any) -> None:
    from tests.cloud.test_client_odd_replies import on, rewriting_proxy

    hostile = "../../../escaped/evil\x00\n"

    def rename(payload: Any) -> Any:
        payload["data"]["name"] = hostile
        return payload

    async with rewriting_proxy(sim, on("POST", "/ssh-keys", rename)) as url:
        c = _fast()
        await c.connect({"api_key": sim.api_key, "base_url": url})
        login = c.login_key
        await c.disconnect()
    keys = AppPaths.default().keys
    assert login.name == hostile
    assert login.path.parent == keys and login.path.resolve().parent == keys.resolve()
    assert "/" not in login.path.name and "\x00" not in login.path.name
    assert not list(Path(os.environ["XDG_DATA_HOME"]).rglob("escaped"))
    paramiko.PKey.from_path(str(login.path))
