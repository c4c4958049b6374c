"""Kept for scripts written against it: the shared CLI set-up now lives in :mod:`nam_core.training_cli`."""

from nam_core.training_cli import setup_run

__all__ = ["setup_run"]
