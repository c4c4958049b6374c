"""Everything the Gradio app does, as plain functions (no Gradio import): testable without a browser.

The UI (``app.py``) only wires components to these functions, turns :class:`AppError` into ``gr.Error`` and the
returned warnings into ``gr.Warning``.

* input conversion: a Sketchpad value (strokes read from the layers' ALPHA, so the brush colour and the theme do not
  matter) or an uploaded file → the image the model sees (MNIST-like digits, street-number-like digits or
  pix2pix-like edge maps), with clear errors for empty canvases, blank/huge/non-image files;
* :class:`ModelRegistry`: which task × method × generator checkpoints exist (and why the others do not), one cached
  :class:`~nam_core.serving.translator.Translator` per combination;
* map / explore / strip / GLANN sample, interpolate, invert, with the server time of each request;
* the Learn tab: evaluation table, loss curves; the zip of a gallery; a ZeroGPU decorator (no-op without ``spaces``).

Regenerate the example PNGs with ``python -m nam_core.serving.app_logic --make-examples``.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import collections
import contextlib
import csv
import functools
import io
import json
import logging
import os
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from ..checkpoints import CheckpointError
from ..data import DOMAINS
from ..methods.mappings import SERVED_METHODS, TASKS
from ..methods.registry import get_method, methods
from ..paths import CHECKPOINTS_DIR

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("nam_studio.app_logic")
ProgressFn = Callable[[float, str], None]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
METHOD_CHOICES: list[tuple[str, str]] = [("NAM", "nam"), ("NAM one-pass", "nam-ff"), ("AE-NAM", "ae-nam"),
                                         ("VAE-NAM", "vae-nam")]
GENERATOR_CHOICES: list[tuple[str, str]] = [("GLANN", "glann"), ("DCGAN", "dcgan")]
# GAN baselines shown beside the non-adversarial methods ("compare with GANs"): checkpoint <task>_<method>
LOAD_ERRORS = (Exception,)  # whatever stops a checkpoint becoming a Translator is a failed model, not a crash
BASELINE_CHOICES: list[tuple[str, str]] = [("CycleGAN", "cyclegan"), ("DistanceGAN", "distancegan"), ("DTN", "dtn")]
DIRECTION_KINDS: list[tuple[str, str]] = [("Per input", "input"), ("Global (dataset PCA)", "global"),
                                          ("Style (keeps the input)", "style")]
METHOD_LABEL = dict((v, k) for k, v in METHOD_CHOICES)
GENERATOR_LABEL = dict((v, k) for k, v in GENERATOR_CHOICES)
DOMAIN_LABEL = {"mnist": "MNIST", "street": "street digits", "svhn": "SVHN", "shoes": "shoes", "handbags": "handbags",
                "shoes_edges": "shoe edges", "handbags_edges": "handbag edges"}
# a list: tasks trained on the user's own images are appended when a registry finds them (register_user_tasks)
TASK_ORDER = ["edges2shoes", "edges2handbags", "street2mnist", "mnist2street", "svhn2mnist", "mnist2svhn"]
N_DIRECTIONS = 4  # sliders in the UI
MAX_K = 16
SPAN = 3.0  # sliders and strips go from −3σ to +3σ
MAX_PIXELS = 80_000_000  # uploads above this are refused from their header (JPEG below it is decoded reduced)
WORK_SIDE = 1024  # uploads are reduced to at most this side before any processing
MAX_UPLOAD_BYTES = 16 * 2**20  # file size limit (Gradio's max_file_size, and ours for API callers)
# Formats without reduced decoding (PNG, WebP, GIF, BMP, TIFF) are decoded in full: one image may take this much,
# all concurrent decodes of the process together at most DECODE_BUDGET_BYTES (a decode waits for room, DECODE_WAIT_S).
MAX_DECODE_BYTES = 100 * 2**20
DECODE_BUDGET_BYTES = 2 * MAX_DECODE_BYTES
DECODE_WAIT_S = 20.0
MAX_SEED = 2**32 - 1
ZIP_KEEP = 64  # "Download all" zips kept on disk (see ZipStore)
ZIP_MIN_AGE_S = 120.0
ZIP_MAX_AGE_S = 3600.0
DISPLAY_MIN_SIDE = 128  # gallery tiles are nearest-upscaled to at least this
EMPTY_SKETCH = "The canvas is empty: draw something first (or switch to the Upload tab)."


class AppError(ValueError):
    """A problem the user can fix (shown as ``gr.Error``); the server keeps serving."""


def parse_int(value: Any, name: str, lo: int, hi: int, default: int | None = None, clamp: bool = True) -> int:
    """A whole number from a UI/API value (int, float, numeric string; None → ``default``), clamped into
    [lo, hi] (or refused when ``clamp`` is False); AppError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise AppError(f"{name} is missing: give a whole number from {lo:,} to {hi:,}.")
        return default
    if isinstance(value, bool):
        value = int(value)
    try:
        v = int(value) if isinstance(value, int) else float(str(value).strip())
    except (TypeError, ValueError):
        raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]!r}).") from None
    if isinstance(v, float):
        if not np.isfinite(v) or v != int(v):
            raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]}).")
        v = int(v)
    if lo <= v <= hi:
        return v
    if clamp:
        return min(max(v, lo), hi)
    raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]}).")


def parse_seed(value: Any, name: str = "Seed") -> int:
    """A seed from the UI/API: a whole number in [0, MAX_SEED] (None/empty → 0); out of range is refused, not
    wrapped, so that a seed always names the same result."""
    return parse_int(value, name, 0, MAX_SEED, default=0, clamp=False)


def check_choices(task: Any = None, method: Any = None, generator: Any = None, kind: Any = None) -> None:
    """AppError unless each given value is one of the UI's choices (API clients can send anything)."""
    for name, value, choices in (("task", task, [v for _, v in TASK_CHOICES]),
                                 ("method", method, [v for _, v in METHOD_CHOICES]),
                                 ("generator", generator, [v for _, v in GENERATOR_CHOICES]),
                                 ("directions", kind, [v for _, v in DIRECTION_KINDS])):
        if name == "task" and value in PRIVATE_TASKS:  # a Studio tab model: accepted, never listed
            continue
        if value is not None and value not in choices:
            raise AppError(f"Unknown {name} {str(value)[:40]!r}: choose one of {', '.join(choices)}.")


def domain_label(domain: str) -> str:
    """A domain's name in the UI; a user's folder domain by its folder (and side), never its full path."""
    if domain in DOMAIN_LABEL:
        return DOMAIN_LABEL[domain]
    if domain.startswith("folder:"):
        rest, _, side = domain[len("folder:"):].partition("#")
        base = Path(rest.split("?")[0]).name or "images"
        return f"{base} ({side})" if side else base
    return domain


def task_label(task: str) -> str:
    t = TASKS[task]
    return f"{domain_label(t.source)} → {domain_label(t.target)}"


TASK_CHOICES: list[tuple[str, str]] = [(f"{task_label(t)}  ({t})", t) for t in TASK_ORDER if t in TASKS]
# tasks trained in the Studio tab: served to the browser that trained them (its own task list, see
# ModelRegistry.add_private_root), never in TASK_CHOICES, the matrix or the GLANN tab of anyone else
PRIVATE_TASKS: set[str] = set()


def register_user_tasks(*roots: str | Path) -> list[str]:
    """Tasks of mapping checkpoints under ``roots`` that are not built in (trained with ``nam-studio train-task``
    on the user's own images): registered from the source/target their configs record and added to the task list
    (:data:`TASK_ORDER`, :data:`TASK_CHOICES`, in place, so the UI built afterwards lists them). Returns them."""
    from ..checkpoints import find_checkpoints
    from ..methods.mappings import get_task

    found: list[str] = []
    for root in roots:
        for path, cfg in find_checkpoints(root, "mapping"):
            name = cfg.get("task")
            if not isinstance(name, str) or (name in TASKS and name in TASK_ORDER):
                continue
            try:
                get_task(name, cfg)
            except (KeyError, ValueError) as exc:  # a clash or a bad name: that checkpoint is not served
                log.warning("not serving %s: %s", path.name, exc)
                continue
            if name not in TASK_ORDER:
                TASK_ORDER.append(name)
                TASK_CHOICES.append((f"{task_label(name)}  ({name})", name))
            found.append(name)
    return found


def input_kind(task: str) -> str:
    """How the task's input is drawn: ``"digit"`` (MNIST), ``"street"`` (street/SVHN digit photo) or ``"edges"``."""
    src = TASKS[task].source
    if src == "mnist":
        return "digit"
    if src in ("street", "svhn"):
        return "street"
    if src.startswith("folder:"):  # the user's images: drawn like the built-in domain they most resemble
        spec = DOMAINS[src]
        return "image" if spec.channels == 3 else ("digit" if spec.size == 32 else "edges")
    return "edges"


