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
    (e.g. :class:`~nam_core.losses.NCCLoss`).

    ``affine="global"`` puts one learned zoom (per axis) and shift, shared by every image, in front of the convs.
    The two domains frame their digits differently (a street crop is filled by its digit, an MNIST digit sits small
    in the centre), which the local convs cannot bridge; one global resampling can, and since it is the same for all
    images it cannot turn one digit into another. The zoom is bounded to [1/``max_zoom``, ``max_zoom``] and the shift
    to ±``max_shift`` of the half-width, so it cannot collapse onto a corner; it starts at ``zoom`` (identity: 1)."""

    AFFINE_MODES = ("none", "global")

    def __init__(self, in_channels: int = 3, out_channels: int = 1, size: int = 32, nf: int = 32,
                 affine: str = "none", zoom: float = 1.0, max_zoom: float = 2.0, max_shift: float = 0.25) -> None:
        super().__init__()
        if affine not in self.AFFINE_MODES:
            raise ValueError(f"affine must be one of {self.AFFINE_MODES}, got {affine!r}")
        if not (max_zoom > 1.0 and 1.0 / max_zoom < zoom < max_zoom):
            raise ValueError(f"need max_zoom > 1 and 1/max_zoom < zoom < max_zoom, got zoom={zoom}, "
                             f"max_zoom={max_zoom}")
        self.size, self.in_channels, self.out_channels = size, in_channels, out_channels
        self.affine, self.max_log_zoom, self.max_shift = affine, math.log(max_zoom), max_shift
        if affine == "global":
            # unconstrained parameters behind tanh bounds; log zoom per axis (x, y), shift per axis
            self.zoom_param = nn.Parameter(torch.full((2,), math.atanh(math.log(zoom) / self.max_log_zoom)))
            self.shift_param = nn.Parameter(torch.zeros(2))
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, out_channels, 3, 1, 1),
        )

    def zoom_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The global zoom (> 1 enlarges the input) and shift (fractions of the half-width), per axis (x, y)."""
        if self.affine == "none":
            return torch.ones(2), torch.zeros(2)
        return (torch.exp(self.max_log_zoom * torch.tanh(self.zoom_param)),
                self.max_shift * torch.tanh(self.shift_param))

    def warp(self, x: torch.Tensor) -> torch.Tensor:
        if self.affine == "none":
            return x
        zoom, shift = self.zoom_shift()
        theta = x.new_zeros(2, 3)
        theta[0, 0], theta[1, 1] = 1.0 / zoom[0], 1.0 / zoom[1]  # the grid samples 1/zoom of the input's extent
        theta[0, 2], theta[1, 2] = shift[0], shift[1]
        grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
        # border padding repeats the background instead of inventing a mid-grey frame when zooming out
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.warp(x)))
