"""LambdaLabsConnector: the seed's public API (design.md §6) over the services."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from lambda_gui.cloud.client import LambdaCloudClient
from lambda_gui.cloud.pacing import Pacer
from lambda_gui.core.errors import LambdaAPIError, NotConnectedError
from lambda_gui.core.models import PricingInfo, Resource
from lambda_gui.services.catalog import Catalog
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.ssh_keys import LoginKey, ensure_login_key
from lambda_gui.services.store import JobStore

DEFAULT_BASE_URL = "https://cloud.lambda.ai/api/v1"


class LambdaLabsConnector:
    """Connects to Lambda Cloud, lists and prices instance types, runs fine-tuning jobs."""

    def __init__(
        self,
        *,
        paths: AppPaths | None = None,
        pacer: Pacer | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._paths_override = paths
        self._pacer = pacer
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._client: LambdaCloudClient | None = None
        self._catalog: Catalog | None = None
        self._store: JobStore | None = None
        self._login_key: LoginKey | None = None
        self.base_url = DEFAULT_BASE_URL

    # -- connection ------------------------------------------------------------------

    async def connect(self, credentials: Mapping[str, Any]) -> bool:
        """Check the API key against Lambda, make sure an SSH key is registered, open the store.

        A wrong key raises ValueError with Lambda's message; an unreachable API raises
        ConnectionError within the timeout.
        """
        api_key = str(credentials.get("api_key") or "").strip()
        if not api_key:
            raise ValueError(
                "api_key is missing. Create an API key in the Lambda Cloud dashboard "
                "(API keys page) and pass it as credentials['api_key']."
            )
        await self.disconnect()
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        key_path = credentials.get("ssh_key_path")
        self._session = aiohttp.ClientSession()
        try:
            client = LambdaCloudClient(
                self._session,
                self.base_url,
                api_key,
                pacer=self._pacer,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
            )
            self._login_key = await ensure_login_key(
                client, Path(str(key_path)) if key_path else None, self.paths.keys
            )
            store = JobStore(self.paths.store)
            await store.open()
        except BaseException:
            await self.disconnect()
            raise
        self._client = client
        self._catalog = Catalog(client)
        self._store = store
        return True

    async def verify_connection(self) -> bool:
        """True when Lambda answers this API key now."""
        if self._client is None:
            return False
        try:
            await self._client.list_ssh_keys()
        except (LambdaAPIError, ConnectionError):
            return False
        return True

    async def disconnect(self) -> None:
        """Close the HTTP session and the store. Safe to call twice."""
        if self._store is not None:
            await self._store.close()
        if self._session is not None:
            await self._session.close()
        self._session = self._client = self._catalog = self._store = None

    @property
    def paths(self) -> AppPaths:
        """Where this connector keeps its data."""
        return self._paths_override or AppPaths.default()

    @property
    def login_key(self) -> LoginKey:
        """The Lambda-registered SSH key the app logs in with."""
        if self._login_key is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._login_key

    # -- catalog -----------------------------------------------------------------------

    async def list_resources(self, *, refresh: bool = False) -> list[Resource]:
        """Every Lambda instance type with its specs, price and regions with capacity now."""
        return await self._require_catalog().resources(refresh=refresh)

    async def get_pricing(self, resource_id: str) -> PricingInfo:
        """Price per hour and billing terms of one instance type (ValueError if unknown)."""
        return await self._require_catalog().pricing(resource_id)

    def _require_catalog(self) -> Catalog:
        if self._catalog is None:
            raise NotConnectedError("Not connected: await connector.connect(...) first.")
        return self._catalog
