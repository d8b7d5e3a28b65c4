"""Lambda's live prices beside other providers' dated prices, per GPU model, with the savings.

The other providers' prices come from the bundled gpu-prices.json (schema "gpu-prices/1",
read by the caller: `parse_price_data(assets.load_json("gpu-prices.json"))`):
one row per provider, GPU model and GPU count, with its source and how sure its date is.
Lambda's side comes from the live catalog (a list of Resource). Savings are measured against
the cheapest other provider: positive when Lambda is cheaper, negative when it is dearer.

Per GPU-hour, like is compared with like: the other providers' offers of the same GPU count
as Lambda's cheapest offer (an 8-GPU type's per-GPU rate against other 8-GPU offers). Only
where no other provider has that count are other sizes used, and the row says so
(`mixed_sizes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lambda_gui.core.gpu_names import normalize_gpu_name, resource_gpu_name
from lambda_gui.core.models import Resource

LAMBDA = "lambda"


@dataclass(frozen=True)
class ProviderPrice:
    """One provider's on-demand price for a GPU model at one GPU count."""

    provider: str
    gpu_model: str
    gpu_count: int
    vram_gib: int | None
    instance_type: str
    price_per_hour: float
    price_per_gpu_hour: float
    spot_per_hour: float | None
    region: str
    source: str
    source_date: str | None
    source_date_kind: str
    notes: str = ""
    derived: bool = False

    @property
    def stale(self) -> bool:
        """True when the data says its source is old and likely out of date."""
        return "stale" in self.source_date_kind

    @property
    def date_label(self) -> str:
        """How old the price is, in words ("on or after 2026-06-03", "date unknown")."""
        if self.source_date and self.source_date_kind == "lower_bound":
            return f"on or after {self.source_date}"
        if self.source_date:
            return self.source_date
        return "date unknown, likely stale" if self.stale else "date unknown"


@dataclass(frozen=True)
class PriceData:
    """The bundled price table with its date and how it was made."""

    as_of: str
    as_of_basis: str
    method: str
    rows: tuple[ProviderPrice, ...]


@dataclass(frozen=True)
class LambdaPrice:
    """One live Lambda instance type carrying a GPU model."""

    instance_type: str
    gpu_count: int
    price_per_hour: float
    available: bool

    @property
    def price_per_gpu_hour(self) -> float:
        """The instance price divided over its GPUs."""
        return self.price_per_hour / max(1, self.gpu_count)


@dataclass(frozen=True)
class PriceRow:
    """One GPU model: Lambda's live offer, the other providers' offers, and the savings.

    `lambda_catalog_price` is Lambda's price in the bundled, dated data, on the same basis, so
    a change since that date shows.
    """

    gpu_model: str
    vram_gib: int | None
    lambda_best: LambdaPrice | None
    lambda_offers: tuple[LambdaPrice, ...]
    lambda_catalog_price: float | None
    others: tuple[ProviderPrice, ...]
    per_gpu: bool
    mixed_sizes: bool = False

    @property
    def compared_count(self) -> int | None:
        """The GPU count both sides were compared at (None when the sizes differ or one side
        is missing)."""
        if self.mixed_sizes or self.lambda_best is None or not self.others:
            return None
        return self.lambda_best.gpu_count

    @property
    def lambda_price(self) -> float | None:
        """Lambda's compared price ($/GPU-hour, or $/instance-hour at a fixed count)."""
        if self.lambda_best is None:
            return None
        if self.per_gpu:
            return self.lambda_best.price_per_gpu_hour
        return self.lambda_best.price_per_hour

    @property
    def cheapest_other(self) -> ProviderPrice | None:
        """The other provider with the lowest compared price."""
        return self.others[0] if self.others else None

    @property
    def cheapest_other_price(self) -> float | None:
        """The cheapest other provider's compared price."""
        other = self.cheapest_other
        if other is None:
            return None
        return other.price_per_gpu_hour if self.per_gpu else other.price_per_hour

    @property
    def savings_percent(self) -> float | None:
        """Percent saved by Lambda against the cheapest other (negative: Lambda is dearer)."""
        mine, theirs = self.lambda_price, self.cheapest_other_price
        if mine is None or theirs is None:
            return None
        return savings_percent(mine, theirs)


