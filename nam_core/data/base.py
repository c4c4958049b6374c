"""The dataset type every domain loader returns, plus the on-disk array cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..paths import cache_dir
from ..utils import atomic_path


@dataclass
class DomainDataset:
    """Images of one domain split: ``images`` uint8 N×H×W×C (may be a read-only memmap), ``labels`` or None."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            raise ValueError(
                f"{self.name}/{self.split}: images must be uint8 N×H×W×C with C in (1, 3); "
                f"got {self.images.dtype} {self.images.shape}"
            )
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}/{self.split}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int | slice | np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return np.asarray(self.images[idx]), None if self.labels is None else np.asarray(self.labels[idx])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int | None) -> DomainDataset:
        """The first ``n`` images (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        labels = None if self.labels is None else self.labels[:n]
        return DomainDataset(self.name, self.split, self.images[:n], labels, dict(self.info))

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Iterate in order over contiguous batches (memory stays bounded for memmapped sets)."""
        for i in range(0, len(self), batch_size):
            yield self[i : i + batch_size]



def cached_arrays(key: dict, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Build arrays once and keep them as .npy files in the cache, re-opened memory-mapped (read-only).

    ``key`` identifies the content (it is hashed into the folder name and stored beside the arrays).
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / f"{key.get('name', 'data')}-{digest}"
    done = folder / "key.json"
    if not done.exists():
        arrays = build()
        folder.mkdir(parents=True, exist_ok=True)
        for name, arr in arrays.items():
            with atomic_path(folder / f"{name}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
        with atomic_path(done) as tmp:
            tmp.write_text(json.dumps(key, sort_keys=True))
    names = [p.stem for p in folder.glob("*.npy")]
    return {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in names}


def load_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read an .npz without pickle; a clear error for a corrupt file or missing arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # BadZipFile, OSError, ValueError (pickled content), EOFError
        raise ValueError(f"Cannot read {path} (missing or corrupt file?): {exc}") from exc
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (has {sorted(arrays)})")
    return arrays
