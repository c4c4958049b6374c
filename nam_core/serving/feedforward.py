"""``FeedForwardTranslator``: the adversarial baselines (DistanceGAN, DTN, CycleGAN) behind the
:class:`~nam_core.serving.interface.MappingTranslator` interface (``load_translator`` picks it for them).

A baseline is one deterministic network A → B, so it has exactly one solution per input: ``translate`` returns K
identical copies, there are no latent directions, and explore/strip return that single output repeated.
``translate_full``'s reconstructions are the cycle reconstruction F(G(x)) when the checkpoint has F (CycleGAN,
two-sided DistanceGAN) and zeros otherwise; its losses are NaN (nothing is optimised per input).

    tr = FeedForwardTranslator.from_checkpoint("runs/mnist2street_cyclegan/final")
    out = tr.translate(images, num_solutions=1)                  # uint8 (N, 1, H', W', C')
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints import CheckpointError, load_checkpoint, resolve_checkpoint
from ..methods.directions import Directions
from ..methods.gan_base import reconstruct_tensor, translate_tensor
from ..methods.mappings import get_task
from ..methods.registry import Method, find_method, get_method, method_names
from ..utils import get_device, to_tensor, to_uint8
from .interface import Translation, prepare_inputs


class FeedForwardTranslator:
    """A baseline mapping checkpoint, ready to translate images of the task's input domain (deterministic)."""

    deterministic = True

    def __init__(self, mapping: Any, device: torch.device) -> None:
        self.ckpt, self.device = mapping, device
        cfg = mapping.config
        self.config: dict[str, Any] = cfg
        self.method: str = cfg["method"]
        self.spec: Method = get_method(self.method)
        self.task = get_task(cfg["task"])
        self.source, self.target = self.task.source, self.task.target
        self.networks = mapping.networks
        self.G = None  # no latent generator: the app's generator views skip baselines
        self.gen_config: dict[str, Any] = {}
        self.global_dirs = None
        self.style_dirs = None
        self.latent_dim = 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> FeedForwardTranslator:
        """Load a baseline mapping checkpoint folder (``method`` in distancegan, dtn, cyclegan)."""
        dev = get_device(device)
        return cls.from_loaded(load_checkpoint(path, device=dev), dev)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, revision: str | None = None,
                        device: str | torch.device | None = None) -> FeedForwardTranslator:
        """A baseline by folder, shipped name or Hub name (at ``revision``)."""
        return cls.from_checkpoint(resolve_checkpoint(name_or_path, revision=revision), device)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the baseline's networks, config and training info to the folder ``path``."""
        return self.ckpt.save_pretrained(path)

    @property
    def info(self) -> dict[str, Any]:
        """The baseline's training info (history, hparams, recipe, provenance; ``training_info.json``)."""
        return getattr(self.ckpt, "info", {})

    @classmethod
    def from_loaded(cls, mapping: Any, device: torch.device) -> FeedForwardTranslator:
        """A FeedForwardTranslator for an already loaded baseline checkpoint (``load_checkpoint``)."""
        cfg = mapping.config
        path = getattr(mapping, "path", None)
        if cfg.get("kind") != "mapping":
            raise CheckpointError(f"{path} is not a mapping checkpoint (kind={cfg.get('kind')!r})")
        spec = find_method(cfg.get("method"))
        if spec is None or not spec.feed_forward:
            names = ", ".join(method_names(feed_forward=True))
            raise CheckpointError(f"{path} is a {cfg.get('method')!r} mapping, not a baseline ({names})")
        return cls(mapping, device)

    # ------------------------------------------------------------------ core
    def _inputs(self, images: np.ndarray) -> torch.Tensor:
        return to_tensor(prepare_inputs(images, self.source), self.device)

    @torch.no_grad()
    def _forward(self, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor | None]:
        outs = torch.cat([translate_tensor(self.networks, x[i : i + batch]) for i in range(0, len(x), batch)])
        recs = [reconstruct_tensor(self.networks, outs[i : i + batch]) for i in range(0, len(outs), batch)]
        return outs, (None if recs[0] is None else torch.cat(recs))  # type: ignore[arg-type]

    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                       callback: Callable[[int, int], None] | None = None) -> Translation:
        """Outputs (N, K, H', W', C') — K identical copies —, reconstructions F(G(x)) (zeros without F) in the input
        domain, NaN losses (N, K) and empty codes z (N, K, 0). ``seed`` is unused (deterministic)."""
        if num_solutions < 1:
            raise ValueError("num_solutions must be ≥ 1")
        x = self._inputs(images)
        outs, recs = self._forward(x)
        if callback is not None:
            callback(1, 1)
        n, k = len(x), num_solutions
        o = to_uint8(outs)
        r = to_uint8(recs) if recs is not None else np.zeros((n, *x.shape[2:], x.shape[1]), np.uint8)
        rep = lambda a: np.ascontiguousarray(np.repeat(a[:, None], k, axis=1))  # noqa: E731
        return Translation(rep(o), rep(r), np.full((n, k), np.nan, np.float32), torch.zeros(n, k, 0))

    def translate(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                  callback: Callable[[int, int], None] | None = None) -> np.ndarray:
        """uint8 images (N, H, W, C) of the input domain → uint8 analogies (N, K, H', W', C'), K identical copies."""
        return self.translate_full(images, num_solutions, seed, callback).outputs

    # ------------------------------------------------------------ directions
    def directions(self, image: np.ndarray, k: int = 4, kind: str = "input", num_solutions: int = 8,
                   seed: int = 0) -> Directions:
        """No latent space: always an empty set of directions."""
        if kind not in ("input", "global", "style"):
            raise ValueError("kind must be 'input', 'global' or 'style'")
        return Directions(torch.zeros(0, 0), torch.zeros(0), kind)

    def _single(self, image: np.ndarray) -> np.ndarray:
        return self.translate(np.asarray(image), 1)[0, 0]

    def explore(self, image: np.ndarray, coefficients: list[float], seed: int = 0, num_solutions: int = 8,
                kind: str = "input", anchor: int | None = None,
                callback: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The single output repeated K times: uint8 (K, H, W, C) (there is nothing to move along)."""
        out = self._single(image)
        if callback is not None:
            callback(1, 1)
        return np.ascontiguousarray(np.repeat(out[None], max(1, num_solutions), axis=0))

    def strip(self, image: np.ndarray, direction: int, steps: int = 7, span: float = 3.0, seed: int = 0,
              kind: str = "input", anchor: int = 0, num_solutions: int = 8) -> np.ndarray:
        """The single output repeated ``steps`` times: uint8 (steps, H, W, C)."""
        return np.ascontiguousarray(np.repeat(self._single(image)[None], max(1, steps), axis=0))
