"""The evaluation harness: score mapping checkpoints (translated-digit accuracy, speed, edge agreement) and
generators (FID / PRD) found in a checkpoints folder, and assemble the results dict that
:mod:`nam_core.eval.report` writes.

    results = run_evaluation(tasks=["street2mnist"], methods=["vae-nam"], n_test=200)
    write_results(results, "runs/eval")                   # nam_core.eval.report

:func:`main` is the command line of ``python training/evaluate.py`` and ``nam-studio evaluate`` (same flags);
``benchmarks/`` schedule the same functions (:func:`evaluate_mappings`, :func:`evaluate_generators`) in their own
way. Test inputs are a seeded subset of each domain's test split (:func:`eval_subset`), so two runs with the same
settings score the same images.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints import CheckpointError, find_checkpoints, read_training_info
from ..data import DOMAINS, load_domain
from ..methods.mappings import TASKS, get_task
from ..methods.registry import find_method, method_names, methods, speed_baseline
from ..paths import CHECKPOINTS_DIR
from ..utils import get_device
from .classifier import load_classifier
from .metrics import (
    edge_agreement,
    evaluate_translator,
    generator_metrics,
    glo_gaussian_baseline,
    inception_features,
    inception_weights_path,
)
from .report import machine_info, markdown_report, write_results, write_results_doc

# the command line's --help (python training/evaluate.py, nam-studio evaluate)
CLI_HELP = """Evaluate the shipped checkpoints: translated-digit accuracy, speed, edge agreement, generator FID/PRD.

Example::

    python training/evaluate.py                                   # every shipped mapping, 1000 test inputs, K = 8
    python training/evaluate.py --tasks street2mnist --methods nam vae-nam --n-test 200 --out runs/eval

