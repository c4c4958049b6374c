"""A small digit classifier, used to score translations and as the feature space for FID/PRD."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.MaxPool2d(2),
    )


class DigitClassifier(nn.Module):
    """N×C×32×32 in [-1, 1] → 10 logits; :meth:`features` gives the 256-d penultimate embedding."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.body = nn.Sequential(_block(in_channels, width), _block(width, width * 2), _block(width * 2, width * 4),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(width * 4, 256), nn.ReLU(True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(256, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
