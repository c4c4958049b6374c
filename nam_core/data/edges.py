"""Edge maps in the look of pix2pix edges2shoes/edges2handbags, sketch augmentation and app-sketch conversion.

The dataset's edge maps (``shoes_bags_64.npz`` ``edges``) are white (255) backgrounds with thin dark strokes:
1-pixel binary HED edges drawn at 256 px (pix2pix ``PostprocessHED.m``: HED, edge NMS, threshold, thinning,
small-component removal), then downscaled 4× with PIL LANCZOS, so at 64 px a stroke is a soft grey line about
one pixel wide (values ~150..230). :func:`extract_edges` reproduces that pipeline (with HED or Canny) on any
image batch; :func:`augment_sketch` and :func:`sketch_to_edges` map hand drawings into the same look.

Only numpy, scipy, torch and pillow are used. The HED network lives in ``nam_core.nets.vgg`` and is imported
lazily (``data`` sits before ``nets`` in the package's import order).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

if TYPE_CHECKING:
    from nam_core.nets.vgg import HED

BACKGROUND = 255  # edge maps: white background ...
STROKE = 0  # ... dark strokes (before the downscale that makes them grey)
WORK_SIZE = 256  # the size pix2pix drew its binary edges at

# pix2pix PostprocessHED.m defaults (threshold 25/255, bwareaopen 5) plus a hysteresis high threshold
HED_LOW = 25.0 / 255.0
HED_HIGH = 0.2
MIN_COMPONENT = 5


# ------------------------------------------------------------------------------------ small helpers


def _as_nhwc(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        hint = " (add a batch axis for one image: images[None])" if images.ndim == 3 else ""
        raise ValueError(f"expected images N×H×W×C with C in (1, 3), got shape {images.shape}{hint}")
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    return images[..., :3]


def _gray(images: np.ndarray) -> np.ndarray:
    """uint8 N×H×W×C → float32 N×H×W luminance in [0, 1]."""
    x = images.astype(np.float32) / 255.0
    if x.shape[-1] == 1:
        return x[..., 0]
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _resize_rgb(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 N×H×W×C → uint8 N×h×w×C with bicubic (upscaling) / Lanczos (downscaling)."""
    if images.shape[1:3] == size:
        return images
    resample = Image.BICUBIC if size[0] >= images.shape[1] else Image.LANCZOS
    out = np.empty((images.shape[0], *size, images.shape[3]), dtype=np.uint8)
    for i in range(images.shape[0]):
        img = images[i, ..., 0] if images.shape[3] == 1 else images[i]
        r = np.asarray(Image.fromarray(img).resize(size[::-1], resample))
        out[i] = r.reshape(*size, images.shape[3])
    return out


def _binary_to_map(strokes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool N×h×w stroke masks → uint8 N×H×W×1 maps (white background), downscaled like the dataset."""
    maps = np.where(strokes, STROKE, BACKGROUND).astype(np.uint8)
    if maps.shape[1:] != size:
        out = np.empty((maps.shape[0], *size), dtype=np.uint8)
        for i in range(maps.shape[0]):
            out[i] = np.asarray(Image.fromarray(maps[i]).resize(size[::-1], Image.LANCZOS))
        maps = out
    return maps[..., None]


def _conv_tri(x: np.ndarray, r: int) -> np.ndarray:
    """Piotr Dollar's convTri: separable triangle filter of radius r on the last 2 axes, symmetric padding."""
    if r <= 0:
        return x
    f = np.concatenate([np.arange(1, r + 2), np.arange(r, 0, -1)]).astype(np.float32) / float((r + 1) ** 2)
    x = ndimage.convolve1d(x, f, axis=-1, mode="reflect")
    return ndimage.convolve1d(x, f, axis=-2, mode="reflect")


def _bilinear(e: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """edgesNmsMex's interp: bilinear sample of N×H×W ``e`` at per-pixel (x, y), coordinates clamped."""
    n, h, w = e.shape
    xs = np.clip(xs, 0.0, w - 1.001)
    ys = np.clip(ys, 0.0, h - 1.001)
    x0 = xs.astype(np.int64)
    y0 = ys.astype(np.int64)
    dx = xs - x0
    dy = ys - y0
    b = np.arange(n)[:, None, None]
    return (
        e[b, y0, x0] * (1 - dx) * (1 - dy)
        + e[b, y0, x0 + 1] * dx * (1 - dy)
        + e[b, y0 + 1, x0] * (1 - dx) * dy
        + e[b, y0 + 1, x0 + 1] * dx * dy
    )


def _edge_orientation(e: np.ndarray) -> np.ndarray:
    """Edge orientation as in pix2pix PostprocessHED.m (from second derivatives of convTri(E, 4))."""
    s = _conv_tri(e, 4)
    oy, ox = np.gradient(s, axis=(1, 2))
    oxx = np.gradient(ox, axis=2)
    oxy, oyy = np.gradient(oy, axis=(2, 1))
    return np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + 1e-5)), np.pi)


