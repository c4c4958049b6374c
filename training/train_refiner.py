"""Distil a trained NAM checkpoint into a one-pass model ("nam-ff", the NAM paper's appendix refinement).

NAM translates by optimising a latent code per input (~100 passes through G and T); this trains an encoder R on
the (y, G(z_y)) pairs of NAM's own training, so G(R(y)) translates in one pass. See nam_core/methods/refine.py.

    python training/train_refiner.py --preset street2mnist_nam-ff_glann --out runs/s2m_namff   # the shipped recipe
    python training/train_refiner.py --nam checkpoints/mnist2street_nam_glann --out runs/m2s_namff --resolve-steps 100

Rerun the same command to resume. The result is ``<out>/final``; ship it as ``<task>_nam-ff_<generator>``.
"""

from __future__ import annotations

import argparse

from nam_core.methods.mappings import train_refiner
from nam_core.training_cli import add_preset_argument, parse_with_preset, setup_run

SCRIPT = "train_refiner"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_argument(p, SCRIPT)
    p.add_argument("--nam", help="trained NAM mapping checkpoint (folder or shipped name); required unless "
                                 "--preset gives it")
    p.add_argument("--out", required=True)
    p.add_argument("--generator", help="the NAM's generator, when not where its config says")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--nef", type=int, default=64, help="width of the encoder R")
    p.add_argument("--loss", default="laplacian", help="image loss between G(R(y)) and NAM's G(z_y)")
    p.add_argument("--code-weight", type=float, default=0.1, help="weight of ‖R(y) − z_y‖² / d")
    p.add_argument("--resolve-steps", type=int, default=0,
                   help="re-solve the pairs with NAM's inference (leave-one-out retrieval start, this many Adam steps "
                        "against the final T) instead of NAM's jointly trained codes; 0 = use those codes")
    p.add_argument("--recon-weight", type=float, default=0.0,
                   help="also train on every training image with NAM's own objective loss(T(G(R(y))), y), this weight")
    p.add_argument("--unpaired", type=int, help="with --recon-weight: use the first N training images (default all)")
    p.add_argument("--style-temperature", type=float,
                   help="spread of the K solutions along the style directions, stored in the checkpoint for "
                        "inference (default: the Translator's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    p.add_argument("--max-minutes", type=float, help="stop (checkpointed, resumable) after this long")
    p.add_argument("--finish-early", action="store_true", help="with --max-minutes: write final/ anyway")
    p.add_argument("--quiet", action="store_true")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_with_preset(build_parser(), SCRIPT, argv, required=("nam",))


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    recipe = setup_run("train_refiner.py", a.threads, argv)
    final = train_refiner(a.nam, a.out, epochs=a.epochs, batch_size=a.batch_size, nef=a.nef, loss=a.loss,
                          code_weight=a.code_weight, resolve_steps=a.resolve_steps,
                          recon_weight=a.recon_weight, unpaired=a.unpaired,
                          style_temperature=a.style_temperature, seed=a.seed, device=a.device,
                          generator=a.generator, max_minutes=a.max_minutes, finish_early=a.finish_early,
                          progress=not a.quiet, recipe=recipe)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
