"""Every text colour the app defines, and the palette roles it draws text with, read at 4.5:1
(WCAG 2, normal text) or better."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtGui import QColor, QGuiApplication, QPalette

from lambda_gui.gui import style
from lambda_gui.gui.style import (
    MIN_CONTRAST,
    TEXT_PAIRS,
    accessible_palette,
    apply_accessible_palette,
    contrast_ratio,
)

ROLE = QPalette.ColorRole
GROUP = QPalette.ColorGroup
# (text role, background role) pairs the app's widgets draw with.
PALETTE_PAIRS = (
    (ROLE.WindowText, ROLE.Window),
    (ROLE.Text, ROLE.Base),
    (ROLE.Text, ROLE.AlternateBase),
    (ROLE.ButtonText, ROLE.Button),
    (ROLE.PlaceholderText, ROLE.Base),
    (ROLE.HighlightedText, ROLE.Highlight),
    (ROLE.ToolTipText, ROLE.ToolTipBase),
    (ROLE.Link, ROLE.Base),
    (ROLE.Link, ROLE.Window),
)
DISABLED_PAIRS = (
    (ROLE.WindowText, ROLE.Window),
    (ROLE.Text, ROLE.Base),
    (ROLE.ButtonText, ROLE.Button),
)


def dark_palette() -> QPalette:
    """A typical dark desktop theme, with its placeholder and disabled text too faint."""
    p = QPalette()
    colours = {
        ROLE.Window: "#2b2b2b",
        ROLE.WindowText: "#f0f0f0",
        ROLE.Base: "#1e1e1e",
        ROLE.AlternateBase: "#262626",
        ROLE.Text: "#f0f0f0",
        ROLE.Button: "#353535",
        ROLE.ButtonText: "#f0f0f0",
        ROLE.Highlight: "#3daee9",
        ROLE.HighlightedText: "#ffffff",
        ROLE.ToolTipBase: "#31363b",
        ROLE.ToolTipText: "#eff0f1",
        ROLE.Link: "#6cb4ff",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    p.setColor(ROLE.PlaceholderText, QColor(240, 240, 240, 90))
    for role in (ROLE.WindowText, ROLE.Text, ROLE.ButtonText):
        p.setColor(GROUP.Disabled, role, QColor("#5a5a5a"))
    return p


def failures(palette: QPalette) -> list[str]:
    bad = []
    for group in (GROUP.Active, GROUP.Inactive):
        for fg, bg in PALETTE_PAIRS:
            ratio = contrast_ratio(palette.color(group, fg), palette.color(group, bg))
            if ratio < MIN_CONTRAST:
                bad.append(f"{group.name} {fg.name}/{bg.name}: {ratio:.2f}")
    for fg, bg in DISABLED_PAIRS:
        ratio = contrast_ratio(palette.color(GROUP.Disabled, fg), palette.color(GROUP.Disabled, bg))
        if ratio < MIN_CONTRAST:
            bad.append(f"Disabled {fg.name}/{bg.name}: {ratio:.2f}")
    return bad


def test_the_ratio_is_wcags() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # Known values: grey #808080 on white, and the old amber on the dialog background.
    assert contrast_ratio("#808080", "#ffffff") == pytest.approx(3.95, abs=0.01)
    assert contrast_ratio("#9a6700", "#efefef") == pytest.approx(4.23, abs=0.01)
    # Alpha blends over the background first: half-black on white is mid grey.
    assert contrast_ratio(QColor(0, 0, 0, 128), "#ffffff") == pytest.approx(4.0, abs=0.06)


@pytest.mark.parametrize(("what", "text", "background"), TEXT_PAIRS)
def test_every_style_colour_reads(what: str, text: str, background: str) -> None:
    ratio = contrast_ratio(text, background)
    assert ratio >= MIN_CONTRAST, f"{what}: {text} on {background} is {ratio:.2f}:1"


def test_every_text_colour_in_the_style_module_is_checked() -> None:
    """A colour added to style.py without its pair in TEXT_PAIRS fails here."""
    source = open(style.__file__, encoding="utf-8").read()
    texts = set(re.findall(r"color:\s*(#[0-9a-fA-F]{6})", source))
    names = {
        value
        for name, value in vars(style).items()
        if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value)
        if name.endswith(("_COLOUR", "_TEXT"))
    }
    paired = {text for _what, text, _bg in TEXT_PAIRS}
    # Style sheets name their colours through the constants, so every literal is one of them.
    assert texts <= names | paired
    assert names <= paired, names - paired


def test_the_apps_palette_reads(qapp: Any) -> None:
    apply_accessible_palette()
    assert failures(QGuiApplication.palette()) == []


def test_the_platforms_light_palette_needed_the_fix(qapp: Any) -> None:
    """Fusion's own placeholder (3.9:1), disabled text (1.6:1) and selection (3.7:1) fall
    short; the accessible palette lifts them and leaves the rest as they were."""
    light = QPalette(QColor("#efefef"))
    light.setColor(ROLE.PlaceholderText, QColor(0, 0, 0, 128))
    light.setColor(ROLE.Highlight, QColor("#308cc6"))
    for role in (ROLE.WindowText, ROLE.Text, ROLE.ButtonText):
        light.setColor(GROUP.Disabled, role, QColor("#bebebe"))
    assert failures(light)
    fixed = accessible_palette(light)
    assert failures(fixed) == []
    assert fixed.color(ROLE.Text) == light.color(ROLE.Text)
    assert fixed.color(ROLE.Base) == light.color(ROLE.Base)
    # Still told apart: disabled text stays lighter than enabled text.
    assert contrast_ratio(fixed.color(GROUP.Disabled, ROLE.Text), "#ffffff") < contrast_ratio(
        fixed.color(ROLE.Text), "#ffffff"
    )


def test_a_dark_palette_reads_too(qapp: Any) -> None:
    dark = dark_palette()
    assert failures(dark)
    assert failures(accessible_palette(dark)) == []
    muted = style.muted_text(accessible_palette(dark))
    assert contrast_ratio(muted, "#1e1e1e") >= MIN_CONTRAST
    assert contrast_ratio(muted, "#262626") >= MIN_CONTRAST


def test_applying_twice_changes_nothing(qapp: Any) -> None:
    apply_accessible_palette()
    before = QPalette(QGuiApplication.palette())
    apply_accessible_palette()
    assert QGuiApplication.palette() == before
