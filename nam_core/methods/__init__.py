"""The methods: each one lives in one module, which registers it (:mod:`~nam_core.methods.registry`).

Importing the package imports every method module, so :func:`~nam_core.methods.registry.get_method` sees them all.
"""

from . import cyclegan, dcgan, distancegan, dtn, glann, nam, refine, vae_nam  # noqa: F401 - they register themselves
from .registry import Method, Preset, get_method, get_preset, methods, presets

__all__ = ["Method", "Preset", "get_method", "get_preset", "methods", "presets"]
