"""Render the app icon (resources/icons/lambda-gui.svg) into every file that ships it.

    python scripts/render_icons.py          # (re)write the generated icons
    python scripts/render_icons.py --check  # exit 1 when any is missing or stale

Writes the freedesktop hicolor theme (PNGs at 48..512 plus the scalable SVG), a Windows
.ico (16..256), a macOS .icns, and the runtime window icon in lambda_gui/assets/icons/.

Staleness is judged by content, not by modification time: git does not keep mtimes, so in a
fresh clone the SVG may well be written after the files made from it. Every run records the
SVG's SHA-256 and each output's SHA-256 in resources/icons/render-stamp.json; --check fails
when an output is missing, when the SVG changed since the stamp, or when an output no longer
matches the stamp (edited or replaced by hand).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

# Qt picks its platform plugin when the application object is created: no display needed.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

APP_ID = "ai.lambdagui.LambdaGUI"
ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SOURCE_SVG = ICONS / "lambda-gui.svg"
STAMP = ICONS / "render-stamp.json"
HICOLOR = ICONS / "hicolor"
PNG_SIZES = (48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# The sizes Pillow's ICNS writer stores; each is rendered from the SVG rather than rescaled.
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
ICO = ICONS / "lambda-gui.ico"
ICNS = ICONS / "lambda-gui.icns"
RUNTIME_DIR = ROOT / "lambda_gui" / "assets" / "icons"
RUNTIME_SVG = RUNTIME_DIR / "lambda-gui.svg"
RUNTIME_PNG = RUNTIME_DIR / "lambda-gui-256.png"


def hicolor_png(size: int) -> Path:
    """Where the theme keeps the icon at one pixel size."""
    return HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


HICOLOR_SVG = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"


def outputs() -> list[Path]:
    """Every file this script writes, the stamp aside."""
    return [
        *(hicolor_png(size) for size in PNG_SIZES),
        HICOLOR_SVG,
        ICO,
        ICNS,
        RUNTIME_SVG,
        RUNTIME_PNG,
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def render_png_bytes(sizes: Sequence[int]) -> dict[int, bytes]:
    """The SVG rendered at each size, as PNG files in memory (transparent corners)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    # QSvgRenderer and QPainter need an application object; keep it until the renders are done.
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(SOURCE_SVG))
    if not renderer.isValid():
        raise SystemExit(f"{_rel(SOURCE_SVG)}: Qt cannot render this SVG")
    rendered: dict[int, bytes] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        # PySide6 wants a str here at run time, though its stubs say bytes.
        if not image.save(buffer, "PNG"):  # type: ignore[call-overload]
            raise SystemExit(f"could not encode the {size}px render as PNG")
        buffer.close()
        rendered[size] = bytes(data.data())
    return rendered


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def render() -> list[Path]:
    """Write every output and the stamp; the files written."""
    try:
        from PIL import Image
    except ImportError as exc:  # Pillow comes with the test extra (tensorboard needs it)
        raise SystemExit("Pillow is needed for the .ico and .icns: pip install pillow") from exc

    sizes = sorted({*PNG_SIZES, *ICO_SIZES, *ICNS_SIZES})
    pngs = render_png_bytes(sizes)
    for size in PNG_SIZES:
        _write(hicolor_png(size), pngs[size])
    _write(RUNTIME_PNG, pngs[256])
    for copy in (HICOLOR_SVG, RUNTIME_SVG):
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE_SVG, copy)

    images = {size: Image.open(io.BytesIO(pngs[size])).convert("RGBA") for size in sizes}
    largest_ico = max(ICO_SIZES)
    images[largest_ico].save(
        ICO,
        format="ICO",
        sizes=[(size, size) for size in ICO_SIZES],
        append_images=[images[size] for size in ICO_SIZES if size != largest_ico],
    )
    largest_icns = max(ICNS_SIZES)
    images[largest_icns].save(
        ICNS,
        format="ICNS",
        append_images=[images[size] for size in ICNS_SIZES if size != largest_icns],
    )

    stamp = {
        "source": _rel(SOURCE_SVG),
        "source_sha256": sha256(SOURCE_SVG),
        "outputs": {_rel(path): sha256(path) for path in outputs()},
    }
    STAMP.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [*outputs(), STAMP]


def problems() -> list[str]:
    """Why the generated files are not current with the SVG (empty: they are)."""
    found = [f"missing: {_rel(path)}" for path in [*outputs(), STAMP] if not path.is_file()]
    if found:
        return found
    try:
        stamp = json.loads(STAMP.read_text(encoding="utf-8"))
        source_hash = str(stamp["source_sha256"])
        recorded = {str(k): str(v) for k, v in dict(stamp["outputs"]).items()}
    except (ValueError, KeyError, TypeError) as exc:
        return [f"unreadable: {_rel(STAMP)} ({exc})"]
    if source_hash != sha256(SOURCE_SVG):
        found.append(f"stale: {_rel(SOURCE_SVG)} changed since the icons were rendered")
    for path in outputs():
        if recorded.get(_rel(path)) != sha256(path):
            found.append(f"stale: {_rel(path)} differs from what the last render wrote")
    for copy in (HICOLOR_SVG, RUNTIME_SVG):
        if copy.read_bytes() != SOURCE_SVG.read_bytes():
            found.append(f"stale: {_rel(copy)} is not a copy of {_rel(SOURCE_SVG)}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any generated icon is missing or stale",
    )
    args = parser.parse_args(argv)
    if not SOURCE_SVG.is_file():
        print(f"missing source: {_rel(SOURCE_SVG)}", file=sys.stderr)
        return 2
    if args.check:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("run: python scripts/render_icons.py", file=sys.stderr)
            return 1
        print(f"icons are current with {_rel(SOURCE_SVG)}")
        return 0
    for path in render():
        print(f"wrote {_rel(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
