"""What a model's config.json says about its size, for the wizard's plan.

A local model folder's config.json is read in a worker thread. For a Hub id, the Hub's
config.json is fetched (a short timeout; the Hugging Face token when one is given, so gated
models can answer) and kept in the app's data dir, so a model is fetched once. Offline
(HF_HUB_OFFLINE set, or the Hub unreachable, or a gated model without access), the
known-models table answers, else the size written in the name. Every answer says where it came
from (core.known_models.SizeSource).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from lambda_gui.cloud.tls import tls_context
from lambda_gui.core.known_models import InferredShape, shape_from_config, shape_of
from lambda_gui.services.paths import AppPaths

HUB_URL = "https://huggingface.co"
HUB_TIMEOUT_S = 4.0
CACHE_FOLDER = "model_configs"
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few KiB; anything this large is not one
# A Hub id: "name" or "org/name" (letters, digits, "-", "_", "."; no "..").
_HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
_TRUE = frozenset({"1", "true", "yes", "on"})


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks that the Hub not be contacted (as huggingface_hub does)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def is_hub_id(model: str) -> bool:
    """True for text shaped like a Hub model id (worth asking the Hub about)."""
    return bool(_HUB_ID.match(model.strip()))


def read_config_file(path: Path) -> dict[str, Any] | None:
    """A config.json as a dict, or None when it is missing, too large or not a JSON object."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, "utf-8")
    os.replace(partial, path)


class ModelShapes:
    """Infers model shapes: local config.json, the Hub's (cached), the table, the name."""

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        hub_url: str | None = HUB_URL,
        timeout_s: float = HUB_TIMEOUT_S,
        token: str | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.hub_url = hub_url.rstrip("/") if hub_url else None
        self.timeout_s = timeout_s
        self.token = token
        self.hub_requests = 0
        # Hub ids that did not answer with a config this session (not asked again).
        self._missed: set[str] = set()

    @classmethod
    def default(cls) -> ModelShapes:
        """Cached in the app's data dir; the Hub asked unless HF_HUB_OFFLINE is set."""
        return cls(
            AppPaths.default().root / CACHE_FOLDER, hub_url=None if hub_offline() else HUB_URL
        )

    async def infer(self, model: str, *, local: bool) -> InferredShape | None:
        """The shape of `model` (a folder when `local`, else a Hub id) and its source."""
        name = model.strip()
        if not name:
            return None
        if local:
            config = await asyncio.to_thread(read_config_file, Path(name) / "config.json")
            shape = shape_from_config(config) if config is not None else None
            if shape is not None:
                return InferredShape(name, True, shape, "config")
            return _renamed(shape_of(Path(name).name or name, True), name)
        config = await self.hub_config(name)
        shape = shape_from_config(config) if config is not None else None
        if shape is not None:
            return InferredShape(name, False, shape, "hub")
        return shape_of(name, False)

    def _cache_file(self, model: str) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]
        safe = re.sub(r"[^\w.-]", "_", model)[:80]
        return self.cache_dir / f"{safe}-{digest}.json"

    async def hub_config(self, model: str) -> dict[str, Any] | None:
        """The Hub's config.json of `model`: from the cache, else fetched; None when neither."""
        if not is_hub_id(model):
            return None
        cached = self._cache_file(model)
        if cached is not None:
            config = await asyncio.to_thread(read_config_file, cached)
            if config is not None:
                return config
        if self.hub_url is None or model in self._missed:
            return None
        config = await self._fetch(model)
        if config is None:
            self._missed.add(model)
            return None
        if cached is not None:
            try:
                await asyncio.to_thread(_write_atomic, cached, json.dumps(config))
            except OSError:
                pass  # the cache only saves a fetch next time
        return config

    async def _fetch(self, model: str) -> dict[str, Any] | None:
        import aiohttp  # loaded when a Hub model is first looked up, not at start-up

        url = f"{self.hub_url}/{model}/resolve/main/config.json"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self.hub_requests += 1
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=tls_context()), timeout=timeout
                ) as session,
                session.get(url, headers=headers) as reply,
            ):
                if reply.status != 200:
                    return None
                body = await reply.content.read(MAX_CONFIG_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return None
        if len(body) > MAX_CONFIG_BYTES:
            return None
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None
        return doc if isinstance(doc, dict) else None


def _renamed(inferred: InferredShape | None, model: str) -> InferredShape | None:
    """A table answer found by a folder's name, recorded for the whole folder path."""
    if inferred is None:
        return None
    return InferredShape(model, True, inferred.shape, inferred.source)
