"""One canonical name per GPU model, whichever way a catalog spells it.

Lambda says "H100 (80 GB SXM5)" (gpu_description) or "gpu_1x_h100_sxm5" (type name); the bundled
price data says "H100 SXM"; nvidia-smi says "NVIDIA H100 80GB HBM3". All map to "H100 SXM".
"""

from __future__ import annotations

import re

from lambda_gui.core.models import Resource

_MEMORY = re.compile(r"(?<![a-z0-9])(\d+)\s*g(?:b|ib)?(?![a-z0-9])")


def _memory_gb(text: str) -> int | None:
    match = _MEMORY.search(text)
    return int(match.group(1)) if match else None


def _has(text: str, token: str) -> bool:
    # Tokens must stand alone so "a10" does not match "a100" and "l4" not "l40s".
    return re.search(rf"(?<![a-z0-9]){re.escape(token)}(?![a-z0-9])", text) is not None


def normalize_gpu_name(text: str | None) -> str | None:
    """The canonical GPU model named in `text` ("H100 SXM", "A100 40GB", ...), or None."""
    if not text:
        return None
    t = text.lower().replace("_", " ").replace("-", " ")
    t = re.sub(r"\b(nvidia|tesla|quadro)\b", " ", t)
    t = re.sub(r"\brtx\s+(\d{4})", r"rtx\1", t)
    t = re.sub(r"\s+", " ", t).strip()
    memory = _memory_gb(t)
    if _has(t, "gh200"):
        return "GH200"
    if _has(t, "b200"):
        return "B200"
    if _has(t, "h200"):
        return "H200"
    if _has(t, "h100"):
        if "pcie" in t:
            return "H100 PCIe"
        if "sxm" in t or "hbm3" in t or "nvl" in t:
            return "H100 SXM"
        return "H100"
    if _has(t, "a100"):
        return "A100 80GB" if memory == 80 else "A100 40GB"
    if _has(t, "a10g"):
        return "A10G"
    if _has(t, "a10"):
        return "A10"
    if _has(t, "a6000") or _has(t, "rtxa6000"):
        return "A6000"
    if _has(t, "rtx6000"):
        return "RTX 6000 Ada" if "ada" in t else "RTX 6000"
    if _has(t, "v100"):
        return "V100 32GB" if memory == 32 else "V100 16GB"
    if _has(t, "l40s"):
        return "L40S"
    if _has(t, "l40"):
        return "L40"
    if _has(t, "l4"):
        return "L4"
    if _has(t, "a40"):
        return "A40"
    for card in ("rtx4090", "rtx3090", "rtx5090"):
        if _has(t, card) or _has(t, card[3:]):
            return f"RTX {card[3:]}"
    return None


def resource_gpu_name(resource: Resource) -> str | None:
    """The canonical GPU model of a Lambda instance type (None for CPU-only types)."""
    if resource.gpu_count <= 0:
        return None
    for text in (resource.gpu_type, resource.description, resource.name):
        name = normalize_gpu_name(text)
        if name is not None:
            return name
    return None