def _edges_nms(e: np.ndarray, o: np.ndarray, r: int = 1, s: int = 5, m: float = 1.01) -> np.ndarray:
    """Port of the structured-edge toolbox's edgesNmsMex (vectorised): suppress non-maxima across the edge
    orientation ``o`` within radius r (an edge survives unless m*e < a neighbour), and fade edges within s
    pixels of the image border."""
    e = e.astype(np.float32)
    n, h, w = e.shape
    out = e.copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cos, sin = np.cos(o), np.sin(o)
    em = e * m
    for d in range(-r, r + 1):
        if d == 0:
            continue
        e0 = _bilinear(e, xx[None] + d * cos, yy[None] + d * sin)
        out[em < e0] = 0.0
    s = min(s, w // 2, h // 2)
    if s > 0:
        ramp = np.arange(s, dtype=np.float32) / float(s)
        out[:, :, :s] *= ramp[None, None, :]
        out[:, :, w - s :] *= ramp[None, None, ::-1]
        out[:, :s, :] *= ramp[None, :, None]
        out[:, h - s :, :] *= ramp[None, ::-1, None]
    return out


_PLANE8 = np.zeros((3, 3, 3), dtype=bool)
_PLANE8[1] = True  # 8-connectivity within each image of a N×H×W stack, none across images


def _hysteresis(e: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels >= low that are 8-connected to a pixel >= high."""
    weak = e >= low
    if high <= low:
        return weak
    labels, count = ndimage.label(weak, structure=_PLANE8)
    if count == 0:
        return weak
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[e >= high])] = True
    keep[0] = False
    return keep[labels]


def _remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    """MATLAB bwareaopen: drop 8-connected components with fewer than ``min_size`` pixels."""
    if min_size <= 1:
        return mask
    labels, count = ndimage.label(mask, structure=_PLANE8)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


@functools.lru_cache(maxsize=1)
def _thin_luts() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables (512 entries, indexed by the 3×3 neighbourhood) of MATLAB bwmorph 'thin' (Lam, Lee & Suen
    1992): the two sub-iterations' deletion rules."""
    lut1 = np.zeros(512, dtype=bool)
    lut2 = np.zeros(512, dtype=bool)
    for idx in range(512):
        bits = [(idx >> k) & 1 for k in range(9)]
        if not bits[4]:
            continue  # centre off: nothing to delete
        # neighbours x1..x8 from east, counter-clockwise; bit layout: row-major 3×3, bit k = (k // 3, k % 3)
        x = [bits[5], bits[2], bits[1], bits[0], bits[3], bits[6], bits[7], bits[8]]
        x1, x2, x3, x4, x5, x6, x7, x8 = x
        xh = sum(1 for i in range(4) if not x[2 * i] and (x[2 * i + 1] or x[(2 * i + 2) % 8]))
        n1 = sum(1 for k in range(4) if x[2 * k] or x[2 * k + 1])
        n2 = sum(1 for k in range(4) if x[2 * k + 1] or x[(2 * k + 2) % 8])
        g12 = xh == 1 and 2 <= min(n1, n2) <= 3
        lut1[idx] = g12 and not ((x2 or x3 or not x8) and x1)
        lut2[idx] = g12 and not ((x6 or x7 or not x4) and x5)
    return lut1, lut2


_NBR_WEIGHTS = (2 ** np.arange(9)).reshape(3, 3)


def _thin(mask: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """MATLAB ``bwmorph(mask, 'thin', Inf)`` on a N×H×W bool stack (vectorised, iterated to convergence)."""
    lut1, lut2 = _thin_luts()
    m = mask.astype(bool).copy()
    w = np.zeros((1, 3, 3), dtype=np.int32)
    w[0] = _NBR_WEIGHTS
    for _ in range(max_iter):
        changed = False
        for lut in (lut1, lut2):
            idx = ndimage.correlate(m.astype(np.int32), w, mode="constant", cval=0)
            delete = lut[idx] & m
            if delete.any():
                m &= ~delete
                changed = True
        if not changed:
            break
    return m


# ----------------------------------------------------------------------------------- edge detectors


def _hed_probabilities(images: np.ndarray, device: str, batch_size: int) -> np.ndarray:
    """HED fused edge probability, float32 N×H×W, for uint8 N×H×W×C images."""
    import torch

    model = _hed_model(str(device))
    out = np.empty(images.shape[:3], dtype=np.float32)
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size]
            x = torch.from_numpy(np.ascontiguousarray(chunk)).to(device)
            x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
            out[start : start + batch_size] = model(x)[:, 0].float().cpu().numpy()
    return out


@functools.lru_cache(maxsize=2)
def _hed_model(device: str) -> HED:
    from nam_core.nets.vgg import load_hed

    return load_hed().to(device)


def hed_available() -> bool:
    """Whether the HED weights can be found (see ``nam_core.nets.vgg.hed_weights_path``)."""
    from nam_core.nets.vgg import hed_weights_path

    try:
        hed_weights_path()
    except FileNotFoundError:
        return False
    return True


def _hed_strokes(prob: np.ndarray, low: float = HED_LOW, high: float = HED_HIGH) -> np.ndarray:
    """pix2pix PostprocessHED: edge NMS, (hysteresis) threshold, thinning, small-component removal → bool."""
    e = _edges_nms(prob, _edge_orientation(prob), r=1, s=5, m=1.01)
    strokes = _hysteresis(e, max(low, np.finfo(np.float32).eps), high)
    strokes = _thin(strokes)
    return _remove_small(strokes, MIN_COMPONENT)


def _sobel_xy(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives (x, y) of a N×H×W stack, normalised to intensity per pixel; never mixes images
    (``ndimage.sobel`` would smooth across the batch axis too)."""
    c1d = ndimage.correlate1d
    diff = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
    smooth = np.array([1.0, 2.0, 1.0], dtype=np.float32)
    gx = c1d(c1d(g, diff, axis=2, mode="nearest"), smooth, axis=1, mode="nearest")
    gy = c1d(c1d(g, diff, axis=1, mode="nearest"), smooth, axis=2, mode="nearest")
    return gx / 8.0, gy / 8.0


def _canny_strokes(
    gray: np.ndarray, sigma: float = 1.5, low: float = 0.015, high: float = 0.04, border: int = 3
) -> np.ndarray:
    """Canny on N×H×W gray in [0, 1]: Gaussian, Sobel, 4-way NMS, hysteresis, thinning → bool strokes."""
    g = ndimage.gaussian_filter(gray, sigma=(0, sigma, sigma), mode="nearest")
    gx, gy = _sobel_xy(g)
    mag = np.hypot(gx, gy)
    # quantise the gradient direction into 0°, 45°, 90°, 135° and compare with the two neighbours along it
    ang = np.mod(np.rad2deg(np.arctan2(gy, gx)), 180.0)
    pad = np.pad(mag, ((0, 0), (1, 1), (1, 1)), mode="constant")
    h, w = mag.shape[1:]

    def nb(dy: int, dx: int) -> np.ndarray:
        return pad[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    d0 = (ang < 22.5) | (ang >= 157.5)
    d45 = (ang >= 22.5) & (ang < 67.5)
    d90 = (ang >= 67.5) & (ang < 112.5)
    d135 = (ang >= 112.5) & (ang < 157.5)
    # +45° in image coordinates (y down): neighbours (+1, +1) and (-1, -1)
    is_max = (
        (d0 & (mag >= nb(0, 1)) & (mag >= nb(0, -1)))
        | (d90 & (mag >= nb(1, 0)) & (mag >= nb(-1, 0)))
        | (d45 & (mag >= nb(1, 1)) & (mag >= nb(-1, -1)))
        | (d135 & (mag >= nb(1, -1)) & (mag >= nb(-1, 1)))
    )
    nms = np.where(is_max, mag, 0.0)
    if border > 0:
        nms[:, :border] = nms[:, -border:] = 0
        nms[:, :, :border] = nms[:, :, -border:] = 0
    strokes = _hysteresis(nms, low, high) & (nms > 0)
    return _remove_small(_thin(strokes), MIN_COMPONENT)


def _sobel_strokes(gray: np.ndarray, sigma: float = 1.5, threshold: float = 0.02) -> np.ndarray:
    """Thresholded, thinned Sobel gradient magnitude → bool strokes."""
    g = ndimage.gaussian_filter(gray, sigma=(0, sigma, sigma), mode="nearest")
    mag = np.hypot(*_sobel_xy(g))
    mag[:, :2] = mag[:, -2:] = 0
    mag[:, :, :2] = mag[:, :, -2:] = 0
    return _remove_small(_thin(mag >= threshold), MIN_COMPONENT)


def extract_edges(
    images: np.ndarray,
    method: str = "auto",
    device: str = "cpu",
    batch_size: int = 32,
    work_size: int | None = None,
) -> np.ndarray:
    """Edge maps that look like the shoes/handbags dataset's: uint8 N×H×W×1, white background, dark strokes.

    Args:
        images: uint8 N×H×W×3 RGB (or N×H×W×1 / N×H×W grayscale).
        method: "hed" (HED + edge NMS + hysteresis threshold + thinning + small-component removal, as pix2pix
            built edges2shoes), "canny", "sobel", or "auto" (HED when its weights are found, else Canny).
        device: torch device for HED.
        batch_size: images per chunk (bounds memory; HED runs on this many images at a time).
        work_size: side length the binary strokes are drawn at before downscaling to H×W. Default: the
            size scaled by the integer factor that brings it closest to 256 (64 px → 256, like the dataset;
            ≥ 256 px → native size).
    """
    images = _as_nhwc(images)
    n, h, w = images.shape[:3]
    if method == "auto":
        method = "hed" if hed_available() else "canny"
    if method not in ("hed", "canny", "sobel"):
        raise ValueError(f"unknown edge method {method!r}; use 'hed', 'canny', 'sobel' or 'auto'")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if work_size is None:
        factor = max(1, round(WORK_SIZE / max(h, w)))
        work = (h * factor, w * factor)
    else:
        factor = work_size / max(h, w)
        work = (max(1, round(h * factor)), max(1, round(w * factor)))
    out = np.empty((n, h, w, 1), dtype=np.uint8)
    for start in range(0, n, batch_size):
        chunk = _resize_rgb(images[start : start + batch_size], work)
        if method == "hed":
            # HED's activations are ~30 MB per 256² image: run it on at most ~8 such images at once
            hed_batch = max(1, min(batch_size, (8 * WORK_SIZE * WORK_SIZE) // (work[0] * work[1])))
            strokes = _hed_strokes(_hed_probabilities(chunk, device, hed_batch))
        elif method == "canny":
            strokes = _canny_strokes(_gray(chunk))
        else:
            strokes = _sobel_strokes(_gray(chunk))
        out[start : start + batch_size] = _binary_to_map(strokes, (h, w))
    return out


# ---------------------------------------------------------------------------------- sketch handling


def augment_sketch(edges: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random stroke-width change, smooth elastic + small affine jitter and stroke dropout on edge maps.

    Makes the dataset's HED edges look more like hand drawings (and vice versa). Same shape, dtype (uint8) and
    polarity (white background) as the input; works on H×W, H×W×1, N×H×W or N×H×W×1.
    """
    arr = np.asarray(edges)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 edge maps, got {arr.dtype}")
    shape = arr.shape
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 1):
        stack = arr.reshape(1, *arr.shape[:2])
    elif arr.ndim == 3:
        stack = arr
    elif arr.ndim == 4 and arr.shape[-1] == 1:
        stack = arr[..., 0]
    else:
        raise ValueError(f"expected H×W(×1) or N×H×W(×1) edge maps, got shape {shape}")
    if strength <= 0:
        return arr.copy()
    out = np.empty_like(stack)
    for i in range(stack.shape[0]):
        out[i] = _augment_one(stack[i], rng, strength)
    return out.reshape(shape)


def _augment_one(edge: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    h, w = edge.shape
    ink = (BACKGROUND - edge.astype(np.float32)) / 255.0  # 1 = stroke
    scale = max(h, w) / 64.0

    # 1) stroke width: thicken (spread each stroke to its neighbours, darken it) or thin (fainter strokes)
    u = rng.uniform(-1.0, 1.0) * min(strength, 1.5)
    if u > 0.25:
        spread = ndimage.gaussian_filter(ink, 0.5 + 0.3 * u * scale)
        spread /= max(float(spread.max()), 1e-6) / max(float(ink.max()), 1e-6)
        ink = np.clip(np.maximum(ink, spread) * (1.0 + 0.6 * u), 0.0, 1.0)
    elif u < -0.25:
        ink = ink ** (1.0 + 0.5 * (-u))

    # 2) stroke dropout: erase a few random blobs of stroke
    n_blobs = rng.poisson(2.0 * strength)
    if n_blobs:
        noise = np.zeros((h, w), dtype=np.float32)
        ys = rng.integers(0, h, n_blobs)
        xs = rng.integers(0, w, n_blobs)
        noise[ys, xs] = 1.0
        radius = rng.uniform(1.0, 3.0) * scale
        blobs = ndimage.gaussian_filter(noise, radius) * (2 * np.pi * radius**2)
        ink = ink * np.clip(1.5 - 2.0 * blobs, 0.0, 1.0)

    # 3) smooth elastic field + small affine (rotation, scale, shift), one bilinear resampling
    alpha = 1.0 * scale * strength
    sigma = 6.0 * scale
    dx = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma, mode="reflect")
    dy = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma, mode="reflect")
    norm = max(float(np.abs(np.concatenate([dx, dy])).max()), 1e-6)
    dx *= alpha / norm
    dy *= alpha / norm
    theta = np.deg2rad(rng.uniform(-5.0, 5.0) * strength)
    zoom = 1.0 + rng.uniform(-0.06, 0.06) * strength
    shift = rng.uniform(-0.03, 0.03, size=2) * np.array([h, w]) * strength
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ry, rx = yy - cy, xx - cx
    src_y = (np.cos(theta) * ry - np.sin(theta) * rx) / zoom + cy - shift[0] + dy
    src_x = (np.sin(theta) * ry + np.cos(theta) * rx) / zoom + cx - shift[1] + dx
    ink = ndimage.map_coordinates(ink, [src_y, src_x], order=1, mode="constant", cval=0.0)
    return np.clip(BACKGROUND - np.round(ink * 255.0), 0, 255).astype(np.uint8)


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(np.ceil(radius)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= radius**2 + 0.5


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def foreground_mask(photos: np.ndarray, threshold: float = 24.0) -> np.ndarray:
    """Object silhouettes of product photos on a white background: bool N×H×W.

    A pixel is object when some channel is more than ``threshold`` below white; the largest 8-connected blob is
    kept, closed over one pixel (anti-aliased rims, white stitching) and its holes filled (white soles, bag
    handles' insides stay background only when they open to the border)."""
    imgs = _as_nhwc(photos)
    dark = (255.0 - imgs.astype(np.float32)).max(-1) > threshold
    out = np.zeros(dark.shape, bool)
    for i, m in enumerate(dark):
        if not m.any():
            continue
        m = ndimage.binary_closing(np.pad(m, 2), _disk(1.0))[2:-2, 2:-2]
        out[i] = ndimage.binary_fill_holes(_largest_component(m))
    return out


def _fill_strokes(strokes: np.ndarray, radii: tuple[float, ...]) -> np.ndarray:
    """The region a stroke drawing encloses (bool H×W): strokes dilated by the smallest radius that closes their
    gaps (the filled region then covers ≥ 35 % of the strokes' bounding box; HED outlines are rarely closed),
    holes filled, dilation undone."""
    ys, xs = np.nonzero(strokes)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    pad = int(np.ceil(max(radii))) + 2
    padded = np.pad(strokes, pad)
    best = None
    for r in radii:
        d = ndimage.binary_dilation(padded, _disk(r))
        fill = ndimage.binary_erosion(ndimage.binary_fill_holes(d), _disk(r), border_value=0)
        fill = _largest_component(fill | padded)
        best = fill
        if fill.sum() >= 0.35 * box:
            break
    return best[pad:-pad, pad:-pad]


def edge_silhouette(edges: np.ndarray, radii: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)) -> np.ndarray:
    """The object silhouette an edge map outlines (closing + hole fill, see :func:`_fill_strokes`): bool N×H×W.

    ``radii`` are in pixels of a 64-px map (scaled with the map's size). An image without strokes gives an empty
    mask."""
    stack = _edge_stack(edges)
    scale = max(stack.shape[1:]) / 64.0
    out = np.zeros(stack.shape, bool)
    for i, e in enumerate(stack):
        strokes = e < 240
        if strokes.sum() >= 3:
            out[i] = _fill_strokes(strokes, tuple(r * scale for r in radii))
    return out


def _edge_stack(edges: np.ndarray) -> np.ndarray:
    """uint8 H×W, H×W×1, N×H×W or N×H×W×1 edge maps → N×H×W (a view when possible)."""
    arr = np.asarray(edges)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 edge maps, got {arr.dtype}")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 1):
        return arr.reshape(1, *arr.shape[:2])
    if arr.ndim == 3:
        return arr
    if arr.ndim == 4 and arr.shape[-1] == 1:
        return arr[..., 0]
    raise ValueError(f"expected H×W(×1) or N×H×W(×1) edge maps, got shape {arr.shape}")


def _upsample_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """bool h×w → bool size×size with smooth (bilinear, thresholded) boundaries instead of staircases."""
    f = Image.fromarray(mask.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return np.asarray(f) > 0.5


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Inner boundary of a bool mask (pixels with a background 4-neighbour), 1 px wide."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def outline_edges(edges: np.ndarray) -> np.ndarray:
    """Outline-only versions of edge maps: the outer silhouette contour (:func:`edge_silhouette`) drawn like the
    dataset's strokes (1 px at 4× size, thinned, LANCZOS-downscaled); every inner line is gone. Same layout and
    dtype as ``edges``; deterministic. An image without strokes stays blank."""
    arr = np.asarray(edges)
    stack = _edge_stack(arr)
    h, w = stack.shape[1:]
    big = 4 * max(h, w)
    sil = edge_silhouette(stack)
    strokes = np.zeros((len(stack), big, big), bool)
    for i, m in enumerate(sil):
        if m.any():
            strokes[i] = _boundary(_upsample_mask(m, big))
    out = _binary_to_map(_thin(strokes), (h, w))
    return out.reshape(arr.shape)


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, sigma: float, amplitude: float) -> np.ndarray:
    """A smooth random displacement (2, H, W) whose largest component is ``amplitude`` pixels."""
    # drawn on a grid ~sigma/4 coarser and upsampled: the same smooth field at a fraction of the filtering cost
    step = max(1, int(sigma // 4))
    small = (-(-shape[0] // step), -(-shape[1] // step))
    d = np.stack([ndimage.gaussian_filter(rng.standard_normal(small).astype(np.float32), sigma / step, mode="wrap")
                  for _ in range(2)])
    if step > 1:
        d = ndimage.zoom(d, (1, step, step), order=1)[:, : shape[0], : shape[1]]
    return d * (amplitude / max(float(np.abs(d).max()), 1e-6))


def _warp(mask: np.ndarray, field: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype(np.float32)
    out = ndimage.map_coordinates(mask.astype(np.float32), [yy + field[0], xx + field[1]], order=1, mode="constant")
    return out > 0.5


def sketch_like(edges: np.ndarray, rng: np.random.Generator, inner_keep: float = 0.5,
                margin: float | None = None) -> np.ndarray:
    """Edge maps → what the app makes of a mouse drawing of the same object (sketch augmentation).

    A person draws the silhouette: this takes the edge map's outer contour (:func:`edge_silhouette`) at 4× size,
    bends it with a smooth wobble (a few pixels over a fifth of the object) plus a finer jitter, draws it with a
    random stroke width (the 3–10 px of a mouse on a 512-px canvas), sometimes twice (retraced strokes), leaves
    1–3 gaps (outlines are rarely closed), keeps each inner line with probability ``inner_keep`` × a random
    factor (most drawings have few or none), and then renders the ink exactly as the app does
    (:func:`sketch_to_edges`: cropped to the strokes, thinned, downscaled). Same layout and dtype as ``edges``;
    deterministic under ``rng``'s state. An image without strokes stays blank."""
    arr = np.asarray(edges)
    stack = _edge_stack(arr)
    h, w = stack.shape[1:]
    out = np.full(stack.shape, BACKGROUND, np.uint8)
    sil = edge_silhouette(stack)
    for i in range(len(stack)):
        if sil[i].any():
            out[i] = _sketch_one(stack[i], sil[i], rng, inner_keep, margin)[..., 0]
    return out.reshape(arr.shape)


def _sketch_one(edge: np.ndarray, sil: np.ndarray, rng: np.random.Generator, inner_keep: float,
                margin: float | None) -> np.ndarray:
    h, w = edge.shape
    big = 4 * max(h, w)
    s = big / 256.0
    mask = _upsample_mask(sil, big)
    # a mouse wobble: smooth over ~1/5 of the object, plus a fine tremor
    field = _smooth_field(mask.shape, rng, 24.0 * s, rng.uniform(1.0, 6.0) * s)
    field += _smooth_field(mask.shape, rng, 4.0 * s, rng.uniform(0.0, 1.2) * s)
    ink = np.zeros(mask.shape, bool)
    width = rng.uniform(1.8, 6.5) * s  # 3–10 px at 512 px, drawn objects being ~0.6–0.8 of the canvas
    passes = 2 if rng.random() < 0.2 else 1
    for p in range(passes):
        f = field if p == 0 else field + _smooth_field(mask.shape, rng, 16.0 * s, 2.0 * s)
        ink |= _boundary(_warp(mask, f))
    inner = (edge < 240) & ndimage.binary_erosion(sil, _disk(2.0 * h / 64.0))
    keep = inner_keep * rng.uniform(0.0, 1.0)
    if keep > 0 and inner.any():
        labels, count = ndimage.label(inner, structure=np.ones((3, 3), bool))
        chosen = np.flatnonzero(rng.random(count) < keep) + 1
        if len(chosen):
            lines = np.isin(labels, chosen)
            up = np.asarray(Image.fromarray(lines.astype(np.float32), mode="F").resize((big, big), Image.BILINEAR))
            ink |= _warp(_thin(up[None] > 0.25)[0], field)
    ink = ndimage.binary_dilation(ink, _disk(width / 2.0)) if width > 1.5 else ink
    ys, xs = np.nonzero(ink)
    for _ in range(rng.integers(1, 4)):  # gaps: erase a disk on the stroke
        j = rng.integers(len(ys))
        r = rng.uniform(3.0, 10.0) * s + width / 2.0
        yy, xx = np.ogrid[0:big, 0:big]
        ink[(yy - ys[j]) ** 2 + (xx - xs[j]) ** 2 <= r * r] = False
    if not ink.any():
        ink = _boundary(mask)
    gray = np.where(ink, STROKE, BACKGROUND).astype(np.uint8)
    return sketch_to_edges(gray, max(h, w), margin=SKETCH_MARGIN if margin is None else margin)


# the dataset's objects fill their frame (their edges' bounding box spans ~62 of 64 px on the test sets): drawings
# are framed the same way, so a drawn object comes out as large as the objects the models were trained on
SKETCH_MARGIN = 0.03


def sketch_frame(ink: np.ndarray, margin: float = SKETCH_MARGIN, threshold: float = 0.25) -> tuple[int, int, int]:
    """The square (top, left, side) of an H×W stroke-strength image that :func:`sketch_to_edges` crops and scales
    to the output: the strokes' bounding box plus ``margin`` (a fraction of its longer side), centred. Raises
    ValueError("empty sketch ...") when nothing is drawn."""
    mask = np.asarray(ink) > threshold
    if not mask.any():
        raise ValueError("empty sketch: nothing is drawn on the canvas")
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0)
    side_m = int(np.ceil(side * (1.0 + 2.0 * margin))) + 2
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    return int(round(cy - side_m / 2.0)), int(round(cx - side_m / 2.0)), side_m


def crop_frame(image: np.ndarray, frame: tuple[int, int, int]) -> np.ndarray:
    """The ``frame`` square (from :func:`sketch_frame`) of a float H×W image, zero outside the image."""
    top, left, side_m = frame
    canvas = np.zeros((side_m, side_m), dtype=np.float32)
    sy0, sx0 = max(top, 0), max(left, 0)
    sy1, sx1 = min(top + side_m, image.shape[0]), min(left + side_m, image.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        canvas[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = image[sy0:sy1, sx0:sx1]
    return canvas


def sketch_ink(rgba_or_gray: np.ndarray) -> np.ndarray:
    """A drawing (H×W×4 RGBA: strokes where alpha > 0, or dark strokes on a light H×W×3 / H×W(×1) canvas) →
    float32 H×W stroke strength in [0, 1], a uniform background tint removed."""
    arr = np.asarray(rgba_or_gray)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        a = arr.astype(np.float32)
        arr = np.clip(a * 255.0 if a.max() <= 1.0 else a, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        alpha = arr[..., 3].astype(np.float32) / 255.0
        if alpha.min() < 0.99:
            ink = alpha  # transparent canvas: strokes are where something was painted
        else:
            ink = 1.0 - _gray(arr[None, ..., :3])[0]
    elif arr.ndim == 3 and arr.shape[-1] == 3:
        ink = 1.0 - _gray(arr[None])[0]
    elif arr.ndim == 2:
        ink = 1.0 - arr.astype(np.float32) / 255.0
    else:
        raise ValueError(f"expected an H×W×4, H×W×3 or H×W image, got shape {arr.shape}")
    # ignore a uniform background tint (e.g. an off-white canvas)
    return np.clip(ink - np.median(ink), 0.0, 1.0) if ink.size else ink


def sketch_to_edges(
    rgba_or_gray: np.ndarray, size: int, margin: float = SKETCH_MARGIN, thin: bool = True
) -> np.ndarray:
    """A drawing from the app → a dataset-style edge map, uint8 size×size×1 (white background, dark strokes).

    Accepts H×W×4 RGBA (strokes where alpha > 0, any colour; a fully opaque canvas is read by its darkness),
    H×W×3 RGB or H×W(×1) grayscale (dark strokes on a light background). The strokes are cropped to their
    bounding box plus ``margin`` (a fraction of the box side; :func:`sketch_frame`), centred in a square, drawn at
    4×``size``, binarised, thinned to 1-pixel strokes (``thin``) and LANCZOS-downscaled, like the dataset's edges.
    Raises ValueError("empty sketch ...") when nothing is drawn.
    """
    if size < 1:
        raise ValueError("size must be >= 1")
    ink = sketch_ink(rgba_or_gray)
    canvas = crop_frame(ink, sketch_frame(ink, margin))
    side_m = canvas.shape[0]
    big = 4 * size if thin else size
    resample = Image.BILINEAR if big >= side_m else Image.BOX
    drawn = np.asarray(Image.fromarray(canvas, mode="F").resize((big, big), resample)) > 0.2
    if thin:
        drawn = _thin(drawn[None])[0]
    if not drawn.any():
        raise ValueError("empty sketch: the strokes vanish at this size")
    return _binary_to_map(drawn[None], (size, size))[0]


def sketch_variants(edges: np.ndarray, variants: int, seed: int = 0, inner_keep: float = 0.5,
                    progress: bool = False) -> np.ndarray:
    """``variants`` drawn-outline versions (:func:`sketch_like`) of every edge map: uint8 N×V×H×W×1. Image i's
    variants depend on ``seed``, i and the map only (not on the other maps)."""
    stack = _edge_stack(edges)
    out = np.empty((len(stack), variants, *stack.shape[1:], 1), np.uint8)
    items = range(len(stack))
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="sketch variants", leave=False)
    for i in items:
        rng = np.random.default_rng([seed, i])
        out[i, ..., 0] = sketch_like(np.repeat(stack[i : i + 1], variants, axis=0), rng, inner_keep)
    return out
