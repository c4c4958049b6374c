"""Fine-tune an AE-NAM / VAE-NAM mapping on back-translated pseudo-pairs from the opposite task's model
(``nam_core.methods.backtranslate``: no labels, no adversary). The output is an ordinary mapping checkpoint.

Example (street→mnist tuned on the synthetic street digits mnist→street makes of real MNIST digits)::

    python training/train_backtranslate.py --checkpoint checkpoints/street2mnist_vae-nam_glann \\
        --partner checkpoints/mnist2street_vae-nam_dcgan --out runs/bt_s2m --epochs 4 --limit 5000 --threads 1

A second round: pass the tuned models as ``--checkpoint`` / ``--partner`` (the pairs are made afresh). Rerun to
resume.
"""

from __future__ import annotations

import argparse

from nam_core.methods.backtranslate import finetune_backtranslate
from nam_core.training_cli import add_run_arguments, setup_run
from nam_core.utils import get_device


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="the AE-NAM / VAE-NAM mapping A→B to tune")
    p.add_argument("--partner", required=True, help="the opposite task's AE-NAM / VAE-NAM mapping B→A (makes pairs)")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--pairs", type=int, default=10000, help="real B training images turned into pairs")
    p.add_argument("--keep", type=float, default=0.5, help="fraction of the pairs kept (most consistent first)")
    p.add_argument("--candidates", type=int, default=16, help="posterior draws per pair (the best-reconstructing)")
    p.add_argument("--pair-weight", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="real A training inputs (default all)")
    add_run_arguments(p)
    a = p.parse_args(argv)
    recipe = setup_run("train_backtranslate.py", a.threads, argv)
    final = finetune_backtranslate(a.checkpoint, a.partner, a.out, epochs=a.epochs, n_pairs=a.pairs, keep=a.keep,
                                   candidates=a.candidates, pair_weight=a.pair_weight, lr=a.lr,
                                   batch_size=a.batch_size, limit=a.limit, seed=a.seed,
                                   device=get_device(a.device), max_minutes=a.max_minutes,
                                   finish_early=a.finish_early, recipe=recipe)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
