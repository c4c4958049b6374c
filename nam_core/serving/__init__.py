"""Serving: one interface shared by the app, the evaluation and outside users."""

from .translator import Translation, Translator, available_models, prepare_inputs

__all__ = ["Translation", "Translator", "available_models", "prepare_inputs"]
