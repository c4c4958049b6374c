"""Input / K-solutions grids of shipped mapping checkpoints (the pictures in the README).

Example::

    python training/translation_grid.py --out docs/grids            # every shipped mapping
    python training/translation_grid.py --tasks street2mnist --rows 10 --k 6
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nam_core.data import load_domain
from nam_core.serving import available_models, load_translator
from nam_core.utils import image_grid, save_png


def _rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, -1) if x.shape[-1] == 1 else x


def grid_for(path: str, rows: int, k: int, seed: int) -> np.ndarray:
    tr = load_translator(path)
    ds = load_domain(tr.source, "test")
    idx = np.linspace(0, len(ds) - 1, rows).astype(int)
    if ds.labels is not None:  # one input per class where possible
        labels = np.asarray(ds.labels)
        idx = np.array([np.flatnonzero(labels == c)[0] for c in range(min(rows, 10))])
    x = np.asarray(ds.images[idx])
    out = tr.translate(x, num_solutions=k, seed=seed)
    tiles = []
    for i in range(len(x)):
        inp = _rgb(x[i])
        if inp.shape[:2] != out.shape[2:4]:
            from PIL import Image

            inp = np.asarray(Image.fromarray(inp).resize(out.shape[2:4][::-1]))
        tiles.append(inp)
        tiles.extend(_rgb(o) for o in out[i])
    return image_grid(np.stack(tiles), cols=k + 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/grids")
    p.add_argument("--tasks", nargs="*")
    p.add_argument("--names", nargs="*", help="only these checkpoint folders (e.g. street2mnist_vae-nam_glann)")
    p.add_argument("--rows", type=int, default=10)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    for m in available_models():
        if (a.tasks and m["task"] not in a.tasks) or (a.names and Path(m["path"]).name not in a.names):
            continue
        grid = grid_for(m["path"], a.rows, a.k, a.seed)
        name = Path(m["path"]).name
        print(save_png(grid, Path(a.out) / f"{name}.png", scale=2 if grid.shape[0] < 400 else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
