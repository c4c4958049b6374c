"""Reconstruction losses: Laplacian-pyramid L1, perceptual loss (weight-free and HED backbones), build_loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nam_core.losses import LaplacianL1, PerceptualLoss, build_loss

EPS = (0.02, 0.1, 0.3, 0.8)


def _images(n: int = 3, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [-1, 1] (upsampled noise, so they have structure at several scales)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, c, size // 4, size // 4, generator=g) * 2 - 1
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False).clamp(-1, 1)


def _perturbed(x: torch.Tensor, eps: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (x + eps * torch.randn(x.shape, generator=g)).clamp(-1, 1)


@pytest.fixture(scope="module")
def hed_loss() -> PerceptualLoss:
    from nam_core.nets.vgg import hed_weights_path

    try:
        hed_weights_path()
    except FileNotFoundError as exc:
        pytest.skip(f"HED weights not installed: {exc}")
    return PerceptualLoss(backbone="hed")


@pytest.mark.parametrize("make", [LaplacianL1, lambda: PerceptualLoss(backbone="laplacian"), lambda: build_loss("l1")],
                         ids=["laplacian", "perceptual-laplacian", "l1"])
@pytest.mark.parametrize("channels", [1, 3])
def test_weight_free_losses(make, channels: int) -> None:
    loss = make()
    x = _images(c=channels)
    assert float(loss(x, x)) == 0.0
    vals = [float(loss(x, _perturbed(x, e))) for e in EPS]
    assert all(a < b for a, b in zip(vals, vals[1:])), vals
    per = loss(x, _perturbed(x, 0.1), reduction="none")
    assert per.shape == (3,) and (per > 0).all()
    torch.testing.assert_close(per.mean(), loss(x, _perturbed(x, 0.1), reduction="mean"))
    with pytest.raises(ValueError, match="reduction"):
        loss(x, x, reduction="sum")


def test_perceptual_laplacian_equals_laplacian() -> None:
    x, y = _images(), _perturbed(_images(), 0.2)
    torch.testing.assert_close(PerceptualLoss(backbone="laplacian", pixel_weight=2.0)(x, y), 2.0 * LaplacianL1()(x, y))
    assert PerceptualLoss(backbone="laplacian").vgg is None


def test_laplacian_pyramid_reconstructs() -> None:
    lap = LaplacianL1(levels=3)
    x = _images(size=64)
    pyr = lap.pyramid(x)
    assert len(pyr) == 4 and pyr[-1].shape[-1] == 8
    # every band is (image − upsampled coarser image): collapsing them gives the image back
    cur = pyr[-1]
    for band in reversed(pyr[:-1]):
        cur = F.interpolate(cur, size=band.shape[-2:], mode="bilinear", align_corners=False) + band
    torch.testing.assert_close(cur, x, rtol=1e-5, atol=1e-5)


def test_laplacian_gradient() -> None:
    x = _images().requires_grad_(True)
    LaplacianL1()(x, _perturbed(_images(), 0.3)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("make", [LaplacianL1, lambda: PerceptualLoss(backbone="laplacian")],
                         ids=["laplacian", "perceptual-laplacian"])
def test_shape_mismatch(make) -> None:
    loss = make()
    x = _images(n=2, c=3)
    with pytest.raises(ValueError, match="shape"):
        loss(x, _images(n=2, c=1))  # channel mismatch must not broadcast silently
    with pytest.raises(ValueError, match="shape"):
        loss(x, _images(n=1, c=3))  # batch mismatch must not broadcast silently
    with pytest.raises(ValueError, match="shape"):
        loss(x, _images(n=2, c=3, size=64))


def test_hed_perceptual(hed_loss: PerceptualLoss) -> None:
    assert hed_loss.backbone_name == "hed"
    for channels in (3, 1):
        x = _images(c=channels)
        assert float(hed_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
        vals = [float(hed_loss(x, _perturbed(x, e))) for e in EPS]
        assert all(a < b for a, b in zip(vals, vals[1:])), vals
        per = hed_loss(x, _perturbed(x, 0.1), reduction="none")
        assert per.shape == (3,) and (per > 0).all()
        torch.testing.assert_close(per.mean(), hed_loss(x, _perturbed(x, 0.1)))
    # VGG features add to the pixel term
    x, y = _images(), _perturbed(_images(), 0.3)
    assert float(hed_loss(x, y)) > float(LaplacianL1()(x, y))


def test_hed_small_and_large_images(hed_loss: PerceptualLoss) -> None:
    for size in (16, 64):  # 16 px is upsampled to min_size first
        x = _images(n=2, size=size)
        out = hed_loss(x, _perturbed(x, 0.2), reduction="none")
        assert out.shape == (2,) and torch.isfinite(out).all() and (out > 0).all()


def test_hed_frozen_backbone_and_gradient(hed_loss: PerceptualLoss) -> None:
    assert not any(p.requires_grad for p in hed_loss.parameters())
    hed_loss.train()
    assert not hed_loss.vgg.training  # the backbone never leaves eval mode
    x = _images(n=2).requires_grad_(True)
    hed_loss(x, _perturbed(_images(n=2), 0.3)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="shape"):
        hed_loss(_images(n=2), _images(n=2, c=1))


def test_build_loss_names() -> None:
    assert isinstance(build_loss("laplacian"), LaplacianL1)
    assert build_loss("laplacian", levels=2).levels == 2
    l1 = build_loss("l1")
    assert isinstance(l1, PerceptualLoss) and l1.vgg is None and l1.pixel is None
    x, y = _images(), _perturbed(_images(), 0.3)
    torch.testing.assert_close(l1(x, y), (x - y).abs().mean())
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("mse")
    with pytest.raises(ValueError, match="backbone"):
        build_loss("vgg-resnet")
    with pytest.raises(ValueError, match="one weight per layer"):
        PerceptualLoss(backbone="laplacian", layers=("relu1_2", "relu2_2"), weights=(1.0,))


def test_build_loss_vgg_hed(hed_loss: PerceptualLoss) -> None:
    hed = build_loss("vgg-hed", pixel_weight=0.5)
    assert isinstance(hed, PerceptualLoss) and hed.backbone_name == "hed" and hed.pixel_weight == 0.5
    x, y = _images(n=2), _perturbed(_images(n=2), 0.3)
    # same backbone, half the pixel term
    diff = float(hed_loss(x, y)) - float(hed(x, y))
    assert diff == pytest.approx(0.5 * float(LaplacianL1()(x, y)), rel=1e-4)


@pytest.mark.parametrize("name", ["laplacian-flat", "structure", "ncc", "ncc-sides"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_losses_monotone(name: str, channels: int) -> None:
    loss = build_loss(name)
    x = _images(c=channels)
    assert float(loss(x, x)) < 1e-3
    vals = [float(loss(x, _perturbed(x, e))) for e in EPS]
    assert all(a < b for a, b in zip(vals, vals[1:])), vals
    assert loss(x, _perturbed(x, 0.1), reduction="none").shape == (3,)
    with pytest.raises(ValueError, match="shape mismatch"):
        loss(x, x[:2])


@pytest.mark.parametrize("name", ["structure", "ncc", "ncc-sides"])
def test_shape_losses_ignore_colour_contrast_and_polarity(name: str) -> None:
    """What makes them usable across domains: recolouring, a contrast change or dark-on-light vs light-on-dark
    costs (almost) nothing, while moving the strokes costs a lot."""
    loss = build_loss(name)
    x = _images(c=3)
    inverted, faded = -x, 0.5 * x + 0.2
    gray = x.mean(1, keepdim=True).expand_as(x)
    moved = torch.roll(x, shifts=(8, 8), dims=(2, 3))
    far = float(loss(x, moved))
    for y in (inverted, faded, gray):
        assert float(loss(x, y)) < 0.25 * far


def test_laplacian_flat_weighs_colour() -> None:
    """The flat weighting counts a colour shift (low-pass) as much as detail; the GLO weighting barely sees it."""
    x = _images(c=3)
    shifted = (x + torch.tensor([0.3, -0.3, 0.0]).view(1, 3, 1, 1)).clamp(-1, 1)
    assert float(build_loss("laplacian-flat")(x, shifted)) > 10 * float(build_loss("laplacian")(x, shifted))


def test_ncc_sides_discounts_clutter_at_the_sides() -> None:
    """Street crops show cut-off neighbours at their left and right edges: ``ncc-sides`` charges less for strokes
    there than plain NCC does, and as much as before for a change in the centre."""
    x = _images(c=1)
    sides = x.clone()
    sides[..., :5] = -sides[..., :5]
    sides[..., -5:] = -sides[..., -5:]
    centre = x.clone()
    centre[..., 12:20] = -centre[..., 12:20]
    plain, weighted = build_loss("ncc"), build_loss("ncc-sides")
    assert float(weighted(x, sides)) < 0.5 * float(plain(x, sides))
    assert float(weighted(x, centre)) > 0.8 * float(plain(x, centre))
