"""Serving: one interface shared by the app, the evaluation and outside users."""

from .feedforward import FeedForwardTranslator
from .interface import MappingTranslator, Translation, prepare_inputs
from .translator import Translator, available_models, load_translator

__all__ = ["FeedForwardTranslator", "MappingTranslator", "Translation", "Translator", "available_models",
           "load_translator", "prepare_inputs"]
