"""Token lengths of training texts: histogram bins, percentiles, rows the max length cuts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lambda_gui.core.dataset_stats import (
    estimate_tokens,
    histogram,
    nice_width,
    percentile,
    token_stats,
)


def test_estimate_is_four_characters_per_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_nice_widths() -> None:
    assert nice_width(120, 12) == 10
    assert nice_width(2049, 12) == 200
    assert nice_width(3, 12) == 1
    assert nice_width(51, 12) == 5


def test_stats_count_the_rows_over_the_max() -> None:
    stats = token_stats([10, 20, 30, 600, 700], 512, estimated=False)
    assert stats.over_max == 2 and stats.counted == 5 and stats.total_rows == 5
    assert stats.median == 30 and stats.longest == 700 and stats.p95 == 700
    assert "counted with the model's tokenizer, 5 rows" in stats.summary()
    assert (
        "2 rows (40.0 %) are longer than the max sequence length (512) and will be cut"
        in stats.cut_summary()
    )
    assert stats.with_max(1000).over_max == 0
    assert "No row is longer" in stats.with_max(1000).cut_summary()


def test_a_sample_of_a_larger_dataset_says_so() -> None:
    stats = token_stats([5] * 9 + [50], 20, total_rows=1000, estimated=True)
    assert "estimated at about 4 characters per token" in stats.summary()
    assert "the first 10 of 1,000 rows" in stats.summary()
    assert stats.cut_summary().startswith("1 of the first 10 rows (10.0 %) is longer than")


def test_no_rows() -> None:
    stats = token_stats([], 512, estimated=True)
    assert stats.bins == () and stats.summary() == "No rows to count."
    assert stats.cut_summary() == "" and stats.median == 0


def test_percentile_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7], 95) == 7


@given(st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=300))
def test_histogram_holds_every_row_in_equal_bins(lengths: list[int]) -> None:
    bins = histogram(lengths)
    assert sum(b.count for b in bins) == len(lengths)
    assert bins[0].low == 0 and bins[-1].high > max(lengths)
    widths = {b.high - b.low for b in bins}
    assert len(widths) == 1 and len(bins) <= 13
    for b in bins:
        assert b.count == sum(1 for n in lengths if b.low <= n < b.high)
