"""Colours and style sheets shared by the windows."""

from __future__ import annotations

ERROR_STYLE = "color: #cf222e;"
WARNING_STYLE = "color: #9a6700;"
DEMO_BANNER_STYLE = (
    "QLabel { background: #fff8c5; color: #4d2d00; border: 1px solid #d4a72c; "
    "border-radius: 4px; padding: 6px 10px; }"
)
# A red banner holding labels and buttons: "#banner" is replaced by the frame's object name.
BANNER_FRAME_STYLE = (
    "QFrame#banner { background: #ffebe9; border: 1px solid #ff8182; border-radius: 4px; } "
    "QFrame#banner QLabel { color: #82071e; font-weight: 600; background: transparent; "
    "border: none; }"
)
