"""Train the digit classifier of a domain (judges translations; feature space of the project's FID/PRD).

Example::

    python training/train_classifier.py --domain mnist --out checkpoints/clf_mnist
"""

from __future__ import annotations

import argparse

from nam_core.data import DOMAINS
from nam_core.eval.classifier import train_classifier
from nam_core.training_cli import setup_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", required=True, choices=[d for d, s in DOMAINS.items() if s.labelled])
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    a = p.parse_args(argv)
    recipe = setup_run("train_classifier.py", a.threads, argv)
    print(train_classifier(a.domain, a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                           device=a.device, recipe=recipe))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
