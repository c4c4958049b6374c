"""Do drawn outlines work? Mouse-like outlines of the held-out test photos' silhouettes, through the app's own sketch
conversion, translated by every shipped edges→shoes / edges→handbags model; the silhouette of each output is scored
against the drawn shape.

    python -m benchmarks.bench_sketch                           # shipped checkpoints, CPU, a few minutes
    python -m benchmarks.bench_sketch --methods vae-nam --checkpoints runs/candidates --grid docs/grids

For each test photo of the output domain whose object silhouette (:func:`nam_core.data.edges.foreground_mask`:
distance from the white background, holes filled) is a plausible object (8–85 % of the image), ``--variants``
drawings are traced: the silhouette's contour at the size of a 512-px canvas (55–85 % of it), bent by a smooth
wobble and a fine tremor, cut into 1–3 strokes that leave small gaps (a drawn outline is not closed), drawn with
one brush width of 3–10 px, no inner lines. Each drawing goes through ``app_logic.sketch_to_input`` (what the
Draw tab does) and the model's K analogies are scored:

* blank %: analogies whose object covers under 8 % of the image (white tiles with faint ghosts);
* IoU: silhouette of the analogy vs the drawn shape (the filled wobbled contour, framed as the conversion frames
  the strokes), mean over drawings and the K solutions;
* generic IoU: the drawn shape vs the silhouette of another random test photo (what a model that ignores the
  drawing scores); the row "own photo" is the drawn shape vs its own photo (the silhouette the tracing started from);
* edge F1: the model on the dataset's HED test edges (the first ``--edge-n``), input edges vs Canny edges of each
  analogy (``nam_core.eval.metrics.edge_agreement``, as in ``training/evaluate.py``).

NAM optimises its codes per input (seconds each on a CPU): it is scored on the first ``--nam-n`` drawings and
edge inputs only. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from nam_core.data import load_domain
from nam_core.data.edges import SKETCH_MARGIN, crop_frame, foreground_mask, sketch_frame
from nam_core.eval.harness import setup_machine
from nam_core.eval.metrics import edge_agreement
from nam_core.methods.mappings import TASKS
from nam_core.methods.registry import get_method
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import Translator, available_models
from nam_core.serving.app_logic import sketch_to_input
from nam_core.utils import image_grid, save_png

REPO = Path(__file__).resolve().parent.parent

CANVAS = 512  # the app's Sketchpad
BLANK = 0.08  # an analogy whose object covers less of the image than this is blank
EDGE_TASKS = ("edges2shoes", "edges2handbags")
METHOD_ORDER = ("nam", "nam-ff", "ae-nam", "vae-nam")


def _contour(mask: np.ndarray) -> np.ndarray | None:
    """The longest 0.5-level contour of a slightly smoothed bool mask: (P, 2) points (x, y) in pixels."""
    import contourpy

    f = ndimage.gaussian_filter(np.pad(mask.astype(np.float32), 2), 0.8)
    lines = contourpy.contour_generator(z=f).lines(0.5)
    if not lines:
        return None
    return max(lines, key=len) - 2.0


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    """A closed polyline resampled every ``step`` pixels of arc length."""
    closed = np.vstack([points, points[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(0.0, arc[-1], step)
    return np.stack([np.interp(t, arc, closed[:, 0]), np.interp(t, arc, closed[:, 1])], 1)


def _periodic_noise(n: int, rng: np.random.Generator, corr: float) -> np.ndarray:
    """Smooth noise along a closed curve of n points (correlation ``corr`` points), peak 1."""
    x = ndimage.gaussian_filter1d(rng.standard_normal(n), max(corr, 0.5), mode="wrap")
    return x / max(float(np.abs(x).max()), 1e-9)


def trace(silhouette: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """A mouse-like outline of a bool silhouette: (RGBA uint8 CANVAS×CANVAS×4 drawing with transparent background,
    bool CANVAS×CANVAS drawn shape = the filled wobbled contour). None when the silhouette has no contour."""
    pts = _contour(silhouette)
    if pts is None or len(pts) < 8:
        return None
    h, w = silhouette.shape
    scale = rng.uniform(0.55, 0.85) * CANVAS / max(h, w)
    pts = pts * scale
    span = pts.max(0) - pts.min(0)
    offset = rng.uniform(0.04 * CANVAS, np.maximum(0.04 * CANVAS + 1, CANVAS * 0.96 - span)) - pts.min(0)
    pts = _resample(pts + offset, 4.0)
    n = len(pts)
    tangent = np.roll(pts, -1, 0) - np.roll(pts, 1, 0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    wobble = rng.uniform(3.0, 12.0) * _periodic_noise(n, rng, rng.uniform(15, 35))  # hand drift, ~100 px waves
    wobble += rng.uniform(0.5, 1.5) * _periodic_noise(n, rng, 1.5)  # tremor
    pts = pts + normal * wobble[:, None]
    shape = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(shape).polygon([tuple(p) for p in pts], fill=255)
    # 1–3 strokes from random starts; each leaves a gap of 0–20 px before the next (or overlaps it a little)
    start = int(rng.integers(n))
    pts = np.roll(pts, -start, 0)
    cuts = np.sort(rng.choice(np.arange(4, n - 4), size=int(rng.integers(0, 3)), replace=False)) if n > 16 else []
    bounds = [0, *[int(c) for c in cuts], n]
    width = int(rng.integers(3, 11))
    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for a, b in zip(bounds[:-1], bounds[1:]):
        gap = int(rng.integers(-2, 6))  # points of 4 px: −8 (overlap) … +20 px (gap)
        seg = np.vstack([pts[a:b], pts[: max(0, -gap)]]) if b == n else pts[a : max(a + 2, b - max(gap, 0))]
        if len(seg) >= 2:
            draw.line([tuple(p) for p in seg], fill=(20, 20, 20, 255), width=width, joint="curve")
    return np.asarray(img), np.asarray(shape) > 127


def framed_shape(drawing: np.ndarray, shape: np.ndarray, size: int) -> np.ndarray:
    """The drawn shape in the frame the app's conversion gives the drawing's strokes: bool size×size."""
    ink = drawing[..., 3].astype(np.float32) / 255.0
    crop = crop_frame(shape.astype(np.float32), sketch_frame(ink, SKETCH_MARGIN))
    return np.asarray(Image.fromarray(crop, mode="F").resize((size, size), Image.BOX)) > 0.5


def make_drawings(task: str, variants: int, seed: int) -> dict[str, np.ndarray]:
    """Drawings of the task's test photos: ``drawings`` (M, 512, 512, 4), ``inputs`` (the app's conversion,
    M×64×64×1), ``shapes`` (M×64×64 drawn shapes in the input's frame), ``photo`` (index of the photo traced)."""
    photos = load_domain(TASKS[task].target, "test").images
    sil = foreground_mask(photos)
    cover = sil.mean((1, 2))
    keep = np.flatnonzero((cover >= BLANK) & (cover <= 0.85))
    rng = np.random.default_rng(seed)
    drawings, inputs, shapes, idx = [], [], [], []
    for _ in range(variants):
        for i in keep:
            traced = trace(sil[i], rng)
            if traced is None:
                continue
            d, s = traced
            inputs.append(sketch_to_input(d, task))
            shapes.append(framed_shape(d, s, photos.shape[1]))
            drawings.append(d)
            idx.append(i)
    return {"drawings": np.stack(drawings), "inputs": np.stack(inputs), "shapes": np.stack(shapes),
            "photo": np.array(idx), "silhouettes": sil, "kept": keep}


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pair IoU of bool masks (..., H, W)."""
    inter = (a & b).sum((-2, -1))
    union = (a | b).sum((-2, -1))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def score_model(tr: Translator, data: dict[str, np.ndarray], edges: np.ndarray, k: int, n: int | None,
                edge_n: int, batch: int = 100) -> dict[str, float]:
    """Blank share, silhouette IoU (mean over drawings × K) and edge F1 on the HED test edges."""
    inputs, shapes = data["inputs"][:n], data["shapes"][:n]
    t0 = time.perf_counter()
    outs = np.concatenate([tr.translate(inputs[i : i + batch], num_solutions=k, seed=0)
                           for i in range(0, len(inputs), batch)])
    m, kk = outs.shape[:2]
    sil = foreground_mask(outs.reshape(m * kk, *outs.shape[2:])).reshape(m, kk, *outs.shape[2:4])
    ious = iou(sil, shapes[:, None])
    e_in = edges[:edge_n]
    e_out = np.concatenate([tr.translate(e_in[i : i + batch], num_solutions=k, seed=0)
                            for i in range(0, len(e_in), batch)])
    f1 = edge_agreement(e_in, e_out, "canny")
    return {"n": int(m), "k": int(kk), "blank": float((sil.mean((2, 3)) < BLANK).mean()),
            "iou": float(ious.mean()), "iou_first": float(ious[:, 0].mean()), "edge_f1": f1, "edge_n": len(e_in),
            "seconds": time.perf_counter() - t0, "outputs": outs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--tasks", nargs="*", default=list(EDGE_TASKS), choices=EDGE_TASKS)
    p.add_argument("--methods", nargs="*", default=list(METHOD_ORDER))
    p.add_argument("--variants", type=int, default=2, help="drawings per test photo (different wobbles and widths)")
    p.add_argument("--k", type=int, default=8, help="solutions per input (the app's default)")
    p.add_argument("--nam-n", type=int, default=6, help="NAM: drawings and edge inputs scored")
    p.add_argument("--edge-n", type=int, default=100, help="HED test edges scored for edge F1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--grid", help="folder for a grid per task: drawn outline, the app's input, K analogies")
    p.add_argument("--grid-method", default="vae-nam", help="the model shown in --grid")
    p.add_argument("--grid-rows", type=int, default=8)
    a = p.parse_args(argv)
    dev = setup_machine(a.device, a.threads)
    t_start = time.perf_counter()
    models = sorted((m for m in available_models(a.checkpoints) if m["task"] in a.tasks and m["method"] in a.methods),
                    key=lambda m: (m["task"], METHOD_ORDER.index(m["method"]) if m["method"] in METHOD_ORDER else 9))
    rows: list[dict] = []
    print("| task | model | drawings | K | blank % | IoU | IoU first | generic IoU | IoU − generic "
          "| edge F1 (HED test) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for task in a.tasks:
        data = make_drawings(task, a.variants, a.seed)
        rng = np.random.default_rng(a.seed + 1)
        sil, keep, photo = data["silhouettes"], data["kept"], data["photo"]
        others = np.array([rng.choice(keep[keep != i]) for i in photo])
        generic = float(iou(sil[others], data["shapes"]).mean())
        own = float(iou(sil[photo], data["shapes"]).mean())
        edges = load_domain(TASKS[task].source, "test").images
        print(f"| {task} | own photo (ceiling) | {len(photo)} | – | – | {own:.3f} | – | {generic:.3f} | "
              f"{own - generic:+.3f} | – |")
        for m in (m for m in models if m["task"] == task):
            tr = Translator.from_checkpoint(m["path"], device=dev)
            nam = get_method(m["method"]).iterative
            r = score_model(tr, data, edges, a.k if not nam else min(a.k, 4), a.nam_n if nam else None,
                            a.nam_n if nam else a.edge_n)
            sub_generic = float(iou(sil[others[: r["n"]]], data["shapes"][: r["n"]]).mean())
            outs = r.pop("outputs")
            row = {"task": task, "method": m["method"], "path": m["path"], "generic_iou": sub_generic, **r}
            rows.append(row)
            print(f"| {task} | {m['method']} ({Path(m['path']).name}) | {r['n']} | {r['k']} | {100 * r['blank']:.1f} | "
                  f"{r['iou']:.3f} | {r['iou_first']:.3f} | {sub_generic:.3f} | {r['iou'] - sub_generic:+.3f} | "
                  f"{r['edge_f1']:.3f} |", flush=True)
            if a.grid and m["method"] == a.grid_method:
                write_grid(Path(a.grid) / f"sketch_{task}_{m['method']}.png", data, outs, a.grid_rows)
    print(f"{time.perf_counter() - t_start:.0f} s in all")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


def write_grid(path: Path, data: dict[str, np.ndarray], outs: np.ndarray, rows: int) -> None:
    """One row per drawing: the drawn outline (black on white, framed and shrunk to the tile size), then its K
    analogies."""
    size = outs.shape[2]
    # spread the rows over different photos (the first variant of evenly spaced ones) among the drawings translated
    # (NAM translates only the first --nam-n)
    picks = np.linspace(0, min(len(data["kept"]), len(outs)) - 1, min(rows, len(outs))).round().astype(int)
    tiles = []
    for i in picks:
        ink = data["drawings"][i][..., 3].astype(np.float32) / 255.0
        crop = crop_frame(ink, sketch_frame(ink, SKETCH_MARGIN))  # the drawing as the conversion frames it
        drawn = np.asarray(Image.fromarray(crop, mode="F").resize((size, size), Image.BOX))
        tiles.append(np.repeat(np.round(255 * (1 - np.clip(drawn, 0, 1))).astype(np.uint8)[..., None], 3, -1)[None])
        tiles.append(outs[i])
    grid = image_grid(np.concatenate(tiles), cols=1 + outs.shape[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(grid, path, scale=2)
    print(f"grid: {path}")


if __name__ == "__main__":
    raise SystemExit(main())
