"""Full pix2pix folders (side-by-side edges|photo JPGs): halves, sizes, ordering, caching and bad files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import Image

from nam_core.data import load_domain
from nam_core.data.shoes import read_pix2pix_folder

# one photo colour per file, so order and halves can be told apart after JPEG compression
COLOURS = {"1": (200, 30, 30), "2": (30, 200, 30), "3": (30, 30, 200), "10": (200, 200, 30)}


def _side_by_side(h: int, colour: tuple[int, int, int]) -> Image.Image:
    """Left: white edge map with a black square outline; right: a flat coloured photo."""
    edges = np.full((h, h, 3), 255, np.uint8)
    q = h // 4
    edges[q : 3 * q, q : q + 3] = 0
    edges[q : 3 * q, 3 * q - 3 : 3 * q] = 0
    edges[q : q + 3, q : 3 * q] = 0
    edges[3 * q - 3 : 3 * q, q : 3 * q] = 0
    photo = np.empty((h, h, 3), np.uint8)
    photo[:] = colour
    return Image.fromarray(np.concatenate([edges, photo], axis=1))


def _make_folder(root: Path, split: str = "train", h: int = 128) -> Path:
    folder = root / split
    folder.mkdir(parents=True)
    for name, colour in COLOURS.items():
        _side_by_side(h, colour).save(folder / f"{name}.jpg", quality=95)
    return folder


def _check_halves(photos: np.ndarray, edges: np.ndarray) -> None:
    # sorted by (length, name): 1, 2, 3, 10
    for i, colour in enumerate(COLOURS.values()):
        mean = photos[i].reshape(-1, 3).mean(0)
        np.testing.assert_allclose(mean, colour, atol=6)
    assert np.median(edges) >= 250  # white background
    assert edges.min() < 60  # dark strokes survived the resize
    assert edges[:, 0:8, 0:8].mean() > 245  # corners are background


def test_read_folder(tmp_path: Path, tmp_cache: Path) -> None:
    _make_folder(tmp_path, h=128)
    arrays = read_pix2pix_folder(tmp_path, "train", size=64)
    assert arrays["images"].shape == (4, 64, 64, 3) and arrays["images"].dtype == np.uint8
    assert arrays["edges"].shape == (4, 64, 64, 1) and arrays["edges"].dtype == np.uint8
    _check_halves(arrays["images"], arrays["edges"])


def test_edges_right(tmp_path: Path, tmp_cache: Path) -> None:
    _make_folder(tmp_path, h=64)
    arrays = read_pix2pix_folder(tmp_path, "train", size=32, edges_left=False)
    assert arrays["images"].shape == (4, 32, 32, 3)
    # swapped: the "photos" are now the white edge maps, the "edges" the flat colours in gray
    assert arrays["images"].mean() > 200
    assert arrays["edges"].std(axis=(1, 2, 3)).max() < 5


def test_limit(tmp_path: Path, tmp_cache: Path) -> None:
    _make_folder(tmp_path)
    arrays = read_pix2pix_folder(tmp_path, "train", limit=2)
    assert len(arrays["images"]) == 2


def test_load_domain_with_root(tmp_path: Path, tmp_cache: Path) -> None:
    _make_folder(tmp_path, "train")
    _make_folder(tmp_path, "val")
    photos = load_domain("shoes", "train", root=tmp_path)
    edges = load_domain("shoes_edges", "train", root=tmp_path)
    assert photos.images.shape == (4, 64, 64, 3) and edges.images.shape == (4, 64, 64, 1)
    assert photos.name == "shoes" and edges.name == "shoes_edges"
    _check_halves(photos.images, edges.images)
    test = load_domain("handbags", "test", root=tmp_path)  # "test" reads the val/ folder
    assert test.images.shape == (4, 64, 64, 3)


def test_root_from_env(tmp_path: Path, tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_folder(tmp_path, "train")
    monkeypatch.setenv("NAM_EDGES2HANDBAGS_ROOT", str(tmp_path))
    assert load_domain("handbags_edges", "train").images.shape == (4, 64, 64, 1)


def test_cached_second_call(tmp_path: Path, tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_folder(tmp_path, h=256)
    t0 = time.perf_counter()
    first = read_pix2pix_folder(tmp_path, "train")
    t_first = time.perf_counter() - t0
    assert any(tmp_cache.iterdir())

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cached folder was decoded again")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    t0 = time.perf_counter()
    second = read_pix2pix_folder(tmp_path, "train")
    t_second = time.perf_counter() - t0
    for k in ("images", "edges"):
        np.testing.assert_array_equal(first[k], second[k])
    assert t_second < max(0.5, t_first)
    # a different size is a different cache entry, so it must decode again
    with pytest.raises(AssertionError, match="decoded again"):
        read_pix2pix_folder(tmp_path, "train", size=32)


def test_empty_folder(tmp_path: Path, tmp_cache: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="No pix2pix"):
        read_pix2pix_folder(tmp_path, "train")
    with pytest.raises(FileNotFoundError):
        load_domain("shoes", "test", root=tmp_path)


def test_wrong_aspect(tmp_path: Path, tmp_cache: Path) -> None:
    folder = _make_folder(tmp_path)
    Image.new("RGB", (64, 64), (10, 10, 10)).save(folder / "4.jpg")
    with pytest.raises(ValueError, match="width 2×height"):
        read_pix2pix_folder(tmp_path, "train")


def test_corrupt_jpg(tmp_path: Path, tmp_cache: Path) -> None:
    folder = _make_folder(tmp_path)
    (folder / "5.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    with pytest.raises(ValueError, match="corrupt"):
        read_pix2pix_folder(tmp_path, "train")
    # the failed build left nothing behind in the cache
    assert not list(tmp_cache.rglob("key.json"))
