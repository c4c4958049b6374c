"""Feed-forward image-to-image generators for the adversarial baselines (CycleGAN, DistanceGAN).

:class:`ResnetTranslator` is the CycleGAN generator of Zhu et al. (2017) (Johnson et al.'s ResNet design):
c7s1-ngf → n_down stride-2 convs → n_blocks residual blocks → n_down stride-½ convs → c7s1-out → tanh, with
instance normalisation and reflection padding. At 32 px the default (2 down-samplings, 6 blocks) works at 8×8.
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import dcgan_init


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + (pad → conv3×3 → IN → ReLU → pad → conv3×3 → IN)(x)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """N×in_channels×H×W in [-1, 1] → N×out_channels×H×W in [-1, 1] (H, W divisible by 2**n_down)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, size: int = 32, ngf: int = 32, n_down: int = 2,
                 n_blocks: int = 6) -> None:
        super().__init__()
        if size % (2**n_down) or size < 2**n_down * 2:
            raise ValueError(f"size {size} must be divisible by 2**n_down = {2**n_down} (and at least twice that)")
        self.in_channels, self.out_channels, self.size = in_channels, out_channels, size
        pad = min(3, size // 2 - 1)
        layers: list[nn.Module] = [nn.ReflectionPad2d(pad), nn.Conv2d(in_channels, ngf, 2 * pad + 1), _norm(ngf),
                                   nn.ReLU(True)]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1), _norm(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), _norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(pad), nn.Conv2d(ch, out_channels, 2 * pad + 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
