"""What the simulated cloud sells: regions, instance types (from the bundled catalog), images,
and how much capacity each (type, region) has to begin with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambda_gui.assets import load_json

#: Region codes from the spec's PublicRegionCode enum, with the descriptions Lambda's API returns
#: (recorded GET /instance-types replies). Codes whose description we have never seen are left out.
REGIONS: dict[str, str] = {
    "us-west-1": "California, USA",
    "us-west-2": "Arizona, USA",
    "us-west-3": "Utah, USA",
    "us-east-1": "Virginia, USA",
    "us-south-1": "Texas, USA",
    "us-south-2": "North Texas, USA",
    "us-south-3": "Central Texas, USA",
    "us-midwest-1": "Illinois, USA",
    "europe-central-1": "Germany",
    "asia-south-1": "India",
    "asia-northeast-1": "Osaka, Japan",
    "asia-northeast-2": "Tokyo, Japan",
    "me-west-1": "Israel",
    "australia-east-1": "Sydney, Australia",
}

#: Starting capacity, shaped like a recorded reply: popular types free in a few regions, some
#: types sold out everywhere (their region list is empty).
DEFAULT_CAPACITY: dict[tuple[str, str], int] = {
    ("cpu_4x_general", "us-east-1"): 4,
    ("gpu_1x_a10", "us-east-1"): 4,
    ("gpu_1x_a10", "us-west-1"): 4,
    ("gpu_1x_a100_sxm4", "us-east-1"): 3,
    ("gpu_1x_a100_sxm4", "us-west-2"): 3,
    ("gpu_1x_a100_sxm4", "asia-south-1"): 2,
    ("gpu_1x_a6000", "us-west-1"): 2,
    ("gpu_1x_gh200", "us-east-1"): 2,
    ("gpu_1x_h100_pcie", "us-west-3"): 3,
    ("gpu_1x_h100_sxm5", "us-south-2"): 3,
    ("gpu_1x_h100_sxm5", "us-south-3"): 3,
    ("gpu_2x_h100_sxm5", "us-south-2"): 2,
    ("gpu_4x_h100_sxm5", "us-south-3"): 1,
    ("gpu_8x_a100", "us-west-1"): 1,
    ("gpu_8x_a100", "europe-central-1"): 1,
    ("gpu_8x_a100_80gb_sxm4", "us-midwest-1"): 1,
    ("gpu_8x_h100_sxm5", "us-west-3"): 1,
    ("gpu_8x_b200_sxm6", "australia-east-1"): 1,
}

_COUNT_PREFIX = re.compile(r"^\d+x\s+")


@dataclass(frozen=True)
class InstanceTypeInfo:
    """One sellable instance type, as the API describes it."""

    name: str
    description: str
    gpu_description: str
    price_cents_per_hour: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    gpus: int

    def to_json(self) -> dict[str, Any]:
        """The spec's InstanceType object."""
        return {
            "name": self.name,
            "description": self.description,
            "gpu_description": self.gpu_description,
            "price_cents_per_hour": self.price_cents_per_hour,
            "specs": {
                "vcpus": self.vcpus,
                "memory_gib": self.memory_gib,
                "storage_gib": self.storage_gib,
                "gpus": self.gpus,
            },
        }


def region_json(code: str) -> dict[str, str]:
    """The spec's Region object for a region code."""
    return {"name": code, "description": REGIONS[code]}


def load_instance_types() -> dict[str, InstanceTypeInfo]:
    """Instance types of the bundled catalog whose specs are all known (the API never omits one)."""
    types: dict[str, InstanceTypeInfo] = {}
    for entry in load_json("lambda-catalog.json"):
        specs = [entry.get(k) for k in ("vcpus", "memory_gib", "storage_gib", "gpus")]
        if any(v is None for v in specs) or entry.get("price_cents_per_hour") is None:
            continue
        gpu_description = entry.get("gpu_description") or _COUNT_PREFIX.sub(
            "", entry["description"]
        )
        types[entry["name"]] = InstanceTypeInfo(
            name=entry["name"],
            description=entry["description"],
            gpu_description=gpu_description,
            price_cents_per_hour=int(entry["price_cents_per_hour"]),
            vcpus=int(specs[0]),
            memory_gib=int(specs[1]),
            storage_gib=int(specs[2]),
            gpus=int(specs[3]),
        )
    return types


#: (family, name, description, version, created, updated) of the images every region offers.
_IMAGE_FAMILIES = (
    (
        "lambda-stack-22-04",
        "Lambda Stack 22.04",
        "AI ready GPU image with CUDA, Docker, and ML frameworks",
        "22.4.5-1459",
        "2025-07-07T15:05:44.405000+00:00",
        "2025-08-20T00:46:53.882000+00:00",
    ),
    (
        "lambda-stack-24-04",
        "Lambda Stack 24.04",
        "AI ready GPU image with CUDA, Docker, and ML frameworks",
        "24.4.2-1459",
        "2025-07-07T15:20:25.091000+00:00",
        "2025-08-20T00:46:42.725000+00:00",
    ),
    (
        "gpu-base-24-04",
        "GPU Base 24.04",
        "GPU base image with CUDA and Docker enabled",
        "24.4.2-1459",
        "2025-07-07T20:38:55.116000+00:00",
        "2025-08-20T00:46:21.405000+00:00",
    ),
    (
        "ubuntu-22-04",
        "Ubuntu 22.04.5 LTS",
        "Ubuntu 22.04.5 LTS (Jammy Jellyfish)",
        "22.4.5-20250702",
        "2025-07-07T09:26:38.297000+00:00",
        "2025-08-18T21:47:54.155000+00:00",
    ),
)


def build_images() -> list[dict[str, Any]]:
    """The spec's Image objects: each family in each region, with a stable id per pair."""
    images = []
    for region_index, region in enumerate(sorted(REGIONS)):
        for family_index, (family, name, desc, version, created, updated) in enumerate(
            _IMAGE_FAMILIES
        ):
            images.append(
                {
                    "id": f"{family_index:08x}-5e2e-4b7a-9ebd-{region_index:012x}",
                    "created_time": created,
                    "updated_time": updated,
                    "name": name,
                    "description": desc,
                    "family": family,
                    "version": version,
                    "architecture": "x86_64",
                    "region": region_json(region),
                }
            )
    return images
