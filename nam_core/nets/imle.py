"""The IMLE mapping of GLANN: Gaussian noise → GLO latent code (an MLP)."""

from __future__ import annotations

import torch
from torch import nn


class IMLEMapping(nn.Module):
    """e (N, noise_dim) ~ N(0, I) → code (N, latent_dim)."""

    def __init__(self, noise_dim: int = 64, latent_dim: int = 64, hidden: int = 512, depth: int = 3) -> None:
        super().__init__()
        self.noise_dim, self.latent_dim = noise_dim, latent_dim
        layers: list[nn.Module] = []
        d = noise_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2, True)]  # no BatchNorm: no dead zone around e = 0
            d = hidden
        layers.append(nn.Linear(d, latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.net(e)
