"""Item-data roles shared by the table models."""

from __future__ import annotations

from PySide6.QtCore import Qt

SORT_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # a number (or lower-cased text) to sort by
VALUE_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the whole row object (Resource, PriceRow, ...)
AVAILABLE_ROLE = int(Qt.ItemDataRole.UserRole) + 3  # bool: has capacity now
FILTER_ROLE = int(Qt.ItemDataRole.UserRole) + 4  # text the filter box matches against