Writes ``results.json``, ``results.md`` and ``results.png`` into ``--out`` and prints the Markdown tables; with
``--docs docs/RESULTS.md`` also rewrites that document's generated evaluation section (with the command line).
``--rank`` / ``--oversample`` set how each Translator orders its K solutions (default: the Translator's own
settings); the "first" column is the accuracy of the top-ranked solution. ``--merge`` keeps the rows of models not
evaluated in this run from the previous ``results.json``.
Classifiers are ``<classifier-dir>/clf_<domain>``; generators ``<checkpoints>/gen_<domain>_<method>`` (any
generator checkpoint folder in ``--checkpoints`` is found by its config).
"""

METHOD_ORDER = {m.name: m.order for m in methods()}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=8)
def eval_subset(domain: str, n: int | None, seed: int = 0, split: str = "test") -> tuple[np.ndarray, np.ndarray | None]:
    """A deterministic subset of ``n`` images of ``domain``'s ``split`` (a seeded random choice, in index order).
    Cached: treat the arrays as read-only."""
    ds = load_domain(domain, split)
    idx = np.arange(len(ds))
    if n is not None and n < len(ds):
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False))
    images = np.asarray(ds.images[idx])
    return images, None if ds.labels is None else np.asarray(ds.labels)[idx]


def find_classifier(domain: str, classifier_dir: str | Path, device: torch.device) -> torch.nn.Module | None:
    """``<classifier_dir>/clf_<domain>`` loaded, or None when it is not there."""
    path = Path(classifier_dir) / f"clf_{domain}"
    if not (path / "config.json").exists():
        return None
    return load_classifier(path, device=device)


# The harness scores models as the serving layer lists and loads them (what the app and users run is what gets
# scored). Serving sits above eval in the import order, so these two reach up at call time only.
def _available_models(root: str | Path) -> list[dict[str, str]]:
    from ..serving import available_models

    return available_models(root)


def _load_translator(path: str | Path, device: torch.device) -> Any:
    from ..serving import load_translator

    return load_translator(path, device=device)


def find_generators(root: str | Path) -> list[dict[str, str]]:
    """Generator checkpoint folders directly under ``root``: domain, method, path."""
    return [{"domain": cfg.get("domain", ""), "method": cfg.get("method", ""), "path": str(path),
             "train_seconds": _train_seconds(path)} for path, cfg in find_checkpoints(root, "generator")]


def _train_seconds(path: str | Path) -> float | None:
    try:
        return read_training_info(path).get("train_seconds_total")
    except CheckpointError:
        return None


def evaluate_mappings(models: list[dict[str, str]], classifier_dir: str | Path, n_test: int | None,
                      num_solutions: int, batch: int, device: torch.device, seed: int = 0, latency_images: int = 3,
                      latency_repeats: int = 3, edge_n: int | None = 100, nam_n_test: int | None = None,
                      nam_budget_s: float | None = None, budget_s: float | None = None, edge_method: str = "canny",
                      rank: str | None = "default", oversample: int | None = None,
                      nam_oversample: int | None = None) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Score every mapping checkpoint in ``models`` (``available_models()`` rows); also the edge F1 ceiling (each
    sketch against its own photo).

    NAM optimises codes per input (seconds per input on a CPU): it gets the first ``nam_n_test`` inputs of the same
    subset and, with ``nam_budget_s``, about that many seconds (60 % batched pass, 25 % batch-1 latency: fewer
    inputs when they do not fit); ``budget_s`` does the same for AE-NAM / VAE-NAM models. ``edge_method``: how edges
    are extracted from the analogies ("canny": fast; "hed": the dataset's own recipe, a VGG pass per image;
    "auto": HED when its weights are cached). ``rank`` ("default": the Translator's own;
    None: unranked) and ``oversample`` / ``nam_oversample`` (candidates drawn, one-pass methods / NAM; None: the
    Translator's default) set how the K solutions are ordered."""
    rows, edge_ref = [], {}
    data: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    ref_photos: dict[str, np.ndarray] = {}
    classifiers: dict[str, torch.nn.Module | None] = {}
    for m in sorted(models, key=lambda m: (m["task"], m["generator"], METHOD_ORDER.get(m["method"], 9))):
        task = get_task(m["task"])
        if task.source not in data:
            data[task.source] = eval_subset(task.source, n_test, seed)
        if task.source.endswith("_edges") and task.target not in ref_photos:
            ref_photos[task.target] = eval_subset(task.target, n_test, seed)[0]  # real photos for the analogies' FID
        images, labels = data[task.source]
        if task.target not in classifiers:
            classifiers[task.target] = (find_classifier(task.target, classifier_dir, device)
                                        if DOMAINS[task.target].labelled else None)
        clf = classifiers[task.target]
        if clf is None and DOMAINS[task.target].labelled:
            log(f"warning: no classifier {Path(classifier_dir) / ('clf_' + task.target)}; accuracy skipped")
        t0 = time.time()
        log(f"{m['task']} {m['method']} ({m['generator']}): translating ≤ {len(images)} inputs × {num_solutions}")
        tr = _load_translator(m["path"], device)
        spec = find_method(m["method"])
        iterative = spec is not None and spec.iterative  # NAM: its own (smaller) test budget and oversampling
        if spec is None or not spec.feed_forward:  # the GAN baselines have one deterministic solution: nothing to rank
            if rank != "default":
                tr.rank = rank
            over = nam_oversample if iterative else oversample
            if over is not None:
                tr.oversample = over
        total = budget_s
        if iterative:
            total = nam_budget_s
            if nam_n_test is not None:
                images = images[:nam_n_test]
                labels = None if labels is None else labels[:nam_n_test]
        budget, lat_budget = (None, None) if total is None else (0.6 * total, 0.25 * total)
        res = evaluate_translator(tr, images, labels if clf is not None else None, clf, num_solutions=num_solutions,
                                  batch=batch, seed=seed, latency_images=latency_images,
                                  latency_repeats=latency_repeats, edge_n=edge_n, time_budget_s=budget,
                                  latency_budget_s=lat_budget, edge_extractor=edge_method,
                                  reference_images=ref_photos.get(task.target))
        row = {"task": m["task"], "method": m["method"], "generator": m["generator"], "checkpoint": m["path"],
               "train_seconds": _train_seconds(m["path"]), **res}
        rows.append(row)
        if "mean" in res:
            acc = (f"K={res['k']} first {100 * res['first']:.1f}% mean {100 * res['mean']:.1f}% "
                   f"(ranked by {res.get('rank_by')}; lowest-loss {100 * res['best_of_k']:.1f}%, "
                   f"any {100 * res['any_of_k']:.1f}%)")
        else:
            acc = f"edge F1 {res.get('edge_f1')}, photo FID {res.get('photo_fid')}"
        log(f"  n={res['n']}: {acc}; {res['ms_per_analogy_batched']:.1f} ms/analogy batched, "
            f"{res['ms_per_analogy_batch1']:.1f} ms batch-1 [{time.time() - t0:.0f}s]")
        if task.source.endswith("_edges") and m["task"] not in edge_ref:
            k = len(images) if edge_n is None else min(edge_n, len(images))
            photos, _ = eval_subset(task.target, n_test, seed)  # same split, same indices: the paired photos
            edge_ref[m["task"]] = edge_agreement(images[:k], photos[:k], edge_method)
    return rows, edge_ref


