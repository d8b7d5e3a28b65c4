"""A model's size from its config.json: a local folder, the Hub (a local stand-in, cached),
the known-models table when the Hub cannot answer. Nothing here needs the internet."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from lambda_gui.services.model_shape import ModelShapes, is_hub_id
from tests.core.test_planner import LLAMA31_8B_CONFIG


@pytest.fixture
async def fake_hub() -> AsyncIterator[tuple[str, list[str]]]:
    """A Hub stand-in on 127.0.0.1: one public model, everything else 404 (and logged)."""
    asked: list[str] = []

    async def config(request: web.Request) -> web.Response:
        asked.append(request.path)
        if request.match_info["repo"] == "acme/llama-like":
            return web.json_response(LLAMA31_8B_CONFIG)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{repo:.+}/resolve/main/config.json", config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", asked
    finally:
        await runner.cleanup()


def _unused_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_local_folder_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA31_8B_CONFIG))
    found = await ModelShapes(None, hub_url=None).infer(str(tmp_path), local=True)
    assert found is not None and found.source == "config" and found.local
    assert found.shape.params_b == pytest.approx(8.03, abs=0.01)
    assert (found.shape.hidden_size, found.shape.num_layers, found.shape.vocab_size) == (
        4096,
        32,
        128256,
    )


async def test_local_folder_without_a_readable_config_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "Qwen2.5-0.5B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    found = await ModelShapes(None, hub_url=None).infer(str(folder), local=True)
    assert found is not None and found.source == "known" and found.model == str(folder)
    assert await ModelShapes(None, hub_url=None).infer(str(tmp_path), local=True) is None


async def test_hub_config_fetched_once_then_cached(
    fake_hub: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, asked = fake_hub
    shapes = ModelShapes(tmp_path / "cache", hub_url=url)
    found = await shapes.infer("acme/llama-like", local=False)
    assert found is not None and found.source == "hub"
    assert found.shape.params_b == pytest.approx(8.03, abs=0.01)
    assert asked == ["/acme/llama-like/resolve/main/config.json"]
    # A second app run (a new service) reads the cache; the Hub is not asked again.
    again = await ModelShapes(tmp_path / "cache", hub_url=url).infer("acme/llama-like", local=False)
    assert again == found and len(asked) == 1
    # Offline, the cached config still answers.
    offline = await ModelShapes(tmp_path / "cache", hub_url=None).infer(
        "acme/llama-like", local=False
    )
    assert offline is not None and offline.source == "hub"


async def test_hub_miss_falls_back_to_the_table(
    fake_hub: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, asked = fake_hub
    shapes = ModelShapes(tmp_path, hub_url=url)
    found = await shapes.infer("meta-llama/Llama-3.1-8B-Instruct", local=False)
    assert found is not None and found.source == "known"
    assert found.shape.params_b == pytest.approx(8.03)
    await shapes.infer("meta-llama/Llama-3.1-8B-Instruct", local=False)
    assert len(asked) == 1  # a miss is not asked again this session
    assert not list(tmp_path.iterdir())  # and nothing cached for it


async def test_unreachable_hub_falls_back_quickly(tmp_path: Path) -> None:
    shapes = ModelShapes(tmp_path, hub_url=_unused_port_url(), timeout_s=2.0)
    known = await shapes.infer("meta-llama/Llama-3.1-8B-Instruct", local=False)
    assert known is not None and known.source == "known"
    named = await shapes.infer("someone/mystery-13b", local=False)
    assert named is not None and named.source == "name" and named.shape.params_b == 13.0
    assert await shapes.infer("someone/mystery", local=False) is None
    assert shapes.hub_requests == 3


async def test_offline_never_asks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shapes = ModelShapes.default()
    assert shapes.hub_url is None
    found = await shapes.infer("Qwen/Qwen2.5-0.5B", local=False)
    assert found is not None and found.source == "known" and shapes.hub_requests == 0


def test_hub_ids() -> None:
    assert is_hub_id("meta-llama/Llama-3.1-8B-Instruct") and is_hub_id("gpt2")
    for bad in ("", "a/b/c", "../etc", "not a model id!", "org/..x", "/abs"):
        assert not is_hub_id(bad), bad
