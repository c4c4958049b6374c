"""Folder domains (``load_domain("folder:PATH")``) and the PNG export, on files the tests write themselves."""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nam_core.data.folder as folder_mod
from nam_core.data import DOMAINS, DomainDataset, DomainSpec, load_domain
from nam_core.data.export import export_domain, main
from nam_core.data.folder import (
    FileTooLargeError,
    FolderDataError,
    FolderNotFoundError,
    SkippedFilesWarning,
    TooFewImagesError,
    ZipBombError,
    folder_domain_name,
    folder_files,
)


@pytest.fixture(autouse=True)
def _clean_registry(tmp_cache: Path) -> Iterator[None]:
    """Every test gets a fresh cache, and folder domains it registers do not leak into other tests."""
    before = dict(DOMAINS)
    yield
    DOMAINS.clear()
    DOMAINS.update(before)


def _rgb(i: int, w: int = 40, h: int = 48) -> Image.Image:
    """A coloured picture that differs per index (so order and identity can be checked)."""
    rng = np.random.default_rng(i)
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = rng.integers(40, 216, 3, dtype=np.uint8)
    arr[h // 4 : h // 2, w // 4 : w // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    return Image.fromarray(arr)


def _gray(i: int, w: int = 40, h: int = 48) -> Image.Image:
    return _rgb(i, w, h).convert("L")


def _fill(folder: Path, n: int, make=_rgb, ext: str = "png", start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        p = folder / f"img{i:03d}.{ext}"
        make(i).save(p)
        paths.append(p)
    return paths


def _load(name: str, split: str = "train", **kw) -> DomainDataset:
    kw.setdefault("min_images", 1)
    return load_domain(name, split, **kw)


def test_folder_loads_both_splits_and_registers_a_spec(tmp_path: Path) -> None:
    _fill(tmp_path / "imgs", 30)
    name = f"folder:{tmp_path / 'imgs'}"
    train, test = _load(name, "train", size=64), _load(name, "test", size=64)
    assert len(train) + len(test) == 30 and len(test) > 0
    assert train.images.shape[1:] == (64, 64, 3) and train.images.dtype == np.uint8
    assert train.name == test.name == folder_domain_name(tmp_path / "imgs", size=64, min_images=1)
    spec = DOMAINS[train.name]
    assert (spec.size, spec.channels, spec.labelled) == (64, 3, False)
    again = spec.loader(split="train")  # the registered loader rebuilds the same domain from its name alone
    np.testing.assert_array_equal(again.images, train.images)
    assert set(folder_files(train)).isdisjoint(folder_files(test))


def test_corrupt_files_are_skipped_and_counted(tmp_path: Path) -> None:
    _fill(tmp_path, 6)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20)
    (tmp_path / "truncated.jpg").write_bytes(_jpeg_bytes(_rgb(99))[:300])
    with pytest.warns(SkippedFilesWarning, match=r"skipped 2 of 8 files \(unreadable\): bad.png, truncated.jpg"):
        ds = _load(f"folder:{tmp_path}", test_fraction=0.0)
    assert len(ds) == 6 and ds.info["skipped"] == {"unreadable": ["bad.png", "truncated.jpg"]}


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def test_empty_missing_and_too_few_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(TooFewImagesError, match="no images found"):
        load_domain(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(FolderNotFoundError, match="no such folder"):
        load_domain(f"folder:{tmp_path / 'nowhere'}")
    _fill(tmp_path / "few", 12)
    with pytest.raises(TooFewImagesError, match="at least 100") as err:
        load_domain(f"folder:{tmp_path / 'few'}")  # the default minimum refuses a dozen images
    assert isinstance(err.value, ValueError) and "Add more images" in str(err.value)
    # corrupt files do not count towards the minimum
    (tmp_path / "few" / "z.png").write_bytes(b"garbage")
    skipped = r"\(skipped 1 of 13 files \(unreadable\): z.png\)"
    with pytest.raises(TooFewImagesError, match=r"only 12 usable image\(s\) " + skipped):
        load_domain(f"folder:{tmp_path / 'few'}", min_images=13)


def test_channels_decided_from_the_data_or_forced(tmp_path: Path) -> None:
    gray = tmp_path / "gray"
    _fill(gray, 5, _gray)
    # a gray picture saved as an RGB JPEG carries chroma noise; it still counts as gray
    (gray / "rgbjpeg.jpg").write_bytes(_jpeg_bytes(_gray(50).convert("RGB")))
    ds = _load(f"folder:{gray}", test_fraction=0.0)
    assert ds.images.shape[-1] == 1 and ds.info["channels_from"] == "data"
    expected = np.asarray(_gray(0).crop((0, 4, 40, 44)))  # 40 px shorter side → centre crop, resized to 32
    got = np.asarray(Image.fromarray(expected).resize((32, 32), Image.LANCZOS))
    np.testing.assert_allclose(ds.images[0, ..., 0].astype(int), got.astype(int), atol=1)
    forced = _load(f"folder:{gray}?channels=3", test_fraction=0.0)
    assert forced.images.shape[-1] == 3
    np.testing.assert_array_equal(forced.images[..., 0], forced.images[..., 2])
    _rgb(77).save(gray / "colour.png")  # one colour image makes the whole domain RGB
    assert _load(f"folder:{gray}", test_fraction=0.0).images.shape[-1] == 3
    as_gray = _load(f"folder:{gray}", test_fraction=0.0, channels="gray")
    assert as_gray.images.shape[-1] == 1 and DOMAINS[as_gray.name].channels == 1


def test_rgba_is_composited_on_white_and_16_bit_scaled(tmp_path: Path) -> None:
    arr = np.zeros((32, 32, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, 16:, 3] = 255  # right half opaque red, left half fully transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    deep = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    ds = _load(f"folder:{tmp_path}", test_fraction=0.0, channels=3)
    files = folder_files(ds)
    rgba = ds.images[files.index("a.png")]
    assert (rgba[:, :12] == 255).all()  # transparent → white, not black
    np.testing.assert_array_equal(rgba[:, 20:].reshape(-1, 3).mean(0).round(), [200, 0, 0])
    sixteen = ds.images[files.index("deep.png")][..., 0].astype(int)
    assert sixteen.max() > 200 and sixteen[0, 0] < 10  # 16-bit values scaled into 0..255, not clipped to white


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.full((64, 64, 3), 255, np.uint8)
    arr[:24, :24] = 0  # dark marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    (tmp_path / "rotated.jpg").write_bytes(_jpeg_bytes(Image.fromarray(arr), exif=exif))
    ds = _load(f"folder:{tmp_path}", test_fraction=0.0)
    img = ds.images[0, ..., 0].astype(int)
    assert img[:12, -12:].mean() < 40 and img[:12, :12].mean() > 215  # the marker is now top-right


def test_pixel_budget_uses_jpeg_draft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_mod, "MAX_PIXELS", 1_000_000)
    big = np.zeros((1500, 2000, 3), np.uint8)
    big[:, :1000] = (220, 30, 30)
    Image.fromarray(big).save(tmp_path / "photo.jpg", quality=90)  # 3 MP, decoded at 1/8 scale: within budget
    Image.fromarray(big).save(tmp_path / "scan.png")  # 3 MP and PNG has no reduced decode: over budget
    with pytest.warns(SkippedFilesWarning, match=r"skipped 1 of 2 files \(over 1 megapixels\): scan.png"):
        ds = _load(f"folder:{tmp_path}", test_fraction=0.0, size=64)
    assert folder_files(ds) == ["photo.jpg"] and ds.images.shape == (1, 64, 64, 3)
    np.testing.assert_allclose(ds.images[0, :, :20].reshape(-1, 3).mean(0), (220, 30, 30), atol=8)


def test_nested_folders_hidden_files_and_extensions(tmp_path: Path) -> None:
    _fill(tmp_path / "a" / "b" / "c", 3, ext="JPG")
    _fill(tmp_path / "a", 2, ext="webp", start=10)
    _fill(tmp_path, 2, ext="bmp", start=20)
    _fill(tmp_path / "x", 1, ext="jpeg", start=30)
    _fill(tmp_path / ".thumbnails", 4, start=40)  # hidden folders and macOS resource forks are not images
    (tmp_path / "._img020.bmp").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "readme.md").write_text("not an image")
    ds = _load(f"folder:{tmp_path}", test_fraction=0.0)
    assert len(ds) == 8 and not ds.info["skipped"]
    assert "a/b/c/img000.JPG" in folder_files(ds) and "x/img030.jpeg" in folder_files(ds)


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _png_bytes(im: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_zip_matches_the_folder_and_ignores_unsafe_names(tmp_path: Path) -> None:
    _fill(tmp_path / "dir" / "sub", 10)
    members = {f"horses/sub/img{i:03d}.png": _png_bytes(_rgb(i)) for i in range(10)}
    members["../escape.png"] = _png_bytes(_rgb(90))
    members["/abs.png"] = _png_bytes(_rgb(91))
    members["__MACOSX/horses/._img000.png"] = b"resource fork"
    z = _zip(tmp_path / "horses.zip", members)
    from_zip = _load(f"folder:{z}", test_fraction=0.0)
    from_dir = _load(f"folder:{tmp_path / 'dir'}", test_fraction=0.0)
    np.testing.assert_array_equal(from_zip.images, from_dir.images)
    assert folder_files(from_zip) == folder_files(from_dir)  # the wrapping folder is stripped in both
    assert from_zip.info["unsafe_members"] == 2
    # read in place: nothing was extracted next to the archive (or above it)
    assert not (tmp_path.parent / "escape.png").exists() and not (tmp_path / "escape.png").exists()
    assert all(p.is_relative_to(tmp_path / "dir") for p in tmp_path.rglob("*.png"))


def test_zip_bomb_and_size_limits_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = {f"img{i}.png": _png_bytes(_rgb(i)) for i in range(3)}
    bomb = _zip(tmp_path / "bomb.zip", {**good, "big.png": b"\0" * (60 * 2**20)})  # ~60 KB on disk
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ZipBombError, match="zip bomb") as err:
        _load(f"folder:{bomb}")
    assert isinstance(err.value, FolderDataError) and isinstance(err.value, ValueError)
    monkeypatch.setattr(folder_mod, "MAX_ZIP_BYTES", 200)  # many small members adding up is a bomb too
    with pytest.raises(ZipBombError, match="expands to more than"):
        _load(f"folder:{_zip(tmp_path / 'many.zip', good)}")
    monkeypatch.setattr(folder_mod, "MAX_FILE_BYTES", 50)
    _fill(tmp_path / "dir", 3)
    with pytest.raises(FileTooLargeError, match="3 file.* over the 50 bytes limit per image .*img000.png"):
        _load(f"folder:{tmp_path / 'dir'}")
    (tmp_path / "notzip.zip").write_bytes(b"PK but not really")
    with pytest.raises(FolderDataError, match="neither a folder nor a zip"):
        _load(f"folder:{tmp_path / 'notzip.zip'}")


def test_cyclegan_layout(tmp_path: Path) -> None:
    _fill(tmp_path / "trainA", 6, _gray)
    _fill(tmp_path / "testA", 2, _gray, start=50)
    _fill(tmp_path / "trainB", 5)
    with pytest.raises(FolderDataError, match="pick one side"):
        _load(f"folder:{tmp_path}")
    a_train, a_test = _load(f"folder:{tmp_path}#A"), _load(f"folder:{tmp_path}#A", "test")
    assert (len(a_train), len(a_test)) == (6, 2) and a_train.images.shape[-1] == 1
    assert folder_files(a_test) == ["testA/img050.png", "testA/img051.png"]
    b_train, b_test = _load(f"folder:{tmp_path}#B", test_fraction=0.4), _load(f"folder:{tmp_path}#B", "test",
                                                                            test_fraction=0.4)
    assert len(b_train) + len(b_test) == 5 and b_train.images.shape[-1] == 3  # no testB: split by name hash
    assert all(f.startswith("trainB/") for f in folder_files(b_train) + folder_files(b_test))
    assert DOMAINS[a_train.name].channels == 1 and DOMAINS[b_train.name].channels == 3


def test_pix2pix_side_by_side_halves(tmp_path: Path) -> None:
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        for i in range(3):
            pair = np.empty((64, 128, 3), np.uint8)
            pair[:, :64] = 255
            pair[20:40, 20:40] = 0  # left: edge-map-like, gray
            pair[:, 64:] = (30 * i + 100, 40, 200)  # right: a flat colour
            Image.fromarray(pair).save(tmp_path / split / f"{i}.jpg", quality=95)
    edges, photos = _load(f"folder:{tmp_path}#A"), _load(f"folder:{tmp_path}#B", "test")
    assert edges.images.shape == (3, 32, 32, 1) and photos.images.shape == (3, 32, 32, 3)
    assert edges.images.min() < 40 and np.median(edges.images) > 245
    np.testing.assert_allclose(photos.images[0].reshape(-1, 3).mean(0), (100, 40, 200), atol=6)


def test_split_is_deterministic_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(tmp_path / "d", 40)
    name = f"folder:{tmp_path / 'd'}?test_fraction=0.25"
    first = (folder_files(_load(name)), folder_files(_load(name, "test")))
    monkeypatch.setenv("NAM_CACHE_DIR", str(tmp_path / "other_cache"))  # rebuilt from scratch: same split
    assert (folder_files(_load(name)), folder_files(_load(name, "test"))) == first
    assert 0 < len(first[1]) < 40
    _fill(tmp_path / "d", 10, start=100)
    train, test = folder_files(_load(name)), folder_files(_load(name, "test"))
    assert set(first[0]) <= set(train) and set(first[1]) <= set(test)  # old files keep their side


def test_second_load_is_a_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _fill(tmp_path, 8)
    first = _load(f"folder:{tmp_path}")
    calls = []
    real = folder_mod._decode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(folder_mod, "_decode", counting)
    second = _load(f"folder:{tmp_path}")
    assert calls == [] and isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)
    _load(f"folder:{tmp_path}", size=64)  # other options are another entry
    assert len(calls) == 8
    os.utime(paths[0], ns=(1, 1))  # a changed file is other content
    _load(f"folder:{tmp_path}")
    assert len(calls) == 16


