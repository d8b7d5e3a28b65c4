"""Billing terms (increment, minimum) as dated catalog data, and the pricing they give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_gui.core.models import PricingInfo


@dataclass(frozen=True)
class BillingTerms:
    """How Lambda bills an on-demand instance, with the source and date of that fact."""

    increment_seconds: int
    minimum_seconds: int
    source: str
    as_of: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BillingTerms:
        """Read the bundled billing.json shape."""
        return cls(
            increment_seconds=int(data["billing_increment_seconds"]),
            minimum_seconds=int(data["minimum_charge_seconds"]),
            source=str(data.get("source", "")),
            as_of=str(data.get("as_of", "")),
        )


def pricing_info(name: str, price_cents_per_hour: int, terms: BillingTerms) -> PricingInfo:
    """The PricingInfo of one instance type at a given price."""
    return PricingInfo(
        resource_id=name,
        price_per_hour=price_cents_per_hour / 100.0,
        billing_increment_seconds=terms.increment_seconds,
        minimum_charge_seconds=terms.minimum_seconds,
        billing_source=terms.source,
        billing_as_of=terms.as_of,
    )
