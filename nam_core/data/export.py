"""Export a built-in domain as PNG folders, so the folder loader can be tried (and scored) end to end.

    python -m nam_core.data.export --domain mnist --out DIR [--limit N] [--splits train test]

writes ``DIR/train/00000.png …`` and ``DIR/test/00000.png …`` (the domain's own size and channels, in its order)
and, for labelled domains, ``DIR/labels.csv`` (``file,label``, names relative to DIR), which
``load_domain("folder:DIR")`` reads back as the datasets' labels.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from . import SPLITS, list_domains, load_domain
from .folder import LABELS_FILE


def export_domain(domain: str, out: str | Path, limit: int | None = None,
                  splits: tuple[str, ...] = SPLITS) -> dict[str, int]:
    """Write the first ``limit`` images (all when None) of each split as PNGs; returns {split: count}."""
    from PIL import Image

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    out = Path(out)
    for split in splits:
        if (out / split).is_dir() and any((out / split).iterdir()):
            raise FileExistsError(f"{out / split} is not empty; export into a new folder")
    counts: dict[str, int] = {}
    rows: list[tuple[str, int]] = []
    for split in splits:
        ds = load_domain(domain, split).subset(limit)
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        width = max(5, len(str(len(ds) - 1)))  # zero-padded, so sorted names keep the domain's order
        for i, (batch, labels) in enumerate(ds.batches(1024)):
            for j, img in enumerate(batch):
                k = i * 1024 + j
                name = f"{k:0{width}d}.png"
                Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / name)
                if labels is not None:
                    rows.append((f"{split}/{name}", int(np.asarray(labels[j]))))
        counts[split] = len(ds)
    if rows:
        with open(out / LABELS_FILE, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "label"])
            writer.writerows(rows)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nam_core.data.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--domain", required=True, choices=list_domains())
    p.add_argument("--out", required=True, help="folder to write train/, test/ and labels.csv into")
    p.add_argument("--limit", type=int, default=None, help="at most this many images per split")
    p.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    a = p.parse_args(argv)
    try:
        counts = export_domain(a.domain, a.out, a.limit, tuple(a.splits))
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" images of {a.domain} written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
