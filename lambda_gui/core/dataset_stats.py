"""Token lengths of a dataset's training texts: a histogram, and the rows the max length cuts.

The lengths come from the model's tokenizer when the app can run it, else from an estimate of
CHARS_PER_TOKEN characters per token; `TokenStats` says which, and how many rows were counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CHARS_PER_TOKEN = 4.0
HISTOGRAM_BINS = 12


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` becomes (CHARS_PER_TOKEN characters per token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def nice_width(span: float, bins: int) -> int:
    """A bin width of 1, 2 or 5 times a power of ten that covers `span` in about `bins` bins."""
    raw = max(1.0, span / max(1, bins))
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if step * power >= raw:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Bin:
    """Rows whose length is in [low, high)."""

    low: int
    high: int
    count: int


@dataclass(frozen=True)
class TokenStats:
    """Token lengths of the counted rows, against the job's max sequence length."""

    lengths: tuple[int, ...]
    total_rows: int  # rows in the dataset; more than len(lengths) when only the first were read
    estimated: bool  # True: CHARS_PER_TOKEN, not the model's tokenizer
    max_seq_length: int
    over_max: int
    bins: tuple[Bin, ...]

    @property
    def counted(self) -> int:
        """Rows whose length was counted."""
        return len(self.lengths)

    @property
    def median(self) -> int:
        """The median length."""
        return percentile(self.lengths, 50)

    @property
    def p95(self) -> int:
        """The 95th percentile length."""
        return percentile(self.lengths, 95)

    @property
    def longest(self) -> int:
        """The longest row."""
        return max(self.lengths, default=0)

    @property
    def mean(self) -> float:
        """The mean length."""
        return sum(self.lengths) / len(self.lengths) if self.lengths else 0.0

    def with_max(self, max_seq_length: int) -> TokenStats:
        """The same lengths against another max sequence length."""
        return token_stats(
            self.lengths, max_seq_length, total_rows=self.total_rows, estimated=self.estimated
        )

    def summary(self) -> str:
        """The lengths in one sentence, saying how they were counted."""
        if not self.lengths:
            return "No rows to count."
        how = (
            "estimated at about 4 characters per token"
            if self.estimated
            else "counted with the model's tokenizer"
        )
        which = (
            f"the first {self.counted:,} of {self.total_rows:,} rows"
            if self.counted < self.total_rows
            else f"{self.counted:,} rows"
        )
        return (
            f"Tokens per row ({how}, {which}): median {self.median:,}, 95th percentile "
            f"{self.p95:,}, longest {self.longest:,}."
        )

    def cut_summary(self) -> str:
        """How many rows the max sequence length cuts."""
        if not self.lengths:
            return ""
        if self.over_max == 0:
            return f"No row is longer than the max sequence length ({self.max_seq_length:,})."
        share = f"{100 * self.over_max / self.counted:.1f} %"
        if self.counted < self.total_rows:
            rows = f"{self.over_max:,} of the first {self.counted:,} rows ({share})"
        else:
            rows = f"{self.over_max:,} {'row' if self.over_max == 1 else 'rows'} ({share})"
        verb = "is" if self.over_max == 1 else "are"
        return (
            f"{rows} {verb} longer than the max sequence length ({self.max_seq_length:,}) and "
            "will be cut: raise it on the Hyperparameters step, or shorten those rows."
        )


def percentile(values: Sequence[int], pct: float) -> int:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def histogram(lengths: Sequence[int], bins: int = HISTOGRAM_BINS) -> tuple[Bin, ...]:
    """Equal-width bins of nice widths from 0 past the longest length."""
    if not lengths:
        return ()
    width = nice_width(max(lengths) + 1, bins)
    count = max(lengths) // width + 1
    counts = [0] * count
    for length in lengths:
        counts[length // width] += 1
    return tuple(Bin(i * width, (i + 1) * width, n) for i, n in enumerate(counts))


def token_stats(
    lengths: Sequence[int],
    max_seq_length: int,
    *,
    total_rows: int | None = None,
    estimated: bool,
    bins: int = HISTOGRAM_BINS,
) -> TokenStats:
    """The statistics of these lengths against `max_seq_length`."""
    kept = tuple(int(n) for n in lengths)
    return TokenStats(
        lengths=kept,
        total_rows=max(len(kept), total_rows or 0),
        estimated=estimated,
        max_seq_length=max_seq_length,
        over_max=sum(1 for n in kept if n > max_seq_length) if max_seq_length > 0 else 0,
        bins=histogram(kept, bins),
    )
