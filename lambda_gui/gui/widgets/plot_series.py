"""The metric series a job's loss chart draws (a module of its own: no pyqtgraph to load)."""

from __future__ import annotations

SERIES = ("loss", "eval_loss", "learning_rate")
