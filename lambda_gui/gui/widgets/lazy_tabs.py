"""Tabs whose pages are built on first show or first use (bench/bench_startup.py).

A page stands in as a LazyWidget until then; currentWidget, setCurrentWidget and indexOf speak
of the real pages, so callers never see the stand-in.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QTabWidget, QWidget

from lambda_gui.gui.widgets.lazy_widget import LazyWidget


class LazyTabs(QTabWidget):
    """A QTabWidget that can hold LazyWidget pages."""

    def add_lazy(self, build: Callable[[QWidget], QWidget], name: str) -> LazyWidget:
        """A tab whose page `build(parent)` makes when it is first shown or asked for."""
        slot = LazyWidget(build, self)
        self.addTab(slot, name)
        return slot

    def _slot_index(self, widget: QWidget) -> int:
        for index in range(self.count()):
            page = super().widget(index)
            if page is widget or (
                isinstance(page, LazyWidget) and page.built and page.widget is widget
            ):
                return index
        return -1

    def indexOf(self, widget: QWidget) -> int:  # noqa: N802 (Qt's name)
        return self._slot_index(widget)

    def setCurrentWidget(self, widget: QWidget) -> None:  # noqa: N802 (Qt's name)
        index = self._slot_index(widget)
        if index >= 0:
            self.setCurrentIndex(index)

    def currentWidget(self) -> QWidget:  # noqa: N802 (Qt's name)
        page = super().currentWidget()
        return page.widget if isinstance(page, LazyWidget) else page
