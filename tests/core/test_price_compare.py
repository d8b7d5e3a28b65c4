"""Lambda's live prices beside the bundled providers' prices, with the savings column."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_gui.assets import load_json
from lambda_gui.core.models import Region, Resource
from lambda_gui.core.price_compare import (
    PriceRow,
    compare_prices,
    parse_price_data,
    savings_percent,
)


def lam(name: str, gpu_type: str, count: int, vram: int, rate: float, up: bool = True) -> Resource:
    regions = (Region("us-west-1"),) if up else ()
    return Resource(name, gpu_type, count, vram, 8, 64, 512, rate, up, regions)


def row(provider: str, gpu: str, count: int, price: float, **kw: Any) -> dict[str, Any]:
    base = {
        "provider": provider,
        "gpu_model": gpu,
        "gpu_count": count,
        "vram_gib_per_gpu": 80,
        "instance_type": f"{provider}-{count}x",
        "price_usd_per_hour": price,
        "price_usd_per_gpu_hour": price / count,
        "spot_usd_per_hour": None,
        "region_of_min": "r1",
        "source": {"repo": "org/catalog", "path": f"{provider}.csv", "commit": "abcdef0123"},
        "source_date": "2026-06-03",
        "source_date_kind": "lower_bound",
        "notes": "",
    }
    base.update(kw)
    return base


DATA = parse_price_data(
    {
        "schema": "gpu-prices/1",
        "as_of": "2026-06-03",
        "rows": [
            row("lambda", "H100 SXM", 1, 3.49),
            row("runpod", "H100 SXM", 1, 3.29),
            row("runpod", "H100 SXM", 8, 26.32),
            row("cudo", "H100 SXM", 8, 15.0),
            row("old", "H100 SXM", 1, 1.0, source_date=None, source_date_kind="unknown_stale_v6"),
            row("aws", "A10G", 1, 1.006),
            row("oci", "A10", 1, 2.0, source_date=None, source_date_kind="unknown"),
        ],
    }
)
LIVE = [
    lam("gpu_1x_h100_sxm5", "H100 (80 GB SXM5)", 1, 80, 4.29),
    lam("gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 8, 80, 31.92, up=False),
    lam("gpu_1x_a10", "A10 (24 GB PCIe)", 1, 24, 1.29),
    lam("gpu_1x_gh200", "GH200 (96 GB)", 1, 96, 2.29),
    Resource("cpu_4x_general", "CPU", 0, 0, 4, 16, 100, 0.2, True),
]


def by_gpu(rows: list[PriceRow]) -> dict[str, PriceRow]:
    return {r.gpu_model: r for r in rows}


def test_savings_sign_shows_the_truth() -> None:
    assert savings_percent(1.0, 2.0) == pytest.approx(50.0)
    assert savings_percent(3.0, 2.0) == pytest.approx(-50.0)
    with pytest.raises(ValueError):
        savings_percent(1.0, 0.0)


def test_per_gpu_hour_rows_use_live_lambda_and_cheapest_provider() -> None:
    rows = by_gpu(compare_prices(LIVE, DATA, include_stale=False))
    h100 = rows["H100 SXM"]
    # Lambda's cheapest live H100 per GPU-hour is the 8x type (3.99), even without capacity.
    assert h100.lambda_best is not None
    assert h100.lambda_best.instance_type == "gpu_8x_h100_sxm5"
    assert h100.lambda_price == pytest.approx(3.99)
    assert [o.instance_type for o in h100.lambda_offers] == ["gpu_8x_h100_sxm5", "gpu_1x_h100_sxm5"]
    # One entry per provider (its cheapest), cheapest first; the stale one left out.
    assert [p.provider for p in h100.others] == ["cudo", "runpod"]
    assert h100.cheapest_other_price == pytest.approx(15.0 / 8)
    assert h100.savings_percent == pytest.approx((1.875 - 3.99) / 1.875 * 100)
    assert h100.savings_percent is not None and h100.savings_percent < 0
    # Like with like: the 8x type's per-GPU rate meets the other 8-GPU offers only.
    assert h100.compared_count == 8 and not h100.mixed_sizes
    # The bundled Lambda price is for 1x, so not on the same basis here.
    assert h100.lambda_catalog_price is None
    one = by_gpu(compare_prices(LIVE, DATA, gpu_count=1))["H100 SXM"]
    # The bundled Lambda price is kept beside the live one, not counted as another provider.
    assert one.lambda_catalog_price == pytest.approx(3.49)


def test_stale_rows_count_by_default_and_say_so() -> None:
    h100 = by_gpu(compare_prices(LIVE, DATA, gpu_count=1))["H100 SXM"]
    cheapest = h100.cheapest_other
    assert cheapest is not None and cheapest.provider == "old" and cheapest.stale
    assert cheapest.date_label == "date unknown, likely stale"
    assert h100.others[-1].date_label == "on or after 2026-06-03"


def test_rows_for_gpus_only_one_side_offers() -> None:
    rows = by_gpu(compare_prices(LIVE, DATA))
    assert rows["A10G"].lambda_best is None and rows["A10G"].savings_percent is None
    assert rows["GH200"].others == () and rows["GH200"].savings_percent is None
    # A10 (Lambda) and A10G (AWS) are different cards and stay apart.
    assert rows["A10"].savings_percent == pytest.approx((2.0 - 1.29) / 2.0 * 100)
    assert "CPU" not in rows


def test_fixed_gpu_count_compares_whole_instances() -> None:
    rows = by_gpu(compare_prices(LIVE, DATA, gpu_count=8))
    h100 = rows["H100 SXM"]
    assert h100.lambda_price == pytest.approx(31.92)
    assert h100.cheapest_other_price == pytest.approx(15.0)
    assert "A10" not in rows


def test_no_live_catalog_still_lists_other_providers() -> None:
    rows = by_gpu(compare_prices([], DATA))
    assert rows["H100 SXM"].lambda_best is None
    assert rows["H100 SXM"].cheapest_other is not None


def test_bundled_data_parses_and_names_line_up_with_lambda() -> None:
    data = parse_price_data(load_json("gpu-prices.json"))
    assert data.as_of and data.rows
    assert all(r.source and r.price_per_gpu_hour > 0 for r in data.rows)
    live = [
        Resource(
            r["name"],
            r.get("gpu_description") or "",
            r["gpus"],
            r["vram_gib_per_gpu"] or 0,
            r["vcpus"],
            r["memory_gib"],
            r["storage_gib"] or 0,
            r["price_cents_per_hour"] / 100,
            True,
            description=r["description"],
        )
        for r in load_json("lambda-catalog.json")
    ]
    rows = by_gpu(compare_prices(live, data))
    # Every GPU Lambda sells that another provider also sells gets a savings figure.
    for gpu in ("H100 SXM", "H100 PCIe", "A100 40GB", "A10", "A6000", "B200", "V100 16GB"):
        assert rows[gpu].lambda_best is not None, gpu
        assert rows[gpu].savings_percent is not None, gpu


def test_rejects_other_documents() -> None:
    with pytest.raises(ValueError):
        parse_price_data({"schema": "something-else", "rows": []})


def test_per_gpu_hour_mixes_sizes_only_when_it_must_and_says_so() -> None:
    two = [lam("gpu_2x_h100_sxm5", "H100 (80 GB SXM5)", 2, 80, 7.0)]
    h100 = by_gpu(compare_prices(two, DATA, include_stale=False))["H100 SXM"]
    assert h100.mixed_sizes and h100.compared_count is None
    assert h100.cheapest_other is not None and h100.cheapest_other.provider == "cudo"


def test_data_age_and_versus_text() -> None:
    from datetime import date

    from lambda_gui.core.price_compare import data_age_text, versus_text

    text = data_age_text(DATA, date(2026, 9, 3))
    assert "collected on or after 2026-06-03 (at most 3 months old)" in text
    assert "oci: undated" in text and "old: from an older catalog" in text
    assert versus_text(1.0, 2.0) == "50% cheaper" and versus_text(3.0, 1.0) == "3.0x the price"
