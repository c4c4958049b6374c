"""Latent directions to explore the space of solutions.

* per-input, VAE-NAM/AE-NAM: posterior axes e_j ranked by σ_j · ‖∂G/∂z_j‖ (dead axes dropped);
* per-input, NAM: principal components of the K restart solutions;
* global: principal components of the codes of the whole training set (stored with the checkpoint).

Every direction is a unit vector with a scale (its standard deviation); slider coefficients are in those units.
Signs are fixed deterministically (aligned with the global directions when given, else the largest-magnitude
coordinate is made positive), so a slider keeps its meaning from one input to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Directions:
    vectors: torch.Tensor  # (k, d), orthonormal rows
    scales: torch.Tensor  # (k,), standard deviation along each
    kind: str  # "posterior" | "restarts" | "global"


def fix_signs(vectors: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Flip rows so that they align with the best-matching ``reference`` row (or have a positive largest entry)."""
    out = vectors.clone()
    for i, v in enumerate(out):
        if reference is not None and len(reference):
            dots = reference @ v
            j = int(dots.abs().argmax())
            if dots[j].abs() > 0.2:
                if dots[j] < 0:
                    out[i] = -v
                continue
        if v[v.abs().argmax()] < 0:
            out[i] = -v
    return out


def pca(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` principal axes of the rows of ``codes``: (mean (d,), vectors (k, d), std (k,))."""
    codes = codes.double()
    mean = codes.mean(0)
    centred = codes - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, vh.shape[0])
    std = s[:k] / max(1, len(codes) - 1) ** 0.5
    vecs = fix_signs(vh[:k])
    return mean.float(), vecs.float(), std.float()


def restart_directions(z: torch.Tensor, k: int, reference: torch.Tensor | None = None,
                       min_std: float = 1e-4) -> Directions:
    """NAM: principal components of the K solutions z (K, d) of one input."""
    if len(z) < 2:
        return Directions(torch.zeros(0, z.shape[1]), torch.zeros(0), "restarts")
    _, vecs, std = pca(z, k)
    keep = std > min_std
    vecs = fix_signs(vecs[keep], reference)
    return Directions(vecs, std[keep], "restarts")


@torch.no_grad()
def posterior_directions(G: nn.Module, mu: torch.Tensor, sigma: torch.Tensor, k: int,
                         reference: torch.Tensor | None = None, dead_ratio: float = 0.02) -> Directions:
    """VAE-NAM: axes e_j of the posterior at μ (d,) ranked by σ_j · ‖∂G/∂z_j‖, measured as the finite difference
    ‖G(μ + σ_j e_j) − G(μ)‖ (one batch of d + 1 images); axes that barely move the output are dropped."""
    d = mu.shape[0]
    base = mu.unsqueeze(0)
    probe = base + torch.diag(sigma.clamp_min(1e-6))
    outs = G(torch.cat([base, probe]))
    score = (outs[1:] - outs[:1]).flatten(1).norm(dim=1)
    order = torch.argsort(score, descending=True)
    keep = order[score[order] > dead_ratio * score.max().clamp_min(1e-12)][:k]
    vecs = torch.eye(d, device=mu.device)[keep]
    return Directions(fix_signs(vecs, reference), sigma[keep], "posterior")


def move(z: torch.Tensor, directions: Directions, coefficients: list[float] | torch.Tensor) -> torch.Tensor:
    """z (..., d) + Σ_i c_i · scale_i · v_i (coefficients beyond the available directions are ignored)."""
    c = torch.as_tensor(coefficients, dtype=z.dtype, device=z.device).flatten()
    k = min(len(c), len(directions.vectors))
    if k == 0:
        return z
    delta = (c[:k] * directions.scales[:k].to(z)) @ directions.vectors[:k].to(z)
    return z + delta
