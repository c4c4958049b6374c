"""Train a mapping (NAM, AE-NAM or VAE-NAM) for a task on top of a frozen generator checkpoint.

Example (the shipped street→mnist VAE-NAM's recipe; ``--preset`` lists them all, flags given override it)::

    python training/train_mapping.py --preset street2mnist_vae-nam_glann --out runs/street2mnist_vae

Without ``--preset``, a task and method that shipped a model start from that model's recipe (on the GLANN G, or
the DCGAN one when ``--generator`` names a ``*_dcgan`` checkpoint). ``A2B`` takes an A image and outputs its B
analogy, so the generator must be B's. Rerun to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nam_core.methods.mappings import METHODS, TASKS, train_mapping
from nam_core.training_cli import add_preset_argument, add_run_arguments, parse_with_preset, setup_run

SCRIPT = "train_mapping"


def _shipped_recipe(a: argparse.Namespace) -> str | None:
    """The preset of the shipped model for this task × method (× generator kind), if there is one."""
    if not (a.task and a.method):
        return None
    kind = "dcgan" if a.generator and Path(str(a.generator)).name.endswith("_dcgan") else "glann"
    return f"{a.task}_{a.method}_{kind}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_argument(p, SCRIPT)
    p.add_argument("--task", choices=sorted(TASKS), help="required unless --preset gives it")
    p.add_argument("--method", choices=METHODS, help="required unless --preset gives it")
    p.add_argument("--generator", help="generator checkpoint folder (or shipped name); required unless --preset "
                                       "gives it")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--n-targets", type=int, help="NAM: number of target images (default 2000)")
    p.add_argument("--beta", type=float, help="VAE-NAM: KL weight")
    p.add_argument("--prior-weight", type=float,
                   help="AE-NAM: weight of NAM's code prior on ‖E(y)‖² (default 1e-3; 0 = none)")
    p.add_argument("--lr-z", type=float, default=1e-2, help="NAM: learning rate of the per-target codes")
    p.add_argument("--loss", default="laplacian")
    p.add_argument("--nf", type=int, default=64, help="width of T")
    p.add_argument("--nef", type=int, default=64, help="AE/VAE-NAM: width of the encoder E")
    p.add_argument("--t-arch", default="crn", choices=["crn", "local"],
                   help="T: the NAM paper's CRN, or a weak local 3-conv map (forces codes to carry the shape)")
    p.add_argument("--t-affine", default="none", choices=["none", "global"],
                   help="AE/VAE-NAM with the local T: a learned global zoom + shift in front of it (domains that frame "
                        "their digits at different sizes)")
    p.add_argument("--t-zoom", type=float, default=1.0, help="with --t-affine global: the zoom it starts from")
    p.add_argument("--sketch-aug", type=float, default=0.0, metavar="P",
                   help="AE/VAE-NAM on edges: probability that E sees a drawn-outline version of an edge map (the loss "
                        "keeps the clean map)")
    p.add_argument("--sketch-variants", type=int, default=4, help="with --sketch-aug: outline versions per edge map")
    p.add_argument("--silhouette-weight", type=float, default=0.0,
                   help="AE/VAE-NAM on edges: weight of the term that puts G(z)'s object inside the input's outline")
    p.add_argument("--style-probes", type=int, default=128,
                   help="codes at which the style directions' Jacobians are measured (fewer: faster, noisier)")
    p.add_argument("--style-temperature", type=float,
                   help="AE/VAE-NAM: spread of the K solutions along the style directions, stored in the checkpoint "
                        "for inference (default: the Translator's)")
    p.add_argument("--sampling-temperature", type=float,
                   help="VAE-NAM: scale of the posterior spread ε·σ of the K sampled solutions (AE-NAM: of its "
                        "spread along the global axes), stored in the checkpoint for inference (default 1)")
    p.add_argument("--solver-silhouette-weight", type=float,
                   help="NAM on edges: weight of the silhouette term in its test-time solver (the object drawn where "
                        "the input's outline encloses it), stored in the checkpoint for inference (default: none)")
    p.add_argument("--solver-start-spread", type=int,
                   help="NAM: pick its K retrieval starts among this many times K best training codes, as different "
                        "as possible (K distinct colourings of one edge input), stored for inference (default 1)")
    p.add_argument("--limit", type=int)
    add_run_arguments(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_with_preset(build_parser(), SCRIPT, argv, required=("task", "method", "generator"),
                             implicit=_shipped_recipe)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    recipe = setup_run("train_mapping.py", a.threads, argv)
    final = train_mapping(a.task, a.method, a.generator, a.out, epochs=a.epochs, batch_size=a.batch_size,
                          n_targets=a.n_targets, beta=a.beta, prior_weight=a.prior_weight, loss=a.loss, nf=a.nf,
                          nef=a.nef, t_arch=a.t_arch, t_affine=a.t_affine, t_zoom=a.t_zoom,
                          sketch_aug=a.sketch_aug, sketch_variants=a.sketch_variants,
                          silhouette_weight=a.silhouette_weight, style_probes=a.style_probes,
                          style_temperature=a.style_temperature,
                          sampling_temperature=a.sampling_temperature,
                          solver_silhouette_weight=a.solver_silhouette_weight,
                          solver_start_spread=a.solver_start_spread,
                          lr_z=a.lr_z, limit=a.limit, seed=a.seed, device=a.device, max_minutes=a.max_minutes,
                          finish_early=a.finish_early, recipe=recipe)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
