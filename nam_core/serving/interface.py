"""What every translator offers, whatever its method: :class:`MappingTranslator` (the Protocol that
:class:`~nam_core.serving.translator.Translator` and
:class:`~nam_core.serving.feedforward.FeedForwardTranslator` implement), :class:`Translation` (what a translation
returns) and :func:`prepare_inputs` (user images to a domain's channels and size)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..data import DOMAINS
from ..methods.directions import Directions


def prepare_inputs(images: np.ndarray, domain: str) -> np.ndarray:
    """Bring uint8 images to the domain's channels and size: N×H×W×C, H×W×C or H×W accepted; RGBA is composited
    on white; gray↔RGB converted; other sizes resized (bilinear)."""
    from PIL import Image

    spec = DOMAINS[domain]
    x = np.asarray(images)
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.floating) and x.size and x.min() >= 0 and x.max() <= 1:
            x = (x * 255).round()
        x = np.clip(x, 0, 255).astype(np.uint8)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None] if x.shape[-1] in (1, 3, 4) else x[..., None]  # one H×W×C image, or N×H×W grayscale
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images N×H×W×C (C = 1, 3 or 4), got shape {np.asarray(images).shape}")
    if x.shape[1] < 4 or x.shape[2] < 4:
        raise ValueError(f"image too small: {x.shape[1]}×{x.shape[2]}")
    if x.shape[-1] == 4:
        a = x[..., 3:4].astype(np.float32) / 255.0
        x = (x[..., :3] * a + 255 * (1 - a)).round().astype(np.uint8)
    if x.shape[-1] == 3 and spec.channels == 1:
        x = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)[..., None]
    elif x.shape[-1] == 1 and spec.channels == 3:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[1:3] != (spec.size, spec.size):
        mode = "L" if spec.channels == 1 else "RGB"
        x = np.stack([np.asarray(Image.fromarray(im[..., 0] if mode == "L" else im, mode)
                                 .resize((spec.size, spec.size), Image.BILINEAR)) for im in x])
        if x.ndim == 3:
            x = x[..., None]
    return np.ascontiguousarray(x)


@dataclass
class Translation:
    """Everything one translation produced (arrays are uint8 N×K×H×W×C; z is (N, K, d))."""

    outputs: np.ndarray
    reconstructions: np.ndarray  # T(G(z)): what was matched against the input
    losses: np.ndarray  # (N, K)
    z: torch.Tensor
    scores: np.ndarray | None = None  # (N, K) the ranking's score of each solution (lower first); None: unranked
    rank_by: str | None = None  # the ranking used ("loss", "roundtrip", "roundtrip+loss") or None


@runtime_checkable
class MappingTranslator(Protocol):
    """A loaded mapping model ready to translate images of its task's input domain (``load_translator`` returns
    one): a latent mapping with its generator (NAM, AE-NAM, VAE-NAM, NAM one-pass) or a GAN baseline."""

    method: str
    source: str
    target: str
    config: dict[str, Any]  # config.json: what rebuilds the model

    @property
    def info(self) -> dict[str, Any]:
        """training_info.json: history, hparams, recipe, provenance."""
        ...

    def save_pretrained(self, path: str | Path) -> Path: ...

    @property
    def deterministic(self) -> bool:
        """True when an input has one solution (K copies would be the same image)."""
        ...

    def translate(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                  callback: Callable[[int, int], None] | None = None) -> np.ndarray: ...

    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                       callback: Callable[[int, int], None] | None = None) -> Translation: ...

    def directions(self, image: np.ndarray, k: int = 4, kind: str = "input", num_solutions: int = 8,
                   seed: int = 0) -> Directions: ...

    def explore(self, image: np.ndarray, coefficients: list[float], seed: int = 0, num_solutions: int = 8,
                kind: str = "input", anchor: int | None = None,
                callback: Callable[[int, int], None] | None = None) -> np.ndarray: ...

    def strip(self, image: np.ndarray, direction: int, steps: int = 7, span: float = 3.0, seed: int = 0,
              kind: str = "input", anchor: int = 0, num_solutions: int = 8) -> np.ndarray: ...
