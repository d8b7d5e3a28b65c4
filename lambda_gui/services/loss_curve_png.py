"""The loss curve of a pushed adapter as a PNG, drawn without Qt or matplotlib: axes, ticks
labelled in a tiny bitmap font, the training loss as a line and the validation loss as a line
with markers. Pure and deterministic: the same points always give the same bytes."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

Point = tuple[float, float]
Color = tuple[int, int, int]

WIDTH = 640
HEIGHT = 360
TRAIN_COLOR: Color = (31, 119, 180)
EVAL_COLOR: Color = (255, 127, 14)
_BACKGROUND: Color = (255, 255, 255)
_AXIS: Color = (60, 60, 60)
_GRID: Color = (225, 225, 225)
_TEXT: Color = (40, 40, 40)
# Room for the y labels on the left, the x labels below and the legend above.
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 36
_SCALE = 2  # each font pixel is a 2x2 block
_TICKS = 5

# A 3x5 font holding just what the labels and legend spell ("#" is ink).
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    ".": ("...", "...", "...", "...", ".#."),
    "-": ("...", "...", "###", "...", "..."),
    "+": ("...", ".#.", "###", ".#.", "..."),
    " ": ("...", "...", "...", "...", "..."),
    "a": ("...", ".##", "#.#", "#.#", ".##"),
    "e": ("...", ".#.", "###", "#..", ".##"),
    "i": (".#.", "...", ".#.", ".#.", ".#."),
    "l": ("##.", ".#.", ".#.", ".#.", "###"),
    "n": ("...", "##.", "#.#", "#.#", "#.#"),
    "o": ("...", ".#.", "#.#", "#.#", ".#."),
    "p": ("...", "##.", "#.#", "##.", "#.."),
    "r": ("...", "#.#", "##.", "#..", "#.."),
    "s": ("...", ".##", "##.", "..#", "##."),
    "t": (".#.", "###", ".#.", ".#.", ".##"),
    "v": ("...", "#.#", "#.#", "#.#", ".#."),
}
_GLYPH_W = 3 * _SCALE
_GLYPH_H = 5 * _SCALE
_ADVANCE = _GLYPH_W + _SCALE


class _Canvas:
    """An RGB image as one bytearray, drawn on with clipped primitives."""

    def __init__(self, width: int, height: int, background: Color) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = (y * self.width + x) * 3
            self.pixels[at : at + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle between the two corners, both included."""
        x0, x1 = max(0, min(x0, x1)), min(self.width - 1, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height - 1, max(y0, y1))
        if x0 > x1 or y0 > y1:
            return
        row = bytes(color) * (x1 - x0 + 1)
        for y in range(y0, y1 + 1):
            at = (y * self.width + x0) * 3
            self.pixels[at : at + len(row)] = row

    def line(self, a: tuple[int, int], b: tuple[int, int], color: Color, thick: int = 2) -> None:
        """A line `thick` pixels wide, drawn as one vertical run per column (a steep segment
        costs one fill per column, not one per pixel)."""
        (x0, y0), (x1, y1) = sorted((a, b))
        if x0 == x1:
            self.rect(x0, min(y0, y1), x0 + thick - 1, max(y0, y1) + thick - 1, color)
            return
        slope = (y1 - y0) / (x1 - x0)
        low, high = min(y0, y1), max(y0, y1)
        for x in range(x0, x1 + 1):
            ends = (round(y0 + (x - x0 - 0.5) * slope), round(y0 + (x - x0 + 0.5) * slope))
            top = max(low, min(ends))
            bottom = min(high, max(ends))
            self.rect(x, top, x + thick - 1, bottom + thick - 1, color)

    def text(self, x: int, y: int, text: str, color: Color) -> None:
        """`text` with its top-left corner at (x, y); characters the font lacks are skipped."""
        for index, char in enumerate(text):
            rows = _GLYPHS.get(char)
            if rows is None:
                continue
            left = x + index * _ADVANCE
            for gy, row in enumerate(rows):
                for gx, ink in enumerate(row):
                    if ink == "#":
                        px, py = left + gx * _SCALE, y + gy * _SCALE
                        self.rect(px, py, px + _SCALE - 1, py + _SCALE - 1, color)


def text_width(text: str) -> int:
    """Pixels `text` takes in the label font."""
    return max(0, len(text) * _ADVANCE - _SCALE)