def savings_percent(lambda_price: float, other_price: float) -> float:
    """(other - lambda) / other * 100: what choosing Lambda saves, as a share of the other."""
    if other_price <= 0:
        raise ValueError("other_price must be positive")
    return (other_price - lambda_price) / other_price * 100.0


def versus_text(lambda_price: float, other_price: float) -> str:
    """Lambda's price against another in words that read the same way whichever is dearer:
    "23% cheaper", "same price", "12% dearer", "2.1x the price"."""
    if other_price <= 0:
        raise ValueError("other_price must be positive")
    ratio = lambda_price / other_price
    if round(ratio * 100) == 100:
        return "same price"
    if ratio < 1:
        return f"{(1 - ratio) * 100:.0f}% cheaper"
    if ratio < 1.5:
        return f"{(ratio - 1) * 100:.0f}% dearer"
    return f"{ratio:.1f}x the price"


def data_age_text(data: PriceData, today: date) -> str:
    """How old the bundled prices are, in words, from the dates the data itself gives."""
    dated = sorted({p.source_date for p in data.rows if p.source_date and p.provider != LAMBDA})
    undated = sorted(
        {
            p.provider
            for p in data.rows
            if not p.source_date and not p.stale and p.provider != LAMBDA
        }
    )
    stale = sorted({p.provider for p in data.rows if p.stale})
    parts = []
    if dated:
        newest = dated[-1]
        days = (today - date.fromisoformat(newest)).days
        providers = sorted(
            {p.provider for p in data.rows if p.source_date == newest and p.provider != LAMBDA}
        )
        lower = any(
            p.source_date == newest and p.source_date_kind == "lower_bound" for p in data.rows
        )
        when = f"on or after {newest}" if lower else newest
        age = f"at most {_days_text(days)} old" if lower else f"{_days_text(days)} old"
        parts.append(f"{', '.join(providers)}: collected {when} ({age})")
    if undated:
        parts.append(f"{', '.join(undated)}: undated (their source's date is unknown)")
    if stale:
        parts.append(f"{', '.join(stale)}: from an older catalog, likely out of date")
    return "; ".join(parts) + "." if parts else "No other providers' prices are bundled."


def _days_text(days: int) -> str:
    if days < 0:
        return "0 days"
    if days < 60:
        return f"{days} day" + ("" if days == 1 else "s")
    return f"{days // 30} months"


def _source_text(source: Any) -> str:
    if isinstance(source, Mapping):
        repo, path, commit = source.get("repo", ""), source.get("path", ""), source.get("commit")
        text = f"{repo}: {path}".strip(": ")
        return f"{text} @{str(commit)[:7]}" if commit else text
    return str(source or "")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_price_row(row: Mapping[str, Any]) -> ProviderPrice:
    """One row of gpu-prices.json as a ProviderPrice (GPU name normalised)."""
    name = str(row["gpu_model"])
    count = int(row["gpu_count"])
    price = float(row["price_usd_per_hour"])
    per_gpu = row.get("price_usd_per_gpu_hour")
    vram = row.get("vram_gib_per_gpu")
    return ProviderPrice(
        provider=str(row["provider"]),
        gpu_model=normalize_gpu_name(name) or name,
        gpu_count=count,
        vram_gib=int(vram) if vram is not None else None,
        instance_type=str(row.get("instance_type", "")),
        price_per_hour=price,
        price_per_gpu_hour=float(per_gpu) if per_gpu is not None else price / max(1, count),
        spot_per_hour=_optional_float(row.get("spot_usd_per_hour")),
        region=str(row.get("region_of_min", "")),
        source=_source_text(row.get("source")),
        source_date=row.get("source_date"),
        source_date_kind=str(row.get("source_date_kind", "unknown")),
        notes=str(row.get("notes", "")),
        derived=bool(row.get("derived", False)),
    )