def _speed_pair(method: Any) -> bool:
    """Whether ``method`` takes part in the speed ratio: the per-input optimiser or its one-pass reference."""
    spec = find_method(method)
    return spec is not None and (spec.iterative or spec.name == speed_baseline())


def speed_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NAM vs VAE-NAM (the registry's iterative method vs its ``speed_baseline``) per task × generator, from rows
    measured in the same run (batch-1 and batched)."""
    out = []
    by = {(r["task"], r["generator"], r["method"]): r for r in rows}
    reference = speed_baseline()
    for (task, gen, meth), r in by.items():
        v = by.get((task, gen, reference))
        spec = find_method(meth)
        if spec is None or not spec.iterative or v is None:
            continue
        for mode, key in (("batch-1", "ms_per_analogy_batch1"), ("batched", "ms_per_analogy_batched")):
            if r.get(key) and v.get(key):
                out.append({"task": task, "generator": gen, "mode": mode, "nam_ms": r[key], "vae_nam_ms": v[key],
                            "ratio": r[key] / v[key]})
    return out


def evaluate_generators(gens: list[dict[str, str]], classifier_dir: str | Path, n: int, device: torch.device,
                        seed: int = 0, num_runs: int = 10, glo_baseline: bool = True,
                        real_reference: bool = True) -> list[dict[str, Any]]:
    """FID / PRD of each generator (and the GLO + Gaussian baseline of GLANN ones) against the domain's test split,
    in the domain classifier's feature space (else Inception when its weights are cached, else 8×8 pixels)."""
    from ..methods.dcgan import pixel_features
    from ..methods.generators import load_generator

    rows = []
    for g in sorted(gens, key=lambda g: (g["domain"], g["method"])):
        domain = g["domain"]
        real, _ = eval_subset(domain, n, seed)
        clf = find_classifier(domain, classifier_dir, device) if DOMAINS[domain].labelled else None
        features, space = None, f"clf_{domain}"
        if clf is None:
            if inception_weights_path().exists():
                features, space = (lambda x: inception_features(x, device=device)), "inception"
            else:
                features, space = pixel_features, "pixels8x8"
        t0 = time.time()
        gen, _ = load_generator(g["path"], device=device)
        res = generator_metrics(gen, real, clf, n=n, seed=seed, features=features, num_runs=num_runs)
        rows.append({"domain": domain, "method": g["method"], "features": space, "checkpoint": g["path"],
                     "train_seconds": g.get("train_seconds"), **res})
        log(f"generator {domain} {g['method']}: FID {res['fid']:.2f} F8 {res['f8']:.3f} F1/8 {res['f1_8']:.3f} "
            f"[{time.time() - t0:.0f}s]")
        if glo_baseline and getattr(gen, "codes", None) is not None and hasattr(gen, "G"):
            imgs = glo_gaussian_baseline(gen, n=n, seed=seed).cpu()
            res = generator_metrics(imgs, real, clf, n=n, seed=seed, features=features, num_runs=num_runs)
            rows.append({"domain": domain, "method": "glo-gaussian", "features": space, "checkpoint": g["path"],
                         **res})
            log(f"generator {domain} glo-gaussian: FID {res['fid']:.2f}")
        if real_reference and not any(r["domain"] == domain and r["method"] == "real (train split)" for r in rows):
            train, _ = eval_subset(domain, n, seed, "train")
            res = generator_metrics(train, real, clf, n=n, seed=seed, features=features, num_runs=num_runs)
            rows.append({"domain": domain, "method": "real (train split)", "features": space, **res})
    return rows


def select_models(checkpoints: str | Path, tasks: list[str] | None = None, methods: list[str] | None = None,
                  generators: list[str] | None = None) -> list[dict[str, str]]:
    """Mapping checkpoints in ``checkpoints`` matching the filters (None: all)."""
    return [m for m in _available_models(checkpoints)
            if (not tasks or m["task"] in tasks) and (not methods or m["method"] in methods)
            and (not generators or m["generator"] in generators)]


def select_generators(checkpoints: str | Path, tasks: list[str] | None = None,
                      generators: list[str] | None = None) -> list[dict[str, str]]:
    """Generator checkpoints in ``checkpoints``: those of the tasks' output domains (all without ``tasks``)."""
    wanted = {get_task(t).target for t in tasks} if tasks else None
    return [g for g in find_generators(checkpoints)
            if (wanted is None or g["domain"] in wanted) and (not generators or g["method"] in generators)]


def assemble_results(rows: list[dict[str, Any]], gen_rows: list[dict[str, Any]], edge_ref: dict[str, float],
                     settings: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The results dict of :func:`nam_core.eval.report.write_results` (rows sorted by task, generator, method)."""
    rows = sorted(rows, key=lambda r: (r["task"], r["generator"], METHOD_ORDER.get(r["method"], 9)))
    return {"machine": machine_info(device), "settings": settings, "translations": rows, "generators": gen_rows,
            "edge_reference": edge_ref, "speed": speed_ratios(rows)}


def run_evaluation(tasks: list[str] | None = None, methods: list[str] | None = None,
                   generators: list[str] | None = None, checkpoints: str | Path = CHECKPOINTS_DIR,
                   classifier_dir: str | Path | None = None, n_test: int | None = 1000, num_solutions: int = 8,
                   batch: int = 100, n_gen: int = 2000, device: str | None = None, seed: int = 0,
                   eval_generators: bool = True, latency_images: int = 3, latency_repeats: int = 3,
                   edge_n: int | None = 100, prd_runs: int = 10, nam_n_test: int | None = 100,
                   nam_budget_s: float | None = None, edge_method: str = "canny", rank: str | None = "default",
                   oversample: int | None = None, nam_oversample: int | None = None) -> dict[str, Any]:
    """Build the results dict of :func:`nam_core.eval.report.write_results` from the checkpoints in ``checkpoints``."""
    dev = get_device(device)
    classifier_dir = checkpoints if classifier_dir is None else classifier_dir
    t0 = time.time()
    rows, edge_ref = evaluate_mappings(select_models(checkpoints, tasks, methods, generators), classifier_dir, n_test,
                                       num_solutions, batch, dev, seed, latency_images, latency_repeats, edge_n,
                                       nam_n_test, nam_budget_s, edge_method=edge_method, rank=rank,
                                       oversample=oversample, nam_oversample=nam_oversample)
    gen_rows: list[dict[str, Any]] = []
    if eval_generators:
        gen_rows = evaluate_generators(select_generators(checkpoints, tasks, generators), classifier_dir, n_gen, dev,
                                       seed, prd_runs)
    settings = {"n_test": n_test, "nam_n_test": nam_n_test, "num_solutions": num_solutions, "batch": batch,
                "n_gen": n_gen, "prd_runs": prd_runs, "seed": seed, "edge_n": edge_n, "edge_method": edge_method,
                "rank": rank, "oversample": oversample, "nam_oversample": nam_oversample,
                "checkpoints": str(checkpoints), "seconds": round(time.time() - t0, 1)}
    return assemble_results(rows, gen_rows, edge_ref, settings, dev)


def merge_previous(results: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """``results`` plus the rows of ``previous`` (an earlier results dict) for models and generators this run did
    not evaluate; ``settings["kept_from_previous"]`` lists the kept translation rows."""
    key = lambda r: (r.get("task"), r.get("method"), r.get("generator"))  # noqa: E731
    done = {key(r) for r in results["translations"]}
    kept = [r for r in previous.get("translations", []) if key(r) not in done]
    gkey = lambda r: (r.get("domain"), r.get("method"))  # noqa: E731
    gdone = {gkey(r) for r in results["generators"]}
    gens = results["generators"] + [r for r in previous.get("generators", []) if gkey(r) not in gdone]
    out = assemble_results(results["translations"] + kept, gens,
                           {**previous.get("edge_reference", {}), **results["edge_reference"]}, results["settings"],
                           results["machine"]["device"])
    out["machine"] = results["machine"]
    out["settings"]["kept_from_previous"] = ["/".join(str(v) for v in key(r)) for r in kept]
    # speed ratios only between rows of one run: this run's, and the previous ones of pairs it measured neither of
    redone = {(r["task"], r["generator"]) for r in results["translations"] if _speed_pair(r["method"])}
    out["speed"] = speed_ratios(results["translations"]) + [
        sp for sp in previous.get("speed", []) if (sp.get("task"), sp.get("generator")) not in redone]
    return out


def setup_machine(device: str | None = None, threads: int | None = None) -> torch.device:
    """Set torch's CPU threads (when given), print the machine line every figure is measured on, return the
    device (the common start of the evaluation and the benchmark scripts)."""
    if threads:
        torch.set_num_threads(threads)
    dev = get_device(device)
    m = machine_info(dev)
    print(f"machine: {m['platform']} | {m['cpu_count']} CPUs | python {m['python']} | torch {m['torch']} "
          f"| {m['torch_threads']} threads | device {m['device']}")
    return dev


def build_parser(prog: str | None = None, description: str = CLI_HELP) -> argparse.ArgumentParser:
    """The evaluation's flags (one definition for ``training/evaluate.py`` and ``nam-studio evaluate``)."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), help="default: every task with shipped checkpoints")
    p.add_argument("--methods", nargs="+", choices=list(METHOD_ORDER), help="default: all, GAN baselines included")
    p.add_argument("--generators", nargs="+", choices=method_names("generator"))
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR), help="folder of the shipped checkpoints")
    p.add_argument("--classifier-dir", help="folder holding clf_<domain> (default: --checkpoints)")
    p.add_argument("--n-test", type=int, default=1000, help="test inputs per task (deterministic subset)")
    p.add_argument("--nam-n-test", type=int, default=100,
                   help="NAM only: first inputs of the same subset (NAM optimises per input: seconds each on CPU)")
    p.add_argument("--nam-budget-s", type=float, help="NAM only: about this many seconds per model (fewer inputs)")
    p.add_argument("--num-solutions", type=int, default=8)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--n-gen", type=int, default=2000, help="samples per generator for FID/PRD")
    p.add_argument("--prd-runs", type=int, default=10)
    p.add_argument("--edge-n", type=int, default=100, help="inputs scored for edge agreement (edges→photo tasks)")
    p.add_argument("--edge-method", default="canny", choices=["canny", "hed", "sobel", "auto"],
                   help="edge extractor for the analogies (HED is ~10× slower than Canny on CPU)")
    p.add_argument("--latency-images", type=int, default=3)
    p.add_argument("--latency-repeats", type=int, default=3)
    p.add_argument("--no-generators", action="store_true", help="skip generator FID/PRD")
    p.add_argument("--rank", choices=["loss", "roundtrip", "roundtrip+loss", "none"],
                   help="how the K solutions are ordered (default: the Translator's default); none = as drawn")
    p.add_argument("--oversample", type=int,
                   help="candidates drawn before the best K are kept, VAE/AE-NAM and NAM one-pass (default: the "
                        "Translator's)")
    p.add_argument("--nam-oversample", type=int, help="the same for NAM (restarts; each costs an optimisation)")
    p.add_argument("--merge", action="store_true",
                   help="keep the previous results.json rows of the models this run does not evaluate")
    p.add_argument("--docs", help="also rewrite the generated evaluation section of this document "
                                  "(e.g. docs/RESULTS.md)")
    p.add_argument("--out", default=str(CHECKPOINTS_DIR))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    return p


