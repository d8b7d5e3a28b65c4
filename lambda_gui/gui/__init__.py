"""The PySide6 desktop app. Importing any part of it pins the Qt binding first (qt_env)."""

from lambda_gui.gui import qt_env  # noqa: F401
