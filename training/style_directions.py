"""Add style directions to mapping checkpoints trained before they existed (``train_mapping`` now stores them).

Style directions change an analogy's appearance while its reconstruction T(G(z)) of the input hardly moves (see
``nam_core.methods.directions.style_directions``); AE-NAM and VAE-NAM spread their K solutions along them and the
app offers them as sliders. The checkpoint's weights file gains three small tensors; its networks are untouched.

    python training/style_directions.py checkpoints/mnist2street_vae-nam_glann
    python training/style_directions.py --all                  # every NAM / AE-NAM / VAE-NAM under checkpoints/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nam_core.checkpoints import update_manifest
from nam_core.methods.mappings import METHODS  # the mappings train_mapping trains: they have style directions
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving.translator import attach_style_directions, available_models
from nam_core.training_cli import setup_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", help="mapping checkpoint folders")
    p.add_argument("--all", action="store_true", help="every NAM / AE-NAM / VAE-NAM mapping under --root")
    p.add_argument("--root", default=str(CHECKPOINTS_DIR))
    p.add_argument("--k", type=int, default=8, help="directions to store")
    p.add_argument("--images", type=int, default=2000, help="AE/VAE-NAM: training inputs encoded for the codes")
    p.add_argument("--probes", type=int, default=128, help="codes at which the Jacobians are measured")
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    a = p.parse_args(argv)
    recipe = setup_run("style_directions.py", a.threads, argv)
    paths = [Path(c) for c in a.checkpoints]
    if a.all:
        paths += [Path(m["path"]) for m in available_models(a.root) if m["method"] in METHODS]
    if not paths:
        p.error("name checkpoint folders or pass --all")
    for path in paths:
        entry = attach_style_directions(path, a.k, a.images, a.probes, a.device, recipe)
        print(f"{path}: {entry['k']} style directions from {entry['codes']} codes, gain {entry['gain']}", flush=True)
    root = Path(a.root).resolve()
    if (root / "manifest.json").exists() and any(root in p.resolve().parents for p in paths):
        update_manifest(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