def main(argv: list[str] | None = None, command: str = "python training/evaluate.py", prog: str | None = None,
         description: str = CLI_HELP) -> int:
    """Evaluate, write ``results.{json,md,png}`` into ``--out`` and print the tables; ``command`` (the program,
    followed by ``argv``) is recorded in the results as how to rerun them. 0 done, 1 nothing to evaluate."""
    args = list(sys.argv[1:] if argv is None else argv)
    a = build_parser(prog, description).parse_args(args)
    setup_machine(a.device, a.threads)
    results = run_evaluation(a.tasks, a.methods, a.generators, a.checkpoints, a.classifier_dir, n_test=a.n_test,
                             num_solutions=a.num_solutions, batch=a.batch, n_gen=a.n_gen, device=a.device,
                             seed=a.seed, eval_generators=not a.no_generators, latency_images=a.latency_images,
                             latency_repeats=a.latency_repeats, edge_n=a.edge_n, prd_runs=a.prd_runs,
                             nam_n_test=a.nam_n_test, nam_budget_s=a.nam_budget_s, edge_method=a.edge_method,
                             rank=None if a.rank == "none" else (a.rank or "default"), oversample=a.oversample,
                             nam_oversample=a.nam_oversample)
    if not results["translations"] and not results["generators"]:
        log(f"nothing to evaluate: no mapping or generator checkpoints found in {a.checkpoints}")
        return 1
    command = (command + " " + " ".join(shlex.quote(v) for v in args)).strip()
    results["settings"]["command"] = command
    previous = Path(a.out) / "results.json"
    if a.merge and previous.exists():
        results = merge_previous(results, json.loads(previous.read_text()))
    paths = write_results(results, a.out)
    if a.docs:
        log(f"wrote {write_results_doc(json.loads(paths['json'].read_text()), a.docs, command)}")
    print(markdown_report(json.loads(paths["json"].read_text())))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


