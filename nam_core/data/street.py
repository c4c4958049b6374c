"""Synthetic street-number digits: an offline stand-in for SVHN cropped digits (32×32 RGB, labels 0..9).

Each image is a crop centred on one digit of a rendered house number (1-4 digits, so neighbouring digits are
cut by the left/right borders as in SVHN). Digits come from the TTF fonts shipped with matplotlib (DejaVu Sans
and Serif, STIX, Computer Modern sans/roman/bold/typewriter/italic; regular, bold, oblique) and are drawn on a
plate or directly on a wall (flat, brick, siding or wood texture) with natural, muted or vivid colours, often
at low contrast. The house number is scaled, rotated, sheared and shifted; the crop then gets illumination
gradients, cast shadows, highlights, colour casts, blur or low-resolution resampling, sensor noise and a JPEG
round trip. Rendering is fast (cached glyph bitmaps, one bilinear affine warp, numpy compositing at the output
size): well over 1,000 crops per second on one core.

Image ``i`` depends only on ``(seed, start + i)``, so any slice can be rendered independently (streaming).
Labels are exactly balanced within every aligned block of 10 indices (a seeded permutation of 0..9 per block).
"""

from __future__ import annotations

import bisect
import colorsys
import functools
import io
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["render_street_digits", "street_font_paths"]

_FONT_PX = 36  # font size for 32×32 crops (digit ink ~26 px high); the affine warp does the final scaling
_LABEL_SALT = 0x57DEE7  # separates the per-block label stream from the per-image streams

# (file in mpl-data/fonts/ttf, relative weight). Sans-serif faces dominate real house numbers. DejaVu Sans
# Mono is left out (its dotted zero is no house-number glyph); so are symbol-only and old-style-numeral faces.
_FONT_FILES: tuple[tuple[str, float], ...] = (
    ("DejaVuSans.ttf", 3.0),
    ("DejaVuSans-Bold.ttf", 3.0),
    ("DejaVuSans-Oblique.ttf", 1.0),
    ("DejaVuSans-BoldOblique.ttf", 1.0),
    ("DejaVuSerif.ttf", 1.5),
    ("DejaVuSerif-Bold.ttf", 1.5),
    ("DejaVuSerif-Italic.ttf", 0.5),
    ("DejaVuSerif-BoldItalic.ttf", 0.5),
    ("STIXGeneral.ttf", 1.0),
    ("STIXGeneralBol.ttf", 1.5),
    ("STIXGeneralItalic.ttf", 0.5),
    ("STIXGeneralBolIta.ttf", 0.5),
    ("cmss10.ttf", 1.5),
    ("cmr10.ttf", 0.75),
    ("cmb10.ttf", 1.0),
    ("cmtt10.ttf", 0.75),
    ("cmti10.ttf", 0.5),
)

# Natural colours (sRGB in [0, 1]) of house-number plates / walls, and of the digits on them.
Colour = tuple[float, float, float]
_GROUNDS: tuple[Colour, ...] = (
    (0.93, 0.93, 0.90), (0.90, 0.85, 0.70), (0.76, 0.76, 0.74), (0.60, 0.60, 0.57), (0.32, 0.32, 0.31),
    (0.08, 0.08, 0.08), (0.58, 0.27, 0.20), (0.75, 0.45, 0.30), (0.76, 0.66, 0.50), (0.45, 0.30, 0.18),
    (0.28, 0.18, 0.10), (0.10, 0.16, 0.35), (0.12, 0.30, 0.18), (0.72, 0.58, 0.28), (0.15, 0.30, 0.65),
    (0.60, 0.70, 0.80), (0.85, 0.78, 0.50), (0.85, 0.60, 0.50), (0.55, 0.50, 0.42), (0.40, 0.45, 0.40),
)
_INKS: tuple[Colour, ...] = (
    (0.05, 0.05, 0.05), (0.95, 0.95, 0.95), (0.78, 0.62, 0.25), (0.30, 0.20, 0.12), (0.72, 0.73, 0.75),
    (0.60, 0.10, 0.10), (0.10, 0.15, 0.40), (0.10, 0.30, 0.15), (0.70, 0.40, 0.25), (0.20, 0.20, 0.22),
)