_BRUSH = "Pick the brush at the left of the canvas, then "
DRAW_HINTS = {  # by input kind; DRAW_TASK_HINTS adds what each task turns the drawing into
    "digit": _BRUSH + "draw one digit (0–9), large; it is centred and scaled like MNIST (white on black).",
    "street": _BRUSH + "draw one digit (0–9); it becomes a dark digit on a light plate, like a house-number crop.",
    "edges": _BRUSH + "draw the outline of the object (side view, toe to the left for shoes).",
    "image": _BRUSH + "draw the input (dark strokes on white), or better, upload an image like the training ones.",
}
DRAW_TASK_HINTS = {
    "mnist2street": " The analogies are street-number photos of that digit, in varied fonts and colours.",
    "mnist2svhn": " The analogies are SVHN house-number photos of that digit.",
    "street2mnist": " The analogies are handwritten MNIST digits.",
    "svhn2mnist": " The analogies are handwritten MNIST digits.",
    "edges2shoes": " Draw a shoe: sole along the bottom, toe to the left, heel to the right; the analogies are shoe "
                   "photos.",
    "edges2handbags": " Draw a handbag from the front: body, then its handle on top; the analogies are handbag photos.",
}


def draw_hint(task: str) -> str:
    """The hint above the canvas for ``task``: how to draw its input and what comes out."""
    if task not in TASKS:
        return DRAW_HINTS["digit"]
    hint = DRAW_HINTS[input_kind(task)]
    if input_kind(task) == "edges":
        hint = _BRUSH + "draw the outline of the object with a few clean strokes."
    return hint + DRAW_TASK_HINTS.get(task, "")


# ------------------------------------------------------------------------------------------------ ZeroGPU / device


# ZeroGPU durations (seconds asked for per call; a shorter ask queues ahead of longer ones, and a call that runs
# past its ask is killed). These are budgets with headroom, not timings: a one-pass call is a few forward passes
# (plus a first model load), an optimisation adds a per-step allowance for each of its steps.
GPU_BASE_S = 20
GPU_PER_STEP_S = 0.1
GPU_MAX_S = 300
NAM_DEFAULT_STEPS = 100  # the Translator's when neither the registry nor the checkpoint says otherwise


def gpu_seconds(steps: int | None = 0, restarts: int = 1) -> int:
    """The ZeroGPU duration for one call that runs ``steps`` optimisation steps ``restarts`` times in a row (0: a
    one-pass call; None: unknown, taken as NAM's default budget), between GPU_BASE_S and GPU_MAX_S."""
    n = NAM_DEFAULT_STEPS if steps is None else max(0, int(steps))
    return int(min(GPU_MAX_S, GPU_BASE_S + np.ceil(GPU_PER_STEP_S * n * max(1, int(restarts)))))


def gpu(duration: int | Callable[..., int] = GPU_BASE_S) -> Callable[[F], F]:
    """``spaces.GPU(duration=...)`` on Hugging Face ZeroGPU Spaces; a no-op decorator when ``spaces`` is absent.
    ``duration`` may be a function of the call's arguments (ZeroGPU's dynamic duration), e.g. NAM's step budget."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def checkpoints_dir(override: str | Path | None = None) -> Path:
    """Where the app looks for checkpoints: ``override``, ``$NAM_CHECKPOINTS_DIR`` or the repo's ``checkpoints/``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("NAM_CHECKPOINTS_DIR")
    return Path(env) if env else CHECKPOINTS_DIR


def hub_allowed() -> bool:
    """Whether missing checkpoints may be fetched from the Hub (off with ``HF_HUB_OFFLINE=1`` or ``NAM_APP_HUB=0``)."""
    off = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    return not off and os.environ.get("NAM_APP_HUB", "1") not in ("0", "false", "False")


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
    """Sketchpad value (EditorValue dict, or an array) → float32 H×W stroke strength in [0, 1].

    The strokes are read from the ALPHA of the layers (any brush colour, light or dark theme). Without layers the
    composite's alpha is used, else its difference from the background, else its darkness. Raises AppError when
    nothing is drawn."""
    if value is None:
        raise AppError(EMPTY_SKETCH)
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


MAX_BLOB_SIDE = 4096  # the canvas is 400 px: a bigger layer blob is not from our Sketchpad


def decode_editor_blobs(blobs: Any) -> dict[str, Any]:
    """The Sketchpad's value from the PNG blobs its browser side sent ahead (``background``, ``layers``,
    ``composite`` as bytes, Gradio's ``EditorDataBlobs``): with a change/input event attached the event itself
    carries only their id. AppError for anything that is not a small image."""

    def decode(b: bytes | None) -> np.ndarray | None:
        if not b:
            return None
        try:
            with Image.open(io.BytesIO(b)) as im:
                if max(im.size) > MAX_BLOB_SIDE:
                    raise AppError(f"The canvas layer is {im.size[0]}×{im.size[1]} px: too large for a drawing.")
                return np.asarray(im.convert("RGBA"))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise AppError("The canvas data could not be read as an image: draw again.") from exc

    return {"background": decode(getattr(blobs, "background", None)),
            "layers": [a for a in (decode(b) for b in (getattr(blobs, "layers", None) or [])) if a is not None],
            "composite": decode(getattr(blobs, "composite", None))}


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
    """A Sketchpad value → the model's input for ``task`` (uint8 H×W×C)."""
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


# ------------------------------------------------------------------------------------------------ models


@dataclass
class ModelStatus:
    """Whether a task × method × generator combination can be used, and a sentence saying why (not)."""

    task: str
    method: str
    generator: str
    where: str  # "local" | "hub" | "missing" | "failed"
    message: str
    path: Path | None = None

    @property
    def available(self) -> bool:
        return self.where in ("local", "hub")


def checkpoint_folder(task: str, method: str, generator: str) -> str:
    return f"{task}_{method}_{generator}"


