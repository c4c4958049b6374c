"""Every network of the registry: output shapes at 32 and 64 px, gradients, and per-network properties."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from nam_core.nets import NETS, build_net, net_config

LATENT = 16


def _case(kind: str, size: int, channels: int) -> tuple[dict[str, Any], torch.Tensor, tuple]:
    """kwargs, an input batch and the expected output shape for one network kind."""
    n = 4
    img = torch.rand(n, channels, size, size) * 2 - 1
    z = torch.randn(n, LATENT)
    if kind in ("dcgan_generator", "glo_generator"):
        return dict(latent_dim=LATENT, out_channels=channels, size=size, ngf=8), z, (n, channels, size, size)
    if kind == "discriminator":
        return dict(in_channels=channels, size=size, ndf=8), img, (n,)
    if kind == "encoder":
        return dict(in_channels=channels, size=size, latent_dim=LATENT, nef=8), img, (n, LATENT)
    if kind in ("mapping", "local_mapping"):
        out_c = 4 - channels  # 1 → 3, 3 → 1
        return dict(in_channels=channels, out_channels=out_c, size=size, nf=8), img, (n, out_c, size, size)
    if kind == "imle":
        return dict(noise_dim=LATENT, latent_dim=LATENT + 2, hidden=32), z, (n, LATENT + 2)
    if kind == "classifier":
        return dict(in_channels=channels, width=8), img, (n, 10)
    if kind == "resnet_translator":
        out_c = 4 - channels  # 1 ↔ 3 channels, as between mnist and street
        return dict(in_channels=channels, out_channels=out_c, size=size, ngf=8, n_blocks=2), img, (n, out_c, size, size)
    raise AssertionError(f"no test case for network kind {kind!r}; add one")


def _outputs(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("kind", sorted(NETS))
def test_shapes_and_gradients(kind: str, size: int, channels: int) -> None:
    torch.manual_seed(0)
    kwargs, x, shape = _case(kind, size, channels)
    net = build_net(kind, **kwargs)
    assert net_config(net) == {"kind": kind, "kwargs": kwargs}
    net.train()
    outs = _outputs(net(x))
    assert outs[0].shape == shape
    for o in outs:
        assert torch.isfinite(o).all()
    loss = sum((o * torch.randn_like(o)).sum() for o in outs)
    loss.backward()
    params = dict(net.named_parameters())
    assert params
    no_grad = [k for k, p in params.items() if p.grad is None or p.grad.abs().sum() == 0]
    assert not no_grad, f"{kind}: no gradient reaches {no_grad}"
    net.eval()
    with torch.no_grad():
        assert _outputs(net(x))[0].shape == shape


@pytest.mark.parametrize("kind", ["dcgan_generator", "glo_generator", "mapping"])
def test_image_outputs_in_range(kind: str) -> None:
    kwargs, x, _ = _case(kind, 32, 3)
    net = build_net(kind, **kwargs).eval()
    with torch.no_grad():
        out = net(x * 50)
    assert out.min() >= -1 and out.max() <= 1


def test_glo_generator_is_scale_invariant() -> None:
    torch.manual_seed(0)
    g = build_net("glo_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8).eval()
    with torch.no_grad():  # DCGAN init gives near-zero outputs at first; make them clearly input-dependent
        for p in g.parameters():
            p.mul_(10)
    z = torch.randn(5, LATENT)
    with torch.no_grad():
        a, b, c = g(z), g(7.5 * z), g(torch.randn(5, LATENT))
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    assert (a - c).abs().max() > 0.1
    plain = build_net("dcgan_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8).eval()
    with torch.no_grad():
        for p in plain.parameters():
            p.mul_(10)
        assert (plain(z) - plain(7.5 * z)).abs().max() > 0.1


def test_encoder_variational_vs_deterministic() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    var = build_net("encoder", in_channels=3, size=32, latent_dim=LATENT, nef=8, variational=True).eval()
    det = build_net("encoder", in_channels=3, size=32, latent_dim=LATENT, nef=8, variational=False).eval()
    with torch.no_grad():
        mu_v, lv_v = var(x)
        mu_d, lv_d = det(x)
    assert mu_v.shape == lv_v.shape == mu_d.shape == lv_d.shape == (3, LATENT)
    assert var.logvar is not None and det.logvar is None
    assert not any("logvar" in k for k in det.state_dict())
    assert lv_v.min() >= -12 and lv_v.max() <= 6 and lv_v.std() > 0
    assert torch.all(lv_d == -30.0)
    assert torch.exp(0.5 * lv_d).max() < 1e-6  # sampling is effectively deterministic


@pytest.mark.parametrize("cin,cout", [(1, 3), (3, 1), (3, 3)])
def test_mapping_channels(cin: int, cout: int) -> None:
    t = build_net("mapping", in_channels=cin, out_channels=cout, size=64, nf=8)
    assert (t.in_channels, t.out_channels) == (cin, cout)
    assert t(torch.zeros(2, cin, 64, 64)).shape == (2, cout, 64, 64)
    with pytest.raises(RuntimeError):
        t(torch.zeros(2, cin + 1, 64, 64))


def test_classifier_features() -> None:
    c = build_net("classifier", in_channels=1, width=8).eval()
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        f = c.features(x)
        logits = c(x)
    assert f.shape == (6, 256) and (f >= 0).all()  # after ReLU
    assert logits.shape == (6, 10)
    torch.testing.assert_close(c.head(f), logits)


def test_invalid_sizes_and_kinds() -> None:
    with pytest.raises(ValueError, match="image size"):
        build_net("dcgan_generator", size=48)
    with pytest.raises(ValueError, match="image size"):
        build_net("encoder", size=8)
    with pytest.raises(ValueError, match="power of two"):
        build_net("mapping", size=48)
    with pytest.raises(KeyError, match="unknown network kind"):
        build_net("resnet")
    with pytest.raises(ValueError, match="build_net"):
        net_config(nn.Linear(2, 2))


def test_local_mapping_global_affine_zoom_and_shift() -> None:
    """``affine="global"``: one learned zoom/shift for all images in front of the local convs. At zoom 1 it is the
    plain local map; a zoom > 1 enlarges a centred blob; the bounds hold however far the parameters go; gradients
    reach the zoom and the shift."""
    torch.manual_seed(0)
    plain = build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8).eval()
    aff = build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8, affine="global").eval()
    aff.load_state_dict({**aff.state_dict(), **plain.state_dict()})
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    blob = (torch.exp(-(xx**2 + yy**2) / 0.1) * 2 - 1).expand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(aff(blob), plain(blob), rtol=1e-4, atol=1e-4)
    zoomed = build_net("local_mapping", in_channels=1, out_channels=1, size=32, nf=8, affine="global", zoom=1.5)
    zoom, shift = zoomed.zoom_shift()
    torch.testing.assert_close(zoom, torch.full((2,), 1.5))
    assert torch.all(shift == 0)
    with torch.no_grad():
        warped = zoomed.warp(blob)
        assert ((warped > 0).sum() / (blob > 0).sum()).item() == pytest.approx(1.5**2, rel=0.15)  # area × zoom²
        zoomed.zoom_param.fill_(100.0)
        zoomed.shift_param.fill_(-100.0)
        zoom, shift = zoomed.zoom_shift()
    assert torch.all(zoom <= 2.0 + 1e-5) and torch.all(shift >= -0.25 - 1e-6)
    aff.train()
    (aff(blob) * torch.randn(2, 3, 32, 32)).sum().backward()
    assert aff.zoom_param.grad.abs().sum() > 0 and aff.shift_param.grad.abs().sum() > 0
    assert "zoom_param" not in plain.state_dict()  # older checkpoints (no affine) load unchanged
    with pytest.raises(ValueError, match="affine"):
        build_net("local_mapping", affine="perspective")
    with pytest.raises(ValueError, match="zoom"):
        build_net("local_mapping", affine="global", zoom=3.0)