def test_spec_from_the_name_alone_and_translator_inputs(tmp_path: Path) -> None:
    name = f"folder:{tmp_path / 'gone'}?size=64&channels=1"
    spec = DOMAINS[name]  # size and channels in the name: no data needed (a served checkpoint's case)
    assert (spec.size, spec.channels) == (64, 1)
    _fill(tmp_path / "d", 4)
    auto = DOMAINS[f"folder:{tmp_path / 'd'}?min_images=1"]  # channels from the data: loads (and caches) it
    assert (auto.size, auto.channels) == (32, 3)
    from nam_core.serving.translator import prepare_inputs

    x = prepare_inputs(np.full((2, 50, 70, 3), 128, np.uint8), name)
    assert x.shape == (2, 64, 64, 1)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    with pytest.raises(FolderDataError, match="size=48"):
        load_domain(f"folder:{tmp_path}?size=48")
    with pytest.raises(FolderDataError, match="unknown folder option"):
        load_domain(f"folder:{tmp_path}?colour=yes")
    with pytest.raises(FolderDataError, match="both in the name"):
        load_domain(f"folder:{tmp_path}?size=64", size=32)


def _toy_domain(monkeypatch: pytest.MonkeyPatch) -> dict[str, DomainDataset]:
    rng = np.random.default_rng(0)
    sets = {s: DomainDataset("toy", s, rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                             rng.integers(0, 10, n).astype(np.uint8)) for s, n in (("train", 30), ("test", 12))}
    monkeypatch.setitem(DOMAINS, "toy", DomainSpec("toy", 32, 3, True, lambda split="train": sets[split], "toy"))
    return sets


def test_export_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    sets = _toy_domain(monkeypatch)
    assert main(["--domain", "toy", "--out", str(tmp_path / "out"), "--limit", "20"]) == 0
    assert "20 train, 12 test images of toy" in capsys.readouterr().out
    with open(tmp_path / "out" / "labels.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 32 and rows[0] == {"file": "train/00000.png", "label": str(sets["train"].labels[0])}
    for split, n in (("train", 20), ("test", 12)):
        ds = _load(f"folder:{tmp_path / 'out'}", split)
        np.testing.assert_array_equal(ds.images, sets[split].images[:n])
        np.testing.assert_array_equal(ds.labels, sets[split].labels[:n])
    with pytest.raises(FileExistsError, match="not empty"):
        export_domain("toy", tmp_path / "out")
    assert main(["--domain", "toy", "--out", str(tmp_path / "out")]) == 2