class ModelRegistry:
    """Finds checkpoints (local first, then the Hub) and caches one Translator per task × method × generator."""

    def __init__(self, root: str | Path | None = None, device: str | None = None,
                 nam_steps: int | None = None, extra_roots: tuple[str | Path, ...] = ()) -> None:
        self.root = checkpoints_dir(root)
        # searched after ``root`` (e.g. the shipped checkpoints beside a folder of the user's own models)
        self.extra_roots = tuple(Path(r) for r in extra_roots if Path(r).resolve() != self.root.resolve())
        self.user_tasks = register_user_tasks(self.root, *self.extra_roots)
        self.device = device
        self.nam_steps = nam_steps  # NAM's per-request optimisation steps (None: the Translator's default)
        self._translators: dict[tuple[str, str, str], Any] = {}
        self._generators: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._failed: dict[tuple[str, str, str], str] = {}  # load failures: not retried (see ``status``)
        self._lock = threading.RLock()  # guards the dicts only; never held while loading (see ``get``)
        self._loading: dict[tuple[str, str, str], Future] = {}
        self._gen_loading: dict[tuple[str, str], Future] = {}
        self.locks: dict[tuple[str, str, str], threading.Lock] = {}
        self.private_roots: dict[str, Path] = {}  # Studio tab tasks → their folder (see add_private_root)

    def add_private_root(self, root: str | Path) -> list[str]:
        """Serve the mapping checkpoints directly under ``root`` (a Studio tab job's output) without listing them:
        their tasks are registered and accepted by :func:`check_choices`, but only a UI that is told their names
        shows them. Returns the tasks."""
        from ..checkpoints import find_checkpoints
        from ..methods.mappings import get_task

        found = []
        for _, cfg in find_checkpoints(root, "mapping"):
            name = cfg.get("task")
            if isinstance(name, str) and name not in TASK_ORDER:
                get_task(name, cfg)
                with self._lock:
                    self.private_roots[name] = Path(root)
                PRIVATE_TASKS.add(name)
                found.append(name)
        return sorted(set(found))

    def forget_private(self, task: str) -> None:
        """Stop serving a Studio tab task (its files are about to go)."""
        with self._lock:
            self.private_roots.pop(task, None)
            for key in [k for k in self._translators if k[0] == task]:
                self._translators.pop(key, None)
            for key in [k for k in self._failed if k[0] == task]:
                self._failed.pop(key, None)
        PRIVATE_TASKS.discard(task)

    # -------------------------------------------------------------- availability
    def local_path(self, task: str, method: str, generator: str) -> Path | None:
        private = self.private_roots.get(task)
        for root in ((private,) if private is not None else (self.root, *self.extra_roots)):
            p = root / checkpoint_folder(task, method, generator)
            if (p / "config.json").exists():
                return p
        return None

    def status(self, task: str, method: str, generator: str) -> ModelStatus:
        """Availability of one combination, with an explanation for the UI."""
        if task not in TASKS:
            return ModelStatus(task, method, generator, "missing", f"Unknown task {task!r}.")
        if method not in SERVED_METHODS:
            return ModelStatus(task, method, generator, "missing", f"Unknown method {method!r}.")
        name = f"**{METHOD_LABEL[method]}** · {task_label(task)} · {GENERATOR_LABEL.get(generator, generator)} G"
        key = (task, method, generator)
        failed = self._failed.get(key)
        if failed is not None:  # a load failed once: not retried on every request
            return ModelStatus(task, method, generator, "failed", f"**Unavailable:** {name}: {failed}")
        path = self.local_path(*key)
        if path is not None:
            return ModelStatus(task, method, generator, "local", f"**Ready:** {name} — checkpoint `{path.name}`", path)
        why = f"no checkpoint `{checkpoint_folder(*key)}` in `{self.root}`"
        if TASKS[task].source == "svhn" or TASKS[task].target == "svhn":
            why += " (SVHN is not bundled with the app: train it with your own SVHN .mat files, see the README)"
        alts = [f"{METHOD_LABEL[m]}/{GENERATOR_LABEL[g]}" for m in SERVED_METHODS for g in ("glann", "dcgan")
                if (m, g) != (method, generator) and self.local_path(task, m, g) is not None]
        alt = f" Available for this task: {', '.join(alts)}." if alts else ""
        if hub_allowed():
            msg = f"**Not local:** {name}: {why}; it will be downloaded from the Hugging Face Hub on first use.{alt}"
            return ModelStatus(task, method, generator, "hub", msg)
        return ModelStatus(task, method, generator, "missing", f"**Unavailable:** {name}: {why}.{alt}")

    def available(self) -> list[tuple[str, str, str]]:
        """Locally available combinations (task, method, generator)."""
        return [(t, m, g) for t in TASK_ORDER for m in SERVED_METHODS for g in ("glann", "dcgan")
                if t in TASKS and self.local_path(t, m, g) is not None]

    def default_choice(self) -> tuple[str, str, str]:
        """The first selection: VAE-NAM on the tour's task (mnist→street) with the generator whose evaluation
        figures are best (``results.json``), else VAE-NAM edges→shoes, else the first available combination."""
        avail = self.available()
        best = best_result(self.root, TOUR_TASK, "vae-nam")
        prefs = [(TOUR_TASK, "vae-nam", g) for g in ([best["generator"]] if best else []) + ["glann", "dcgan"]]
        for pref in [*prefs, ("edges2shoes", "vae-nam", "glann"), ("street2mnist", "vae-nam", "glann")]:
            if pref in avail:
                return pref
        vae = [a for a in avail if a[1] == "vae-nam"]
        return (vae or avail or [("edges2shoes", "vae-nam", "glann")])[0]

    def matrix_markdown(self) -> str:
        """A task × method table of what is available (GLANN / DCGAN)."""
        head = ("| task | " + " | ".join(METHOD_LABEL[m] for m in SERVED_METHODS) + " |\n|---|"
                + "---|" * len(SERVED_METHODS))
        rows = []
        for t in TASK_ORDER:
            if t not in TASKS:
                continue
            cells = []
            for m in SERVED_METHODS:
                gens = [GENERATOR_LABEL[g] for g in ("glann", "dcgan") if self.local_path(t, m, g) is not None]
                cells.append(", ".join(gens) if gens else "—")
            rows.append(f"| {task_label(t)} | " + " | ".join(cells) + " |")
        note = "" if hub_allowed() else "\n\nHub downloads are off (`HF_HUB_OFFLINE`/`NAM_APP_HUB=0`)."
        return head + "\n" + "\n".join(rows) + f"\n\nCheckpoints folder: `{self.root}`.{note}"

    # -------------------------------------------------------------- loading
    # The registry lock only guards these dicts: no file, network or model loading happens under it. Each key loads
    # once, in the first thread that asks (its Future tells the others when it is done), so a slow cold load (a Hub
    # lookup, a big checkpoint) never delays a warm ``get`` of another key.
    def get(self, task: str, method: str, generator: str) -> Any:
        """The cached Translator of a combination (loaded on first use); AppError with the reason when unavailable."""
        from .translator import Translator

        key = (task, method, generator)
        with self._lock:
            if key in self._translators:
                return self._translators[key]
            failed = self._failed.get(key)
        if failed is not None:
            raise AppError(f"Could not load {METHOD_LABEL.get(method, method)} for {task} ({generator}): {failed}")
        st = self.status(*key)  # file checks only (no network), outside the lock
        if not st.available:
            raise AppError(st.message.replace("**", ""))
        try:
            tr = self._load_once(key, lambda: (Translator.from_checkpoint(st.path, device=self.device)
                                               if st.path is not None else
                                               Translator.load(task, method, generator, device=self.device)))
        except LOAD_ERRORS as exc:
            raise AppError(f"Could not load {METHOD_LABEL.get(method, method)} for {task} ({generator}): "
                           f"{type(exc).__name__}: {exc}") from exc
        return tr

    def _load_once(self, key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
        """``load()`` a translator into the cache under ``key``, once (see :meth:`_single_flight`). Any failure is
        recorded in ``_failed`` (shown by ``status``, not retried) and raised again."""
        def cached() -> Any:
            if key not in self._translators and key in self._failed:
                raise CheckpointError(self._failed[key])
            return self._translators.get(key)

        def load_configured() -> Any:
            tr = load()
            if self.nam_steps is not None and hasattr(tr, "nam_steps"):
                tr.nam_steps = int(self.nam_steps)
            return tr

        def store(tr: Any) -> None:
            self.locks[key] = threading.Lock()
            self._translators[key] = tr

        def failed(exc: Exception) -> None:
            self._failed[key] = f"{type(exc).__name__}: {exc}"

        return self._single_flight(self._loading, key, cached, load_configured, store, failed)

    def _single_flight(self, loading: dict[Any, Future], key: Any, cached: Callable[[], Any],
                       load: Callable[[], Any], store: Callable[[Any], None],
                       failed: Callable[[Exception], None] | None = None) -> Any:
        """The cached value (``cached()``, under the registry lock; None: not cached), else ``load()`` it once: the
        first caller loads without the registry lock, concurrent callers of the same key wait for its result, other
        keys are not held up. ``store`` (and, on an Exception, ``failed``) run under the lock."""
        with self._lock:
            hit = cached()
            if hit is not None:
                return hit
            fut = loading.get(key)
            owner = fut is None
            if owner:
                fut = loading[key] = Future()
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            value = load()
        except BaseException as exc:
            with self._lock:
                if failed is not None and isinstance(exc, Exception):
                    failed(exc)
                loading.pop(key, None)
            fut.set_exception(exc)
            raise
        with self._lock:
            store(value)
            loading.pop(key, None)
        fut.set_result(value)
        return value

    def baseline(self, task: str, method: str) -> Any | None:
        """The cached Translator of the GAN baseline ``<task>_<method>`` (None when no such local checkpoint)."""
        from .translator import load_translator

        key = (task, method, "")
        with self._lock:
            if key in self._translators:
                return self._translators[key]
            if key in self._failed:
                return None
        path = self.root / f"{task}_{method}"
        if not (path / "config.json").exists():
            return None
        try:
            return self._load_once(key, lambda: load_translator(path, device=self.device))
        except LOAD_ERRORS:
            return None

    def lock(self, task: str, method: str, generator: str) -> threading.Lock:
        self.get(task, method, generator)
        with self._lock:
            return self.locks[(task, method, generator)]

    def loaded(self) -> dict[tuple[str, str, str], Any]:
        with self._lock:
            return dict(self._translators)

    # -------------------------------------------------------------- generators (GLANN tab)
    def generator_domains(self) -> list[str]:
        """Domains with a generator available (local ``gen_<domain>_<kind>`` folders or loaded translators)."""
        doms = {p.name.split("_")[1] for r in (self.root, *self.extra_roots) for p in r.glob("gen_*_*")
                if (p / "config.json").exists()}
        doms -= set(self.user_tasks)  # gen_<task>_glann of a user's task: listed by its domain (below)
        doms |= {tr.target for key, tr in self.loaded().items() if key[0] not in self.private_roots}
        for t, _, _ in self.available():
            doms.add(TASKS[t].target)
        order = ["shoes", "handbags", "mnist", "street", "svhn"]
        return [d for d in order if d in doms] + sorted(doms - set(order))

    def generator(self, domain: str, kind: str = "glann") -> tuple[Any, dict[str, Any]]:
        """(G, config) of ``domain``'s ``kind`` generator: ``gen_<domain>_<kind>``, else the one of a mapping
        (named by the mapping's config, looked up only by name in the checkpoints folder), else the Hub."""
        key = (domain, kind)

        def cached() -> tuple[Any, dict[str, Any]] | None:
            if key not in self._generators:
                for tr in self._translators.values():
                    if tr.target == domain and tr.gen_config.get("method") == kind:
                        self._generators[key] = (tr.G, tr.gen_config)
                        break
            return self._generators.get(key)

        def store(found: tuple[Any, dict[str, Any]]) -> None:
            self._generators[key] = found

        return self._single_flight(self._gen_loading, key, cached, lambda: self._find_generator(domain, kind), store)

    def _find_generator(self, domain: str, kind: str) -> tuple[Any, dict[str, Any]]:
        """Load ``domain``'s ``kind`` generator (see :meth:`generator`; called without the registry lock)."""
        from ..checkpoints import NAME_RE, read_config
        from ..methods.generators import load_generator

        refs: list[str | Path] = [r / f"gen_{domain}_{kind}" for r in (self.root, *self.extra_roots)]
        for t, m, g in self.available():
            if TASKS[t].target == domain and g == kind:
                mapping = self.local_path(t, m, g)
                try:
                    cfg = read_config(mapping)
                except CheckpointError:
                    continue
                name = Path(str(cfg.get("generator") or "").replace("\\", "/")).name
                if NAME_RE.fullmatch(name) and mapping.parent / name not in refs:
                    refs.append(mapping.parent / name)  # never the config's path itself (it could point anywhere)
        if hub_allowed():
            refs.append(f"gen_{domain}_{kind}")
        errors = []
        for ref in refs:
            if isinstance(ref, Path) and not (ref / "config.json").exists():
                continue
            try:
                return load_generator(ref, device=self.device)
            except LOAD_ERRORS as exc:
                errors.append(str(exc))
        raise AppError(f"No {GENERATOR_LABEL.get(kind, kind)} generator of {DOMAIN_LABEL.get(domain, domain)} "
                       f"found (looked for gen_{domain}_{kind} in {self.root}). {' '.join(errors)[:300]}")


# ------------------------------------------------------------------------------------------------ results


@dataclass
class DirectionInfo:
    """The sliders' meaning for the current input: one label and scale per usable direction."""

    kind: str
    scales: list[float]
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.scales)

    def labels(self, n: int = N_DIRECTIONS) -> list[str]:
        kind = {"posterior": "posterior axis", "restarts": "restart PCA", "global": "global PCA",
                "style": "style"}.get(self.kind, self.kind)
        return [f"Direction {i + 1} · {kind} · 1σ = {self.scales[i]:.3g}" if i < self.count
                else f"Direction {i + 1} (unused)" for i in range(n)]


