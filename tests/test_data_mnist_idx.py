"""MNIST from user-supplied IDX files (torchvision's raw layout), and the offline download guard."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest

import nam_core.data.mnist as mnist_mod
from nam_core.data import load_domain


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 0x00000803, n, h, w) + images.astype(np.uint8).tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes())


def _make_raw(root: Path, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": np.arange(n_train, dtype=np.uint8) % 10,
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": (np.arange(n_test, dtype=np.uint8) * 3 + 1) % 10,
    }
    _write_idx_images(raw / "train-images-idx3-ubyte", data["train_x"])
    _write_idx_labels(raw / "train-labels-idx1-ubyte", data["train_y"])
    _write_idx_images(raw / "t10k-images-idx3-ubyte", data["test_x"])
    _write_idx_labels(raw / "t10k-labels-idx1-ubyte", data["test_y"])
    return data


@pytest.mark.parametrize("split,prefix", [("train", "train"), ("test", "test")])
def test_idx_roundtrip(tmp_path: Path, split: str, prefix: str) -> None:
    data = _make_raw(tmp_path)
    ds = load_domain("mnist", split, root=tmp_path)
    x, y = data[f"{prefix}_x"], data[f"{prefix}_y"]
    assert ds.images.shape == (len(x), 32, 32, 1) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images[:, 2:30, 2:30, 0], x)
    assert ds.images[:, :2].max() == 0 and ds.images[:, 30:].max() == 0
    assert ds.images[:, :, :2].max() == 0 and ds.images[:, :, 30:].max() == 0
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.labels.dtype == np.uint8
    assert str(tmp_path) in ds.info["source"]


def test_idx_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _make_raw(tmp_path)
    monkeypatch.setenv("NAM_MNIST_ROOT", str(tmp_path))
    ds = load_domain("mnist", "train")
    assert len(ds) == len(data["train_x"])


def test_missing_idx_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MNIST"):
        load_domain("mnist", "train", root=tmp_path)
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_domain("mnist", "test", root=tmp_path)


def test_download_offline_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def offline(host: str, port: int = 443, timeout: float = 3.0) -> bool:
        calls.append(host)
        return False

    monkeypatch.setattr(mnist_mod, "network_available", offline)
    t0 = time.time()
    with pytest.raises(RuntimeError, match="cannot be reached") as err:
        load_domain("mnist", "train", root=tmp_path, download=True)
    assert time.time() - t0 < 10
    assert not isinstance(err.value, FileNotFoundError)
    assert calls == [mnist_mod.MNIST_HOST]
    assert str(tmp_path / "MNIST" / "raw") in str(err.value)


def test_network_available_unreachable() -> None:
    # a closed local port answers immediately with "connection refused"
    assert mnist_mod.network_available("127.0.0.1", port=9, timeout=1.0) is False


def test_pad28_rejects_wrong_size() -> None:
    with pytest.raises(ValueError, match="28"):
        mnist_mod.pad28(np.zeros((2, 27, 27), np.uint8))
    assert mnist_mod.pad28(np.zeros((2, 28, 28, 1), np.uint8)).shape == (2, 32, 32, 1)
