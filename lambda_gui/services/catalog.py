"""The live catalog: Lambda's instance types as Resources, and their pricing."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from lambda_gui.assets import load_json
from lambda_gui.cloud.wire import InstanceTypeAvailability
from lambda_gui.core.billing import BillingTerms, pricing_info
from lambda_gui.core.errors import UnknownInstanceTypeError
from lambda_gui.core.models import PricingInfo, Resource

if TYPE_CHECKING:
    from lambda_gui.cloud.client import LambdaCloudClient

_VRAM = re.compile(r"\((\d+)\s*GB", re.IGNORECASE)


def _bundled_vram() -> dict[str, int]:
    rows: list[dict[str, Any]] = load_json("lambda-catalog.json")
    return {str(r["name"]): int(r["vram_gib_per_gpu"] or 0) for r in rows}


def resource_from_type(item: InstanceTypeAvailability) -> Resource:
    """One catalog row from Lambda's instance-types entry."""
    t = item.instance_type
    match = _VRAM.search(t.gpu_description or "")
    vram = int(match.group(1)) if match else _bundled_vram().get(t.name, 0)
    gpu = t.gpu_description if t.gpus and t.gpu_description not in ("", "N/A") else "CPU"
    return Resource(
        name=t.name,
        gpu_type=gpu,
        gpu_count=t.gpus,
        vram_gb=vram if t.gpus else 0,
        vcpus=t.vcpus,
        memory_gib=t.memory_gib,
        storage_gib=t.storage_gib,
        hourly_rate=t.price_cents_per_hour / 100.0,
        available=bool(item.regions),
        regions=tuple(item.regions),
        description=t.description,
    )


class Catalog:
    """Instance types with a short cache, so panels and the planner do not spend the rate limit."""

    def __init__(self, client: LambdaCloudClient, max_age_s: float = 10.0) -> None:
        self._client = client
        self._max_age_s = max_age_s
        self._resources: dict[str, Resource] = {}
        self._fetched_at = 0.0
        self._terms = BillingTerms.from_json(load_json("billing.json"))

    @property
    def fetched_at(self) -> float:
        """Wall-clock time of the last successful fetch (0 before the first)."""
        return self._fetched_at

    async def resources(self, *, refresh: bool = False) -> list[Resource]:
        """Every instance type, cheapest first."""
        if refresh or not self._resources or time.time() - self._fetched_at > self._max_age_s:
            types = await self._client.list_instance_types()
            self._resources = {name: resource_from_type(item) for name, item in types.items()}
            self._fetched_at = time.time()
        return sorted(self._resources.values(), key=lambda r: (r.hourly_rate, r.name))

    async def cached(self) -> list[Resource]:
        """What the last successful fetch returned, without asking Lambda."""
        return sorted(self._resources.values(), key=lambda r: (r.hourly_rate, r.name))

    async def resource(self, name: str) -> Resource:
        """One instance type, or UnknownInstanceTypeError naming the valid ones."""
        found = {r.name: r for r in await self.resources()}
        if name not in found:
            raise UnknownInstanceTypeError(
                f"Lambda offers no instance type named {name!r}.",
                suggestion="Pick one of: " + ", ".join(sorted(found)) + ".",
            )
        return found[name]

    async def pricing(self, name: str) -> PricingInfo:
        """Price and billing terms of one instance type."""
        resource = await self.resource(name)
        return pricing_info(resource.name, resource.price_cents_per_hour, self._terms)
