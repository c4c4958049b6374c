"""How different are the K solutions, and do they keep the digit? Accuracy, same-digit share and diversity of the K
analogies per input, for every shipped digit mapping, at several sampling settings (VAE-NAM / AE-NAM; NAM's K
restarts have neither and are scored once, on fewer inputs):

* ``--temperatures``: the posterior's spread ε·σ scaled (VAE-NAM; AE-NAM's global-axis spread), style spread off;
* ``--style-temperatures``: the spread along the checkpoint's style directions (``Translator.style_temperature``,
  in their standard deviations), at temperature 1.

    python -m benchmarks.bench_diversity                                   # shipped checkpoints, CPU
    python -m benchmarks.bench_diversity --tasks mnist2street --temperatures 1 2 3 --style-temperatures 1 2 3

Columns: acc % (classifier of the output domain vs the input's label, mean over the K analogies), same digit %
(share of an input's K analogies read as their most common class), diversity (mean L1 distance between two of an
input's analogies, pixels in [0, 1]). No assertions: figures only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nam_core.eval.harness import eval_subset, find_classifier, setup_machine
from nam_core.eval.metrics import class_consistency, predict_labels, solution_diversity
from nam_core.methods.mappings import SERVED_METHODS
from nam_core.methods.registry import get_method
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import Translator, available_models

REPO = Path(__file__).resolve().parent.parent


def score(tr: Translator, images: np.ndarray, labels: np.ndarray, clf: torch.nn.Module, k: int,
          batch: int = 100) -> dict[str, float]:
    """acc / same-digit share / diversity of ``tr``'s K analogies of ``images`` (seed 0)."""
    outs = np.concatenate([tr.translate(images[i : i + batch], num_solutions=k, seed=0)
                           for i in range(0, len(images), batch)])
    k = outs.shape[1]  # 1 when the model is deterministic
    preds = predict_labels(clf, outs.reshape(-1, *outs.shape[2:])).reshape(len(images), k)
    return {"acc": float((preds == labels[:, None]).mean()), "same_digit": class_consistency(preds),
            "diversity": float(solution_diversity(outs).mean()), "n": len(images)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--tasks", nargs="*", default=["mnist2street", "street2mnist"])
    p.add_argument("--temperatures", type=float, nargs="*", default=[1.0, 2.0])
    p.add_argument("--style-temperatures", type=float, nargs="*", default=[1.0, 2.0, 3.0])
    p.add_argument("--n", type=int, default=300, help="test inputs per model (VAE-NAM / AE-NAM)")
    p.add_argument("--nam-n", type=int, default=20, help="test inputs for NAM (seconds each on a CPU)")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    dev = setup_machine(a.device, a.threads)
    rows = []
    print("| task | generator | method | temperature | style temperature | n | acc % | same digit % | diversity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in sorted(available_models(a.checkpoints), key=lambda m: (m["task"], m["generator"], m["method"])):
        if m["task"] not in a.tasks or m["method"] not in SERVED_METHODS:
            continue
        tr = Translator.from_checkpoint(m["path"], device=dev)
        clf = find_classifier(tr.target, a.checkpoints, dev)
        if clf is None:
            continue
        n = a.nam_n if get_method(m["method"]).iterative else a.n
        images, labels = eval_subset(tr.source, n, 0)
        settings = [(1.0, 0.0)]
        if not get_method(m["method"]).iterative:
            settings = [(t, 0.0) for t in a.temperatures]
            if tr.style_dirs is not None:
                settings += [(1.0, st) for st in a.style_temperatures if (1.0, st) not in settings]
        for temp, style in settings:
            tr.temperature, tr.style_temperature = temp, style
            r = {"task": m["task"], "generator": m["generator"], "method": m["method"], "temperature": temp,
                 "style_temperature": style,
                 **score(tr, images, labels, clf, a.k, batch=10 if get_method(m["method"]).iterative else 100)}
            rows.append(r)
            t, st = ("–", "–") if get_method(m["method"]).iterative else (f"{temp:g}", f"{style:g}")
            print(f"| {r['task']} | {r['generator']} | {r['method']} | {t} | {st} | {r['n']} | {100 * r['acc']:.1f} "
                  f"| {100 * r['same_digit']:.1f} | {r['diversity']:.3f} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(dev), "k": a.k, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
