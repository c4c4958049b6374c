"""A user's own images as a domain: ``load_domain("folder:PATH")``.

Names
-----
``folder:PATH``
    a folder of images, searched recursively (``.png .jpg .jpeg .webp .bmp``, any case), or a ``.zip`` of them
    (read in place, never extracted). Hidden files and ``__MACOSX`` entries are ignored, and so is one wrapping
    folder that holds everything (``horse2zebra.zip`` → ``horse2zebra/trainA/…``).
``folder:PATH#A`` / ``folder:PATH#B``
    one side of a paired layout: the ``trainA/ testA/`` (``trainB/ testB/``) folders of a CycleGAN download, or,
    in any other layout, the left (A) / right (B) half of pix2pix side-by-side images (width 2×height).
``folder:PATH?size=64&channels=1#A``
    options in the name, so the name alone rebuilds the domain (it is what checkpoints record). The same options
    can be keyword arguments: ``load_domain("folder:PATH", "train", size=64)``.

Options (query key = keyword argument)
--------------------------------------
``size``           32 (default), 64 or 128: the shorter side is resized to it, then the centre square is cropped.
``channels``       ``auto`` (default: 1 when every image is gray-ish, else 3), ``1``/``gray`` or ``3``/``rgb``.
``test_fraction``  share of files in the test split when the data has no split folders (default 0.1).
``min_images``     fewer usable images than this are refused (default 100).

Splits: ``train/`` and ``test/`` (or ``val/``) folders, or CycleGAN's ``trainA/ testA/``, are used as given;
otherwise each file goes to the test split when a hash of its relative name falls under ``test_fraction``, so
the split is the same on every machine and adding files never moves the others. A ``labels.csv`` beside the
images (columns ``file,label``, file names relative to it, as :mod:`nam_core.data.export` writes) gives the
datasets labels for scoring.

Images get their EXIF orientation applied, transparency composited on white, 16-bit values scaled to 8 bits.
Files that cannot be decoded are skipped and counted in one :class:`SkippedFilesWarning`. Refused with a
:class:`FolderDataError` (a ``ValueError``) that says what to do: a missing or empty source, fewer than
``min_images`` usable images, more than :data:`MAX_IMAGES`, a file over :data:`MAX_FILE_BYTES`, and a zip that
looks like a bomb (total size over :data:`MAX_ZIP_BYTES`, or a member compressed more than :data:`MAX_RATIO`×).
Members whose names climb out of the archive (``..``, absolute paths) are ignored.

The decoded arrays are cached under the dataset cache (:func:`nam_core.paths.cache_dir`), keyed by the relative
names, sizes and modification times (CRCs inside a zip) of the files plus the options. Images are decoded one at
a time (JPEGs at a reduced scale when they are far larger than the target) and written out in chunks, so memory
stays bounded for large collections; later loads are memory-mapped reads of the cached arrays.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np

from ..paths import cache_dir
from .base import DomainDataset
from .shoes import side_by_side_halves

PREFIX = "folder:"
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
SIZES = (32, 64, 128)
MAX_IMAGES = 200_000
MAX_FILE_BYTES = 50 * 2**20
MAX_ZIP_BYTES = 4 * 2**30
MAX_RATIO = 100
# Deflate of genuine image files rarely shrinks them below 1/100; only members big enough to matter are checked,
# as tiny files (headers, blank thumbnails) can legitimately compress far better.
RATIO_MIN_BYTES = 2**20
MAX_PIXELS = 50_000_000
CACHE_VERSION = 1
LABELS_FILE = "labels.csv"
CYCLEGAN_DIRS = ("traina", "trainb", "testa", "testb")
# gray-ish: fewer than GRAY_SHARE of the pixels have channels further apart than GRAY_TOLERANCE levels (JPEG
# chroma noise on a gray picture stays well under it; a coloured object of a few percent of the frame does not)
GRAY_TOLERANCE = 16
GRAY_SHARE = 0.01
_WRITE_CHUNK = 256


class FolderDataError(ValueError):
    """A folder or zip that cannot be used as a domain; the message says what to do about it."""


class FolderNotFoundError(FolderDataError, FileNotFoundError):
    """The folder or zip does not exist."""


class TooFewImagesError(FolderDataError):
    """No images, or fewer usable images than ``min_images``."""


class FileTooLargeError(FolderDataError):
    """Files over :data:`MAX_FILE_BYTES`, or more than :data:`MAX_IMAGES` images."""


class ZipBombError(FolderDataError):
    """A zip whose members decompress to far more than it holds."""


class SkippedFilesWarning(UserWarning):
    """Some files could not be decoded and were left out of the domain."""


@dataclass(frozen=True)
class FolderOptions:
    """Options of a folder domain; ``channels`` 0 means decided from the data."""

    size: int = 32
    channels: int = 0
    test_fraction: float = 0.1
    min_images: int = 100


DEFAULTS = FolderOptions()
_CHANNEL_WORDS = {"auto": 0, "0": 0, "1": 1, "gray": 1, "grey": 1, "l": 1, "3": 3, "rgb": 3, "color": 3, "colour": 3}


def is_folder_name(name: object) -> bool:
    """True for ``folder:…`` domain names."""
    return isinstance(name, str) and name.startswith(PREFIX)


def _option(opts: FolderOptions, key: str, value: object) -> FolderOptions:
    fields = sorted(FolderOptions.__dataclass_fields__)
    if key not in fields:
        raise FolderDataError(f"unknown folder option {key!r}; choose from {fields}")
    text = str(value).strip().lower() if value is not None else "auto"
    try:
        if key == "channels":
            parsed: object = _CHANNEL_WORDS[text]
        elif key == "test_fraction":
            parsed = float(text)
            if not 0.0 <= parsed < 1.0:  # type: ignore[operator]
                raise ValueError
        else:
            parsed = int(text)
            if key == "size" and parsed not in SIZES:
                raise ValueError
            if key == "min_images" and parsed < 1:  # type: ignore[operator]
                raise ValueError
    except (KeyError, ValueError):
        allowed = {"size": "32, 64 or 128", "channels": "auto, 1 (gray) or 3 (rgb)",
                   "test_fraction": "a number in [0, 1)", "min_images": "a whole number ≥ 1"}[key]
        raise FolderDataError(f"folder option {key}={value} is not valid; use {allowed}") from None
    return replace(opts, **{key: parsed})


def parse_folder_name(name: str, **kwargs) -> tuple[Path, str | None, FolderOptions]:
    """``folder:PATH[?k=v&…][#A|#B]`` plus keyword options → (path, side, options).

    An option given both in the name and as a keyword argument must agree.
    """
    if not is_folder_name(name):
        raise FolderDataError(f"{name!r} is not a folder domain name (they start with {PREFIX!r})")
    rest, side, query = name[len(PREFIX):], None, ""
    for _ in range(2):  # the fragment and the query may come in either order
        if len(rest) > 2 and rest[-2] == "#" and rest[-1].upper() in "AB":
            rest, side = rest[:-2], rest[-1].upper()
        elif "?" in rest and "=" in rest.rpartition("?")[2] and "/" not in rest.rpartition("?")[2]:
            rest, _, query = rest.rpartition("?")
    if not rest:
        raise FolderDataError(f"{name!r}: give the folder or zip after {PREFIX!r}, e.g. folder:~/horses.zip")
    opts = DEFAULTS
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq:
            raise FolderDataError(f"{name!r}: option {part!r} needs a value (key=value)")
        opts = _option(opts, key.strip(), value)
    for key, value in kwargs.items():
        new = _option(opts, key, value)
        if f"{key}=" in query and new != opts:
            raise FolderDataError(f"{name!r}: {key} is given both in the name and as {key}={value!r}")
        opts = new
    return Path(os.path.expanduser(rest)), side, opts


def folder_domain_name(path: str | Path, side: str | None = None, **options) -> str:
    """The canonical name of a folder domain: absolute path, non-default options in a fixed order, side last."""
    if side is not None and side.upper() not in ("A", "B"):
        raise FolderDataError(f"side must be 'A' or 'B', got {side!r}")
    opts = DEFAULTS
    for key, value in options.items():
        opts = _option(opts, key, value)
    return _canonical(Path(os.path.expanduser(str(path))), side.upper() if side else None, opts)


def _canonical(path: Path, side: str | None, opts: FolderOptions) -> str:
    changed = {k: v for k, v in asdict(opts).items() if v != getattr(DEFAULTS, k)}
    query = "&".join(f"{k}={v}" for k, v in changed.items())
    return f"{PREFIX}{path.resolve()}" + (f"?{query}" if query else "") + (f"#{side}" if side else "")


def folder_spec_params(name: str) -> tuple[str, int, int]:
    """(canonical name, size, channels) readable from the name alone; channels 0 means "decided from the data"."""
    path, side, opts = parse_folder_name(name)
    return _canonical(path, side, opts), opts.size, opts.channels


# ---------------------------------------------------------------------------------------------------------- source


@dataclass(frozen=True)
class _Entry:
    name: str  # relative posix path inside the source
    size: int
    stamp: str  # mtime_ns (folder) or CRC + date (zip): with name and size, what the cache key hashes


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _safe_member(name: str) -> str | None:
    """The member's relative posix name, or None when it could escape the archive."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        return None
    return "/".join(p for p in parts if p != ".")


class _Source:
    """The image files of a folder or a zip, listed and checked against the limits; ``read`` returns bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = path.is_file()
        self.unsafe = 0
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, zipfile.ZipInfo] = {}
        if not path.exists():
            raise FolderNotFoundError(f"no such folder or zip: {path}; check the path")
        if self.is_zip and not zipfile.is_zipfile(path):
            raise FolderDataError(f"{path.name} is neither a folder nor a zip archive; pass a folder of images "
                                  "or a .zip of them")
        entries = self._list_zip() if self.is_zip else self._list_folder()
        self.prefix = self._wrapping_folder(entries)
        strip = len(self.prefix)
        entries = [replace(e, name=e.name[strip:]) for e in entries]
        self.labels_entry = next((e for e in entries if e.name.lower() == LABELS_FILE), None)
        self.images = sorted((e for e in entries if PurePosixPath(e.name).suffix.lower() in IMAGE_EXTS),
                             key=lambda e: e.name)
        big = [e for e in self.images if e.size > MAX_FILE_BYTES]
        if big:
            raise FileTooLargeError(
                f"{len(big)} file(s) are over the {_size_text(MAX_FILE_BYTES)} limit per image "
                f"({_names(e.name for e in big)}); shrink or remove them and try again")
        if len(self.images) > MAX_IMAGES:
            raise FileTooLargeError(f"{len(self.images)} images is more than the limit of {MAX_IMAGES}; "
                                    "use a subset of the collection")

    def _list_folder(self) -> list[_Entry]:
        out: list[_Entry] = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = sorted(d for d in dirnames if not _ignored((d,)))
            rel_dir = Path(dirpath).relative_to(self.path).as_posix()
            for fn in filenames:
                if _ignored((fn,)):
                    continue
                suffix = PurePosixPath(fn).suffix.lower()
                if suffix not in IMAGE_EXTS and fn.lower() != LABELS_FILE:
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, fn))
                except OSError:
                    continue  # vanished or a dangling link: nothing to read
                if not stat.S_ISREG(st.st_mode):
                    continue
                out.append(_Entry(fn if rel_dir == "." else f"{rel_dir}/{fn}", st.st_size, str(st.st_mtime_ns)))
                if len(out) > MAX_IMAGES + 1:  # stop walking a huge tree early; the count check refuses it
                    return out
        return out

    def _list_zip(self) -> list[_Entry]:
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FolderDataError(f"{self.path.name} is not a readable zip ({exc}); re-create the archive") from exc
        self._zip = zf
        out: list[_Entry] = []
        total = 0
        for info in zf.infolist():
            if info.is_dir():
                continue
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= RATIO_MIN_BYTES and ratio > MAX_RATIO:
                raise ZipBombError(
                    f"{self.path.name} looks like a zip bomb: member {info.filename!r} expands {ratio:.0f}× "
                    f"(limit {MAX_RATIO}×). Zip the image files themselves (PNG/JPEG); if these are genuine "
                    "uncompressed BMPs, convert them to PNG first")
            if total > MAX_ZIP_BYTES:
                raise ZipBombError(
                    f"{self.path.name} expands to more than {_size_text(MAX_ZIP_BYTES)}; that looks like a zip "
                    "bomb or a far larger collection than a domain needs: zip a subset of the images")
            name = _safe_member(info.filename)
            if name is None:
                self.unsafe += 1
                continue
            parts = tuple(name.split("/"))
            if _ignored(parts):
                continue
            suffix = PurePosixPath(name).suffix.lower()
            if suffix not in IMAGE_EXTS and parts[-1].lower() != LABELS_FILE:
                continue
            self._members[name] = info
            out.append(_Entry(name, info.file_size, f"{info.CRC:08x}-{info.date_time}"))
        return out

    @staticmethod
    def _wrapping_folder(entries: list[_Entry]) -> str:
        """The ``a/b/`` prefix shared by every entry (folders that only wrap the collection), else ''."""
        prefix = ""
        while entries:
            firsts = {e.name[len(prefix):].split("/", 1)[0] for e in entries}
            deeper = all("/" in e.name[len(prefix):] for e in entries)
            if len(firsts) != 1 or not deeper:
                break
            top = firsts.pop()
            if top.lower() in (*CYCLEGAN_DIRS, "train", "test", "val"):
                break
            prefix += top + "/"
        return prefix

    def read(self, entry: _Entry) -> bytes:
        if self._zip is None:
            with open(self.path / (self.prefix + entry.name), "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        else:
            with self._zip.open(self._members[self.prefix + entry.name]) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:  # the listing said otherwise: a zip header that lies, or a growing file
            raise ZipBombError(f"{entry.name} holds more than {_size_text(MAX_FILE_BYTES)} though its listing "
                               "said less; re-create the archive from the image files")
        return data

    def labels(self) -> dict[str, int]:
        """``labels.csv`` as {relative file name: label}; {} when there is none or it cannot be parsed."""
        if self.labels_entry is None:
            return {}
        try:
            text = self.read(self.labels_entry).decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
            return {r["file"].strip().replace("\\", "/"): int(r["label"]) for r in rows}
        except (KeyError, ValueError, TypeError, UnicodeDecodeError, csv.Error):
            warnings.warn(f"{LABELS_FILE} is not a 'file,label' table of integer labels; loading without labels",
                          SkippedFilesWarning, stacklevel=3)
            return {}

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


@contextmanager
def _open_source(path: Path) -> Iterator[_Source]:
    src = _Source(path)
    try:
        yield src
    finally:
        src.close()


# ---------------------------------------------------------------------------------------------------------- layout
# the trainA/ trainB/ testA/ testB/ folder layout that CycleGAN's datasets are downloaded in (a dataset layout, named
# after the download, not the CycleGAN method): its side is chosen by folder, so its images are never halved
CYCLEGAN_LAYOUT = "cyclegan"


def _hash_test(name: str, fraction: float) -> bool:
    """Deterministic per-file split: the test split takes the names whose hash falls under ``fraction``."""
    h = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return h < fraction * 2**64


def _select(src: _Source, side: str | None, fraction: float) -> tuple[str, dict[str, list[_Entry]]]:
    """(layout, {"train": entries, "test": entries}) for the requested side."""
    by_top: dict[str, list[_Entry]] = {}
    for e in src.images:
        top = e.name.split("/", 1)[0].lower() if "/" in e.name else ""
        by_top.setdefault(top, []).append(e)
    if any(t in by_top for t in CYCLEGAN_DIRS):
        if side is None:
            raise FolderDataError("this is a CycleGAN layout (trainA/ trainB/ testA/ testB/); pick one side: "
                                  "folder:PATH#A or folder:PATH#B")
        train, test = by_top.get(f"train{side.lower()}", []), by_top.get(f"test{side.lower()}", [])
        if not test:
            # no test folder for this side: split its train folder by name, as for a plain folder
            in_test = [_hash_test(e.name.split("/", 1)[1], fraction) for e in train]
            test = [e for e, t in zip(train, in_test) if t]
            train = [e for e, t in zip(train, in_test) if not t]
        return CYCLEGAN_LAYOUT, {"train": train, "test": test}
    layout = "pix2pix" if side else "images"
    if "train" in by_top and ("test" in by_top or "val" in by_top):
        return f"{layout}-split", {"train": by_top["train"], "test": by_top.get("test") or by_top["val"]}
    test_set = {e.name for e in src.images if _hash_test(e.name, fraction)}
    return layout, {"train": [e for e in src.images if e.name not in test_set],
                    "test": [e for e in src.images if e.name in test_set]}


# ---------------------------------------------------------------------------------------------------------- decode


class _TooManyPixels(Exception):
    pass


class _NotSideBySide(Exception):
    pass


def _to_rgb(im):
    """Any PIL mode → RGB: 16-bit/float gray scaled to 8 bits, transparency composited on white."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if arr.max(initial=0) > 255:  # 16-bit data; 8-bit values stored in a 32-bit mode stay as they are
            arr = arr / 257.0
        im = Image.fromarray(np.clip(arr.round(), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _decode(data: bytes, size: int, side: str | None, max_pixels: int | None = None) -> np.ndarray:
    """Encoded image bytes → size×size×3 uint8: EXIF orientation, side half, shorter side resized, centre crop."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # our own pixel budget below replaces Pillow's bomb warning (JPEG draft decoding keeps big photos cheap)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise _TooManyPixels(str(exc)) from exc
    with im:
        if im.format == "JPEG":
            # decode at a 1/2, 1/4 or 1/8 scale that still covers the target size: far less memory and time
            im.draft(None, (2 * size, size) if side else (size, size))
        if im.width * im.height > (MAX_PIXELS if max_pixels is None else max_pixels):
            raise _TooManyPixels(f"{im.width}×{im.height}")
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception:  # a damaged EXIF block should not cost the picture itself
            oriented = None
        im2 = oriented if oriented is not None else im
        im2.load()
        rgb = _to_rgb(im2)
    if side:
        try:
            left, right = side_by_side_halves(rgb, "image")
        except ValueError as exc:
            raise _NotSideBySide(str(exc)) from exc
        rgb = left if side == "A" else right
    w, h = rgb.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    out = rgb.resize((size, size), Image.LANCZOS, box=box, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def _grayish(rgb: np.ndarray) -> bool:
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    return float((spread > GRAY_TOLERANCE).mean()) < GRAY_SHARE


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, the same weights the Translator uses to bring RGB inputs to a gray domain."""
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(y.round(), 0, 255).astype(np.uint8)[..., None]


def _size_text(n: int) -> str:
    return f"{n / 2**30:g} GB" if n >= 2**30 else f"{n / 2**20:g} MB" if n >= 2**20 else f"{n} bytes"


def _names(names, limit: int = 5) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", … and {len(names) - limit} more" if len(names) > limit else "")


def skipped_message(skipped: dict[str, list[str]], total: int) -> str:
    """One line for the files left out, e.g. ``skipped 3 of 512 files (unreadable): a.png, b.png, c.png``."""
    n = sum(len(v) for v in skipped.values())
    if len(skipped) == 1:
        (reason, names), = skipped.items()
        return f"skipped {n} of {total} files ({reason}): {_names(names)}"
    parts = "; ".join(f"{len(v)} {reason}: {_names(v)}" for reason, v in skipped.items())
    return f"skipped {n} of {total} files ({parts})"


def _build(src: _Source, selection: dict[str, list[_Entry]], opts: FolderOptions, halves: str | None,
           folder: Path, label: str) -> None:
    """Decode every selected file once into ``folder`` (a fresh temp folder): split arrays, files and meta;
    ``halves`` "A"/"B" keeps that half of side-by-side pairs.

    Decoded images are appended to a plain file and the final arrays written chunk by chunk with ordinary file
    I/O (no memory map), so the process holds one chunk at a time whatever the size of the collection.
    """
    order = [(split, e) for split in ("train", "test") for e in selection[split]]
    n, s = len(order), opts.size
    names: dict[str, list[str]] = {"train": [], "test": []}
    skipped: dict[str, list[str]] = {}
    n_gray = 0
    raw_path = folder / "raw.bin"
    with open(raw_path, "wb") as raw:
        for split, e in order:
            try:
                img = _decode(src.read(e), s, halves)
            except ZipBombError:
                raise
            except _TooManyPixels:
                skipped.setdefault(f"over {MAX_PIXELS // 1_000_000} megapixels", []).append(e.name)
                continue
            except _NotSideBySide:
                skipped.setdefault("not side-by-side pairs (width 2×height)", []).append(e.name)
                continue
            except Exception:  # whatever a broken file makes a decoder raise: the file is unusable, the rest is fine
                skipped.setdefault("unreadable", []).append(e.name)
                continue
            raw.write(np.ascontiguousarray(img).tobytes())
            names[split].append(e.name)
            n_gray += _grayish(img)
    usable = len(names["train"]) + len(names["test"])
    if usable < opts.min_images:
        note = f" ({skipped_message(skipped, n)})" if skipped else ""
        raise TooFewImagesError(
            f"{label}: only {usable} usable image(s){note}; a domain needs at least {opts.min_images}. "
            "Add more images (or pass min_images= for a quick experiment)")
    channels = opts.channels or (1 if n_gray == usable else 3)
    labels = src.labels()
    per_image = s * s * 3
    with open(raw_path, "rb") as raw:  # train images come first in the raw file, then test
        for split in ("train", "test"):
            count = len(names[split])
            with open(folder / f"{split}_images.npy", "wb") as out:
                np.lib.format.write_array_header_1_0(
                    out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                          "shape": (count, s, s, channels)})
                for j in range(0, count, _WRITE_CHUNK):
                    k = min(_WRITE_CHUNK, count - j)
                    chunk = np.frombuffer(raw.read(k * per_image), np.uint8).reshape(k, s, s, 3)
                    out.write((_luma(chunk) if channels == 1 else chunk).tobytes())
            if labels and names[split] and all(f in labels for f in names[split]):
                np.save(folder / f"{split}_labels.npy", np.array([labels[f] for f in names[split]], np.int64))
    raw_path.unlink()
    (folder / "files.json").write_text(json.dumps(names))
    meta = {"channels": channels, "counts": {k: len(v) for k, v in names.items()}, "total_files": n,
            "skipped": skipped, "unsafe_members": src.unsafe, "gray_images": n_gray}
    (folder / "meta.json").write_text(json.dumps(meta, sort_keys=True))
    if skipped:
        warnings.warn(f"{label}: {skipped_message(skipped, n)}", SkippedFilesWarning, stacklevel=4)


def _cache_key(src: _Source, layout: str, selection: dict[str, list[_Entry]], side: str | None,
               opts: FolderOptions) -> dict:
    h = hashlib.sha256()
    for split in ("train", "test"):
        for e in selection[split]:
            h.update(f"{split}\0{e.name}\0{e.size}\0{e.stamp}\n".encode())
    lab = src.labels_entry
    content_opts = {"size": opts.size, "channels": opts.channels, "test_fraction": opts.test_fraction}
    return {"name": "folder", "version": CACHE_VERSION, "files": h.hexdigest(), "layout": layout, "side": side,
            "labels": None if lab is None else f"{lab.size}-{lab.stamp}", "max_pixels": MAX_PIXELS, **content_opts}


def load_folder(name: str, split: str = "train", **kwargs) -> DomainDataset:
    """One split of a ``folder:`` domain (see the module docstring for the name and its options).

    The dataset's ``name`` is the canonical form of the name (absolute path, options in order); its ``info``
    holds the source, layout, channel decision, counts and skipped files.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path, side, opts = parse_folder_name(name, **kwargs)
    canonical = _canonical(path, side, opts)
    label = f"{PREFIX}{path.name}" + (f"#{side}" if side else "")
    with _open_source(path) as src:
        layout, selection = _select(src, side, opts.test_fraction)
        n_files = sum(len(v) for v in selection.values())
        if n_files == 0:
            where = f"the {side} side of " if side else ""
            raise TooFewImagesError(
                f"{label}: no images found in {where}the {'zip' if src.is_zip else 'folder'} (looked for "
                f"{', '.join(sorted(IMAGE_EXTS))}, in subfolders too); put the images there and try again")
        if n_files < opts.min_images:
            raise TooFewImagesError(
                f"{label}: {n_files} image file(s) found; a domain needs at least {opts.min_images}. "
                "Add more images (or pass min_images= for a quick experiment)")
        key = _cache_key(src, layout, selection, side, opts)
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        folder = cache_dir() / f"folder-{digest}"
        if not (folder / "meta.json").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".folder-{digest}.", suffix=".tmp", dir=cache_dir()))
            try:
                _build(src, selection, opts, None if layout == CYCLEGAN_LAYOUT else side, tmp, label)
                (tmp / "key.json").write_text(json.dumps(key, sort_keys=True))
                try:
                    os.replace(tmp, folder)
                except OSError:  # another process finished the same folder first; theirs is as good
                    if not (folder / "meta.json").exists():
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads((folder / "meta.json").read_text())
    usable = sum(meta["counts"].values())
    if usable < opts.min_images:  # min_images is not part of the key: a cached set can still be too small
        raise TooFewImagesError(f"{label}: only {usable} usable image(s); a domain needs at least "
                                f"{opts.min_images}. Add more images (or pass min_images= for a quick experiment)")
    images = np.load(folder / f"{split}_images.npy", mmap_mode="r")
    labels_path = folder / f"{split}_labels.npy"
    labels = np.load(labels_path, mmap_mode="r") if labels_path.exists() else None
    info = {"source": str(path), "layout": layout, "side": side, "size": opts.size, "channels": meta["channels"],
            "channels_from": "data" if opts.channels == 0 else "option", "counts": meta["counts"],
            "skipped": meta["skipped"], "total_files": meta["total_files"], "unsafe_members": meta["unsafe_members"],
            "cache": str(folder)}
    return DomainDataset(canonical, split, images, labels, info)


def folder_files(ds: DomainDataset) -> list[str]:
    """Relative file names of a folder dataset's images, in order (from its cache entry)."""
    files = json.loads((Path(ds.info["cache"]) / "files.json").read_text())
    return files[ds.split]
