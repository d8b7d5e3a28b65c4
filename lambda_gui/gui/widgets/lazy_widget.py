"""A stand-in for a widget whose modules are slow to import (pyqtgraph and numpy: ~120 ms).

The window's first paint should pay only for Qt and our widgets (bench/bench_startup.py): a
plot on a tab nobody has opened yet is built when that tab is first shown, or when code first
asks for it, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyWidget(QWidget):
    """Builds `factory(self)` on first show or first `widget` access, and fills itself with it."""

    def __init__(
        self,
        factory: Callable[[QWidget], QWidget],
        parent: QWidget | None = None,
        *,
        on_built: Callable[[QWidget], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory = factory
        self._on_built = on_built
        self._widget: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        """Whether the real widget exists yet."""
        return self._widget is not None

    @property
    def widget(self) -> QWidget:
        """The real widget, built now if it was not yet."""
        if self._widget is None:
            self._widget = self._factory(self)
            self._layout.addWidget(self._widget)
            if self.isVisible():
                self._widget.show()  # now, not on the layout's queued show: this very paint
            if self._on_built is not None:
                self._on_built(self._widget)
        return self._widget

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        self.widget  # noqa: B018 (built on first show)
        super().showEvent(event)
