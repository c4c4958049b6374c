"""DCGAN generator / discriminator and the DCGAN-style encoder E, at 32 or 64 px."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _num_stages(size: int) -> int:
    stages = int(math.log2(size)) - 2  # 4 → size
    if size not in (16, 32, 64, 128) or stages < 2:
        raise ValueError(f"image size must be 16, 32, 64 or 128, got {size}")
    return stages


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) convs, N(1, 0.02) batch-norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) → image N×C×size×size in [-1, 1] (tanh).

    ``sphere=True`` (the GLO/GLANN generator) projects every code onto the unit sphere first, so codes
    are scale-free, as in GLO.
    """

    def __init__(self, latent_dim: int = 64, out_channels: int = 3, size: int = 32, ngf: int = 64,
                 sphere: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.out_channels, self.size, self.sphere = latent_dim, out_channels, size, sphere
        stages = _num_stages(size)
        ch = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.sphere:
            z = F.normalize(z, dim=1)
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Image N×C×size×size → one real/fake logit per image."""

    def __init__(self, in_channels: int = 3, size: int = 32, ndf: int = 64) -> None:
        super().__init__()
        stages = _num_stages(size)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


class Encoder(nn.Module):
    """DCGAN-style encoder E: image → (μ, log σ²), each N×latent_dim.

    ``variational=False`` (AE-NAM) returns log σ² = -inf-like constant so that sampling is deterministic.
    """

    def __init__(self, in_channels: int = 3, size: int = 32, latent_dim: int = 64, nef: int = 64,
                 variational: bool = True) -> None:
        super().__init__()
        self.latent_dim, self.variational = latent_dim, variational
        stages = _num_stages(size)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, nef, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = nef
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        feat = ch * 4 * 4
        self.mu = nn.Linear(feat, latent_dim)
        self.logvar = nn.Linear(feat, latent_dim) if variational else None
        dcgan_init(self)
        if self.logvar is not None:
            nn.init.constant_(self.logvar.bias, -2.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        mu = self.mu(h)
        if self.logvar is None:
            return mu, torch.full_like(mu, -30.0)
        return mu, self.logvar(h).clamp(-12.0, 6.0)
