"""Train a generator G of one domain: GLANN (GLO + IMLE, no adversary) or DCGAN (the NAM papers' G).

Example::

    python training/train_generator.py --domain mnist --method glann --out runs/mnist_glann
    python training/train_generator.py --domain mnist --method glann --out runs/mnist_glann   # resumes

The finished checkpoint is ``OUT/final`` (copy it into ``checkpoints/`` to ship it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nam_core.data import list_domains  # noqa: E402
from nam_core.methods.generators import train_generator  # noqa: E402
from training.common import setup_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", required=True, choices=list_domains())
    p.add_argument("--method", required=True, choices=["glann", "dcgan"])
    p.add_argument("--out", required=True, help="run folder (resumes from OUT/<method>/last when present)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imle-epochs", type=int)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--ngf", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--loss", help="laplacian | laplacian-flat | l1 | vgg-hed | vgg-imagenet | vgg-auto")
    p.add_argument("--init", choices=["pca", "random"], help="GLO's initial codes (default: pca, as in GLO)")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cuda | mps | cpu (default: auto)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly after this long; rerun to resume")
    p.add_argument("--finish-early", action="store_true",
                   help="with --max-minutes: export the final model from the epochs done instead of stopping to resume")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    a = p.parse_args(argv)
    recipe = setup_run("train_generator.py", a.threads, argv)
    final = train_generator(a.domain, a.method, a.out, epochs=a.epochs, latent_dim=a.latent_dim, ngf=a.ngf,
                            batch_size=a.batch_size, loss=a.loss, imle_epochs=a.imle_epochs, init=a.init,
                            limit=a.limit,
                            seed=a.seed, device=a.device, max_minutes=a.max_minutes,
                            finish_early=a.finish_early, recipe=recipe)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
