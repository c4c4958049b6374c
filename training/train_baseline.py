"""Train an adversarial baseline (DistanceGAN, DTN or CycleGAN) for a task on unpaired images of its two domains.

Example::

    python training/train_baseline.py --preset mnist2street_cyclegan --out runs/mnist2street_cyclegan  # shipped
    python training/train_baseline.py --task street2mnist --method dtn --out runs/street2mnist_dtn \\
        --hp alpha=15 --hp beta=15
    python training/train_baseline.py --task mnist2street --method distancegan --hp mode=top_bottom \\
        --out runs/mnist2street_distancegan_self

Without ``--preset``, a task and method that shipped a model start from its recipe.

``--hp KEY=VALUE`` sets a constructor argument of the method (values parsed as JSON when possible: numbers,
true/false, null; else strings), e.g. ngf, n_blocks, ndf, lr, gan, lambda_cyc, lambda_idt, lambda_dist, mode,
alpha, beta, gamma, f_width. Rerun the same command to resume.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nam_core.methods.baselines import BASELINES, train_baseline
from nam_core.methods.mappings import TASKS
from nam_core.training_cli import add_preset_argument, add_run_arguments, parse_with_preset, setup_run

SCRIPT = "train_baseline"


def parse_hparams(items: list[str]) -> dict[str, Any]:
    """``["ngf=16", "gan=bce"]`` → ``{"ngf": 16, "gan": "bce"}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--hp expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_argument(p, SCRIPT)
    p.add_argument("--task", choices=sorted(TASKS), help="required unless --preset gives it")
    p.add_argument("--method", choices=BASELINES, help="required unless --preset gives it")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--limit", type=int, help="random images per domain (default: all)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="method hyper-parameter")
    p.add_argument("--f-checkpoint", help="DTN: classifier checkpoint of the source domain used as f")
    p.add_argument("--f-epochs", type=int, help="DTN: epochs of f pretraining on the source labels (default 3)")
    add_run_arguments(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_with_preset(build_parser(), SCRIPT, argv, required=("task", "method"),
                             implicit=lambda a: f"{a.task}_{a.method}" if a.task and a.method else None)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    recipe = setup_run("train_baseline.py", a.threads, argv)
    final = train_baseline(a.task, a.method, a.out, epochs=a.epochs, batch_size=a.batch_size, limit=a.limit,
                           seed=a.seed, device=a.device, max_minutes=a.max_minutes,
                           finish_early=a.finish_early, recipe=recipe,
                           hparams=parse_hparams(a.hp), f_checkpoint=a.f_checkpoint, f_epochs=a.f_epochs)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