@dataclass
class MapResult:
    """One Map request: K solutions, T(G(z)) of each, their losses, the directions, the zip and the server time."""

    input: np.ndarray  # H×W×C, what the model saw
    outputs: np.ndarray  # K×H'×W'×C'
    reconstructions: np.ndarray  # K×H×W×C
    losses: np.ndarray  # K
    directions: DirectionInfo
    zip_path: Path
    ms: float
    device: str
    warnings: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)  # one per solution, in rank order ("#1 · best round-trip")
    rank_note: str = ""  # one line: what the order means (or that the model is deterministic)


@dataclass
class ExploreResult:
    outputs: np.ndarray
    zip_path: Path
    ms: float
    warnings: list[str] = field(default_factory=list)


def _progress_cb(progress: ProgressFn | None, desc: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def cb(step: int, total: int) -> None:
        progress(step / max(1, total), f"{desc} {step}/{total}")

    return cb


def _solve(tr: Any, image: np.ndarray, k: int, seed: int, callback: Callable[[int, int], None] | None) -> Any:
    """translate_full for one image; Translator caches single-image solutions, so explore/strip/directions reuse
    them (for NAM this avoids running the optimisation twice)."""
    return tr.translate_full(image[None], k, seed, callback)


def resolve_kind(tr: Any, kind: str) -> tuple[str, list[str]]:
    """``kind`` when the checkpoint has those directions, else "input" with a warning saying why."""
    if kind == "global" and getattr(tr, "global_dirs", None) is None:
        return "input", ["This checkpoint has no global (dataset PCA) directions; using per-input directions."]
    if kind == "style" and getattr(tr, "style_dirs", None) is None:
        return "input", ["This checkpoint has no style directions (training/style_directions.py adds them); "
                         "using per-input directions."]
    if kind == "style" and len(tr.style_dirs.vectors) == 0:
        return "input", ["No latent direction of this model changes the output without changing its reconstruction "
                         "of the input (the mapping is close to one-to-one here); using per-input directions."]
    return kind, []


def direction_info(tr: Any, image: np.ndarray, k: int, seed: int, kind: str,
                   n: int = N_DIRECTIONS) -> tuple[DirectionInfo, list[str]]:
    """The directions behind the sliders (falls back to per-input when the checkpoint lacks the kind asked for)."""
    asked = kind
    kind, warns = resolve_kind(tr, kind)
    d = tr.directions(image, n, kind, k, seed)
    scales = [float(s) for s in d.scales[:n]]
    note = ""
    if not scales:
        if tr.spec.iterative and k < 2:
            note = "NAM's per-input directions are the principal axes of its K solutions: use K ≥ 2."
        elif tr.spec.deterministic and not tr.spec.feed_forward:
            note = (f"{METHOD_LABEL[tr.method]} is deterministic and this checkpoint has no global directions: "
                    "nothing to explore.")
        else:
            note = "No latent direction changes the output for this input."
    else:
        what = {"posterior": "axes of the VAE posterior q(z|x), ranked by how much they change G(z)",
                "restarts": "principal axes of the K NAM solutions (restart spread)",
                "global": "principal axes of the codes of the whole training set",
                "style": "dataset-wide directions that change the output but hardly its reconstruction of the input "
                         "(appearance, not identity)"}.get(d.kind, d.kind)
        note = f"{len(scales)} direction(s): {what}. Sliders are in units of each direction's σ."
        if asked == "input" and d.kind == "global":  # a deterministic encoder: one code, no spread of its own
            note = (f"{METHOD_LABEL.get(tr.method, tr.method)} encodes an input to a single code, so it has no "
                    f"per-input axes: these {len(scales)} are the principal axes of the whole training set's "
                    "codes (Global), moved around this input's solution. Sliders are in units of each "
                    "direction's σ.")
    return DirectionInfo(d.kind, scales, note), warns


def check_input(tr: Any, task: str, image: np.ndarray) -> None:
    """AppError unless ``image`` has the size and channels of the translator's input domain."""
    spec = DOMAINS[tr.source]
    if image.shape[-1] != spec.channels or image.shape[0] != spec.size:
        raise AppError(f"The input is {image.shape} but {task} expects {spec.size} px {spec.channels}-channel "
                       "images: convert it again (press Map).")


class _StepCallback:
    """A progress callback that also carries ``on_step`` down to :func:`nam_core.methods.nam.nam_infer` (through
    the Translator, whose signatures take one callback)."""

    def __init__(self, progress: Callable[[int, int], None] | None, on_step: Callable[..., bool | None]) -> None:
        self.progress, self.on_step = progress, on_step

    def __call__(self, step: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, total)


def run_map(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int = 8,
            seed: int = 0, kind: str = "input", progress: ProgressFn | None = None,
            on_step: Callable[..., bool | None] | None = None) -> MapResult:
    """Translate one prepared input into K solutions (NAM reports its optimisation through ``progress``, and
    ``on_step(step, z, losses)`` sees its codes after every step and may stop it early: see ``nam_infer``)."""
    k = int(np.clip(int(k), 1, MAX_K))
    seed = parse_seed(seed)
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    check_input(tr, task, image)
    cb: Callable[[int, int], None] | None = _progress_cb(
        progress, "NAM: optimising latent codes" if get_method(method).iterative else "encoding")
    if on_step is not None:
        cb = _StepCallback(cb, on_step)
    with registry.lock(task, method, generator):
        res = _solve(tr, image, k, seed, cb)
        info, warns = direction_info(tr, image, k, seed, kind)
    outs, recs, losses = res.outputs[0], res.reconstructions[0], res.losses[0]
    captions, rank_note = rank_captions(tr, res, task, method, k)
    ms = (time.perf_counter() - t0) * 1000
    meta = {"task": task, "method": method, "generator": generator, "k": len(outs), "k_requested": k, "seed": seed,
            "kind": info.kind, "rank_by": getattr(res, "rank_by", None), "coefficients": [0.0] * N_DIRECTIONS,
            "server_ms": round(ms, 1)}
    zp = write_zip(outs, meta, image, recs, losses)
    return MapResult(image, outs, recs, losses, info, zp, ms, str(tr.device), warns, captions, rank_note)


def rank_captions(tr: Any, res: Any, task: str, method: str, k: int) -> tuple[list[str], str]:
    """One caption per solution of a single-image ``translate_full`` result (``#1 · best reconstruction``), and
    one line saying what the order means (or that the model is deterministic)."""
    outs = res.outputs[0]
    # the Translator returns the solutions in rank order (one when the model is deterministic): say what it means
    by = getattr(res, "rank_by", None)
    best = {"loss": "best reconstruction", "roundtrip": "best round-trip", "roundtrip+loss": "best round-trip + loss"}
    captions = [f"#{i + 1}" + (f" · {best[by]}" if i == 0 and by in best else "") for i in range(len(outs))]
    drawn = max(len(outs), int(getattr(tr, "oversample", 0) or 0))
    of = f" among {drawn} drawn candidates" if drawn > len(outs) else ""
    partner = getattr(getattr(tr, "partner", None), "task", None) if by and "roundtrip" in by else None
    back = f"mapped back by the {task_label(partner.name)} model" if partner is not None else "mapped back"
    rank_note = {
        "loss": f"Ranked by reconstruction loss ‖T(G(z)) − x‖{of}: #1 explains the input best.",
        "roundtrip": f"Ranked by round trip{of}: #1, {back}, comes closest to the input.",
        "roundtrip+loss": f"Ranked by round trip and reconstruction loss together{of}: #1 is the best of both "
                          f"({back}, and explaining the input).",
    }.get(by or "", "Solutions in the order they were drawn (not ranked).")
    if getattr(tr, "deterministic", False) and len(outs) < k:
        rank_note = (f"{METHOD_LABEL.get(method, method)} is deterministic for this task: one solution (the other "
                     f"{k - 1} would be identical copies).")
    return captions, rank_note


@dataclass
class CompareResult:
    """The GAN baselines' analogies of one input (one each: they are deterministic)."""

    outputs: list[tuple[np.ndarray, str]]  # (H'×W'×C' image, label)
    message: str
    ms: float


def run_compare(registry: ModelRegistry, task: str, image: np.ndarray) -> CompareResult:
    """Translate the prepared input with every shipped GAN baseline of ``task`` (CycleGAN, DistanceGAN, DTN)."""
    t0 = time.perf_counter()
    outs, missing = [], []
    for label, method in BASELINE_CHOICES:
        tr = registry.baseline(task, method)
        if tr is None:
            missing.append(label)
            continue
        check_input(tr, task, image)
        outs.append((tr.translate(image[None], num_solutions=1)[0, 0], label))
    if not outs:
        raise AppError(f"No GAN baseline is shipped for {task_label(task)} (looked for {task}_cyclegan, "
                       f"{task}_distancegan, {task}_dtn in the checkpoints folder).")
    msg = ("Adversarial baselines trained on the same data (one deterministic analogy each); their accuracy is in "
           "the Learn tab's table.")
    if missing:
        msg += f" Not shipped for this task: {', '.join(missing)}."
    methods = dict(BASELINE_CHOICES)
    notes, captioned = [], []
    for img, label in outs:
        note, caption = baseline_note(registry.root, task, methods[label], img)
        captioned.append((img, caption))
        if note:
            notes.append(note)
    if notes:
        msg += "\n\n" + "\n\n".join(notes)
    return CompareResult(captioned, msg, (time.perf_counter() - t0) * 1000)


NOISE_NEIGHBOUR_CORR = 0.3  # photos and digits have strongly correlated neighbouring pixels, per-pixel noise ~none
CHANCE_ACCURACY = 0.1  # ten digit classes
POOR_ACCURACY = 1.5 * CHANCE_ACCURACY  # a baseline this close to chance keeps almost nothing of the input digit


def neighbour_correlation(img: np.ndarray) -> float:
    """Correlation of horizontally and vertically adjacent pixels of a uint8 H×W×C image (its luminance)."""
    g = _gray(_hwc(np.asarray(img)))
    pairs = [(g[:, :-1], g[:, 1:]), (g[:-1], g[1:])]
    cs = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairs if a.std() > 1e-6 and b.std() > 1e-6]
    return float(np.mean(cs)) if cs else 1.0  # a flat image is not noise