def parse_price_data(raw: Mapping[str, Any]) -> PriceData:
    """The whole gpu-prices.json document."""
    schema = str(raw.get("schema", ""))
    if not schema.startswith("gpu-prices/"):
        raise ValueError(f"Not a gpu-prices document (schema '{schema}')")
    return PriceData(
        as_of=str(raw.get("as_of", "")),
        as_of_basis=str(raw.get("as_of_basis", "")),
        method=str(raw.get("method", "")),
        rows=tuple(parse_price_row(r) for r in raw.get("rows", [])),
    )


def _lambda_offers(resources: Iterable[Resource]) -> dict[str, list[tuple[LambdaPrice, int]]]:
    offers: dict[str, list[tuple[LambdaPrice, int]]] = {}
    for r in resources:
        gpu = resource_gpu_name(r)
        if gpu is None:
            continue
        offer = LambdaPrice(r.name, r.gpu_count, r.hourly_rate, r.available)
        offers.setdefault(gpu, []).append((offer, r.vram_gb))
    return offers


def compare_prices(
    resources: Iterable[Resource],
    data: PriceData,
    *,
    gpu_count: int | None = None,
    include_stale: bool = True,
) -> list[PriceRow]:
    """One row per GPU model offered by Lambda live or by any other provider in `data`.

    With `gpu_count` None prices compare per GPU-hour: Lambda's cheapest offer of any size
    against the other providers' offers of that same GPU count (other sizes only when none
    has it: `mixed_sizes`). With a count, only offers of that many GPUs take part and
    whole-instance prices compare. Each provider appears once per row, with its cheapest
    offer. Stale rows take part unless excluded.
    """
    per_gpu = gpu_count is None
    live = _lambda_offers(resources)
    candidates: dict[str, list[ProviderPrice]] = {}
    catalog_lambda: dict[str, list[ProviderPrice]] = {}
    vram: dict[str, int] = {}

    def compared(p: ProviderPrice) -> float:
        return p.price_per_gpu_hour if per_gpu else p.price_per_hour

    for p in data.rows:
        if gpu_count is not None and p.gpu_count != gpu_count:
            continue
        if p.vram_gib is not None:
            vram.setdefault(p.gpu_model, p.vram_gib)
        if p.provider == LAMBDA:
            catalog_lambda.setdefault(p.gpu_model, []).append(p)
            continue
        if p.stale and not include_stale:
            continue
        candidates.setdefault(p.gpu_model, []).append(p)

    rows: list[PriceRow] = []
    for gpu in sorted(set(live) | set(candidates)):
        offers = [
            (o, v) for o, v in live.get(gpu, []) if gpu_count is None or o.gpu_count == gpu_count
        ]
        if not offers and gpu not in candidates:
            continue
        lambda_offers = tuple(sorted((o for o, _ in offers), key=lambda o: o.price_per_gpu_hour))
        best = None
        if lambda_offers:
            best = min(
                lambda_offers,
                key=lambda o: (o.price_per_gpu_hour if per_gpu else o.price_per_hour, o.gpu_count),
            )
        pool = candidates.get(gpu, [])
        bundled_lambda = catalog_lambda.get(gpu, [])
        mixed = False
        if per_gpu and best is not None:
            same = [p for p in pool if p.gpu_count == best.gpu_count]
            mixed = bool(pool) and not same
            pool = same or pool
            bundled_lambda = [p for p in bundled_lambda if p.gpu_count == best.gpu_count]
        live_vram = next((v for _, v in offers if v), None)
        rows.append(
            PriceRow(
                gpu_model=gpu,
                vram_gib=live_vram if live_vram is not None else vram.get(gpu),
                lambda_best=best,
                lambda_offers=lambda_offers,
                lambda_catalog_price=min((compared(p) for p in bundled_lambda), default=None),
                others=tuple(sorted(_cheapest_per_provider(pool, compared), key=compared)),
                per_gpu=per_gpu,
                mixed_sizes=mixed,
            )
        )
    return rows


def _cheapest_per_provider(
    offers: Iterable[ProviderPrice], compared: Callable[[ProviderPrice], float]
) -> list[ProviderPrice]:
    best: dict[str, ProviderPrice] = {}
    for p in offers:
        current = best.get(p.provider)
        if current is None or compared(p) < compared(current):
            best[p.provider] = p
    return list(best.values())
