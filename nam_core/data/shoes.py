"""Shoes and handbags photos with their HED edge maps (pix2pix edges2shoes / edges2handbags).

Offline: ``shared/data/shoes_bags_pix2pix/shoes_bags_64.npz`` (1,000 + 200 shoes, 1,000 + 200 handbags at 64×64;
NON-COMMERCIAL RESEARCH licence, see its PROVENANCE.md). For users who downloaded the full pix2pix sets:
``root/{train,val}/*.jpg``, each a 256×512 side-by-side image (A = edges on the left, B = photo on the right).
Edge maps are white background (255) with dark strokes, one channel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..paths import require_shared_data
from .base import DomainDataset, cached_arrays, load_npz

CATEGORIES = {"shoes": 0, "handbags": 1}
NPZ_SPLITS = {"train": "train", "test": "val"}


def _from_shared(category: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    path = require_shared_data("shoes_bags_pix2pix") / "shoes_bags_64.npz"
    data = load_npz(path, ("images", "edges", "labels", "split"))
    keep = (data["labels"] == CATEGORIES[category]) & (data["split"] == NPZ_SPLITS[split])
    return data["images"][keep], data["edges"][keep], str(path)


def side_by_side_halves(im, name: object) -> tuple:
    """The left and right halves of a pix2pix side-by-side PIL image (width 2×height; ±1 px, as JPEG draft
    decoding can round an odd width); ``name`` only goes into the error message."""
    w, h = im.size
    if abs(w - 2 * h) > 1:
        raise ValueError(f"{name}: expected a side-by-side image of width 2×height, got {w}×{h}")
    half = w // 2
    return im.crop((0, 0, half, h)), im.crop((w - half, 0, w, h))


def read_pix2pix_folder(
    root: str | Path, split: str = "train", size: int = 64, edges_left: bool = True, limit: int | None = None
) -> dict[str, np.ndarray]:
    """Read a pix2pix side-by-side folder into ``{"images": N×s×s×3, "edges": N×s×s×1}`` uint8 arrays (cached).

    ``edges_left`` is True for the official release (A = edges on the left).
    """
    from PIL import Image

    folder = Path(root) / ("val" if split == "test" else split)
    files = sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))[:limit]
    if not files:
        raise FileNotFoundError(f"No pix2pix .jpg files in {folder}")

    def build() -> dict[str, np.ndarray]:
        photos = np.empty((len(files), size, size, 3), np.uint8)
        edges = np.empty((len(files), size, size, 1), np.uint8)
        for i, f in enumerate(files):
            try:
                with Image.open(f) as im:
                    left, right = side_by_side_halves(im.convert("RGB"), f)
            except OSError as exc:
                raise ValueError(f"Cannot read {f} (corrupt image?): {exc}") from exc
            e, p = (left, right) if edges_left else (right, left)
            photos[i] = np.asarray(p.resize((size, size), Image.LANCZOS))
            edges[i, ..., 0] = np.asarray(e.convert("L").resize((size, size), Image.LANCZOS))
        return {"images": photos, "edges": edges}

    key = {"name": "pix2pix", "folder": str(folder.resolve()), "n": len(files), "size": size,
           "edges_left": edges_left, "last": files[-1].name, "mtime": int(folder.stat().st_mtime)}
    return cached_arrays(key, build)


def load_shoes_bags(
    category: str, split: str = "train", edges: bool = False, root: str | Path | None = None, size: int = 64
) -> DomainDataset:
    """Photos (``edges=False``) or edge maps (``edges=True``) of ``category`` in {"shoes", "handbags"}.

    ``root`` (or ``$NAM_EDGES2SHOES_ROOT`` / ``$NAM_EDGES2HANDBAGS_ROOT``) points to a full pix2pix folder.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {sorted(CATEGORIES)}")
    root = root if root is not None else os.environ.get(f"NAM_EDGES2{category.upper()}_ROOT")
    if root is not None:
        arrays = read_pix2pix_folder(root, split, size=size)
        photos, edge_maps, source = arrays["images"], arrays["edges"], str(root)
    else:
        photos, edge_maps, source = _from_shared(category, split)
        if size != photos.shape[1]:
            raise ValueError(f"the shared shoes/handbags set is {photos.shape[1]} px; size={size} needs root=")
    name = f"{category}_edges" if edges else category
    return DomainDataset(name, split, edge_maps if edges else photos, None, {"source": source})
