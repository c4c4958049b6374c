"""DistanceGAN (Benaim & Wolf 2017, "One-Sided Unsupervised Domain Mapping").

G: A → B is trained with a GAN loss plus a distance-preservation loss: for pairs of A images, the L1 distance
between them (mean absolute pixel difference) should equal the distance between their mappings, each
standardised by its domain's mean and standard deviation of pairwise distances (pre-computed over random pairs of
each domain's images):

    L_dist = mean over pairs i<j of | (d(x_i, x_j) − μ_A)/σ_A − (d(G(x_i), G(x_j)) − μ_B)/σ_B |

The *self-distance* variant compares the two halves of each image instead of pairs of images (``mode`` =
``"top_bottom"`` or ``"left_right"``), with statistics of half-to-half distances. One-sided by default; with
``lambda_cyc > 0`` a reverse generator F: B → A (its own GAN and distance losses) and the cycle term of CycleGAN are
added (the paper's two-sided variant with cycle consistency).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..utils import to_tensor
from .cyclegan import cycle_loss
from .gan_base import UnpairedGAN, gan_method
from .registry import GPU_NOTE, Preset, register, register_presets

MODES = ("pairs", "top_bottom", "left_right")


@dataclass(frozen=True)
class DistanceStats:
    """Mean and standard deviation of distances in A and in B, and which distances (see :data:`MODES`)."""

    mu_a: float
    std_a: float
    mu_b: float
    std_b: float
    mode: str = "pairs"

    def swapped(self) -> DistanceStats:
        """The statistics for the B → A direction."""
        return DistanceStats(self.mu_b, self.std_b, self.mu_a, self.std_a, self.mode)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _halves(x: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    if mode == "top_bottom":
        h = x.shape[2] // 2
        return x[:, :, :h], x[:, :, h : 2 * h]
    if mode == "left_right":
        w = x.shape[3] // 2
        return x[:, :, :, :w], x[:, :, :, w : 2 * w]
    raise ValueError(f"self-distance mode must be 'top_bottom' or 'left_right', got {mode!r}")


def distances(x: torch.Tensor, mode: str = "pairs") -> torch.Tensor:
    """The distances DistanceGAN preserves, for N×C×H×W images: ``"pairs"`` → the N(N−1)/2 mean absolute
    differences between images i<j; a self-distance mode → the N mean absolute differences between halves."""
    if mode == "pairs":
        flat = x.float().flatten(1)
        d = torch.cdist(flat, flat, p=1) / flat.shape[1]
        i, j = torch.triu_indices(len(x), len(x), offset=1, device=x.device)
        return d[i, j]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    u, v = _halves(x.float(), mode)
    return (u - v).abs().flatten(1).mean(1)


def distance_loss(xa: torch.Tensor, ga: torch.Tensor, stats: DistanceStats) -> torch.Tensor:
    """DistanceGAN's loss between inputs ``xa`` (domain A) and their mappings ``ga`` = G(xa) (domain B): the mean
    absolute difference of standardised distances (``stats.mode`` chooses pairs or self-distances). Zero when G
    preserves every distance up to the domains' affine normalisation."""
    if stats.mode == "pairs" and len(xa) < 2:
        return ga.new_zeros(())
    da = (distances(xa, stats.mode) - stats.mu_a) / stats.std_a
    db = (distances(ga, stats.mode) - stats.mu_b) / stats.std_b
    return (da - db).abs().mean()


@torch.no_grad()
def _domain_stats(images: np.ndarray | torch.Tensor, mode: str, n: int, rng: np.random.Generator) -> tuple[float,
                                                                                                          float]:
    m = min(n, len(images))
    idx = np.sort(rng.choice(len(images), m, replace=False))
    if isinstance(images, torch.Tensor):
        x = images[torch.from_numpy(idx)].float()
    else:
        x = to_tensor(np.asarray(images)[idx])
    d = torch.cat([distances(x[i : i + 256], mode) for i in range(0, len(x), 256)]) if mode != "pairs" \
        else distances(x, mode)
    return float(d.mean()), max(float(d.std()), 1e-6)


def distance_stats(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, mode: str = "pairs",
                   n: int = 500, seed: int = 0) -> DistanceStats:
    """μ and σ of the distances within each domain (uint8 N×H×W×C arrays or [-1, 1] N×C×H×W tensors), from all
    pairs among ``n`` random images (``"pairs"``) or from the halves of ``n`` random images (self-distance)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    rng = np.random.default_rng([seed, 4242])
    mu_a, std_a = _domain_stats(a, mode, n, rng)
    mu_b, std_b = _domain_stats(b, mode, n, rng)
    return DistanceStats(mu_a, std_a, mu_b, std_b, mode)


class DistanceGAN(UnpairedGAN):
    """Trainer-protocol method: LSGAN (default) + ``lambda_dist``·L_dist; optional two-sided cycle variant."""

    name = "distancegan"

    def __init__(self, a_images: np.ndarray, b_images: np.ndarray, mode: str = "pairs", lambda_dist: float = 1.0,
                 lambda_cyc: float = 0.0, stats_images: int = 500, **kwargs: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        super().__init__(a_images, b_images, two_sided=lambda_cyc > 0, **kwargs)
        self.stats = distance_stats(a_images, b_images, mode, n=stats_images, seed=int(self.hparams["seed"]))
        self.lambda_dist, self.lambda_cyc = lambda_dist, lambda_cyc
        self.hparams.update({"mode": mode, "lambda_dist": lambda_dist, "lambda_cyc": lambda_cyc,
                             "stats_images": stats_images, "distance_stats": self.stats.to_dict()})

    def extra_generator_losses(self, a: torch.Tensor, b: torch.Tensor, fake_b: torch.Tensor,
                               fake_a: torch.Tensor | None) -> dict[str, torch.Tensor]:
        terms = {"dist_ab": self.lambda_dist * distance_loss(a, fake_b, self.stats)}
        if fake_a is not None:
            terms["dist_ba"] = self.lambda_dist * distance_loss(b, fake_a, self.stats.swapped())
            terms["cycle"] = self.lambda_cyc * (cycle_loss(a, self.fwd["G"], self.fwd["F"], fake_b)
                                                + cycle_loss(b, self.fwd["F"], self.fwd["G"], fake_a))
        return terms


register(gan_method("distancegan", "DistanceGAN", "nam_core/methods/distancegan.py", DistanceGAN, order=4,
                    loss_keys=("loss_g", "dist_ab"), published={"mnist2svhn": 26.8, "svhn2mnist": 26.8}))
register_presets(*(
    Preset(f"{task}_distancegan", "distancegan", "train_baseline",
           {"task": task, "method": "distancegan", "epochs": 20, "limit": 5000},
           note=GPU_NOTE)
    for task in ("street2mnist", "mnist2street")))
