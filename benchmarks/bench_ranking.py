"""Ranking of the K solutions: accuracy of the first (top-ranked) solution and mean over the K shown, for each
ranking (none / loss / roundtrip / roundtrip+loss) × candidates drawn (M), with the latency each setting costs.

    python -m benchmarks.bench_ranking --split train --n 500 --threads 1          # choosing (training inputs)
    python -m benchmarks.bench_ranking --split test --n 1000 --threads 1          # reporting

Each model draws max(M) candidates once per input (``Translator.candidates``) and every setting ranks the first M
of them with the Translator's own ``rank_scores`` / ``select_ranked``: the same procedure as ``translate_full``
with ``oversample = M``, on candidates distributed like its draw (the seeded noise of a draw of M is not a prefix
of a draw of max(M), so single figures differ from ``training/evaluate.py``'s by sampling noise only). The digit
classifiers only score the chosen solutions; no method sees a label. Latency: median of single-image
``translate_full`` calls with the setting (after a warm-up), ms per input for all K.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nam_core.eval.harness import eval_subset, find_classifier, setup_machine
from nam_core.eval.metrics import class_consistency, predict_labels, solution_diversity
from nam_core.methods.registry import get_method
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import Translator, available_models
from nam_core.serving.translator import rank_scores, select_ranked

REPO = Path(__file__).resolve().parent.parent

RANKS = ("none", "loss", "roundtrip", "roundtrip+loss")


def score_settings(cands: dict[str, Any], preds: np.ndarray, labels: np.ndarray, k: int, ms: list[int],
                   ranks: tuple[str, ...] = RANKS) -> list[dict[str, Any]]:
    """First / mean-over-K accuracy, any-of-K, same digit and diversity of the K kept for each ranking × M, from one
    draw of max(M) candidates (``cands`` of :meth:`Translator.candidates`, ``preds`` (N, M) their classes)."""
    out = []
    n, m_max = preds.shape
    rows = np.arange(n)[:, None]
    for m in sorted({min(v, m_max) for v in ms}):
        for rank in ranks:
            if rank == "none" and m > k:
                continue  # unranked: the first K as drawn, whatever M is
            kk = min(k, m)
            if rank == "none":
                order = np.tile(np.arange(kk), (n, 1))
                used = None
            else:
                rt = cands["roundtrip"][:, :m] if cands["roundtrip"] is not None else None
                scores, used = rank_scores(cands["losses"][:, :m], rt, rank)
                if used != rank:
                    continue  # no partner: the same as "loss"
                order = select_ranked(scores, kk).numpy()
            right = preds[rows, order] == labels[:, None]
            chosen = cands["outputs"][rows, order]
            out.append({"rank": rank, "m": m, "k": kk, "first": float(right[:, 0].mean()),
                        "mean": float(right.mean()), "any_of_k": float(right.any(1).mean()),
                        "same_class": class_consistency(preds[rows, order]),
                        "diversity": float(solution_diversity(chosen).mean()), "rank_by": used})
    return out


def latency_ms(tr: Translator, images: np.ndarray, k: int, rank: str, m: int, repeats: int = 3) -> float:
    """Median ms of one-image ``translate_full`` calls (cache off) with ``rank`` / ``oversample = m``."""
    tr.rank, tr.oversample, tr.cache_size = (None if rank == "none" else rank), m, 0
    tr._cache.clear()
    tr.translate_full(images[:1], k, 0)  # warm-up (the partner is loaded here)
    lat = []
    for i in range(repeats):
        t0 = time.perf_counter()
        tr.translate_full(images[i % len(images) : i % len(images) + 1], k, 0)
        lat.append(1000 * (time.perf_counter() - t0))
    return statistics.median(lat)


def bench_model(tr: Translator, images: np.ndarray, labels: np.ndarray, clf: torch.nn.Module, k: int,
                ms: list[int], batch: int = 50, latency: bool = True) -> list[dict[str, Any]]:
    """Every ranking × M for one model on ``images`` (scored against ``labels`` by ``clf``)."""
    m_max = max(ms)
    parts: list[dict[str, Any]] = []
    for i in range(0, len(images), batch):
        parts.append(tr.candidates(images[i : i + batch], m_max, seed=i // batch))
    cands = {"outputs": np.concatenate([p["outputs"] for p in parts]),
             "losses": torch.cat([p["losses"] for p in parts]),
             "roundtrip": None if parts[0]["roundtrip"] is None else torch.cat([p["roundtrip"] for p in parts])}
    o = cands["outputs"]
    preds = predict_labels(clf, o.reshape(-1, *o.shape[2:])).reshape(o.shape[0], o.shape[1])
    # a deterministic model draws one candidate: every ranking returns it
    rows = score_settings(cands, preds, labels, k, ms, ("none",) if tr.deterministic else RANKS)
    if latency:
        for r in rows:
            r["ms_batch1"] = latency_ms(tr, images, k, r["rank"], r["m"])
    return rows


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| task | method | generator | split | n | ranking | M drawn | K | first % | mean % | any-of-K % "
             "| same digit % | diversity | ms/analogy batch-1 |", "|" + "---|" * 14]
    for r in results:
        lat = r.get("ms_batch1")
        lines.append(f"| {r['task']} | {r['method']} | {r['generator']} | {r['split']} | {r['n']} | {r['rank']} "
                     f"| {r['m']} | {r['k']} | {100 * r['first']:.1f} | {100 * r['mean']:.1f} "
                     f"| {100 * r['any_of_k']:.1f} | {100 * r['same_class']:.1f} | {r['diversity']:.3f} "
                     f"| {'–' if lat is None else f'{lat:.1f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--tasks", nargs="*", default=["mnist2street", "street2mnist"])
    p.add_argument("--methods", nargs="*", default=["vae-nam", "ae-nam", "nam-ff", "nam"])
    p.add_argument("--generators", nargs="*", default=["glann", "dcgan"])
    p.add_argument("--split", default="train", choices=["train", "test"],
                   help="train: for choosing the settings; test: for reporting")
    p.add_argument("--n", type=int, default=500, help="inputs per one-pass model")
    p.add_argument("--nam-n", type=int, default=20, help="inputs for NAM (it optimises every candidate)")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--m", type=int, nargs="*", default=[8, 16, 32, 64], help="candidates drawn")
    p.add_argument("--nam-m", type=int, nargs="*", default=[8, 16])
    p.add_argument("--no-latency", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)
    dev = setup_machine(a.device, a.threads)
    results = []
    models = [m for m in available_models(a.checkpoints)
              if m["task"] in a.tasks and m["method"] in a.methods and m["generator"] in a.generators]
    for m in sorted(models, key=lambda m: (m["task"], m["generator"], m["method"])):
        tr = Translator.from_checkpoint(m["path"], device=dev)
        domain = tr.source
        n = a.nam_n if get_method(m["method"]).iterative else a.n
        # a different subset from the evaluation's (seed 0) when choosing on the training split
        images, labels = eval_subset(domain, n, 1 if a.split == "train" else 0, a.split)
        clf = find_classifier(tr.target, a.checkpoints, dev)
        if clf is None or labels is None:
            print(f"skip {m['path']}: no classifier / labels to score it", file=sys.stderr)
            continue
        t0 = time.time()
        rows = bench_model(tr, images, labels, clf, a.k, a.nam_m if get_method(m["method"]).iterative else a.m,
                           latency=not a.no_latency)
        partner = tr.partner
        for r in rows:
            r.update({"task": m["task"], "method": m["method"], "generator": m["generator"], "split": a.split,
                      "n": len(images), "deterministic": tr.deterministic,
                      "partner": None if partner is None else Path(partner.ckpt.path).name})
        results += rows
        print(f"{m['task']} {m['method']} {m['generator']}: {len(images)} inputs, partner "
              f"{rows[0]['partner'] if rows else None}, deterministic {tr.deterministic} [{time.time() - t0:.0f}s]",
              file=sys.stderr, flush=True)
        print(markdown(rows), flush=True)
    print("\n" + markdown(results))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
