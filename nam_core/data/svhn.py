"""Real SVHN (cropped digits, 32×32 RGB) from the official ``{train,test,extra}_32x32.mat`` files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import DomainDataset

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/{split}_32x32.mat"


def load_svhn(split: str = "train", root: str | Path | None = None) -> DomainDataset:
    """SVHN from ``root`` (or ``$NAM_SVHN_ROOT``); label 10 (the digit 0 in the .mat files) becomes 0."""
    from scipy.io import loadmat

    root = root if root is not None else os.environ.get("NAM_SVHN_ROOT")
    if root is None:
        raise FileNotFoundError(
            "SVHN is not bundled (it cannot be downloaded on offline machines). Download "
            f"{SVHN_URL.format(split=split)} and pass root=<folder> or set NAM_SVHN_ROOT; "
            "the synthetic 'street' domain stands in for it meanwhile."
        )
    path = Path(root) / f"{split}_32x32.mat"
    if not path.exists():
        raise FileNotFoundError(f"SVHN file not found: {path} (get it from {SVHN_URL.format(split=split)})")
    try:
        mat = loadmat(str(path))
    except Exception as exc:
        raise ValueError(f"Cannot read SVHN file {path} (corrupt?): {exc}") from exc
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path} is not an SVHN .mat file (needs arrays X and y)")
    x, y = mat["X"], mat["y"].reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise ValueError(f"{path}: X must be 32×32×3×N matching y; got {x.shape} and {y.shape}")
    images = np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2))).astype(np.uint8)
    labels = (y % 10).astype(np.uint8)
    return DomainDataset("svhn", split, images, labels, {"source": str(path)})
