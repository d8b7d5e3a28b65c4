"""Numbers behind the training curves: EMA smoothing, step-to-clock mapping, axis ticks.

Plain numpy, vectorised: a curve of a million points is smoothed or re-mapped in milliseconds,
which a redraw on the GUI thread can afford.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

_TRUNCATE = 1e-12  # EMA weights below this are left out (the convolution form)
_MAX_TAPS = 64  # up to this many weights the EMA is a convolution; beyond, chunked cumsums
_MAX_EXP = 300.0  # alpha**-k stays below e**300 within a chunk
# Tick steps for an axis of seconds: 1 s ... 12 h, then whole days.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def ema(values: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    """The debiased exponential moving average of `values` (as TensorBoard smooths).

    s[t] = sum over k <= t of (1 - alpha) * alpha**(t - k) * v[k], divided by the weights'
    sum (1 - alpha**(t + 1)), so the first points are not pulled towards zero. `alpha` is the
    weight kept from the past: 0 gives the values back, 0.99 smooths hard. NaN points stay NaN
    and are skipped by the average.
    """
    return Smoother().smooth(np.asarray(values, dtype=np.float64), alpha).copy()


class Smoother:
    """The EMA of a curve that only grows: each call smooths only the points added since the
    last one, unless alpha changed or the curve was cleared (then it starts over)."""

    def __init__(self) -> None:
        self.alpha = 0.0
        self._out: NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._state = 0.0  # the EMA without its debiasing, after the last finite point
        self._count = 0  # finite points so far

    def smooth(self, values: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
        """The smoothed curve of `values` (the same length); valid until the next call."""
        alpha = min(max(alpha, 0.0), 0.999)
        if alpha != self.alpha or values.size < self._out.size:
            self.alpha = alpha
            self._out = np.empty(0, dtype=np.float64)
            self._state, self._count = 0.0, 0
        if alpha == 0.0:
            return values
        done = self._out.size
        if values.size > done:
            tail = np.asarray(values[done:], dtype=np.float64)
            self._out = np.concatenate((self._out, self._smooth_tail(tail)))
        return self._out

    def _smooth_tail(self, tail: NDArray[np.float64]) -> NDArray[np.float64]:
        finite = np.isfinite(tail)
        if not finite.all():
            out = np.full_like(tail, np.nan)
            out[finite] = self._smooth_tail(tail[finite])
            return out
        alpha = self.alpha
        log_a = math.log(alpha)
        taps = math.ceil(math.log(_TRUNCATE) / log_a)
        if self._count == 0 and taps <= _MAX_TAPS and tail.size > taps:
            raw = _convolved(tail, alpha, taps)
        else:
            raw = _chunked(tail, alpha, log_a, self._state)
        if raw.size:
            self._state = float(raw[-1])
        counts = self._count + np.arange(1, tail.size + 1, dtype=np.float64)
        self._count += tail.size
        debiased: NDArray[np.float64] = raw / -np.expm1(counts * log_a)
        return debiased


def _convolved(y: NDArray[np.float64], alpha: float, taps: int) -> NDArray[np.float64]:
    # The EMA from a zero state as a convolution with its (truncated) weights.
    weights = (1.0 - alpha) * np.exp(np.arange(taps, dtype=np.float64) * math.log(alpha))
    result: NDArray[np.float64] = np.convolve(y, weights)[: y.size]
    return result


def _chunked(
    y: NDArray[np.float64], alpha: float, log_a: float, state: float
) -> NDArray[np.float64]:
    # Within a chunk s[j] = a**(j+1) * state + (1-a) * a**j * cumsum(a**-i * y[i]); the chunk
    # is short enough that a**-i stays below e**300.
    chunk = max(1, int(_MAX_EXP / -log_a))
    k = np.arange(min(chunk, y.size), dtype=np.float64)
    grow = np.exp(-k * log_a)
    shrink = np.exp(k * log_a)
    carry = shrink * alpha
    out = np.empty_like(y)
    for start in range(0, y.size, chunk):
        seg = y[start : start + chunk]
        m = seg.size
        part = carry[:m] * state + (1.0 - alpha) * shrink[:m] * np.cumsum(seg * grow[:m])
        out[start : start + m] = part
        state = float(part[-1])
    return out


def map_steps(
    steps: NDArray[np.float64], known_steps: NDArray[np.float64], known: NDArray[np.float64]
) -> NDArray[np.float64]:
    """What `known` says at each of `steps`: linear between known steps, held at the ends."""
    if known_steps.size == 0:
        return np.full_like(steps, np.nan)
    if known_steps.size > 1 and np.any(np.diff(known_steps) < 0):
        order = np.argsort(known_steps, kind="stable")
        known_steps, known = known_steps[order], known[order]
    mapped: NDArray[np.float64] = np.interp(steps, known_steps, known)
    return mapped


def clock_tick_step(span_s: float, max_ticks: int) -> float:
    """A whole-clock tick step (1 s, 5 s, 1 min, 15 min, 1 h ...) giving at most `max_ticks`."""
    want = span_s / max(1, max_ticks)
    for step in _CLOCK_STEPS:
        if step >= want:
            return float(step)
    return 86400.0 * math.ceil(want / 86400.0)


def format_clock(seconds: float) -> str:
    """An elapsed time as m:ss or h:mm:ss ("1:05", "2:00:30"); negative as "-1:05"."""
    sign = "-" if seconds < 0 else ""
    whole = int(round(abs(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"


def format_rate(value: float) -> str:
    """A learning rate short enough for an axis: "0", "2e-4", "1.5e-3", "nan"."""
    if not math.isfinite(value):
        return "nan"
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