_NDIGIT_CDF = (0.08, 0.40, 0.78, 1.0)  # house numbers of 1, 2, 3, 4 digits
_STROKE_CDF = (0.7, 0.92, 1.0)  # extra emboldening of 0, 1, 2 px
_WALL_CDF = (0.45, 0.70, 0.85, 1.0)  # flat/stucco, bricks, siding, wood grain


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


def _pick(rng: np.random.Generator, cdf: tuple[float, ...]) -> int:
    return min(bisect.bisect(cdf, rng.random()), len(cdf) - 1)


@functools.lru_cache(maxsize=1)
def street_font_paths() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Digit fonts found in matplotlib's ``mpl-data/fonts/ttf``: (paths, cumulative sampling weights)."""
    import matplotlib

    ttf_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = [(str(ttf_dir / name), w) for name, w in _FONT_FILES if (ttf_dir / name).is_file()]
    if not found:  # unusual matplotlib build: fall back to whatever font_manager resolves
        from matplotlib import font_manager

        found = [(font_manager.findfont("DejaVu Sans"), 1.0)]
    cdf = np.cumsum([w for _, w in found])
    return tuple(p for p, _ in found), tuple((cdf / cdf[-1]).tolist())


@functools.lru_cache(maxsize=64)
def _is_bold(path: str) -> bool:
    name = Path(path).name
    return "Bol" in name or name.startswith("cmb")


@functools.lru_cache(maxsize=128)
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px)


@functools.lru_cache(maxsize=4096)
def _glyph(path: str, px: int, digit: int, stroke: int) -> tuple[float, int, int, np.ndarray]:
    """(advance, ink-box left and top relative to the baseline start, uint8 ink bitmap) of one digit."""
    font = _font(path, px)
    ch = str(digit)
    x0, y0, x1, y1 = font.getbbox(ch, anchor="ls", stroke_width=stroke)
    img = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)), 0)
    draw = ImageDraw.Draw(img)
    draw.text((-x0, -y0), ch, font=font, fill=255, anchor="ls", stroke_width=stroke, stroke_fill=255)
    bitmap = np.asarray(img).copy()
    bitmap.flags.writeable = False
    return font.getlength(ch) + 2 * stroke, x0, y0, bitmap


