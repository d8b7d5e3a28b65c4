"""The loss-curve PNG: a valid image, both lines drawn, deterministic, fast on long runs."""

from __future__ import annotations

import math
import struct
import time
import zlib

import pytest

from lambda_gui.services.loss_curve_png import (
    EVAL_COLOR,
    HEIGHT,
    TRAIN_COLOR,
    WIDTH,
    encode_png,
    nice_ticks,
    render_loss_curve,
    tick_label,
)

TRAIN = [(float(s), 2.5 * math.exp(-s / 40) + 0.3) for s in range(1, 201)]
EVAL = [(float(s), 2.4 * math.exp(-s / 40) + 0.4) for s in range(20, 201, 20)]


def _decode(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a PNG as encode_png writes it (filter 0 rows)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks[kind] = data
        at += 12 + length
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    assert len(raw) == stride * height
    assert all(raw[y * stride] == 0 for y in range(height))
    rgb = b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))
    return width, height, rgb


def _count(rgb: bytes, color: tuple[int, int, int]) -> int:
    target = bytes(color)
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i : i + 3] == target)


def test_both_lines_are_drawn_on_a_valid_png() -> None:
    width, height, rgb = _decode(render_loss_curve(TRAIN, EVAL))
    assert (width, height) == (WIDTH, HEIGHT)
    assert _count(rgb, TRAIN_COLOR) > 500
    assert _count(rgb, EVAL_COLOR) > 200


def test_same_points_same_bytes() -> None:
    assert render_loss_curve(TRAIN, EVAL) == render_loss_curve(list(TRAIN), list(EVAL))
    assert render_loss_curve(TRAIN, EVAL) != render_loss_curve(TRAIN, [])


@pytest.mark.parametrize(
    ("train", "evals"),
    [
        ([], []),
        ([(5.0, 1.5)], []),
        ([], [(5.0, 1.5)]),
        ([(1.0, 2.0), (2.0, 2.0), (3.0, 2.0)], []),
        ([(1.0, math.nan), (2.0, math.inf), (3.0, 1.0)], [(1.0, -math.inf)]),
        ([(0.0, 1e-9), (1.0, 3e6)], []),
    ],
)
def test_odd_series_still_give_an_image(
    train: list[tuple[float, float]], evals: list[tuple[float, float]]
) -> None:
    width, height, _ = _decode(render_loss_curve(train, evals, width=200, height=120))
    assert (width, height) == (200, 120)


def test_a_long_run_is_thinned_to_the_pixels() -> None:
    noisy = [(float(s), 1.0 + 0.5 * math.sin(s * 1.7)) for s in range(50_000)]
    start = time.perf_counter()
    png = render_loss_curve(noisy)
    assert time.perf_counter() - start < 3.0
    _decode(png)


def test_nice_ticks() -> None:
    assert nice_ticks(0.13, 2.7) == (0.0, 3.0, [0.0, 1.0, 2.0, 3.0])
    assert nice_ticks(1, 1000) == (0.0, 1000.0, [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0])
    lo, hi, ticks = nice_ticks(3, 3, min_step=1.0)
    assert lo <= 3 <= hi and all(t == int(t) for t in ticks)
    lo, hi, ticks = nice_ticks(0, 0)
    assert lo < 0 < hi and len(ticks) >= 2


def test_tick_labels() -> None:
    assert [tick_label(v, 0.25) for v in (0.0, 0.25, 0.75)] == ["0", "0.25", "0.75"]
    assert [tick_label(v, 2.5) for v in (2.5, 7.5)] == ["2.5", "7.5"]
    assert tick_label(150.0, 50.0) == "150"
    assert tick_label(2e-17, 0.5) == "0"
    assert tick_label(3e6, 1e6) == "3.0e+06"


def test_encode_png_checks_its_input() -> None:
    with pytest.raises(ValueError):
        encode_png(2, 2, b"\x00" * 11)
    assert _decode(encode_png(1, 1, b"\x01\x02\x03")) == (1, 1, b"\x01\x02\x03")
