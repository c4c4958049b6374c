"""The CRN-style mapping network T of the NAM paper (Hoshen & Wolf 2018).

The input is average-pooled to 4×4; each stage is conv3×3 → BN → LeakyReLU(0.2) → bilinear ×2 → concatenation
with the input pooled to the new scale; a final conv gives the output channels (tanh, images in [-1, 1]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MappingT(nn.Module):
    """T: N×in_channels×size×size → N×out_channels×size×size."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, size: int = 32, nf: int = 64) -> None:
        super().__init__()
        if size < 8 or 2 ** int(math.log2(size)) != size:
            raise ValueError(f"size must be a power of two ≥ 8, got {size}")
        self.size, self.in_channels, self.out_channels = size, in_channels, out_channels
        n_up = int(math.log2(size)) - 2
        blocks, ch = [], in_channels
        for _ in range(n_up + 1):  # one block per scale 4, 8, ..., size
            blocks.append(nn.Sequential(nn.Conv2d(ch, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf),
                                        nn.LeakyReLU(0.2, True)))
            ch = nf + in_channels
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(nf, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.adaptive_avg_pool2d(x, 4)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i < len(self.blocks) - 1:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
                h = torch.cat([h, F.adaptive_avg_pool2d(x, h.shape[-1])], dim=1)
        return torch.tanh(self.out(h))


class LocalT(nn.Module):
    """A deliberately weak mapping: three 3×3 convolutions (a 7-pixel receptive field) at full resolution.

    It can recolour and re-stroke locally but cannot draw new shapes, so a reconstruction T(G(z)) ≈ y forces the
    latent code to reproduce the *shape* of y — what keeps a digit's identity when the loss is shape-only
    (e.g. :class:`~nam_core.losses.NCCLoss`)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, size: int = 32, nf: int = 32) -> None:
        super().__init__()
        self.size, self.in_channels, self.out_channels = size, in_channels, out_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, out_channels, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))