def baseline_note(root: str | Path | None, task: str, method: str, output: np.ndarray) -> tuple[str, str]:
    """(warning or "", gallery caption) for one GAN baseline's analogy: the caption carries its measured accuracy
    (``results.json``); the warning says when this output is per-pixel noise or the baseline's accuracy is close
    to chance, with the figures, and what the best non-adversarial model reaches on the same task."""
    label = ALL_METHOD_LABEL.get(method, method)
    row = best_result(root, task, method)
    score = _score(row) if row else None
    acc = score[1] if score and score[0] == "acc" else None
    caption = label + (f" · {acc * 100:.0f} %" if acc is not None else "")
    corr = neighbour_correlation(output)
    problems = []
    if corr < NOISE_NEIGHBOUR_CORR:
        noise = "colour noise" if np.asarray(output).shape[-1] == 3 else "noise"
        problems.append(f"this output is per-pixel {noise}, not an image of the input (correlation of "
                        f"neighbouring pixels: {corr:.2f})")
    if acc is not None and acc < POOR_ACCURACY:
        problems.append(f"in the evaluation the {domain_label(TASKS[task].target)} classifier read the input's "
                        f"digit in {acc * 100:.1f} % of its {int(row.get('n', 0)):,} test translations "  # type: ignore[union-attr]
                        f"(chance: {CHANCE_ACCURACY * 100:.0f} %)")
    if not problems:
        return "", caption
    ours = [r for r in (best_result(root, task, m) for m in SERVED_METHODS) if r and _score(r)]
    best = max(ours, key=lambda r: _score(r)[1], default=None)  # type: ignore[index]
    tail = ""
    if best is not None and _score(best)[0] == "acc":  # type: ignore[index]
        tail = (f" For comparison, {METHOD_LABEL[best['method']]} ({GENERATOR_LABEL.get(best['generator'], '')}) "
                f"reaches {_score(best)[1] * 100:.1f} %.")  # type: ignore[index]
    return f"⚠ **{label}** fails on {task_label(task)}: " + "; ".join(problems) + "." + tail, caption


def run_explore(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int,
                seed: int, coefficients: list[float], kind: str = "input", anchor: int | None = None,
                progress: ProgressFn | None = None) -> ExploreResult:
    """The K solutions moved by ``coefficients`` (σ units), rendered in one batched forward pass."""
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    kind, warns = resolve_kind(tr, kind)
    coefs = [float(np.clip(c, -SPAN, SPAN)) for c in coefficients]
    cb = _progress_cb(progress, "NAM: optimising latent codes")
    with registry.lock(task, method, generator):
        outs = tr.explore(image, coefs, seed=int(seed), num_solutions=int(k), kind=kind, anchor=anchor, callback=cb)
    ms = (time.perf_counter() - t0) * 1000
    meta = {"task": task, "method": method, "generator": generator, "k": int(k), "seed": int(seed), "kind": kind,
            "coefficients": coefs, "anchor": anchor, "server_ms": round(ms, 1)}
    return ExploreResult(outs, write_zip(outs, meta, image), ms, warns)


def run_strip(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int,
              seed: int, direction: int, kind: str = "input", anchor: int = 0, steps: int = 7,
              span: float = SPAN) -> tuple[np.ndarray, list[str], float]:
    """One direction from −span σ to +span σ around solution ``anchor``: (images, captions, ms)."""
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    kind = resolve_kind(tr, kind)[0]
    with registry.lock(task, method, generator):
        d = tr.directions(image, N_DIRECTIONS, kind, int(k), int(seed))
        if direction >= len(d.vectors):
            raise AppError(f"Direction {direction + 1} is not available for this input ({len(d.vectors)} found).")
        imgs = tr.strip(image, direction, steps=steps, span=span, seed=int(seed), kind=kind,
                        anchor=int(anchor or 0), num_solutions=int(k))
    caps = [f"{c:+.1f}σ" for c in np.linspace(-span, span, steps)]
    return imgs, caps, (time.perf_counter() - t0) * 1000


def random_coefficients(rng: np.random.Generator, n: int = N_DIRECTIONS, count: int | None = None) -> list[float]:
    """N(0, 1) coefficients (σ units), clipped to ±3 and rounded to the sliders' step; unused ones are 0."""
    c = np.clip(rng.standard_normal(n), -SPAN, SPAN).round(1)
    if count is not None:
        c[count:] = 0.0
    return [float(v) for v in c]


# ------------------------------------------------------------------------------------------------ GLANN tab


def _slerp(a: Any, b: Any, t: float) -> Any:
    import torch

    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos(torch.clamp((an * bn).sum(), -1.0, 1.0))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def has_baselines(registry: ModelRegistry, task: str) -> bool:
    """Whether any GAN baseline of ``task`` is shipped (the Translate tab offers "Compare with GANs" only then)."""
    return any((registry.root / f"{task}_{m}" / "config.json").exists() for _, m in BASELINE_CHOICES)


def generator_kinds(registry: ModelRegistry, domain: str) -> list[str]:
    """The generator kinds ("glann", "dcgan") the GLANN tab can load for ``domain``: a ``gen_<domain>_<kind>``
    folder, or a local mapping onto ``domain`` with that kind of generator."""
    mapped = {g for t, _, g in registry.available() if TASKS[t].target == domain}
    return [g for _, g in GENERATOR_CHOICES
            if g in mapped or (registry.root / f"gen_{domain}_{g}" / "config.json").exists()]


def glann_sample(registry: ModelRegistry, domain: str, kind: str = "glann", n: int = 16,
                 seed: int = 0) -> tuple[np.ndarray, float]:
    """``n`` new images G(T(e)), e ~ N(0, I) (deterministic for a seed): (uint8 n×H×W×C, ms)."""
    from ..methods.generators import sample_images
    from ..utils import to_uint8

    t0 = time.perf_counter()
    G, _ = registry.generator(domain, kind)
    imgs = to_uint8(sample_images(G, parse_int(n, "Images", 1, 64, default=16), seed=parse_seed(seed)))
    return imgs, (time.perf_counter() - t0) * 1000


def glann_interpolate(registry: ModelRegistry, domain: str, seed_a: int, seed_b: int, steps: int = 8,
                      kind: str = "glann") -> tuple[np.ndarray, float]:
    """Spherical interpolation between the noise vectors of two seeds: (uint8 steps×H×W×C, ms)."""
    import torch

    from ..utils import to_uint8

    t0 = time.perf_counter()
    G, _ = registry.generator(domain, kind)
    d = G.latent_dim
    a = torch.randn(1, d, generator=torch.Generator().manual_seed(parse_seed(seed_a, "Seed A")))[0]
    b = torch.randn(1, d, generator=torch.Generator().manual_seed(parse_seed(seed_b, "Seed B")))[0]
    steps = int(np.clip(steps, 2, 16))
    z = torch.stack([_slerp(a, b, float(t)) for t in np.linspace(0, 1, steps)])
    dev = next(G.parameters()).device
    with torch.no_grad():
        imgs = to_uint8(G(z.to(dev)))
    return imgs, (time.perf_counter() - t0) * 1000


