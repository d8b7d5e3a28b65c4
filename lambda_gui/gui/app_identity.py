"""The app's desktop identity: its id, its name and its icon, given to Qt at start-up.

APP_ID names the .desktop file and the AppStream metainfo (resources/), so a shell can tie the
app's windows to its launcher: Qt passes the desktop file name to the window system as the
Wayland app_id and, on X11, as _GTK_APPLICATION_ID and _KDE_NET_WM_DESKTOP_FILE.
"""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPainter, QPixmap

APP_ID = "ai.lambdagui.LambdaGUI"
APP_NAME = "Lambda GUI"
ORGANIZATION_DOMAIN = "lambdagui.ai"

# Both made from resources/icons/lambda-gui.svg by scripts/render_icons.py.
ICON_SVG = "lambda-gui.svg"
ICON_PNG = "lambda-gui-256.png"
# The pixel sizes the SVG is drawn at; Qt picks the nearest and scales for the rest.
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _icon_bytes(name: str) -> bytes | None:
    """One bundled icon file's bytes (None when this build lacks it)."""
    try:
        return resources.files("lambda_gui.assets").joinpath("icons", name).read_bytes()
    except OSError:
        return None


def _svg_pixmaps(svg: bytes) -> list[QPixmap]:
    """The SVG drawn at each of ICON_SIZES (empty when Qt cannot read it)."""
    from PySide6.QtSvg import QSvgRenderer  # with the icon, not with the module

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        return []
    pixmaps = []
    for size in ICON_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        pixmaps.append(pixmap)
    return pixmaps


def app_icon() -> QIcon:
    """The app icon: the bundled SVG at every size, or the 256 px PNG if the SVG fails.

    Read through importlib.resources, so a wheel or a frozen bundle finds it too. Needs a
    QGuiApplication. An empty icon (isNull) only when neither file is bundled.
    """
    icon = QIcon()
    svg = _icon_bytes(ICON_SVG)
    pixmaps = _svg_pixmaps(svg) if svg is not None else []
    if not pixmaps:
        png = _icon_bytes(ICON_PNG)
        pixmap = QPixmap()
        if png is not None and pixmap.loadFromData(png, "PNG"):
            pixmaps.append(pixmap)
    for pixmap in pixmaps:
        icon.addPixmap(pixmap)
    return icon


def apply_identity(app: QGuiApplication) -> None:
    """Name the app and give it its icon; call once, right after the application is made.

    Sets no application display name on purpose: Qt would append it to every window title.
    """
    app.setApplicationName(APP_NAME)
    app.setOrganizationDomain(ORGANIZATION_DOMAIN)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
