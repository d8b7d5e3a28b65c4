"""Pins the Qt binding for qasync and pyqtgraph; import this before either
(docs/architecture.md#library-facts).

Both libraries pick a binding on import (QT_API, PYQTGRAPH_QT_LIB) and could otherwise load
PyQt5/PyQt6 if installed beside PySide6. The app ships PySide6 only.
"""

from __future__ import annotations

import os

os.environ["QT_API"] = "pyside6"
os.environ["PYQTGRAPH_QT_LIB"] = "PySide6"
