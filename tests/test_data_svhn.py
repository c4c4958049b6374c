"""SVHN from user-supplied ``.mat`` files: layout conversion, label 10 → 0, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from nam_core.data import load_domain


def _write_svhn(folder: Path, split: str = "train", n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # 1..10, where 10 means the digit 0
    folder.mkdir(parents=True, exist_ok=True)
    savemat(str(folder / f"{split}_32x32.mat"), {"X": x, "y": y})
    return x, y


@pytest.mark.parametrize("split", ["train", "test"])
def test_svhn_roundtrip(tmp_path: Path, split: str) -> None:
    x, y = _write_svhn(tmp_path, split)
    ds = load_domain("svhn", split, root=tmp_path)
    n = x.shape[3]
    assert ds.images.shape == (n, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.images.flags["C_CONTIGUOUS"]
    for i in range(n):
        np.testing.assert_array_equal(ds.images[i], x[:, :, :, i])
    expected = y.reshape(-1) % 10
    np.testing.assert_array_equal(ds.labels, expected)
    assert ds.labels[9] == 0 and ds.labels.max() <= 9  # the .mat's "10" is the digit 0


def test_svhn_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_svhn(tmp_path, "train", n=3)
    monkeypatch.setenv("NAM_SVHN_ROOT", str(tmp_path))
    assert len(load_domain("svhn", "train")) == 3


def test_svhn_missing_root_and_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="NAM_SVHN_ROOT"):
        load_domain("svhn", "train")
    with pytest.raises(FileNotFoundError, match="test_32x32.mat"):
        load_domain("svhn", "test", root=tmp_path)


def test_svhn_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "train_32x32.mat").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ValueError, match="corrupt"):
        load_domain("svhn", "train", root=tmp_path)


def test_svhn_wrong_arrays(tmp_path: Path) -> None:
    savemat(str(tmp_path / "train_32x32.mat"), {"images": np.zeros((2, 2), np.uint8)})
    with pytest.raises(ValueError, match="X and y"):
        load_domain("svhn", "train", root=tmp_path)
    savemat(str(tmp_path / "test_32x32.mat"),
            {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1), np.uint8)})
    with pytest.raises(ValueError, match="32×32×3×N"):
        load_domain("svhn", "test", root=tmp_path)