def nice_ticks(
    lo: float, hi: float, count: int = _TICKS, min_step: float = 0.0
) -> tuple[float, float, list[float]]:
    """An axis range covering [lo, hi] on round numbers (1, 2, 2.5, 5 x 10^n, at least
    `min_step` apart) and its ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= abs(hi) * 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if (hi - lo) / (factor * magnitude) <= count:
            step = factor * magnitude
            break
    step = max(step, min_step)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    ticks = [start + i * step for i in range(round((end - start) / step) + 1)]
    return start, end, ticks


def tick_label(value: float, step: float) -> str:
    """`value` written with as many decimals as the tick spacing `step` needs."""
    if abs(value) < abs(step) * 1e-6:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.1e}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if _needs_extra(step, decimals):
        decimals += 1
    return f"{value:.{min(decimals, 6)}f}"


def _needs_extra(step: float, decimals: int) -> bool:
    """True for steps such as 0.25 or 2.5 whose ticks need one decimal more than their size."""
    scaled = step * 10.0**decimals
    return abs(scaled - round(scaled)) > 1e-6


def _finite(points: Sequence[Point]) -> list[Point]:
    return sorted(
        ((float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)),
        key=lambda p: p[0],
    )


def _thin(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Per pixel column, the first, lowest, highest and last point in order: the same picture
    with at most four points a column, however many thousand steps were logged."""
    out: list[tuple[int, int]] = []
    column: list[tuple[int, int]] = []

    def flush() -> None:
        if len(column) <= 4:
            out.extend(column)
            return
        keep = {0, len(column) - 1}
        keep.add(min(range(len(column)), key=lambda i: column[i][1]))
        keep.add(max(range(len(column)), key=lambda i: column[i][1]))
        out.extend(column[i] for i in sorted(keep))

    for point in points:
        if column and point[0] != column[0][0]:
            flush()
            column = []
        column.append(point)
    if column:
        flush()
    return out


def render_loss_curve(
    train: Sequence[Point],
    evals: Sequence[Point] = (),
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> bytes:
    """A PNG of training (`train`) and validation (`evals`) loss against step."""
    train_pts, eval_pts = _finite(train), _finite(evals)
    both = train_pts + eval_pts
    xs = [x for x, _ in both] or [0.0, 1.0]
    ys = [y for _, y in both] or [0.0, 1.0]
    x_lo, x_hi, x_ticks = nice_ticks(min(xs), max(xs), min_step=1.0)  # steps are whole
    y_lo, y_hi, y_ticks = nice_ticks(min(ys), max(ys))
    canvas = _Canvas(width, height, _BACKGROUND)
    left, right = _LEFT, width - _RIGHT
    top, bottom = _TOP, height - _BOTTOM

    def to_px(point: Point) -> tuple[int, int]:
        x, y = point
        px = left + round((x - x_lo) / (x_hi - x_lo) * (right - left))
        py = bottom - round((y - y_lo) / (y_hi - y_lo) * (bottom - top))
        return px, py

    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for tick in y_ticks:
        _, py = to_px((x_lo, tick))
        canvas.rect(left, py, right, py, _GRID)
        label = tick_label(tick, y_step)
        canvas.text(left - 8 - text_width(label), py - _GLYPH_H // 2, label, _TEXT)
    for tick in x_ticks:
        px, _ = to_px((tick, y_lo))
        canvas.rect(px, top, px, bottom, _GRID)
        canvas.rect(px, bottom, px, bottom + 4, _AXIS)
        label = tick_label(tick, x_step)
        canvas.text(px - text_width(label) // 2, bottom + 8, label, _TEXT)
    canvas.rect(left, top, left, bottom, _AXIS)
    canvas.rect(left, bottom, right, bottom, _AXIS)
    canvas.text(8, bottom + 8, "step", _TEXT)  # the x axis's name, left of its labels

    for points, color, markers in ((train_pts, TRAIN_COLOR, False), (eval_pts, EVAL_COLOR, True)):
        pixels = _thin([to_px(p) for p in points])
        for a, b in zip(pixels, pixels[1:], strict=False):
            canvas.line(a, b, color)
        if markers or len(pixels) == 1:
            for px, py in pixels:
                canvas.rect(px - 2, py - 2, px + 3, py + 3, color)

    legend_x = left
    for name, color, points in (
        ("train loss", TRAIN_COLOR, train_pts),
        ("eval loss", EVAL_COLOR, eval_pts),
    ):
        if not points:
            continue
        canvas.rect(legend_x, 10, legend_x + 13, 13, color)
        canvas.text(legend_x + 20, 7, name, _TEXT)
        legend_x += 20 + text_width(name) + 24
    return encode_png(width, height, bytes(canvas.pixels))


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """A truecolor 8-bit PNG of `rgb` (rows of width*3 bytes, top first)."""
    stride = width * 3
    if len(rgb) != stride * height:
        raise ValueError(f"{len(rgb)} bytes is not a {width}x{height} RGB image")
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
