"""Write a contact sheet (a grid of real samples, class-ordered where labelled) for every available domain, and for
generator checkpoints of labelled domains a sheet of their samples sorted by what the domain's classifier reads.

Example::

    python training/contact_sheets.py --out docs/contact_sheets
    python training/contact_sheets.py --out docs/contact_sheets --domains --generators gen_street_glann gen_street_dcgan
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nam_core.data import DOMAINS, list_domains, load_domain
from nam_core.utils import image_grid, save_png


def sheet(name: str, per_class: int = 10, n: int = 100, split: str = "test") -> np.ndarray:
    ds = load_domain(name, split)
    if ds.labels is not None:  # one row per class 0..9, first `per_class` of each
        idx = np.concatenate([np.flatnonzero(np.asarray(ds.labels) == c)[:per_class] for c in range(10)])
    else:
        idx = np.linspace(0, len(ds) - 1, n).astype(int)
    imgs = np.asarray(ds.images[idx])
    if imgs.shape[-1] == 1:
        imgs = np.repeat(imgs, 3, -1)
    return image_grid(imgs, cols=per_class if ds.labels is not None else 10)


def generator_sheet(generator: str, per_class: int = 10, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Row c: the first ``per_class`` of ``n`` samples (seed ``seed``, in sampling order: no cherry-picking) that the
    domain's classifier ``clf_<domain>`` reads as digit c; a short row means the generator rarely draws that digit.
    Returns the grid and how many of the ``n`` samples fell in each class."""
    import torch

    from nam_core.eval.classifier import load_classifier
    from nam_core.eval.metrics import predict_labels
    from nam_core.methods.generators import load_generator, sample_images
    from nam_core.utils import to_uint8

    gen, cfg = load_generator(generator, device="cpu")
    clf = load_classifier(f"clf_{cfg['domain']}", device="cpu")
    with torch.no_grad():
        imgs = to_uint8(sample_images(gen, n, seed=seed))
    labels = predict_labels(clf, imgs)
    blank = np.full_like(imgs[0], 255)
    rows = []
    for c in range(10):
        pick = list(imgs[labels == c][:per_class])
        rows += pick + [blank] * (per_class - len(pick))
    out = np.stack(rows)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, -1)
    return image_grid(out, cols=per_class), [int((labels == c).sum()) for c in range(10)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/contact_sheets")
    p.add_argument("--domains", nargs="*", default=list_domains())
    p.add_argument("--generators", nargs="*", default=[],
                   help="generator checkpoints (labelled domains) to sheet by class: OUT/<name>_by_class.png")
    p.add_argument("--scale", type=int, help="upscale factor (default: 2 for 32-px domains, 1 for larger)")
    a = p.parse_args(argv)
    for g in a.generators:
        grid, counts = generator_sheet(g)
        path = save_png(grid, Path(a.out) / f"{Path(g).name}_by_class.png", scale=a.scale or 2)
        print(path, "samples per class (of 2000):", counts)
    for name in a.domains:
        try:
            grid = sheet(name)
        except (FileNotFoundError, ValueError) as exc:
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        scale = a.scale or (2 if DOMAINS[name].size <= 32 else 1)
        path = save_png(grid, Path(a.out) / f"{name}.png", scale=scale)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
