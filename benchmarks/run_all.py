"""Rebuild the full results table from the shipped checkpoints, on a CPU, within a time budget (default 14 min).

    python -m benchmarks.run_all                      # writes runs/benchmark/results.{json,md,png}
    python -m benchmarks.run_all --budget-minutes 30 --out runs/bench30

Same library functions as ``training/evaluate.py`` (:mod:`nam_core.eval.harness`), scheduled so the run ends in time:

1. AE-NAM and VAE-NAM (one encoder pass per input): up to ``--n-test`` inputs each, within ~40 % of the budget
   (on a slow CPU fewer; the table's n column says how many).
2. Generators: FID and PRD (plus the GLO + Gaussian baseline of GLANN checkpoints and a real-vs-real reference).
3. NAM (per-input code optimisation, seconds per input on a CPU): the time left is shared between the NAM models;
   each translates as many inputs as fit (at most ``--nam-n-test``; the table's n column says how many) and
   measures its batch-1 latency. The NAM vs VAE-NAM speed ratio therefore comes from the same run and machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nam_core.eval.harness import (
    assemble_results,
    evaluate_generators,
    evaluate_mappings,
    log,
    select_generators,
    select_models,
    setup_machine,
)
from nam_core.eval.report import markdown_report, write_results
from nam_core.methods.registry import get_method
from nam_core.paths import CHECKPOINTS_DIR

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--classifier-dir", help="folder holding clf_<domain> (default: --checkpoints)")
    p.add_argument("--out", default=str(ROOT / "runs" / "benchmark"))
    p.add_argument("--budget-minutes", type=float, default=14.0, help="whole run, including loading and writing")
    p.add_argument("--n-test", type=int, default=1000, help="test inputs per task for AE-NAM / VAE-NAM")
    p.add_argument("--nam-n-test", type=int, default=100, help="at most this many inputs per NAM model")
    p.add_argument("--num-solutions", type=int, default=8)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--n-gen", type=int, default=1000, help="samples per generator for FID/PRD")
    p.add_argument("--prd-runs", type=int, default=5)
    p.add_argument("--edge-n", type=int, default=16, help="inputs scored for edge agreement (Canny is slow)")
    p.add_argument("--edge-method", default="canny", choices=["canny", "hed", "sobel", "auto"])
    p.add_argument("--no-generators", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    a = p.parse_args(argv)
    t_start = time.time()
    deadline = t_start + 60 * a.budget_minutes
    dev = setup_machine(a.device, a.threads)
    clf_dir = a.classifier_dir or a.checkpoints
    models = select_models(a.checkpoints)
    if not models:
        log(f"no mapping checkpoints in {a.checkpoints}; train or download them first (see README)")
        return 1
    fast = [m for m in models if not get_method(m["method"]).iterative]
    nam = [m for m in models if get_method(m["method"]).iterative]
    log(f"{len(fast)} encoder models, {len(nam)} NAM models; budget {a.budget_minutes:.1f} min")

    gens = [] if a.no_generators else select_generators(a.checkpoints)
    reserve = 20.0 + 25.0 * len(gens)  # loading, scoring, writing; the generator metrics (measured: ~10 s each)
    common = {"num_solutions": a.num_solutions, "batch": a.batch, "device": dev, "seed": a.seed, "edge_n": a.edge_n,
              "edge_method": a.edge_method}
    rows, edge_ref = [], {}
    for i, m in enumerate(fast):  # at most ~40 % of the budget (NAM still to come) for the encoder models
        left = deadline - time.time() - reserve
        share = max(5.0, (0.4 * left if nam else left) / (len(fast) - i))
        r, e = evaluate_mappings([m], clf_dir, a.n_test, budget_s=0.8 * share, **common)
        rows += r
        edge_ref.update(e)
    log(f"[{time.time() - t_start:.0f}s] encoder models done")
    gen_rows = evaluate_generators(gens, clf_dir, a.n_gen, dev, a.seed, a.prd_runs) if gens else []
    log(f"[{time.time() - t_start:.0f}s] generators done")

    for i, m in enumerate(nam):
        share = max(5.0, (deadline - time.time() - 20.0) / (len(nam) - i))
        log(f"[{time.time() - t_start:.0f}s] NAM budget for {m['task']} ({m['generator']}): {share:.0f}s")
        r, e = evaluate_mappings([m], clf_dir, a.n_test, latency_images=1, latency_repeats=3, nam_n_test=a.nam_n_test,
                                 nam_budget_s=0.8 * share, **common)
        rows += r
        edge_ref.update(e)

    settings = {"n_test": f"≤ {a.n_test} (time-budgeted)", "nam_n_test": f"≤ {a.nam_n_test} (time-budgeted)",
                "num_solutions": a.num_solutions, "batch": a.batch, "n_gen": a.n_gen, "prd_runs": a.prd_runs,
                "edge_n": a.edge_n, "edge_method": a.edge_method, "seed": a.seed, "budget_minutes": a.budget_minutes}
    results = assemble_results(rows, gen_rows, edge_ref, settings, dev)
    results["settings"]["seconds"] = round(time.time() - t_start, 1)
    paths = write_results(results, a.out)
    print(markdown_report(json.loads(paths["json"].read_text())))
    for sp in results["speed"]:
        print(f"speed {sp['task']} ({sp['generator']}, {sp['mode']}): NAM {sp['nam_ms']:.1f} ms vs VAE-NAM "
              f"{sp['vae_nam_ms']:.1f} ms per analogy → {sp['ratio']:.0f}×")
    print(f"total {time.time() - t_start:.0f}s (budget {60 * a.budget_minutes:.0f}s); wrote "
          + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
