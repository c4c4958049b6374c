"""Images in and out of the app: decoding uploads within a memory budget, a drawing's strokes → the input a
task's model sees (MNIST-like digit, street-number-like digit or edge map), and the tiles and strips it shows."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import io
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from ..data import DOMAINS
from ..methods.mappings import TASKS
from .inputs import AppError, input_kind

MAX_PIXELS = 80_000_000  # uploads above this are refused from their header (JPEG below it is decoded reduced)
WORK_SIDE = 1024  # uploads are reduced to at most this side before any processing
MAX_UPLOAD_BYTES = 16 * 2**20  # file size limit (Gradio's max_file_size, and ours for API callers)
# Formats without reduced decoding (PNG, WebP, GIF, BMP, TIFF) are decoded in full: one image may take this much,
# all concurrent decodes of the process together at most DECODE_BUDGET_BYTES (a decode waits for room, DECODE_WAIT_S).
MAX_DECODE_BYTES = 100 * 2**20
DECODE_BUDGET_BYTES = 2 * MAX_DECODE_BYTES
DECODE_WAIT_S = 20.0
DISPLAY_MIN_SIDE = 128  # gallery tiles are nearest-upscaled to at least this
EMPTY_SKETCH = "The canvas is empty: draw something first (or switch to the Upload tab)."


# ------------------------------------------------------------------------------------------------ image loading


class DecodeBudget:
    """Bytes of full-size decoded pixels that the whole process may hold at once.

    Concurrent requests each decode their upload; without a shared budget the worst case grows with the number of
    requests in flight (the queue's concurrency, the upload preview, the GLANN tab...). A decode waits for room, and
    is refused with a "busy" message when none frees up in time."""

    def __init__(self, total: int, wait_s: float) -> None:
        self.total = int(total)
        self.wait_s = float(wait_s)
        self.used = 0
        self._cv = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = int(min(nbytes, self.total))
        with self._cv:
            if not self._cv.wait_for(lambda: self.used + nbytes <= self.total, timeout=self.wait_s):
                raise AppError("The server is busy decoding other large uploads: try again in a moment, or upload a "
                               "smaller image.")
            self.used += nbytes
        try:
            yield
        finally:
            with self._cv:
                self.used -= nbytes
                self._cv.notify_all()


DECODE_BUDGET = DecodeBudget(DECODE_BUDGET_BYTES, DECODE_WAIT_S)
IMAGE_FORMATS = "PNG, JPEG, WebP, BMP or GIF"
UPLOAD_LIMITS_MD = (
    f"Uploads: {IMAGE_FORMATS}, up to {MAX_UPLOAD_BYTES // 2**20} MB. JPEG photos up to {MAX_PIXELS / 1e6:.0f} "
    f"Mpixels are decoded at reduced size; other formats are decoded in full, up to {MAX_DECODE_BYTES // 2**20} MB of "
    f"pixels (about {int((MAX_DECODE_BYTES / 4) ** 0.5):,} px square in colour, "
    f"{int(min(MAX_DECODE_BYTES, MAX_PIXELS) ** 0.5):,} px in grayscale). Larger images are refused: downscale them "
    "first. Everything is reduced to the model's input size.")


def _pixel_bytes(mode: str) -> int:
    """Bytes per pixel of a decoded PIL image (Pillow stores RGB, RGBA, LA, CMYK, I and F in 4 bytes)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _open_upload(path: Path, max_bytes: int) -> Image.Image:
    """``Image.open`` (header only, lazy) with our own messages for empty, oversized, non-image and bomb files."""
    try:
        size = path.stat().st_size
    except OSError:
        raise AppError(f"File not found: {path.name}") from None
    if size == 0:
        raise AppError(f"The file '{path.name}' is empty: upload an image ({IMAGE_FORMATS}).")
    if size > max_bytes:
        raise AppError(f"The file '{path.name}' is {size / 2**20:.1f} MB; uploads are limited to "
                       f"{max_bytes // 2**20} MB.")
    if path.suffix.lower() in (".svg", ".svgz", ".pdf", ".eps"):
        raise AppError(f"'{path.name}' is a vector file: upload a raster image ({IMAGE_FORMATS}).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.size  # noqa: B018 - header parsed
    except Image.DecompressionBombError:
        raise AppError(f"The image's dimensions are far above the limit of {MAX_PIXELS:,} pixels (a decompression "
                       "bomb?): it was not decoded.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise AppError(f"Could not read '{path.name}' as an image: upload a {IMAGE_FORMATS}.") from None
    return im


def _exif_orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
        return 1


_EXIF_OPS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


def _decode_reduced(im: Image.Image, work_side: int, max_decode_bytes: int | None) -> np.ndarray:
    """Decode ``im`` to at most ``work_side`` px (uint8 H×W×C): JPEG at reduced size (``draft``), other formats in
    full within ``max_decode_bytes`` and the process-wide :data:`DECODE_BUDGET`, then reduced before any copy.
    ``max_decode_bytes=None``: ``im`` is already in memory (an array or a loaded image), nothing to budget."""
    orientation = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if max(im.size) > work_side:
            im.draft(None, (work_side, work_side))  # JPEG: the decoder scales by 1/2..1/8 (no-op for others)
        w, h = im.size
        need = w * h * _pixel_bytes(im.mode)
        if max_decode_bytes is not None and need > max_decode_bytes:
            fmt = im.format or "image"
            raise AppError(
                f"This {w}×{h} {fmt} would need {need / 2**20:.0f} MB of memory to decode; {fmt} images are limited "
                f"to {max_decode_bytes // 2**20} MB decoded (about {int((max_decode_bytes / 4) ** 0.5):,} px square "
                "in colour). Downscale it first, or upload it as a JPEG (decoded at reduced size).")
        with DECODE_BUDGET.reserve(need) if max_decode_bytes is not None else contextlib.nullcontext():
            try:
                im.load()
                # after load(): PNG's getexif() would decode the whole image to look for an eXIf chunk; before the
                # reduction: reduce()/resize() return images without the EXIF block
                orientation = _exif_orientation(im)
                if max(im.size) > work_side:
                    s = work_side / max(im.size)
                    small = (max(1, round(im.width * s)), max(1, round(im.height * s)))
                    if im.mode in ("1", "P", "I;16", "I;16B", "I;16L", "I;16N"):  # no reduce() for these modes
                        im = im.resize(small, Image.NEAREST if im.mode in ("1", "P") else Image.BOX)
                    else:
                        factor = max(1, min(im.width // small[0], im.height // small[1]))
                        if factor > 1:
                            im = im.reduce(factor)  # box average, in place of a full-size copy
                        if max(im.size) > work_side:
                            im.thumbnail((work_side, work_side), Image.BOX)
            except (OSError, ValueError, SyntaxError, EOFError, MemoryError, Image.DecompressionBombError):
                raise AppError("The image could not be decoded: the file is truncated or corrupt.") from None
    if orientation in _EXIF_OPS:
        im = im.transpose(_EXIF_OPS[orientation])
    return _to_uint8_array(im)


def _to_uint8_array(im: Image.Image) -> np.ndarray:
    """A decoded (small) PIL image of any mode → uint8 H×W×C with C = 1, 3 or 4."""
    if im.mode.startswith("I") or im.mode == "F":  # 16-bit / 32-bit grayscale: scale to 8 bits
        a = np.asarray(im).astype(np.float32)
        top = float(a.max()) if a.size else 0.0
        scale = 255.0 if top <= 1.0 and im.mode == "F" else (1 / 257 if top > 255 else 1.0)
        return np.clip(a * scale, 0, 255).round().astype(np.uint8)[..., None]
    if im.mode in ("LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P without transparency
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.ascontiguousarray(arr.astype(np.uint8))


def _data_url_bytes(url: str, max_bytes: int) -> io.BytesIO:
    """The bytes of a ``data:image/...;base64,`` URL (a pasted image that an API client sent inline)."""
    head, _, data = url.partition(",")
    if ";base64" not in head or len(data) > max_bytes * 4 // 3 + 4:
        raise AppError(f"Inline images must be base64 data URLs of at most {max_bytes // 2**20} MB.")
    try:
        return io.BytesIO(base64.b64decode(data, validate=False))
    except (ValueError, binascii.Error):
        raise AppError("The inline image is not valid base64.") from None


def load_image(src: Any, max_pixels: int = MAX_PIXELS, work_side: int = WORK_SIDE,
               max_decode_bytes: int = MAX_DECODE_BYTES, max_file_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """An uploaded file path / FileData dict / PIL image / array → uint8 H×W×C (C = 1, 3 or 4), EXIF-rotated, at
    most ``work_side`` px.

    The header is read first: files over ``max_file_bytes``, images over ``max_pixels`` and full-size decodes over
    ``max_decode_bytes`` are refused before any pixel is decoded (see :func:`_decode_reduced`). Every failure is an
    :class:`AppError` with a message for the user (no server path)."""
    if src is None:
        raise AppError("No image: upload one, paste one, or click an example.")
    if isinstance(src, dict):  # a FileData-like dict from an API client, or the raw payload (preprocess=False)
        url = src.get("url")
        src = src.get("path") or src.get("name")
        if src is None and isinstance(url, str) and url.startswith("data:"):
            src = _data_url_bytes(url, max_file_bytes)
        if src is None:
            raise AppError("No image: upload one, paste one, or click an example.")
    if isinstance(src, np.ndarray):
        arr = src
        if arr.size == 0 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
            raise AppError(f"Not an image array (shape {arr.shape}).")
        if arr.shape[0] * arr.shape[1] > max_pixels:
            raise AppError(f"Image too large ({arr.shape[1]}×{arr.shape[0]}); the limit is {max_pixels:,} pixels.")
        if arr.dtype != np.uint8:
            a = arr.astype(np.float32)
            arr = np.clip(a * 255 if a.size and a.max() <= 1.0 else a, 0, 255).round().astype(np.uint8)
        im = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
    elif isinstance(src, Image.Image):
        im = src
    elif isinstance(src, io.BytesIO):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(src)
        except Image.DecompressionBombError:
            raise AppError(f"The image's dimensions are far above the limit of {max_pixels:,} pixels.") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise AppError(f"Could not read the inline image: send a {IMAGE_FORMATS}.") from None
    else:
        im = _open_upload(Path(str(src)), max_file_bytes)
    w, h = im.size
    if w * h > max_pixels:
        raise AppError(f"Image too large ({w}×{h} = {w * h:,} pixels); the limit is {max_pixels:,}.")
    if w < 4 or h < 4:
        raise AppError(f"Image too small ({w}×{h}): upload one of at least 4×4 pixels.")
    in_memory = isinstance(src, np.ndarray) or (isinstance(src, Image.Image) and getattr(src, "im", None) is not None)
    return _decode_reduced(im, work_side, None if in_memory else max_decode_bytes)


def _gray(arr: np.ndarray) -> np.ndarray:
    """uint8 H×W×C → float32 H×W luminance in [0, 1] (RGBA composited on white)."""
    x = arr.astype(np.float32) / 255.0
    if x.shape[-1] == 4:
        a = x[..., 3:4]
        x = x[..., :3] * a + (1 - a)
    if x.shape[-1] == 1:
        return x[..., 0]
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _has_alpha_shape(arr: np.ndarray) -> bool:
    """RGBA with a real alpha channel (some pixels transparent)."""
    return arr.ndim == 3 and arr.shape[-1] == 4 and int(arr[..., 3].min()) < 250


def _border_median(g: np.ndarray) -> float:
    return float(np.median(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])))


def _check_ink(ink: np.ndarray, message: str) -> None:
    if ink.size == 0 or float(ink.max()) < 0.1 or int((ink > 0.25).sum()) < 3:
        raise AppError(message)


# ------------------------------------------------------------------------------------------------ sketch → ink


def editor_ink(value: Any) -> np.ndarray:
    """A drawing → float32 H×W stroke strength in [0, 1]. The drawing is the pad's PNG data URL (see
    :mod:`nam_core.serving.drawpad`), an EditorValue-like dict of arrays (``layers`` / ``composite`` /
    ``background``), or an array.

    The strokes are read from the ALPHA of the layers (any brush colour, light or dark theme). Without layers the
    composite's alpha is used, else its difference from the background, else its darkness. Raises AppError when
    nothing is drawn."""
    if value is None or (isinstance(value, str) and not value):  # (``== ""`` on an array compares elementwise)
        raise AppError(EMPTY_SKETCH)
    if isinstance(value, str):
        value = _pad_array(pad_value(value))
    ink = None
    if isinstance(value, dict):
        layers = [np.asarray(_as_array(x)) for x in (value.get("layers") or []) if x is not None]
        alphas = [lay[..., 3] for lay in layers if lay.ndim == 3 and lay.shape[-1] == 4]
        if alphas:
            shape = alphas[0].shape
            ink = np.max(np.stack([a for a in alphas if a.shape == shape]), axis=0).astype(np.float32) / 255.0
        else:
            comp = _as_array(value.get("composite"))
            bg = _as_array(value.get("background"))
            if comp is None:
                raise AppError(EMPTY_SKETCH)
            comp = np.asarray(comp)
            if _has_alpha_shape(comp):
                ink = comp[..., 3].astype(np.float32) / 255.0
            elif bg is not None and np.asarray(bg).shape[:2] == comp.shape[:2]:
                ink = np.abs(_gray(_hwc(comp)) - _gray(_hwc(np.asarray(bg))))
            else:
                ink = 1.0 - _gray(_hwc(comp))
    else:
        arr = _hwc(np.asarray(_as_array(value)))
        ink = arr[..., 3].astype(np.float32) / 255.0 if _has_alpha_shape(arr) else 1.0 - _gray(arr)
    _check_ink(ink, EMPTY_SKETCH)
    return ink


MAX_PAD_BYTES = 4 * 2**20  # a 400-px canvas layer is a few KB of PNG; anything near this is not from the pad
PAD_VALUE_ERROR = ("The canvas value must be empty or a PNG data URL (data:image/png;base64,...), as the drawing "
                   "pad sends it.")


def pad_value(value: Any) -> Any:
    """A drawing as it arrives from the network (the pad's value: ``None``, ``""`` or a ``data:image/...;base64,``
    URL) → what :func:`editor_ink` reads. Anything else is refused: in particular no path or file reference, so an
    API client cannot make the server open a file of its choosing."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, str) and value.startswith("data:image/"):
        return value
    raise AppError(PAD_VALUE_ERROR)


def _pad_array(url: str) -> np.ndarray:
    """The pad's PNG data URL → uint8 H×W×C (at most WORK_SIDE px, like any upload)."""
    return load_image({"url": url}, max_file_bytes=MAX_PAD_BYTES)


def _as_array(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGBA"))
    if isinstance(x, (str, Path, dict)):
        return load_image(x)
    return np.asarray(x)


def _hwc(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def _crop_to_ink(ink: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    mask = ink > threshold
    if not mask.any():
        raise AppError(EMPTY_SKETCH)
    ys, xs = np.nonzero(mask)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _resize_f(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 H×W → (h, w) with area averaging when shrinking, bilinear when growing."""
    h, w = size
    if x.shape == (h, w):
        return x.astype(np.float32)
    resample = Image.BOX if h <= x.shape[0] and w <= x.shape[1] else Image.BILINEAR
    return np.asarray(Image.fromarray(x.astype(np.float32), mode="F").resize((w, h), resample))


def _to_work(crop: np.ndarray, side: int) -> np.ndarray:
    """Scale a cropped stroke image so that its longer side is ``side`` pixels (aspect kept)."""
    h, w = crop.shape
    s = side / max(h, w)
    return np.clip(_resize_f(crop, (max(1, round(h * s)), max(1, round(w * s)))), 0, 1)


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(np.ceil(radius)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= radius**2 + 0.5


def normalise_stroke_width(ink: np.ndarray, target: float) -> np.ndarray:
    """Thicken strokes to about ``target`` pixels wide (estimated from the distance transform); never thins."""
    mask = ink > 0.5
    if not mask.any():
        return ink
    dt = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    width = 2.0 * float(np.percentile(dt[mask], 95))
    if width >= 0.8 * target:
        return ink
    radius = (target - width) / 2.0
    pad = int(np.ceil(radius)) + 1
    grown = ndimage.grey_dilation(np.pad(ink, pad), footprint=_disk(radius))
    return grown  # padded: the caller re-crops


def ink_to_mnist(ink: np.ndarray, thicken: bool = True) -> np.ndarray:
    """Stroke strength (H×W float, 1 = ink) → an MNIST-like digit, uint8 32×32×1 (white on black).

    Like MNIST: crop to the strokes, scale the longer side to 20 px (area-averaged, so strokes get grey edges),
    put the centre of mass at the centre of a 28×28 field, then pad to 32×32 like ``nam_core.data.mnist.pad28``."""
    crop = _to_work(_crop_to_ink(ink), 80)  # work at 4× the 20 px box
    if thicken:
        crop = _crop_to_ink(normalise_stroke_width(crop, target=0.14 * 80), 0.05)
    h, w = crop.shape
    s = 20.0 / max(h, w)
    small = np.clip(_resize_f(crop, (max(1, round(h * s)), max(1, round(w * s)))), 0, 1)
    small = np.clip(small / max(float(small.max()), 1e-6), 0, 1)
    cy, cx = ndimage.center_of_mass(small)
    top = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    field_ = np.zeros((28, 28), np.float32)
    field_[top : top + small.shape[0], left : left + small.shape[1]] = small
    out = np.pad(np.round(field_ * 255).astype(np.uint8), 2)
    return out[..., None]


STREET_BG = np.array([214, 205, 188], np.float32)
STREET_FG = np.array([34, 34, 44], np.float32)


def ink_to_street(ink: np.ndarray) -> np.ndarray:
    """Stroke strength → a street-number-like crop, uint8 32×32×3: a bold dark digit, ~22 px tall, on a light plate."""
    crop = _to_work(_crop_to_ink(ink), 88)
    crop = _crop_to_ink(normalise_stroke_width(crop, target=0.16 * 88), 0.05)
    h, w = crop.shape
    s = 22.0 / max(h, w)
    small = np.clip(_resize_f(crop, (max(1, round(h * s)), max(1, round(w * s)))), 0, 1)
    small = np.clip(small / max(float(small.max()), 1e-6), 0, 1)
    a = np.zeros((32, 32), np.float32)
    top, left = (32 - small.shape[0]) // 2, (32 - small.shape[1]) // 2
    a[top : top + small.shape[0], left : left + small.shape[1]] = small
    a = ndimage.gaussian_filter(a, 0.5)[..., None]
    img = STREET_BG * (1 - a) + STREET_FG * a
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def ink_to_edges(ink: np.ndarray, size: int = 64) -> np.ndarray:
    """Stroke strength → a pix2pix-like edge map, uint8 size×size×1 (white, thin dark strokes)."""
    from ..data.edges import sketch_to_edges

    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = np.round(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    if rgba[..., 3].min() >= 253:  # everything inked: sketch_to_edges reads alpha only when some is transparent
        rgba[0, 0, 3] = 0
    try:
        return sketch_to_edges(rgba, size)
    except ValueError as exc:
        raise AppError(f"{EMPTY_SKETCH} ({exc})") from exc


def ink_to_input(ink: np.ndarray, task: str) -> np.ndarray:
    """Stroke strength → the image the task's model takes (H×W×C uint8 of the source domain)."""
    kind = input_kind(task)
    spec = DOMAINS[TASKS[task].source]
    if kind == "digit":
        return ink_to_mnist(ink)
    if kind == "street":
        return ink_to_street(ink)
    if kind == "image":  # a user's colour domain: the strokes as a picture of its size and channels
        from .translator import prepare_inputs

        return prepare_inputs(ink_to_edges(ink, spec.size), TASKS[task].source)[0]
    return ink_to_edges(ink, spec.size)


def sketch_to_input(value: Any, task: str) -> np.ndarray:
    """A drawing (the pad's data URL, or an EditorValue-like dict of arrays) → the model's input for ``task``
    (uint8 H×W×C)."""
    return ink_to_input(editor_ink(value), task)


def upload_to_input(src: Any, task: str) -> np.ndarray:
    """An uploaded image (path/array/PIL) → the model's input for ``task`` (uint8 H×W×C of the source domain).

    Digits: images already in MNIST form (dark border, 28 or 32 px) are used as they are, others are read as strokes
    (light-on-dark or dark-on-light, decided by the border; transparent PNGs by their alpha) and MNIST-normalised.
    Edge maps: 64 px light images are used as they are, others are converted like a drawing. Photos are resized.
    Grayscale↔RGB and alpha are handled; blank images are refused."""
    from .translator import prepare_inputs

    arr = load_image(src)
    source = TASKS[task].source
    spec = DOMAINS[source]
    kind = input_kind(task)
    if float(arr[..., :3].std()) < 1.0 and not _has_alpha_shape(arr):
        raise AppError("The image is blank (a single colour): nothing to translate.")
    if arr.shape[-1] == 4 and int(arr[..., 3].max()) < 8:
        raise AppError("The image is fully transparent: nothing to translate.")
    if kind == "digit":
        if _has_alpha_shape(arr):
            ink = arr[..., 3].astype(np.float32) / 255.0
        else:
            g = _gray(arr)
            ink = g if _border_median(g) < 0.5 else 1.0 - g
            if arr.shape[:2] == (28, 28) and _border_median(g) < 0.5:
                return np.pad(np.round(g * 255).astype(np.uint8), 2)[..., None]
            if arr.shape[:2] == (32, 32) and _border_median(g) < 0.5:
                return np.round(g * 255).astype(np.uint8)[..., None]
        ink = np.clip(ink - float(np.median(ink)), 0, 1)  # drop a uniform background tint
        _check_ink(ink, "No digit found in the image (it looks blank).")
        return ink_to_mnist(ink)
    if kind == "edges":
        if _has_alpha_shape(arr):
            ink = arr[..., 3].astype(np.float32) / 255.0
        else:
            g = _gray(arr)
            if arr.shape[:2] == (spec.size, spec.size) and _border_median(g) > 0.5:
                return prepare_inputs(arr, source)[0]
            ink = 1.0 - g if _border_median(g) > 0.5 else g
            ink = np.clip(ink - float(np.median(ink)), 0, 1)
        _check_ink(ink, "No strokes found in the image (it looks blank).")
        return ink_to_edges(ink, spec.size)
    return prepare_inputs(arr, source)[0]  # street / svhn photos: alpha on white, gray→RGB, resize


def choose_input(task: str, source: str, sketch: Any, upload: Any) -> np.ndarray:
    """The model input from the active tab (``source`` = "draw" or "upload"); falls back to the other one when the
    active one is empty (e.g. API clients, which do not switch tabs)."""
    if source == "upload" and upload is not None:
        return upload_to_input(upload, task)
    try:
        return sketch_to_input(sketch, task)
    except AppError:
        if upload is not None:
            return upload_to_input(upload, task)
        if source == "upload":
            raise AppError("No uploaded image: upload one or click an example (or switch to the Draw tab).") from None
        raise


def to_display(image: np.ndarray, min_side: int = DISPLAY_MIN_SIDE) -> np.ndarray:
    """uint8 H×W×C → a nearest-upscaled copy at least ``min_side`` px (H×W for gray) for crisp display."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    f = max(1, int(np.ceil(min_side / max(1, min(img.shape[:2])))))
    if f > 1:
        img = np.repeat(np.repeat(img, f, axis=0), f, axis=1)
    return np.ascontiguousarray(img)


def in_input_polarity(image: np.ndarray, recs: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """The reconstructions T(G(z)) (uint8 K×H×W×C) for display beside the input ``image``: each one whose luminance
    is anti-correlated with the input's is inverted, and which were. A polarity-invariant loss (NCC) lets T draw a
    white-on-black MNIST digit dark on white; shown as drawn it looks like a failure next to the input."""
    x = _gray(_hwc(np.asarray(image))).astype(np.float64).ravel()
    shown, flipped = [], []
    for rec in np.asarray(recs):
        r = _gray(_hwc(rec)).astype(np.float64).ravel()
        corr = np.corrcoef(x, r)[0, 1] if x.std() > 1e-6 and r.std() > 1e-6 else 0.0
        flip = bool(corr < 0)
        shown.append(255 - rec if flip else rec)
        flipped.append(flip)
    return (np.stack(shown) if shown else np.asarray(recs)), flipped


@functools.lru_cache(maxsize=4)
def _label_font(size: int) -> Any:
    """A TrueType font with σ and − in it (matplotlib's DejaVu Sans; Pillow's built-in font has neither)."""
    from PIL import ImageFont

    try:
        import matplotlib

        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


STRIP_PAD, STRIP_LABEL_H = 3, 18  # px between tiles; height of the band under them that carries each tile's σ


def strip_image(images: np.ndarray, min_side: int = 96, captions: list[str] | None = None) -> np.ndarray:
    """A row of tiles (the strip view) as one display image, tiles nearest-upscaled and separated by white; with
    ``captions``, each tile's caption (its σ) is written in a white band under it, where it hides nothing."""
    from ..utils import image_grid

    tiles = np.stack([to_display(im, min_side) for im in images])
    if tiles.ndim == 3:
        tiles = tiles[..., None]
    grid = image_grid(tiles, cols=len(tiles), pad=STRIP_PAD)
    if not captions:
        return to_display(grid, 1)
    from PIL import Image, ImageDraw

    rgb = grid if grid.shape[-1] == 3 else np.repeat(grid, 3, axis=-1)
    band = np.full((STRIP_LABEL_H, rgb.shape[1], 3), 255, np.uint8)
    canvas = Image.fromarray(np.concatenate([rgb, band], axis=0))
    draw, font = ImageDraw.Draw(canvas), _label_font(13)
    w, top = tiles.shape[2], grid.shape[0] - 2  # the glyphs start a few px below their anchor
    for i, cap in enumerate(captions[: len(tiles)]):
        left, _, right, _ = draw.textbbox((0, 0), cap, font=font)
        cx = STRIP_PAD + i * (w + STRIP_PAD) + w // 2
        draw.text((cx - (right - left) // 2, top), cap, fill=(40, 40, 40), font=font)
    return np.asarray(canvas)

