"""Test-time polishing of one-pass solutions: the M candidates a VAE-NAM / AE-NAM model draws, each refined by S of
NAM's Adam steps on ‖T(G(z)) − x‖ + prior (T and G frozen, the encoder's code as the start), then loss-ranked as
the Translator ranks them. Prints first / mean-over-K accuracy, the loss of the first solution and the polishing
time per input, for each steps × learning rate (steps 0 = the shipped one-pass solutions).

    python -m benchmarks.bench_polish --task mnist2street --method vae-nam --generator dcgan --split train

A measurement only: the Translator does not polish (see docs/RESULTS.md, "Training choices, measured", for why).
The digit classifier only scores the chosen solutions; no method sees a label.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from nam_core.eval.harness import eval_subset, find_classifier, setup_machine
from nam_core.eval.metrics import predict_labels
from nam_core.methods.nam import nam_infer
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import Translator
from nam_core.serving.translator import select_ranked, shipped_path


def polish(tr: Translator, x: torch.Tensor, z: torch.Tensor, steps: int, lr: float,
           prior_weight: float = 1e-3) -> torch.Tensor:
    """z (N, M, d) after ``steps`` NAM steps against the inputs x, with the model's own T, G and loss."""
    if steps == 0:
        return z
    out, _ = nam_infer(tr.G, tr.T, x, num_solutions=z.shape[1], steps=steps, lr=lr, loss=tr.loss_fn,
                       prior_weight=prior_weight, init=z.reshape(-1, z.shape[-1]))
    return out


def score_batch(tr: Translator, clf: torch.nn.Module, x: torch.Tensor, z: torch.Tensor, labels: np.ndarray,
                k: int) -> dict[str, float]:
    """Sums over the batch: right first, right mean over the K lowest-loss, loss of the first."""
    outs, _, losses = tr.render(z, x)
    assert losses is not None
    n, m = z.shape[:2]
    imgs = tr._as_images(outs, n, m)
    preds = predict_labels(clf, imgs.reshape(-1, *imgs.shape[2:])).reshape(n, m)
    order = select_ranked(losses.cpu(), k)  # the Translator's own loss ranking (ties keep the drawing order)
    right = preds[np.arange(n)[:, None], order.numpy()] == labels[:, None]
    return {"first": float(right[:, 0].sum()), "mean": float(right.mean(1).sum()),
            "loss1": float(losses.cpu().gather(1, order[:, :1]).sum())}


def run(tr: Translator, clf: torch.nn.Module, images: np.ndarray, labels: np.ndarray, steps: list[int],
        lrs: list[float], m: int = 16, k: int = 8, batch: int = 50) -> list[dict[str, Any]]:
    """One row per (steps, lr): first / mean % over ``images``, mean loss of the first, ms of polishing per input."""
    sums: dict[tuple[int, float], dict[str, float]] = {}
    for i in range(0, len(images), batch):
        x = tr._inputs(images[i : i + batch])
        z0, _ = tr._solutions(x, 1 if tr.deterministic else m, i // batch)  # one candidate, as the Translator draws
        for s in steps:
            for lr in (lrs if s else [0.0]):
                t0 = time.perf_counter()
                z = polish(tr, x, z0, s, lr)
                dt = time.perf_counter() - t0 if s else 0.0  # steps 0: nothing to time
                acc = sums.setdefault((s, lr), {"first": 0.0, "mean": 0.0, "loss1": 0.0, "seconds": 0.0})
                for key, v in score_batch(tr, clf, x, z, labels[i : i + batch], k).items():
                    acc[key] += v
                acc["seconds"] += dt
    n = len(images)
    return [{"steps": s, "lr": lr, "n": n, "first": 100 * v["first"] / n, "mean": 100 * v["mean"] / n,
             "loss_first": v["loss1"] / n, "ms_per_input": 1000 * v["seconds"] / n} for (s, lr), v in sums.items()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--task", default="mnist2street")
    p.add_argument("--method", default="vae-nam", choices=["vae-nam", "ae-nam", "nam-ff"])
    p.add_argument("--generator", default="dcgan")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--m", type=int, default=16, help="candidates drawn (and polished) per input")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--steps", type=int, nargs="*", default=[0, 10, 30])
    p.add_argument("--lr", type=float, nargs="*", default=[0.01, 0.05])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    dev = setup_machine(a.device, a.threads)
    tr = Translator.from_checkpoint(shipped_path(a.task, a.method, a.generator, a.checkpoints), device=dev)
    images, labels = eval_subset(tr.source, a.n, 1 if a.split == "train" else 0, a.split)
    clf = find_classifier(tr.target, a.checkpoints, dev)
    if clf is None or labels is None:
        p.error(f"no classifier or labels to score {a.task}")
    print("| task | method | generator | split | n | steps | lr | first % | mean % | loss of first | ms/input |")
    print("|" + "---|" * 11)
    for r in run(tr, clf, images, labels, a.steps, a.lr, a.m, a.k):
        print(f"| {a.task} | {a.method} | {a.generator} | {a.split} | {r['n']} | {r['steps']} | {r['lr']:g} "
              f"| {r['first']:.1f} | {r['mean']:.1f} | {r['loss_first']:.4f} | {r['ms_per_input']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
