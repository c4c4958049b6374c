"""The synthetic street-number digit domain (SVHN stand-in): shapes, determinism, streaming, labels, looks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nam_core.data.street import render_street_digits, street_font_paths

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@pytest.fixture(scope="module")
def rendered() -> tuple[np.ndarray, np.ndarray]:
    """2,000 crops (about 2 s), shared by the statistics tests."""
    return render_street_digits(2000, seed=11)


def _ink_maps(images: np.ndarray) -> np.ndarray:
    """Polarity-free ink maps of the central region: |grey - median grey|, normalised per image."""
    grey = images.astype(np.float32) @ LUMA
    dev = np.abs(grey - np.median(grey.reshape(len(grey), -1), axis=1)[:, None, None])
    dev /= dev.reshape(len(dev), -1).std(axis=1)[:, None, None] + 1e-3
    return dev[:, 4:28, 6:26].reshape(len(dev), -1)


def test_shapes_dtypes_ranges() -> None:
    images, labels = render_street_digits(40, seed=0)
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (40,) and labels.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() <= 9
    big, big_labels = render_street_digits(3, seed=0, size=48)
    assert big.shape == (3, 48, 48, 3) and big.dtype == np.uint8
    np.testing.assert_array_equal(big_labels, labels[:3])  # labels do not depend on the size
    empty, empty_labels = render_street_digits(0, seed=0)
    assert empty.shape == (0, 32, 32, 3) and empty_labels.shape == (0,)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        render_street_digits(-1, seed=0)
    with pytest.raises(ValueError):
        render_street_digits(2, seed=0, size=4)


def test_deterministic_and_seed_dependent() -> None:
    a_img, a_lab = render_street_digits(30, seed=3)
    b_img, b_lab = render_street_digits(30, seed=3)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    c_img, c_lab = render_street_digits(30, seed=4)
    assert not np.array_equal(a_lab, c_lab)
    # every image differs from its counterpart under another seed
    assert (np.abs(a_img.astype(int) - c_img.astype(int)).reshape(30, -1).mean(axis=1) > 1).all()


def test_slices_render_independently() -> None:
    full_img, full_lab = render_street_digits(20, seed=5)
    part_img, part_lab = render_street_digits(10, seed=5, start=5)
    np.testing.assert_array_equal(part_img, full_img[5:15])
    np.testing.assert_array_equal(part_lab, full_lab[5:15])
    one_img, one_lab = render_street_digits(1, seed=5, start=13)
    np.testing.assert_array_equal(one_img[0], full_img[13])
    assert one_lab[0] == full_lab[13]


def test_label_balance(rendered: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = rendered
    assert np.bincount(labels, minlength=10).tolist() == [200] * 10  # exact per aligned block of 10
    _, shifted = render_street_digits(997, seed=11, start=3)  # unaligned slice: off by at most one per class
    counts = np.bincount(shifted, minlength=10)
    assert counts.min() >= 99 and counts.max() <= 100
    # the order is shuffled, not a cycle
    assert len({tuple(labels[i : i + 10]) for i in range(0, 200, 10)}) > 15


def test_images_vary(rendered: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = rendered
    flat = images.reshape(len(images), -1).astype(np.float32)
    assert (flat.std(axis=1) > 3).all()  # no constant images
    assert (flat.max(axis=1) - flat.min(axis=1) > 30).all()  # every crop has visible contrast
    colours = images.reshape(len(images), -1, 3).mean(axis=1)
    assert colours.std(axis=0).min() > 25  # plates and walls of many colours
    # several looks: dark-on-light and light-on-dark, sharp and blurred
    grey = flat.reshape(-1, 32, 32, 3) @ LUMA
    centre, border = grey[:, 12:20, 14:18].mean(axis=(1, 2)), grey[:, :, :3].mean(axis=(1, 2))
    assert 0.15 < (centre > border).mean() < 0.85


def test_label_recoverable(rendered: tuple[np.ndarray, np.ndarray]) -> None:
    """Class means of the ink maps differ, and a nearest-class-mean rule beats chance by far on new images."""
    images, labels = rendered
    feats = _ink_maps(images)
    means = np.stack([feats[labels == c].mean(axis=0) for c in range(10)])
    dists = np.sqrt(((means[:, None] - means[None]) ** 2).mean(axis=-1))
    assert dists[np.triu_indices(10, 1)].min() > 0.05
    test_img, test_lab = render_street_digits(400, seed=12)
    test_feats = _ink_maps(test_img)
    pred = np.argmin(((test_feats[:, None] - means[None]) ** 2).sum(axis=-1), axis=1)
    assert (pred == test_lab).mean() > 0.35  # chance is 0.10


def test_fonts_come_from_matplotlib() -> None:
    paths, cdf = street_font_paths()
    assert len(paths) >= 10 and all(Path(p).is_file() for p in paths)
    assert len({Path(p).name.split("-")[0].split(".")[0] for p in paths}) >= 5  # several families/faces
    assert cdf[-1] == pytest.approx(1.0) and list(cdf) == sorted(cdf)