def glann_invert(registry: ModelRegistry, domain: str, src: Any, steps: int = 150, seed: int = 0,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Find the noise e with G(T(e)) ≈ the uploaded image (``glann.invert``): (input, reconstruction, loss, ms)."""
    from ..losses import build_loss
    from ..methods.glann import invert
    from ..utils import to_tensor, to_uint8
    from .translator import prepare_inputs

    t0 = time.perf_counter()
    G, cfg = registry.generator(domain, "glann")
    if not hasattr(G, "noise_dim"):
        raise AppError("Inversion needs a GLANN generator (G(T(e))).")
    arr = load_image(src)
    if float(arr[..., :3].std()) < 1.0 and not _has_alpha_shape(arr):
        raise AppError("The image is blank (a single colour): nothing to invert.")
    x = prepare_inputs(arr, domain)
    dev = next(G.parameters()).device
    loss_fn = build_loss(str(cfg.get("recon_loss") or "laplacian")).to(dev)
    steps = int(np.clip(steps, 10, 1000))
    cb = None
    if progress is not None:
        def cb(step: int, loss: float) -> None:
            progress((step + 1) / steps, f"inverting: step {step + 1}/{steps}, loss {loss:.4f}")
    e, loss = invert(G, to_tensor(x, dev), loss_fn, steps=steps, restarts=4, seed=int(seed), callback=cb)
    import torch

    with torch.no_grad():
        rec = to_uint8(G(e))[0]
    return x[0], rec, float(loss[0]), (time.perf_counter() - t0) * 1000


# ------------------------------------------------------------------------------------------------ zip, learn tab


class ZipStore:
    """The "Download all" zips: one private folder per process (``tempfile.mkdtemp``, mode 0700, so no other user
    can plant or read files in it), one sub-folder per zip (the file keeps a readable name), and a record of what
    this store wrote: pruning deletes only those files and folders, never anything else, and never fails a request.

    Gradio copies each returned zip into its own cache (cleaned by ``delete_cache``), so a zip is only needed until
    that copy is made: the newest ``keep`` are kept, none younger than ``min_age_s``, none older than ``max_age_s``."""

    def __init__(self, keep: int = ZIP_KEEP, min_age_s: float = ZIP_MIN_AGE_S, max_age_s: float = ZIP_MAX_AGE_S,
                 parent: str | Path | None = None) -> None:
        self.keep, self.min_age_s, self.max_age_s = int(keep), float(min_age_s), float(max_age_s)
        self.parent = parent
        self._root: Path | None = None
        self._made: collections.deque[tuple[float, Path, Path]] = collections.deque()  # (time, folder, zip)
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None or not self._root.is_dir():
                self._root = Path(tempfile.mkdtemp(prefix="nam_studio_zips_", dir=self.parent))
                os.chmod(self._root, 0o700)
                atexit.register(self.close)
            return self._root

    def new_path(self, name: str) -> Path:
        """A fresh path ``<root>/<unique>/<name>`` (the folder is created 0700 and recorded)."""
        folder = Path(tempfile.mkdtemp(dir=self.root))
        path = folder / name
        with self._lock:
            self._made.append((time.time(), folder, path))
        return path

    def __len__(self) -> int:
        return len(self._made)

    def prune(self, now: float | None = None) -> int:
        """Delete the recorded zips beyond the bounds; returns how many were deleted. Errors are logged, not raised."""
        now = time.time() if now is None else now
        deleted = 0
        with self._lock:
            while self._made:
                t, folder, path = self._made[0]
                age = now - t
                if not (age > self.max_age_s or (len(self._made) > self.keep and age > self.min_age_s)):
                    break
                self._made.popleft()
                deleted += self._delete(folder, path)
        return deleted

    @staticmethod
    def _delete(folder: Path, path: Path) -> int:
        try:
            path.unlink(missing_ok=True)
            folder.rmdir()  # fails (and the folder stays) when something else was put in it: not ours to delete
            return 1
        except OSError as exc:
            log.warning("zip cleanup skipped %s: %s", folder.name, exc.strerror or type(exc).__name__)
            return 0

    def close(self) -> None:
        """Delete every recorded zip, then the private folder if nothing else is left in it (at exit)."""
        with self._lock:
            while self._made:
                _, folder, path = self._made.popleft()
                self._delete(folder, path)
            root, self._root = self._root, None
        if root is not None:
            with contextlib.suppress(OSError):
                root.rmdir()


ZIPS = ZipStore()


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    a = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    return buf.getvalue()


def write_zip(outputs: np.ndarray, meta: dict[str, Any], image: np.ndarray | None = None,
              reconstructions: np.ndarray | None = None, losses: np.ndarray | None = None,
              store: ZipStore | None = None) -> Path:
    """A zip of the gallery (solution_XX.png at native size), the input, T(G(z)) and losses.csv + info.json, in
    ``store`` (default: the process's :data:`ZIPS`), which then drops its zips beyond its bounds."""
    store = store if store is not None else ZIPS  # (an empty store is falsy: it has a length)
    name = f"nam_{meta.get('task', 'out')}_{meta.get('method', '')}_seed{meta.get('seed', 0)}.zip"
    path = store.new_path(name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, im in enumerate(outputs):
            zf.writestr(f"solution_{i + 1:02d}.png", _png_bytes(im))
        if image is not None:
            zf.writestr("input.png", _png_bytes(image))
        if reconstructions is not None:
            for i, im in enumerate(reconstructions):
                zf.writestr(f"why/T_of_G_z_{i + 1:02d}.png", _png_bytes(im))
        if losses is not None:
            s = io.StringIO()
            w = csv.writer(s)
            w.writerow(["solution", "loss"])
            for i, v in enumerate(np.asarray(losses).ravel()):
                w.writerow([i + 1, f"{float(v):.6f}"])
            zf.writestr("losses.csv", s.getvalue())
        zf.writestr("info.json", json.dumps(meta, indent=2, default=str))
    store.prune()
    return path


# ------------------------------------------------------------------------------------------------ learn tab (tour)


TOUR_TASK = "mnist2street"  # the tour's task and the app's first one: digits make the methods' differences visible
LEARN_CACHE = Path(tempfile.gettempdir()) / "nam_studio_learn"
LEARN_VERSION = "tour-1"  # part of the cache key: bump when the pictures' drawing changes
SHORT_TASK = {"edges2shoes": "edges → shoes", "edges2handbags": "edges → handbags", "street2mnist": "street → MNIST",
              "mnist2street": "MNIST → street", "svhn2mnist": "SVHN → MNIST", "mnist2svhn": "MNIST → SVHN"}
RESULT_METHODS = [m for _, m in METHOD_CHOICES] + [m for _, m in BASELINE_CHOICES]
ALL_METHOD_LABEL = {**METHOD_LABEL, **{m: label for label, m in BASELINE_CHOICES}}

TOUR_INTRO = """
### A short tour: three ideas

Every method here maps an image **x** of domain A (say, an MNIST digit) to images of domain B (street-number
digits) **without paired examples and without an adversary**. A generator **G** of domain B is trained first, on B
alone, then frozen. A small network **T** learns to map B images back to A, so that **T(G(z)) ≈ x**: an analogy of
x is **G(z)** for a code **z** that explains x. The three ideas differ in how they find z, and in how G is trained.
"""
TOUR_IDEAS: list[tuple[str, str, str]] = [
    ("nam", "1 · NAM: optimise a code for each input",
     "NAM (Hoshen & Wolf, 2018) starts from K codes and moves each by gradient descent on the loss between "
     "T(G(z)) and x. The picture follows one solution: the top row is T(G(z)), what is compared with the input; "
     "the bottom row is G(z), the analogy. The loss falls step by step: slow (one optimisation per input), but "
     "each of the K restarts can land on a different analogy."),
    ("vae-nam", "2 · VAE-NAM: one forward pass",
     "VAE-NAM trains an encoder E with T, so that E(x) gives a Gaussian q(z|x) = N(μ, σ²) at once. The K "
     "solutions are samples z = μ + σ·ε (the first is μ) rendered in one batched pass: milliseconds instead of "
     "seconds, and the spread of the samples shows how ambiguous the mapping is. The bottom row checks each "
     "sample: T(G(z)) should look like the input."),
    ("glann", "3 · GLANN: a generator in two stages, no discriminator",
     "GLANN (Hoshen, Li & Malik, 2019) trains G in two stages. Stage 1 (GLO) learns one code z_i per training "
     "image together with G, so that G(z_i) redraws image i (top row). Codes drawn from a Gaussian fitted to "
     "the z_i fall between them, where G was never trained (middle row). Stage 2 (IMLE) learns a map T from "
     "noise e ~ N(0, I) onto the codes, so that G(T(e)) samples new images (bottom row)."),
]
LOSS_GROUPS: list[tuple[str, str, str]] = [
    ("generator", "Generators (trained first, on the target domain alone)",
     "GLANN stage 1 (GLO): the reconstruction loss between G(z_i) and training image i, with one learned code per "
     "image. Stage 2 (IMLE): the distance from each code to its nearest mapped noise T(e). A DCGAN has no such "
     "measure: its generator and discriminator losses pull against each other and do not fall together."),
    ("mapping", "Mappings onto a frozen generator",
     "Reconstruction is the loss between T(G(z)) and the training input x, the quantity each method lowers: NAM "
     "by optimising one code per training input (with T), AE-NAM and VAE-NAM through an encoder E(x). VAE-NAM "
     "adds the KL divergence of q(z|x) from the prior; AE-NAM logs its codes' norm. NAM one-pass learns to give "
     "NAM's codes in one pass (code error, and the image error of G of its codes)."),
    ("baseline", "GAN baselines (CycleGAN, DistanceGAN, DTN)",
     "The adversarial baselines' generator loss and their own constraint (cycle consistency, distance "
     "preservation, DTN's f-constancy). A falling generator loss only says that the discriminator is fooled "
     "more often, not that a translation keeps the input's content: compare the accuracies in the table."),
]
# per method: the history keys each loss-curve panel shows (absent keys are skipped)
LOSS_KEYS = {m.name: m.loss_keys for m in methods(None)}
KEY_LABEL = {"recon": "reconstruction", "kl": "KL(q(z|x) ‖ prior)", "code_norm": "code norm", "loss_g": "G loss",
             "loss_d": "D loss", "code_mse": "code error", "image": "image error", "cycle": "cycle loss",
             "dist_ab": "distance loss", "const": "f-constancy", "imle": "IMLE code distance"}


def load_results(root: str | Path | None = None) -> dict[str, Any]:
    """``results.json`` of the checkpoints folder (``{}`` when missing or unreadable)."""
    try:
        data = json.loads((checkpoints_dir(root) / "results.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _translation_rows(root: str | Path | None) -> list[dict[str, Any]]:
    rows = load_results(root).get("translations")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _score(row: dict[str, Any]) -> tuple[str, float] | None:
    """A result row's headline figure: ("acc", mean accuracy over the K analogies) on digit tasks, ("f1", edge F1)
    on edge tasks; None when it has neither."""
    for kind, key in (("acc", "mean"), ("f1", "edge_f1")):
        v = row.get(key)
        if isinstance(v, (int, float)) and np.isfinite(v):
            return kind, float(v)
    return None


def best_result(root: str | Path | None, task: str, method: str) -> dict[str, Any] | None:
    """The ``results.json`` row of ``task`` × ``method`` whose generator has the best headline figure."""
    rows = [r for r in _translation_rows(root) if r.get("task") == task and r.get("method") == method and _score(r)]
    return max(rows, key=lambda r: _score(r)[1], default=None)  # type: ignore[index]


def _fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else (f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms")


def compact_results_markdown(root: str | Path | None = None) -> str:
    """One small table for the tour: a row per method, a column per task, each cell the best generator's headline
    figure and its time per input; falls back to :func:`results_markdown` without ``results.json`` rows."""
    rows = _translation_rows(root)
    tasks = [t for t in TASK_ORDER if any(r.get("task") == t and _score(r) for r in rows)]
    if not tasks:
        return results_markdown(root)
    methods = [m for m in RESULT_METHODS if any(r.get("method") == m and r.get("task") in tasks for r in rows)]
    lines = ["| method | " + " | ".join(SHORT_TASK.get(t, t) for t in tasks) + " |", "|---|" + "---|" * len(tasks)]
    for m in methods:
        cells = []
        for t in tasks:
            r = best_result(root, t, m)
            if r is None:
                cells.append("–")
                continue
            kind, v = _score(r)  # type: ignore[misc]
            cell = f"**{v * 100:.0f} %**" if kind == "acc" else f"F1 **{v:.2f}**"
            ms = r.get("ms_per_analogy_batch1")
            if isinstance(ms, (int, float)):
                cell += f" · {_fmt_ms(float(ms))}"
            if r.get("generator") == "dcgan":
                cell += " (D)"
            cells.append(cell)
        lines.append(f"| {ALL_METHOD_LABEL.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


RESULTS_NOTE = ("Digit tasks: the share of the analogies that the target domain's classifier reads as the input's "
                "digit (chance: 10 %). Edge tasks: F1 of the analogies' edges against the input's edges. Time: server "
                "time per input, one at a time, on the evaluation machine. Each cell shows the better of the two "
                "generators; (D) marks DCGAN, the others use GLANN.")


def full_results_markdown(root: str | Path | None = None) -> str:
    """The whole evaluation (``results.md``) for its own page, with ``<`` escaped so that names such as
    ``clf_<domain>`` are shown instead of being read as HTML tags."""
    return results_markdown(root).replace("<", "&lt;")


def _fingerprint(*parts: Any) -> str:
    import hashlib

    h = hashlib.sha256(LEARN_VERSION.encode())
    for p in parts:
        if isinstance(p, Path):
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(str(p).encode())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _save_figure(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
    fig.savefig(tmp, format="png", dpi=fig.dpi)
    tmp.replace(path)  # atomic: two app processes may draw the same picture
    return str(path)


def _show(ax: Any, img: np.ndarray, title: str = "") -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _tour_combo(registry: ModelRegistry, method: str) -> tuple[str, str, str] | None:
    """The tour's model for ``method``: the tour task first, with its best-measured generator first."""
    avail = set(registry.available())
    for t in (TOUR_TASK, *TASK_ORDER):
        best = best_result(registry.root, t, method)
        for g in dict.fromkeys(([best["generator"]] if best else []) + ["glann", "dcgan"]):
            if (t, method, g) in avail:
                return t, method, g
    return None


def _example_inputs(task: str) -> list[np.ndarray]:
    out = []
    for p, _ in example_paths(tasks=[task]):
        try:
            out.append(upload_to_input(str(p), task))
        except AppError:
            continue
    return out


def _nam_picture(registry: ModelRegistry, combo: tuple[str, str, str], xs: list[np.ndarray]) -> tuple[Any, int]:
    """The NAM picture on the example that NAM explains best (lowest final loss), and that example's index."""
    from matplotlib.figure import Figure

    tr = registry.get(*combo)
    total = max(1, int(tr.nam_steps))
    steps = sorted({0, max(1, total // 20), max(1, total // 5), total})
    runs = []
    with registry.lock(*combo):
        finals = [tr.translate_full(x[None], 4, 0) for x in xs]
        pick = int(np.argmin([f.losses[0].min() for f in finals]))
        x = xs[pick]
        saved = tr.nam_steps
        try:
            for s in steps[:-1]:  # the same seeded starts each time, so each run continues the previous one's path
                tr.nam_steps = s
                runs.append(tr.translate_full(x[None], 4, 0))
        finally:
            tr.nam_steps = saved
        runs.append(finals[pick])
    best = int(np.argmin(runs[-1].losses[0]))
    fig = Figure(figsize=(1.5 * (len(steps) + 1), 3.3), dpi=100)
    axes = fig.subplots(2, len(steps) + 1)
    _show(axes[0, 0], x, "input x")
    axes[1, 0].set_axis_off()
    for j, (s, run) in enumerate(zip(steps, runs), start=1):
        _show(axes[0, j], run.reconstructions[0, best], f"step {s}\nloss {float(run.losses[0, best]):.3f}")
        _show(axes[1, j], run.outputs[0, best])
    axes[0, 1].set_ylabel("T(G(z))", fontsize=8)
    axes[1, 1].set_ylabel("G(z)", fontsize=8)
    title = f"NAM on {task_label(combo[0])}: one of K = 4 solutions as z is optimised"
    if tr.recon_loss.startswith("ncc"):
        title += "\n(its loss, a normalised cross-correlation, ignores contrast: T(G(z)) may be dark on light)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig, pick


def _vae_picture(registry: ModelRegistry, combo: tuple[str, str, str], x: np.ndarray) -> Any:
    from matplotlib.figure import Figure

    tr = registry.get(*combo)
    k = 6
    with registry.lock(*combo):
        t0 = time.perf_counter()
        res = tr.translate_full(x[None], k, 1)
        ms = (time.perf_counter() - t0) * 1000
    fig = Figure(figsize=(1.5 * (k + 1), 3.3), dpi=100)
    axes = fig.subplots(2, k + 1)
    _show(axes[0, 0], x, "input x")
    axes[1, 0].set_axis_off()
    for j in range(k):
        _show(axes[0, j + 1], res.outputs[0, j], "z = μ" if j == 0 else f"sample {j}")
        _show(axes[1, j + 1], res.reconstructions[0, j], f"loss {float(res.losses[0, j]):.3f}")
    axes[0, 1].set_ylabel("G(z)", fontsize=8)
    axes[1, 1].set_ylabel("T(G(z))", fontsize=8)
    fig.suptitle(f"VAE-NAM on {task_label(combo[0])}: K = {k} solutions in one pass ({ms:.0f} ms here)", fontsize=9)
    fig.tight_layout()
    return fig


def _glann_picture(registry: ModelRegistry, domain: str, n: int = 6) -> Any:
    import torch
    from matplotlib.figure import Figure

    from ..utils import to_uint8

    sampler, _ = registry.generator(domain, "glann")
    codes = getattr(sampler, "codes", None)
    if not hasattr(sampler, "noise_dim") or codes is None or len(codes) < n:
        raise AppError(f"No GLANN generator with its GLO codes for {domain}.")
    dev = next(sampler.parameters()).device
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(codes), generator=g)[:n]
    c = codes.float().to(dev)
    gauss = c.mean(0) + torch.randn(n, c.shape[1], generator=g).to(dev) * c.std(0)
    with torch.no_grad():
        rows = [to_uint8(sampler.G(c[idx.to(dev)])), to_uint8(sampler.G(gauss)),
                to_uint8(sampler(torch.randn(n, sampler.noise_dim, generator=g).to(dev)))]
    names = ["stage 1 · GLO: G(z_i)", "Gaussian codes: G(z)", "stage 2 · IMLE: G(T(e))"]
    fig = Figure(figsize=(1.3 * n + 1.2, 4.4), dpi=100)
    axes = fig.subplots(3, n)
    for i, (row, name) in enumerate(zip(rows, names)):
        for j in range(n):
            _show(axes[i, j], row[j])
        axes[i, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"GLANN generator of {domain_label(domain)}", fontsize=9)
    fig.tight_layout()
    return fig


def tour_combos(registry: ModelRegistry) -> dict[str, tuple[str, str, str] | None]:
    """The Translate-tab set-up behind each idea's "try it" button (None where no such model is available)."""
    out = {"nam": _tour_combo(registry, "nam"), "vae-nam": _tour_combo(registry, "vae-nam")}
    glann = [(t, m, g) for t, m, g in registry.available() if g == "glann"]
    out["glann"] = next((c for c in glann if c[0] == TOUR_TASK and c[1] == "vae-nam"), glann[0] if glann else None)
    return out


def tour_figures(registry: ModelRegistry, cache: Path | None = None) -> dict[str, str | None]:
    """PNG paths of the tour's three pictures (keys of ``TOUR_IDEAS``), drawn from the registry's models on the
    shipped example of their task and cached on disk (keyed by the checkpoints' configs), so that later starts and
    every visit of the Learn tab only read files; None where a model is missing or drawing fails."""
    cache = cache or LEARN_CACHE
    combos = tour_combos(registry)
    out: dict[str, str | None] = {}
    picked: dict[str, int] = {}
    for key, _, _ in TOUR_IDEAS:
        combo = combos.get(key)
        if combo is None:
            out[key] = None
            continue
        task = combo[0]
        cfgs = [registry.root / checkpoint_folder(*combo) / "config.json"]
        if key == "glann":
            cfgs = [registry.root / f"gen_{TASKS[task].target}_glann" / "config.json"]
        path = cache / f"{key}_{_fingerprint(key, combo, *cfgs, *(p for p, _ in example_paths(tasks=[task])))}.png"
        if path.exists():
            out[key] = str(path)
            continue
        try:
            if key == "glann":
                fig = _glann_picture(registry, TASKS[task].target)
            else:
                xs = _example_inputs(task)
                if not xs:
                    out[key] = None
                    continue
                if key == "nam":
                    fig, picked[task] = _nam_picture(registry, combo, xs)
                else:  # the example of the NAM picture when it shows the same task (drawn just before)
                    fig = _vae_picture(registry, combo, xs[min(picked.get(task, 0), len(xs) - 1)])
            out[key] = _save_figure(fig, path)
        except Exception as exc:  # noqa: BLE001 - a picture is optional: the app must start without it
            warnings.warn(f"Learn tab: no {key} picture ({type(exc).__name__}: {exc})", stacklevel=2)
            out[key] = None
    return out


def _loss_group_of(cfg: dict[str, Any]) -> str | None:
    if cfg.get("kind") == "generator":
        return "generator"
    if cfg.get("kind") == "mapping":
        return "baseline" if cfg.get("method") in {m for _, m in BASELINE_CHOICES} else "mapping"
    return None


def _curve_label(folder: str, cfg: dict[str, Any]) -> str:
    if cfg.get("kind") == "generator":
        return domain_label(str(cfg.get("domain")))
    task = str(cfg.get("task", ""))
    gen = folder.rsplit("_", 1)[-1] if folder.count("_") >= 2 else ""
    return SHORT_TASK.get(task, task) + (f" ({GENERATOR_LABEL[gen]})" if gen in GENERATOR_LABEL else "")


def loss_curve_panels(root: str | Path | None = None) -> dict[str, dict[str, list[tuple[str, list[float]]]]]:
    """group → panel title → [(curve label, values per epoch)] from every checkpoint's ``history`` in ``root`` (one
    panel per method and loss, one curve per task or domain)."""
    from ..checkpoints import CheckpointError, find_checkpoints, read_training_info

    root = checkpoints_dir(root)
    groups: dict[str, dict[str, list[tuple[str, list[float]]]]] = {g: {} for g, _, _ in LOSS_GROUPS}
    found = find_checkpoints(root, "generator") + find_checkpoints(root, "mapping")
    for folder, cfg in sorted(found, key=lambda fc: fc[0].name):
        group, method = _loss_group_of(cfg), str(cfg.get("method"))
        try:
            info = read_training_info(folder)
        except CheckpointError:
            continue
        hist = info.get("history")
        if group is None or not isinstance(hist, list):
            continue
        label = _curve_label(folder.name, cfg)
        series = {k: [float(h[k]) for h in hist if isinstance(h, dict) and isinstance(h.get(k), (int, float))]
                  for k in LOSS_KEYS.get(method, ("recon",))}
        if method == "glann" and isinstance(info.get("imle_history"), list):
            series["imle"] = [float(v) for v in info["imle_history"] if isinstance(v, (int, float))]
        for key, ys in series.items():
            if len(ys) >= 2:
                title = f"{ALL_METHOD_LABEL.get(method, method.upper())} · {KEY_LABEL.get(key, key)}"
                if method == "glann":
                    title = "GLANN · " + ("stage 2 (IMLE) code distance" if key == "imle" else
                                          "stage 1 (GLO) reconstruction")
                groups[group].setdefault(title, []).append((label, ys))
    return {g: p for g, p in groups.items() if p}


def _panels_figure(panels: dict[str, list[tuple[str, list[float]]]], cols: int = 3) -> Any:
    from matplotlib.figure import Figure

    n = len(panels)
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(3.6 * cols, 2.5 * rows), dpi=90)
    for i, (title, curves) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        vals = []
        for label, ys in curves:
            xs = np.linspace(0, 1, len(ys))  # share of each run's epochs: runs of different lengths line up
            ax.plot(xs, ys, label=label, linewidth=1.2)
            vals += [v for v in ys if np.isfinite(v)]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")  # a steep first epoch would flatten the rest
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("share of training", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def loss_curve_figures(root: str | Path | None = None, cache: Path | None = None) -> list[tuple[str, str, str]]:
    """(title, explanation, PNG path) per group of ``LOSS_GROUPS`` that has curves, drawn once and cached on disk."""
    cache = cache or LEARN_CACHE
    panels = loss_curve_panels(root)
    out = []
    for group, title, text in LOSS_GROUPS:
        if group not in panels:
            continue
        path = cache / f"loss_{group}_{_fingerprint(group, panels[group])}.png"
        out.append((title, text, str(path) if path.exists() else _save_figure(_panels_figure(panels[group]), path)))
    return out


def results_markdown(root: str | Path | None = None) -> str:
    """The evaluation table: ``results.md`` if present, else a table built from ``results.json``, else a note."""
    root = checkpoints_dir(root)
    md, js = root / "results.md", root / "results.json"
    if md.exists():
        try:
            return md.read_text()
        except OSError as exc:
            return f"Could not read `{md.name}`: {exc}"
    if js.exists():
        try:
            data = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            return f"Could not read `{js.name}`: {exc}"
        return _json_table(data)
    return ("The evaluation has not been run yet: no `results.md` / `results.json` in the checkpoints folder. "
            "Run `python training/evaluate.py --out checkpoints` to fill this table.")


def results_figure(root: str | Path | None = None) -> str | None:
    """Path of the evaluation figure ``results.png`` when the evaluation has written one."""
    p = checkpoints_dir(root) / "results.png"
    return str(p) if p.exists() else None


def _json_table(data: Any) -> str:
    rows = data.get("results", data.get("rows")) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v} for k, v in rows.items()]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return "```json\n" + json.dumps(data, indent=2)[:5000] + "\n```"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols and not isinstance(r[c], (dict, list))]

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ examples


def example_paths(folder: Path = EXAMPLES_DIR, tasks: list[str] | None = None) -> list[tuple[Path, str]]:
    """(png path, task) of the shipped examples, in task order (file names start with the task); only those of
    ``tasks`` when given."""
    out = []
    for t in TASK_ORDER:
        if tasks is None or t in tasks:
            out += [(p, t) for p in sorted(folder.glob(f"{t}_*.png"))]
    return out


def servable_tasks(registry: ModelRegistry) -> list[str]:
    """Tasks with a local model, in task order; when there is none, those the registry could fetch from the Hub
    (the Examples tab shows only these, so that no example leads to a disabled Map button)."""
    local = {t for t, _, _ in registry.available()}
    if local:
        return [t for t in TASK_ORDER if t in local]
    return [t for t in TASK_ORDER if t in TASKS and any(registry.status(t, m, g).available
                                                        for m in SERVED_METHODS for g in GENERATOR_LABEL)]


def choice_for_task(registry: ModelRegistry, task: str, method: str, generator: str) -> tuple[str, str]:
    """(method, generator) to use for ``task``: the current ones when that model is available, else the task's
    VAE-NAM (any generator), else its first available model."""
    if registry.status(task, method, generator).available:
        return method, generator
    avail = [(m, g) for t, m, g in registry.available() if t == task]
    same = [c for c in avail if c[0] == method]
    vae = [c for c in avail if c[0] == "vae-nam"]
    return (same or vae or avail or [(method, generator)])[0]


def example_caption(task: str) -> str:
    return SHORT_TASK.get(task, task)


def make_examples(out_dir: Path = EXAMPLES_DIR, per_task: int = 3, seed: int = 7) -> list[Path]:
    """Write a few small PNGs per task from the datasets (test splits; street digits stand in for SVHN)."""
    from ..data import load_domain, load_street

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    street = load_street("test", n=64, seed=4242)
    for t in TASK_ORDER:
        src = TASKS[t].source
        if src in ("street", "svhn"):
            ds_images = street.images
        else:
            ds_images = load_domain(src, "test").images
        idx = rng.choice(len(ds_images), size=per_task, replace=False)
        for j, i in enumerate(sorted(idx)):
            p = out_dir / f"{t}_{j + 1}.png"
            im = ds_images[i]
            Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(p, format="PNG", optimize=True)
            written.append(p)
    return written


if __name__ == "__main__":
    import sys

    if "--make-examples" in sys.argv:
        for p in make_examples():
            print(p)
