"""The domain registry: shapes, dtypes, labels and errors of the offline datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nam_core.paths
from nam_core.data import DOMAINS, DomainDataset, list_domains, load_domain


def _need(root: Path, sub: str) -> None:
    if not (root / sub).exists():
        pytest.skip(f"{root / sub} is not there")


def test_registry_lists_every_domain() -> None:
    assert list_domains() == sorted(DOMAINS)
    assert {"mnist", "street", "svhn", "shoes", "handbags", "shoes_edges", "handbags_edges"} <= set(list_domains())


def test_mnist_train_offline(mnist_train: DomainDataset) -> None:
    ds = mnist_train
    assert (ds.name, ds.split) == ("mnist", "train")
    assert ds.images.shape == (5000, 32, 32, 1) and ds.images.dtype == np.uint8
    assert ds.shape == (32, 32, 1) and len(ds) == 5000
    assert ds.labels is not None and ds.labels.shape == (5000,)
    assert np.bincount(ds.labels, minlength=10).tolist() == [500] * 10
    assert ds.labels.min() == 0 and ds.labels.max() == 9
    # 28×28 digits padded by a 2-pixel zero border
    border = np.concatenate([ds.images[:, :2].ravel(), ds.images[:, -2:].ravel(),
                             ds.images[:, :, :2].ravel(), ds.images[:, :, -2:].ravel()])
    assert border.max() == 0
    assert ds.images[:, 2:-2, 2:-2].max() == 255
    assert 20 < ds.images.mean() < 60  # mostly black background with white strokes


def test_mnist_train_deterministic(mnist_train: DomainDataset) -> None:
    again = load_domain("mnist", "train")
    np.testing.assert_array_equal(again.images, mnist_train.images)
    np.testing.assert_array_equal(again.labels, mnist_train.labels)


def test_mnist_test_from_shared(shared_data: Path) -> None:
    _need(shared_data, "mnist_test")
    ds = load_domain("mnist", "test")
    assert ds.images.shape == (10000, 32, 32, 1) and ds.images.dtype == np.uint8
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the canonical first MNIST test labels
    assert set(np.unique(ds.labels).tolist()) == set(range(10))
    assert ds.images[:, :2].max() == 0 and ds.images[:, :, -2:].max() == 0
    again = load_domain("mnist", "test")
    np.testing.assert_array_equal(again.images, ds.images)


def test_unknown_domain_and_split() -> None:
    with pytest.raises(KeyError, match="unknown domain"):
        load_domain("no_such_domain")
    with pytest.raises(ValueError, match="split"):
        load_domain("mnist", "validation")


@pytest.mark.parametrize("category", ["shoes", "handbags"])
def test_shoes_handbags_shapes(shared_data: Path, category: str) -> None:
    _need(shared_data, "shoes_bags_pix2pix")
    for split, n in (("train", 1000), ("test", 200)):
        photos = load_domain(category, split)
        edges = load_domain(f"{category}_edges", split)
        assert photos.images.shape == (n, 64, 64, 3) and photos.images.dtype == np.uint8
        assert edges.images.shape == (n, 64, 64, 1) and edges.images.dtype == np.uint8
        assert photos.labels is None and edges.labels is None
        assert edges.name == f"{category}_edges"
        # edges: white background with dark strokes
        assert np.median(edges.images) == 255
        assert edges.images.mean() > 200
        assert edges.images.min() < 100
        assert photos.images.std() > 20  # real photos, not blank


def test_shoes_handbags_differ_and_splits_disjoint(shared_data: Path) -> None:
    _need(shared_data, "shoes_bags_pix2pix")
    shoes, bags = load_domain("shoes", "train"), load_domain("handbags", "train")
    assert not np.array_equal(shoes.images[:10], bags.images[:10])
    test = load_domain("shoes", "test")
    train_keys = {img.tobytes() for img in shoes.images}
    assert not any(img.tobytes() in train_keys for img in test.images)


def test_missing_shared_dir_env_points_to_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("NAM_SHARED_DATA", str(empty))
    with pytest.raises(FileNotFoundError, match="mnist_test"):
        load_domain("mnist", "test")
    with pytest.raises(FileNotFoundError, match="shoes_bags_pix2pix"):
        load_domain("shoes", "train")


def test_missing_shared_dir_entirely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAM_SHARED_DATA", raising=False)
    monkeypatch.setattr(nam_core.paths, "REPO_ROOT", tmp_path / "checkout")
    assert nam_core.paths.shared_data_dir() is None
    with pytest.raises(FileNotFoundError, match="NAM_SHARED_DATA"):
        load_domain("mnist", "test")
    with pytest.raises(FileNotFoundError, match="shared/data"):
        load_domain("handbags_edges", "test")


def test_corrupt_shared_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mnist_test").mkdir()
    (tmp_path / "mnist_test" / "mnist_test.npz").write_bytes(b"not a zip file at all")
    monkeypatch.setenv("NAM_SHARED_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="corrupt"):
        load_domain("mnist", "test")


def test_domain_dataset_validation_and_helpers() -> None:
    imgs = np.zeros((5, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError):
        DomainDataset("x", "train", imgs.astype(np.float32))
    with pytest.raises(ValueError):
        DomainDataset("x", "train", np.zeros((5, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError):
        DomainDataset("x", "train", imgs, np.zeros(4, np.uint8))
    ds = DomainDataset("x", "train", imgs, np.arange(5, dtype=np.uint8))
    assert len(ds.subset(3)) == 3 and ds.subset(None) is ds and ds.subset(10) is ds
    assert [len(b[0]) for b in ds.batches(2)] == [2, 2, 1]
    assert ds[1:3][1].tolist() == [1, 2]
