"""Latent directions to explore the space of solutions.

* per-input, VAE-NAM/AE-NAM: posterior axes e_j ranked by σ_j · ‖∂G/∂z_j‖ (dead axes dropped);
* per-input, NAM: principal components of the K restart solutions;
* global: principal components of the codes of the whole training set (stored with the checkpoint);
* style: dataset-wide directions along which G's output changes most while T(G(z)) — what is matched against the
  input — changes least (:func:`style_directions`, stored with the checkpoint): moving along them changes the
  analogy's appearance but keeps it an analogy of the same input, so the K solutions of a one-to-many task can differ
  without changing the digit.

Every direction is a unit vector with a scale (its standard deviation); slider coefficients are in those units.
Signs are fixed deterministically (aligned with the global directions when given, else the largest-magnitude
coordinate is made positive), so a slider keeps its meaning from one input to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..utils import per_image_noise

STYLE_SEED_OFFSET = 7919  # style draws are independent of the posterior's ε under the same seed


@dataclass
class Directions:
    vectors: torch.Tensor  # (k, d), orthonormal rows
    scales: torch.Tensor  # (k,), standard deviation along each
    kind: str  # "posterior" | "restarts" | "global" | "style"


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


def style_spread(z: torch.Tensor, x: torch.Tensor, seed: int, style: Directions | None,
                 temperature: float) -> torch.Tensor:
    """z (N, K, d) moved along the ``style`` directions by ``temperature`` × N(0, std²) per direction (the first
    solution stays put; the draws depend on the seed and each image's own pixels, not on its batch)."""
    if style is None or len(style.vectors) == 0 or temperature == 0 or z.shape[1] < 2:
        return z
    v, s = style.vectors.to(z), style.scales.to(z)
    c = per_image_noise(x, z.shape[1], len(v), seed + STYLE_SEED_OFFSET).to(z)
    c[:, 0] = 0
    return z + temperature * (c * s) @ v


def global_spread(global_dirs: Directions | None, latent_dim: int) -> torch.Tensor:
    """The per-coordinate standard deviation (d,) implied by the global PCA (zeros without it)."""
    if global_dirs is None:
        return torch.zeros(latent_dim)
    v, s = global_dirs.vectors, global_dirs.scales
    return ((v * s[:, None]) ** 2).sum(0).sqrt()


@torch.no_grad()
def jacobian_grams(G: nn.Module, T: nn.Module, codes: torch.Tensor, probes: int = 128, h: float = 0.05,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean Gram matrices (d, d) of the Jacobians of G (output images) and of T∘G (their image in the input domain)
    over ``probes`` codes drawn from ``codes``, by central differences of step ``h`` (2d generator passes per
    probe), each divided by its number of output values."""
    d = codes.shape[1]
    g = torch.Generator().manual_seed(seed)
    pick = codes[torch.randperm(len(codes), generator=g)[: min(probes, len(codes))].to(codes.device)]
    eye = h * torch.eye(d, device=codes.device, dtype=codes.dtype)
    a = torch.zeros(d, d, dtype=torch.float64)
    b = torch.zeros(d, d, dtype=torch.float64)
    for z in pick:
        out = G(torch.cat([z + eye, z - eye]))
        back = T(out)
        jg = ((out[:d] - out[d:]) / (2 * h)).flatten(1).double().cpu()  # (d, P): rows are ∂G/∂z_j
        jt = ((back[:d] - back[d:]) / (2 * h)).flatten(1).double().cpu()
        a += jg @ jg.T / jg.shape[1]
        b += jt @ jt.T / jt.shape[1]
    return a / len(pick), b / len(pick)


def style_directions(G: nn.Module, T: nn.Module, codes: torch.Tensor, k: int = 8, probes: int = 128,
                     h: float = 0.05, ridge: float = 1e-3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]:
    """Directions that change the analogy G(z) but hardly its reconstruction T(G(z)) of the input.

    With A and B the mean Jacobian Gram matrices of G and T∘G (:func:`jacobian_grams`), the top-``k`` generalised
    eigenvectors of A v = λ (B + ridge·tr(B)/d·I) v span the subspace where output change per unit of input-side
    change is largest. Inside it, the principal axes of ``codes`` (the training set's codes) give orthonormal
    directions with the data's own spread, so sampling along them draws the variation the training images show.
    Returns (vectors (k, d) orthonormal, std (k,), gain (k,): the generalised eigenvalues, largest first, relative to
    the smallest of all d)."""
    a, b = jacobian_grams(G, T, codes, probes, h, seed)
    d = a.shape[0]
    k = min(k, d)
    b = b + ridge * torch.trace(b) / d * torch.eye(d, dtype=b.dtype)
    L = torch.linalg.cholesky(b)
    Linv = torch.linalg.inv(L)
    w, U = torch.linalg.eigh(Linv @ a @ Linv.T)  # ascending
    V = Linv.T @ U  # generalised eigenvectors (columns)
    top = V[:, torch.argsort(w, descending=True)[:k]]
    basis, _ = torch.linalg.qr(top)  # (d, k) orthonormal basis of the subspace
    sub = codes.double().cpu() @ basis
    _, vecs, std = pca(sub, k)
    vectors = fix_signs(vecs.double() @ basis.T)
    gain = w.sort(descending=True).values[:k] / w.min().clamp_min(1e-12)
    return vectors.float(), std, gain.float()
