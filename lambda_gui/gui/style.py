"""Colours and style sheets shared by the windows, and the contrast rule they keep.

Every text colour here is paired with the background it is drawn on in TEXT_PAIRS, and
tests/gui/test_contrast.py checks each pair (and the palette roles the app uses) against the
WCAG 2 minimum for normal text, 4.5:1. `apply_accessible_palette` lifts the few palette roles
whose platform defaults fall short (placeholder and disabled text, the selection).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

MIN_CONTRAST = 4.5

# The light window background (Fusion's Window and Button) and the table backgrounds.
WINDOW_BACKGROUND = "#efefef"
BASE_BACKGROUND = "#ffffff"
ALTERNATE_BACKGROUND = "#f7f7f7"

ERROR_COLOUR = "#cf222e"
# GitHub's attention colour #9a6700 reaches only 4.2:1 on the dialog background; this darker
# amber keeps the hue at 6.2:1.
WARNING_COLOUR = "#7d4e00"
# Lambda cheaper / dearer in the pricing table (always with words: "cheaper", "the price").
CHEAPER_COLOUR = "#1a7f37"
DEARER_COLOUR = "#cf222e"
# A catalog row whose type has capacity now: a light green behind the default text.
AVAILABLE_BACKGROUND = "#d3ecd8"

ERROR_STYLE = f"color: {ERROR_COLOUR};"
WARNING_STYLE = f"color: {WARNING_COLOUR};"
DEMO_BANNER_TEXT = "#4d2d00"
DEMO_BANNER_BACKGROUND = "#fff8c5"
DEMO_BANNER_STYLE = (
    f"QLabel {{ background: {DEMO_BANNER_BACKGROUND}; color: {DEMO_BANNER_TEXT}; "
    "border: 1px solid #d4a72c; border-radius: 4px; padding: 6px 10px; }"
)
BANNER_TEXT = "#82071e"
BANNER_BACKGROUND = "#ffebe9"
# A red banner holding labels and buttons: "#banner" is replaced by the frame's object name.
BANNER_FRAME_STYLE = (
    f"QFrame#banner {{ background: {BANNER_BACKGROUND}; border: 1px solid #ff8182; "
    f"border-radius: 4px; }} QFrame#banner QLabel {{ color: {BANNER_TEXT}; font-weight: 600; "
    "background: transparent; border: none; }"
)

# (what it is, text colour, the background it is drawn on): every text colour defined here.
TEXT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("error text on a dialog", ERROR_COLOUR, WINDOW_BACKGROUND),
    ("error text in a form", ERROR_COLOUR, BASE_BACKGROUND),
    ("warning text on a dialog", WARNING_COLOUR, WINDOW_BACKGROUND),
    ("warning text in a form", WARNING_COLOUR, BASE_BACKGROUND),
    ("Lambda cheaper", CHEAPER_COLOUR, BASE_BACKGROUND),
    ("Lambda cheaper, alternate row", CHEAPER_COLOUR, ALTERNATE_BACKGROUND),
    ("Lambda dearer", DEARER_COLOUR, BASE_BACKGROUND),
    ("Lambda dearer, alternate row", DEARER_COLOUR, ALTERNATE_BACKGROUND),
    ("catalog text on capacity green", "#000000", AVAILABLE_BACKGROUND),
    ("demo banner", DEMO_BANNER_TEXT, DEMO_BANNER_BACKGROUND),
    ("red banner", BANNER_TEXT, BANNER_BACKGROUND),
)


def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance of an opaque colour (0 black .. 1 white)."""
    r, g, b = colour.redF(), colour.greenF(), colour.blueF()
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def over(colour: QColor, background: QColor) -> QColor:
    """A colour with alpha as it shows over an opaque background."""
    a = colour.alphaF()
    return QColor.fromRgbF(
        colour.redF() * a + background.redF() * (1 - a),
        colour.greenF() * a + background.greenF() * (1 - a),
        colour.blueF() * a + background.blueF() * (1 - a),
    )


def contrast_ratio(text: QColor | str, background: QColor | str) -> float:
    """WCAG 2 contrast ratio (1..21) of text over a background (text alpha blended in)."""
    bg = QColor(background)
    bg.setAlpha(255)
    fg = over(QColor(text), bg)
    light, dark = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """t=0 gives a, t=1 gives b."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def readable(text: QColor, backgrounds: list[QColor], toward: QColor) -> QColor:
    """`text` (alpha blended over the first background) if it reads at 4.5:1 on every one of
    `backgrounds`, else the least change of it toward `toward` that does."""
    start = over(text, backgrounds[0])

    def ok(colour: QColor) -> bool:
        return all(contrast_ratio(colour, bg) >= MIN_CONTRAST for bg in backgrounds)

    if ok(start):
        return start
    for step in range(1, 21):
        candidate = _mix(start, toward, step / 20)
        if ok(candidate):
            return candidate
    return QColor(toward)


def muted_text(palette: QPalette) -> QColor:
    """A secondary text colour for table cells: halfway to the base, but at least 4.5:1 on
    the rows' both backgrounds."""
    text = palette.color(QPalette.ColorRole.Text)
    base = palette.color(QPalette.ColorRole.Base)
    alternate = palette.color(QPalette.ColorRole.AlternateBase)
    return readable(_mix(text, base, 0.5), [base, alternate], text)


def accessible_palette(palette: QPalette) -> QPalette:
    """`palette` with placeholder text, disabled text and the selection raised to 4.5:1."""
    fixed = QPalette(palette)
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for g in (group.Active, group.Inactive, group.Disabled):
        base = palette.color(g, role.Base)
        text = palette.color(group.Active, role.Text)
        fixed.setColor(
            g, role.PlaceholderText, readable(palette.color(g, role.PlaceholderText), [base], text)
        )
    disabled_pairs = (
        (role.WindowText, role.Window, role.WindowText),
        (role.Text, role.Base, role.Text),
        (role.ButtonText, role.Button, role.ButtonText),
    )
    for fg, bg, active in disabled_pairs:
        background = palette.color(group.Disabled, bg)
        fixed.setColor(
            group.Disabled,
            fg,
            readable(
                palette.color(group.Disabled, fg),
                [background],
                palette.color(group.Active, active),
            ),
        )
    for g in (group.Active, group.Inactive):
        highlighted = palette.color(g, role.HighlightedText)
        highlight = palette.color(g, role.Highlight)
        # The selection's background moves away from its text until the text reads.
        away = QColor("#000000") if relative_luminance(highlighted) > 0.5 else QColor("#ffffff")
        fixed.setColor(g, role.Highlight, readable(highlight, [highlighted], away))
    return fixed


def apply_accessible_palette(app: QGuiApplication | None = None) -> None:
    """Give the application the accessible palette (idempotent)."""
    app = app or QGuiApplication.instance()  # type: ignore[assignment]
    if not isinstance(app, QGuiApplication):
        return
    palette = accessible_palette(app.palette())
    if palette != app.palette():
        app.setPalette(palette)