@functools.lru_cache(maxsize=8)
def _grid(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of an s×s image in pixels (x, y) and in [-1, 1] (xn, yn), each s×s float32."""
    c = np.arange(s, dtype=np.float32) + 0.5
    x, y = np.broadcast_to(c[None, :], (s, s)), np.broadcast_to(c[:, None], (s, s))
    return x, y, x * (2 / s) - 1, y * (2 / s) - 1


@functools.lru_cache(maxsize=32)
def _basis(s: int, cells: int) -> np.ndarray:
    """s×cells Gaussian interpolation weights, scaled so that ``B @ a @ B.T`` has about unit variance."""
    x = (np.arange(s) + 0.5) / s * 2 - 1
    centres = np.linspace(-1.2, 1.2, cells)
    b = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / (2.4 / (cells - 1))) ** 2)
    return (b / np.sqrt((b**2).sum(1).mean())).astype(np.float32)


def _lowfreq(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    """Smooth random field (s×s float32, roughly unit variance)."""
    b = _basis(s, cells)
    return b @ rng.standard_normal((cells, cells), dtype=np.float32) @ b.T


def _luma(c: Colour) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _clip_colour(c: Iterable[float]) -> Colour:
    r, g, b = (min(max(x, 0.0), 1.0) for x in c)
    return r, g, b


def _random_colour(
    rng: np.random.Generator, palette: tuple[Colour, ...], p_natural: float, p_vivid: float
) -> Colour:
    """A natural palette colour (jittered), a vivid colour or a muted one."""
    u = rng.random()
    if u < p_natural:
        base = palette[int(rng.random() * len(palette))]
        return _clip_colour(b + j for b, j in zip(base, rng.normal(0, 0.05, 3).tolist()))
    h = rng.random()
    if u < p_natural + p_vivid:
        return colorsys.hsv_to_rgb(h, _u(rng, 0.5, 0.9), _u(rng, 0.45, 0.95))
    return colorsys.hsv_to_rgb(h, _u(rng, 0.0, 0.35), _u(rng, 0.1, 0.95))


def _ink_for(rng: np.random.Generator, ground: Colour) -> tuple[Colour, float]:
    """Digit colour whose luminance differs from ``ground`` by a sampled (often low) contrast: (ink, c)."""
    tint = _random_colour(rng, _INKS, 0.6, 0.15)
    yg, yt = _luma(ground), _luma(tint)
    c = _u(rng, 0.2, 0.32) if rng.random() < 0.35 else _u(rng, 0.32, 0.8)
    can_dn, can_up = yg - c >= 0.02, yg + c <= 0.98
    if can_dn and can_up:
        down = rng.random() < 0.15 + 0.7 * yg  # dark digits on light plates, light digits on dark ones
    elif can_dn or can_up:
        down = can_dn
    else:
        down = yg > 0.5
        c = yg - 0.02 if down else 0.98 - yg
    target = yg - c if down else yg + c
    # move the tint towards black or white until its luminance is exactly ``target``
    if target <= yt:
        f = target / max(yt, 1e-4)
        return _clip_colour(t * f for t in tint), c
    f = (1 - target) / max(1 - yt, 1e-4)
    return _clip_colour(1 - (1 - t) * f for t in tint), c


def _line_cover(frac: np.ndarray, period: float, width: float, px: float) -> np.ndarray:
    """Anti-aliased coverage of lines ``width`` wide, every ``period``; ``frac`` is the phase in [0, 1)."""
    dist = np.minimum(frac, 1 - frac) * period
    return np.clip((width / 2 - dist) / px + 0.5, 0, 1)


def _wall(
    rng: np.random.Generator, colour: Colour, s: int, angle: float, tex: float
) -> list[tuple[Colour, np.ndarray]]:
    """Opaque background surface: flat/stucco, bricks, siding or wood grain, as (colour, s×s weight) layers.

    ``tex`` in (0, 1] scales every texture amplitude (low behind low-contrast digits, so they stay readable).
    """
    _, _, xn, yn = _grid(s)
    shade = 1 + tex * _u(rng, 0.0, 0.12) * _lowfreq(rng, s, int(rng.integers(3, 7)))
    kind = _pick(rng, _WALL_CDF)
    if kind == 0:  # flat / stucco: maybe fine grain
        if rng.random() < 0.4:
            grain = rng.standard_normal((s, s), dtype=np.float32)
            shade *= 1 + tex * _u(rng, 0.02, 0.06) * grain
        return [(colour, shade)]
    px = 2 / s
    ca, sa = math.cos(angle), math.sin(angle)
    u = xn * ca + yn * sa
    v = yn * ca - xn * sa + _u(rng, 0, 2)
    if kind == 1:  # bricks with mortar and per-brick colour variation
        bh = _u(rng, 0.3, 0.7)
        bw = bh * _u(rng, 2.0, 3.2)
        rows = v / bh
        row = np.floor(rows)
        cols = u / bw + 0.5 * (row % 2)
        table = 1 + rng.normal(0, 0.08 * tex, 64).astype(np.float32)
        shade *= table[((row * 7 + np.floor(cols) * 13) % 64).astype(np.int64)]
        mw = _u(rng, 0.06, 0.14)
        mortar = np.maximum(_line_cover(rows - row, bh, mw, px), _line_cover(cols % 1, bw, mw, px))
        mortar *= tex
        k, o = _u(rng, 0.5, 1.5), _u(rng, -0.1, 0.1)
        return [(colour, shade * (1 - mortar)), (_clip_colour(c * k + o for c in colour), mortar)]
    if kind == 2:  # siding / planks: dark grooves
        ph = _u(rng, 0.25, 0.8)
        groove = _line_cover((v / ph) % 1, ph, _u(rng, 0.04, 0.1), px)
        return [(colour, shade * (1 - tex * _u(rng, 0.2, 0.5) * groove))]
    grain = np.sin(v * _u(rng, 10, 30) + 2.5 * _lowfreq(rng, s, 3))  # wood grain
    return [(colour, shade * (1 + tex * _u(rng, 0.04, 0.12) * grain))]


def _shift(m: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift a 2-D array by whole pixels, filling with zeros (no wrap-around)."""
    out = np.zeros_like(m)
    h, w = m.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = m[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _round_rect_sdf(x: np.ndarray, y: np.ndarray, box: tuple[float, ...], r: float) -> np.ndarray:
    """Signed distance (negative inside) to a rounded rectangle ``box`` = (left, top, right, bottom)."""
    hw, hh = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    r = min(r, hw, hh)
    qx = np.abs(x - (box[0] + hw)) - (hw - r)
    qy = np.abs(y - (box[1] + hh)) - (hh - r)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def _render_one(rng: np.random.Generator, label: int, s: int) -> np.ndarray:
    """One s×s×3 uint8 crop centred on the digit ``label``."""
    paths, font_cdf = street_font_paths()
    path = paths[_pick(rng, font_cdf)]

    # --- the house number: 1-4 digits, the labelled one at position k, composed from cached glyph bitmaps
    n_digits = _pick(rng, _NDIGIT_CDF) + 1
    k = int(rng.random() * n_digits)
    digits = [int(10 * u) for u in rng.random(n_digits)]
    digits[k] = label
    if k != 0 and digits[0] == 0:
        digits[0] = 1 + int(9 * rng.random())
    stroke = min(_pick(rng, _STROKE_CDF), 1 if _is_bold(path) else 2)  # keep the counters of bold faces open
    px = max(8, round(_FONT_PX * s / 32))
    stroke = round(stroke * px / _FONT_PX)
    gap = _u(rng, -0.04, 0.3) * px
    placed, x = [], 0.0
    for d in digits:
        adv, gx0, gy0, bitmap = _glyph(path, px, d, stroke)
        placed.append((int(round(x + gx0)), gy0, bitmap))
        x += adv + gap
    m = 2  # canvas margin
    lo_x, lo_y = min(p[0] for p in placed), min(p[1] for p in placed)
    hi_x = max(p[0] + p[2].shape[1] for p in placed)
    hi_y = max(p[1] + p[2].shape[0] for p in placed)
    canvas = np.zeros((hi_y - lo_y + 2 * m, hi_x - lo_x + 2 * m), dtype=np.uint8)
    for px0, py0, bitmap in placed:
        y0, x0 = py0 - lo_y + m, px0 - lo_x + m
        sub = canvas[y0 : y0 + bitmap.shape[0], x0 : x0 + bitmap.shape[1]]
        np.maximum(sub, bitmap, out=sub)
    kx, ky, kb = placed[k]
    h = float(kb.shape[0])
    csx, csy = kx - lo_x + m + kb.shape[1] / 2, ky - lo_y + m + h / 2

    # --- affine map: the labelled digit's centre → crop centre (+ jitter), height → a fraction of the crop
    # forward map (source → output) = rotation · shear · diag(sx, sy); PIL wants the inverse
    scale = (0.5 + 0.4 * rng.beta(2.2, 2.0)) * s / h  # digit height: 50-90% of the crop, mostly ~70%
    sx, sy = scale * _u(rng, 0.85, 1.2), scale
    theta = min(max(0.08 * rng.standard_normal(), -0.25), 0.25)
    shear = min(max(0.12 * rng.standard_normal(), -0.3), 0.3)
    ct, st = math.cos(theta), math.sin(theta)
    f00, f01, f10, f11 = ct * sx, (ct * shear - st) * sy, st * sx, (st * shear + ct) * sy
    det = sx * sy
    i00, i01, i10, i11 = f11 / det, -f01 / det, -f10 / det, f00 / det
    cox, coy = s * (0.5 + _u(rng, -0.06, 0.06)), s * (0.5 + _u(rng, -0.06, 0.06))
    data = (i00, i01, csx - i00 * cox - i01 * coy, i10, i11, csy - i10 * cox - i11 * coy)
    mask = Image.frombuffer("L", canvas.shape[::-1], canvas, "raw", "L", 0, 1).transform(
        (s, s), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR
    )
    dm = np.asarray(mask, dtype=np.float32) * (1 / 255)

    # --- colours and layers. The crop is a sum of colours times s×s weights (alpha compositing of wall,
    # plate, shadow, digits and highlight, with textures and lighting folded in), evaluated by one matmul.
    has_plate = rng.random() < 0.6
    wall_col = _random_colour(rng, _GROUNDS, 0.7, 0.05)
    ground = _random_colour(rng, _GROUNDS, 0.65, 0.1) if has_plate else wall_col
    ink, contrast = _ink_for(rng, ground)
    fragile = min(1.0, contrast / 0.45)  # damp texture and lighting effects behind low-contrast digits
    layers = _wall(rng, wall_col, s, theta + 0.05 * rng.standard_normal(), 1.0 if has_plate else fragile)
    covered: list[tuple[Colour, np.ndarray | None, np.ndarray]] = []  # (colour, texture, cover), bottom up
    if has_plate:
        gx, gy, _, _ = _grid(s)
        src_x, src_y = data[0] * gx + data[1] * gy + data[2], data[3] * gx + data[4] * gy + data[5]
        ink_box = (m, m, canvas.shape[1] - m, canvas.shape[0] - m)
        pad_x, pad_y = _u(rng, 0.15, 1.0) * h, _u(rng, 0.1, 0.9) * h
        plate = (ink_box[0] - pad_x, ink_box[1] - pad_y, ink_box[2] + pad_x, ink_box[3] + pad_y)
        radius = _u(rng, 0, 0.4) * h
        sdf = _round_rect_sdf(src_x, src_y, plate, radius) * math.sqrt(sx * sy)  # ≈ output pixels
        plate_tex = 1 + fragile * _u(rng, 0.0, 0.08) * _lowfreq(rng, s, 4)
        covered.append((ground, plate_tex, np.clip(0.5 - sdf, 0, 1)))
        if rng.random() < 0.3:  # a border line in the digit colour, inset from the plate edge
            inset = _u(rng, 0.05, 0.25) * h * math.sqrt(sx * sy)
            width = _u(rng, 0.7, 1.6) * s / 32
            dm = np.maximum(dm, np.clip(width / 2 - np.abs(sdf + inset) + 0.5, 0, 1))
    if rng.random() < 0.25:  # drop shadow / engraved edge
        d = max(1, round((1 + int(rng.random() < 0.3)) * s / 32))
        sm = _shift(dm, d if rng.random() < 0.5 else -d, d) * _u(rng, 0.3, 0.8)
        k, lighter = _u(rng, 0.2, 0.6), _luma(ground) <= 0.25  # darker on light grounds, lighter on dark
        covered.append((_clip_colour(c * 2.5 + 0.2 if lighter else c * k for c in ground), None, sm))
    covered.append((ink, 1 + _u(rng, 0.0, 0.1) * _lowfreq(rng, s, 5), dm))
    # top-down "over" compositing: each layer is seen through the layers above it
    visible = np.ones((s, s), dtype=np.float32)
    for colour, tex, cover in reversed(covered):
        w = visible * cover
        layers.append((colour, w if tex is None else w * tex))
        visible *= 1 - cover
    for j in range(len(layers) - len(covered)):
        layers[j] = (layers[j][0], layers[j][1] * visible)

    # --- illumination: gradient, cast shadow, highlight; camera colour cast
    _, _, xn, yn = _grid(s)
    a = _u(rng, 0, 2 * math.pi)
    light = 1 + _u(rng, 0.0, 0.35) * (0.4 + 0.6 * fragile) * (xn * math.cos(a) + yn * math.sin(a))
    if rng.random() < 0.2:
        b = _u(rng, 0, 2 * math.pi)
        dist = xn * math.cos(b) + yn * math.sin(b) - _u(rng, -0.6, 0.6)
        light = light * (1 - fragile * _u(rng, 0.2, 0.5) * np.clip(dist / _u(rng, 0.05, 0.4) + 0.5, 0, 1))
    cast = 255 * (1 + rng.normal(0, 0.05, 3))
    colours = np.array([c for c, _ in layers], dtype=np.float32) * cast.astype(np.float32)
    weights = np.stack([w for _, w in layers])
    if rng.random() < 0.15 and contrast > 0.3:  # specular highlight: pulls colours towards white
        cx, cy, r = _u(rng, -1, 1), _u(rng, -1, 1), _u(rng, 0.3, 0.9)
        blob = _u(rng, 0.1, 0.35) * np.exp(-((xn - cx) ** 2 + (yn - cy) ** 2) / r**2)
        weights *= light * (1 - blob)
        weights = np.concatenate([weights, blob[None]])
        colours = np.concatenate([colours, np.full((1, 3), 255, dtype=np.float32)])
    else:
        weights *= light
    img = weights.reshape(len(weights), -1).T @ colours
    peak = float(img.max())
    if peak > 250:  # auto-exposure: lighting must not clip a bright plate and its digits to the same white
        img *= 250 / peak
    img += 0.5
    np.clip(img, 0, 255, out=img)
    gamma_lut = ((np.arange(256, dtype=np.float32) / 255) ** _u(rng, 0.85, 1.15) * 255 + 0.5).astype(np.uint8)
    out = Image.fromarray(gamma_lut[img.astype(np.uint8)].reshape(s, s, 3))

    # --- optics: low-resolution source and/or blur, then noise and a JPEG round trip
    if rng.random() < 0.35:
        r = int(_u(rng, 0.45 + 0.2 * (1 - fragile), 0.9) * s)
        out = out.resize((r, r), Image.Resampling.BILINEAR).resize((s, s), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        out = out.filter(ImageFilter.GaussianBlur(_u(rng, 0.3, 0.5 + 0.5 * fragile) * s / 32))
    arr = np.asarray(out)
    sigma = min(_u(rng, 0.0, 0.03), contrast / 8) * 255
    if sigma > 0.5:
        noise = rng.standard_normal(arr.shape, dtype=np.float32)
        noise *= sigma
        noise += arr
        noise += 0.5
        arr = np.clip(noise, 0, 255, out=noise).astype(np.uint8)
    if rng.random() < 0.7:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(_u(rng, 80 - 50 * fragile, 95)))
        arr = np.asarray(Image.frombytes("RGB", (s, s), buf.getvalue(), "jpeg", "RGB", ""))
    return arr


def _labels(seed: int, start: int, n: int) -> np.ndarray:
    """Labels of indices start..start+n-1: a seeded permutation of 0..9 for each aligned block of 10."""
    labels = np.empty(n, dtype=np.uint8)
    for block in range(start // 10, (start + n - 1) // 10 + 1):
        perm = np.random.default_rng([seed, block, _LABEL_SALT]).permutation(10)
        lo, hi = max(start, block * 10), min(start + n, block * 10 + 10)
        labels[lo - start : hi - start] = perm[lo - block * 10 : hi - block * 10]
    return labels


def render_street_digits(n: int, seed: int, size: int = 32, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` street-number digit crops: uint8 RGB images (n, size, size, 3), uint8 labels (n,) in 0..9.

    Image ``i`` depends only on ``(seed, start + i)`` (its own ``np.random.default_rng([seed, start + i])``),
    so any slice can be rendered independently and results are deterministic.
    """
    if n < 0 or start < 0 or seed < 0:
        raise ValueError(f"n, seed and start must be non-negative; got n={n}, seed={seed}, start={start}")
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = _labels(seed, start, n) if n else np.empty(0, dtype=np.uint8)
    for i in range(n):
        images[i] = _render_one(np.random.default_rng([seed, start + i]), int(labels[i]), size)
    return images, labels
