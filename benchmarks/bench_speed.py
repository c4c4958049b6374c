"""NAM vs VAE-NAM (and AE-NAM) inference speed per analogy, measured in one run on one machine.

For every task × generator with a NAM and a VAE-NAM checkpoint (and AE-NAM / one-pass NAM when shipped), times
``Translator.translate`` (the analogies only, K solutions per input, the solution cache off) on the same inputs:

* batch-1: median over ``--images`` × ``--repeats`` calls with one input (after a warm-up),
* batched: ``--batch`` inputs in one call (NAM: ``--nam-batch``), wall time divided by the number of inputs,

and prints the VAE-NAM speed-up over NAM for both. No assertions: figures only.

NAM is timed as shipped (retrieval starts, 100 Adam steps). ``--nam-reference STARTS:STEPS`` adds a second NAM
row per task, e.g. ``random:200``: the NAM papers' Gaussian starts, which need more steps to reach the same
accuracy (see the README's speed notes for the step sweep), and the speed-up against it.

    python -m benchmarks.bench_speed                         # shipped checkpoints, this machine's CPU
    python -m benchmarks.bench_speed --device cuda --threads 4
    python -m benchmarks.bench_speed --tasks mnist2street --nam-reference random:200
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from nam_core.data import load_domain
from nam_core.eval.harness import setup_machine
from nam_core.methods.mappings import SERVED_METHODS, get_task
from nam_core.methods.registry import get_method, methods, speed_baseline
from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import Translator, available_models

REPO = Path(__file__).resolve().parent.parent


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_translator(tr: Translator, images, k: int, batch: int, n_images: int, repeats: int,
                    device: torch.device) -> dict[str, float]:
    """ms per analogy (all K solutions of one input): median batch-1 call and one batched call."""
    tr.cache_size = 0
    tr._cache.clear()
    tr.translate(images[:1], num_solutions=k, seed=0)  # warm-up: lazy init, retrieval pool
    one = []
    for i in range(n_images):
        for r in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            tr.translate(images[i : i + 1], num_solutions=k, seed=r)
            _sync(device)
            one.append(time.perf_counter() - t0)
    _sync(device)
    t0 = time.perf_counter()
    tr.translate(images[:batch], num_solutions=k, seed=0)
    _sync(device)
    batched = (time.perf_counter() - t0) / min(batch, len(images))
    return {"ms_batch1": 1000 * statistics.median(one), "ms_batched": 1000 * batched, "calls": len(one)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR))
    p.add_argument("--tasks", nargs="*")
    p.add_argument("--k", type=int, default=8, help="solutions per input")
    p.add_argument("--images", type=int, default=3, help="distinct inputs timed one at a time")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=100, help="inputs per batched call (AE-NAM / VAE-NAM)")
    p.add_argument("--nam-batch", type=int, default=10, help="inputs per batched call (NAM)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--nam-steps", type=int, default=100, help="Adam steps of the shipped NAM row")
    p.add_argument("--nam-reference", metavar="STARTS:STEPS",
                   help="also time NAM with these starts (random | retrieval) and steps, e.g. random:200")
    p.add_argument("--json", help="also write the figures here")
    a = p.parse_args(argv)
    ref = None
    if a.nam_reference:
        starts, _, steps = a.nam_reference.partition(":")
        if starts not in ("random", "retrieval") or not steps.isdigit():
            p.error("--nam-reference takes STARTS:STEPS with STARTS random or retrieval, e.g. random:200")
        ref = (starts, int(steps))
    dev = setup_machine(a.device, a.threads)
    models = [m for m in available_models(a.checkpoints) if m["method"] in SERVED_METHODS
              and (not a.tasks or m["task"] in a.tasks)]
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for m in models:
        groups.setdefault((m["task"], m["generator"]), {})[m["method"]] = m["path"]
    # the per-input optimiser (NAM) against the one-pass baseline (VAE-NAM) and the other one-pass mappings
    nam = next(m.name for m in methods() if m.iterative)
    base = speed_baseline()
    one_pass = [base, *(m.name for m in methods(feed_forward=False) if not m.iterative and m.name != base)]
    rows = []
    for (task, gen), paths in sorted(groups.items()):
        if not {nam, base} <= set(paths):
            continue
        images = load_domain(get_task(task).source, "test").images[: max(a.batch, a.images)]
        res = {}
        runs = [(m, m, None) for m in one_pass if m in paths]
        runs.append((nam, nam, ("retrieval", a.nam_steps)))
        if ref is not None:
            runs.append((f"{nam}[{ref[0]}:{ref[1]}]", nam, ref))
        for label, method, nam_cfg in runs:
            tr = Translator.from_checkpoint(paths[method], device=dev)
            if nam_cfg is not None:
                tr.nam_init, tr.nam_steps = nam_cfg
            batch = a.nam_batch if method == nam else a.batch
            res[label] = time_translator(tr, images, a.k, batch, a.images, a.repeats, dev)
            print(f"{task} ({gen}) {label:8s} batch-1 {res[label]['ms_batch1']:9.2f} ms  "
                  f"batched {res[label]['ms_batched']:9.3f} ms per analogy (K={a.k})", flush=True)
        row: dict = {"task": task, "generator": gen, **res}
        for label in [r[0] for r in runs if r[1] == nam]:
            r1 = res[label]["ms_batch1"] / res[base]["ms_batch1"]
            rb = res[label]["ms_batched"] / res[base]["ms_batched"]
            print(f"{task} ({gen}): {get_method(base).label} is {r1:.0f}× faster than {label} at batch 1, "
                  f"{rb:.0f}× batched", flush=True)
            suffix = "" if label == nam else "_vs_reference"
            row["speedup_batch1" + suffix], row["speedup_batched" + suffix] = r1, rb
        rows.append(row)
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(dev), "threads": torch.get_num_threads(), "k": a.k,
                                            "nam_steps": a.nam_steps, "nam_reference": a.nam_reference,
                                            "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
