"""Small shared helpers: device choice, seeding, image <-> tensor conversion, atomic writes."""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def get_device(override: str | torch.device | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``override`` (or ``$NAM_DEVICE``) wins."""
    choice = override if override is not None else os.environ.get("NAM_DEVICE")
    if choice is not None and str(choice) != "auto":
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def per_image_noise(images: torch.Tensor, k: int, dim: int, seed: int = 0) -> torch.Tensor:
    """Gaussian noise (N, K, dim) on the CPU whose row i depends only on ``seed`` and the content of image i, so an
    image gets the same K samples whatever else is in its batch and wherever it sits in it."""
    rows = []
    for img in images.detach().float().cpu():
        digest = hashlib.blake2b(img.numpy().tobytes(), digest_size=8, key=int(seed).to_bytes(8, "little", signed=True))
        gen = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") & (2**63 - 1))
        rows.append(torch.randn(k, dim, generator=gen))
    return torch.stack(rows) if rows else torch.zeros(0, k, dim)


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 N×H×W×C → float32 N×C×H×W in [-1, 1]."""
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"expected N×H×W×C images, got shape {images.shape}")
    images = np.ascontiguousarray(images)
    if not images.flags.writeable:  # read-only memmaps (cached datasets)
        images = images.copy()
    t = torch.from_numpy(images).to(device)
    return t.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float N×C×H×W in [-1, 1] → uint8 N×H×W×C."""
    x = x.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def image_grid(images: np.ndarray, cols: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 N×H×W×C images into one H'×W'×C image (row-major)."""
    n, h, w, c = images.shape
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Save an H×W×C uint8 image as PNG (nearest-neighbour upscaled by ``scale``), atomically."""
    from PIL import Image

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    pil = Image.fromarray(image)
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    path = Path(path)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed over ``path`` (no half-written files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the final file normal permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
