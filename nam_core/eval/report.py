"""Write evaluation results: ``results.json``, a Markdown table ``results.md`` and a figure ``results.png``.

The results dict (what :mod:`nam_core.eval.harness` and ``benchmarks/run_all.py`` build)::

    {"machine": machine_info(),                       # platform, CPUs, torch version/threads, device
     "settings": {"n_test": 1000, "num_solutions": 8, ...},
     "translations": [{"task", "method", "generator", "mean", "best_of_k", "any_of_k", "per_class", "n", "k",
                       "ms_per_analogy_batched", "ms_per_analogy_batch1", "edge_f1"?, "train_seconds"?}, ...],
     "generators": [{"domain", "method", "features", "fid", "f8", "f1_8", "n", "train_seconds"?}, ...],
     "edge_reference": {"edges2shoes": 0.9, ...},     # optional: F1 of each sketch against its own real photo
     "speed": [{"task", "generator", "nam_ms", "vae_nam_ms", "ratio"}, ...]}   # optional

Accuracies are fractions in the JSON and percentages in the table and figure.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..methods.registry import find_method, methods
from ..utils import atomic_path

# Top-1 accuracy (%) of translated digits reported in the papers (VAE-NAM, Hoshen 2018; GLANN, Hoshen et al. 2019),
# as each method registers them (Method.published); "nam+glann" is NAM on a GLANN generator
PUBLISHED: dict[str, dict[str, float]] = {}
for _m in methods(None):
    for _key, _value in _m.published.items():
        _task, _, _gen = _key.partition("+")
        PUBLISHED.setdefault(_task, {})[f"{_m.name}+{_gen}" if _gen else _m.name] = _value
# Tasks on the synthetic street-number digits stand in for SVHN; their published column shows the SVHN figure.
PUBLISHED_PROXY = {"mnist2street": "mnist2svhn", "street2mnist": "svhn2mnist"}
METHOD_NAMES = {**{m.name: m.label for m in methods(None)}, "": "–", "glo-gaussian": "GLO + Gaussian"}
# the paper figures drawn as reference lines in the figure, and their line styles
PAPER_LINES = {"nam": ":", "vae-nam": "--"}


def machine_info(device: str | torch.device | None = None) -> dict[str, Any]:
    """Platform, CPU count, Python/torch versions, torch threads and the device used."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "device": str(device) if device is not None else "cpu"}


def published_accuracy(task: str, method: str, generator: str = "glann") -> tuple[float | None, bool]:
    """The paper's accuracy (%) for a row and whether it is a proxy (street digits standing in for SVHN)."""
    key = PUBLISHED_PROXY.get(task, task)
    m = find_method(method)
    value = m.published_accuracy(key, generator) if m is not None else None
    return value, key != task and value is not None


# -------------------------------------------------------------------------------------------- formatting
def _pct(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f}"


def _num(x: Any, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.{digits}f}"


def _ms(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    x = float(x)
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def format_duration(seconds: Any) -> str:
    """Seconds as "42 s", "12.5 min" or "3.1 h" ("–" when unknown)."""
    if seconds is None:
        return "–"
    s = float(seconds)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def rank_label(row: dict[str, Any]) -> str:
    """How a row's solutions were ordered: "loss ×32" (ranking, candidates drawn), "deterministic", "–"."""
    if row.get("deterministic"):
        return "deterministic"
    by = row.get("rank_by")
    if not by:
        return "–"
    m = row.get("oversample")
    return f"{by} ×{m}" if m and m > (row.get("k") or 0) else str(by)


def translation_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of translation rows (accuracy of the first solution and over K, published figure, edge F1,
    photo FID, speed, train time)."""
    head = ("| task | method | generator | n | K | ranking | acc. first % | acc. mean % | acc. lowest-loss % "
            "| acc. any-of-K % | published % | same digit % | diversity | edge F1 | photo FID | ms/analogy batched "
            "| ms/analogy batch-1 | train time |")
    lines = [head, "|" + "---|" * 18]
    for r in rows:
        pub, proxy = published_accuracy(r["task"], r["method"], r.get("generator", ""))
        pub_s = "–" if pub is None else f"{pub:.1f}" + ("†" if proxy else "")
        lines.append(
            f"| {r['task']} | {_name(r['method'])} | {_name(r.get('generator', ''))} | {r.get('n', '–')} "
            f"| {r.get('k', '–')} | {rank_label(r)} | {_pct(r.get('first'))} | {_pct(r.get('mean'))} "
            f"| {_pct(r.get('best_of_k'))} | {_pct(r.get('any_of_k'))} | {pub_s} | {_pct(r.get('same_class'))} "
            f"| {_num(r.get('diversity'), 3)} | {_num(r.get('edge_f1'))} "
            f"| {_num(r.get('photo_fid'), 1)} "
            f"| {_ms(r.get('ms_per_analogy_batched'))} | {_ms(r.get('ms_per_analogy_batch1'))} "
            f"| {format_duration(r.get('train_seconds'))} |")
    return "\n".join(lines)


def generator_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of generator rows (FID, PRD F_8 / F_1/8, class coverage, train time)."""
    lines = ["| domain | generator | features | FID | F8 (recall) | F1/8 (precision) | rarest class % | confident % "
             "| n | train time |",
             "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['domain']} | {_name(r['method'])} | {r.get('features', '')} | {_num(r.get('fid'))} "
                     f"| {_num(r.get('f8'), 3)} | {_num(r.get('f1_8'), 3)} | {_pct(r.get('min_class_share'))} "
                     f"| {_pct(r.get('confident'))} | {r.get('n', '–')} "
                     f"| {format_duration(r.get('train_seconds'))} |")
    return "\n".join(lines)


def markdown_report(results: dict[str, Any]) -> str:
    """The whole ``results.md`` text."""
    m, s = results.get("machine", {}), results.get("settings", {})
    out = ["# NAM Studio evaluation", ""]
    if m:
        out.append(f"Machine: {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs, torch {m.get('torch', '?')} "
                   f"({m.get('torch_threads', '?')} threads), device {m.get('device', '?')}.")
    if s:
        out.append("Settings: " + ", ".join(f"{k} = {v}" for k, v in s.items()) + ".")
    out += ["", "## Translations", ""]
    rows = results.get("translations", [])
    out.append(translation_table(rows) if rows else "No mapping checkpoints were evaluated.")
    out += ["", "Accuracy: top-1 of the target domain's classifier on the K analogies of each test input, "
            "against the input's label (n test inputs; NAM, which optimises codes per input, may use fewer) — "
            "first: the top-ranked solution (the one the app shows first); mean over the K solutions shown; "
            "the solution with the lowest reconstruction loss ‖T(G(z)) − x‖ (an unsupervised choice); any of the K "
            "(an oracle upper bound). K: solutions per input (1 for a deterministic model, which the evaluation "
            "scores once instead of as K copies). Ranking: how the K were ordered — loss = ‖T(G(z)) − x‖, "
            "roundtrip = the opposite task's one-pass model maps G(z) back and that is compared with x, "
            "roundtrip+loss = the sum of both rank positions; ×M: the best K of M candidates drawn. "
            "Same digit: share of an input's K "
            "analogies read as their most common class (100 = all K keep one digit). Diversity: mean L1 distance "
            "between two of an input's K analogies, pixels in [0, 1] (0 = identical solutions). "
            "ms/analogy: wall time per input image for all K solutions, in batches and for one image alone "
            "(median). Edge F1: input sketch vs. the edges of each analogy (1-px tolerance). Photo FID: the "
            "analogies of the edge-F1 inputs (all K) against the real test photos, in 8×8 pooled pixels (lower is "
            "better; compare with the generator table's real-vs-real row)."]
    if any(PUBLISHED_PROXY.get(r["task"]) for r in rows):
        out.append("† paper figure on real SVHN; this row uses the synthetic street-number digits standing in "
                   "for SVHN, so the numbers are indicative only.")
    pubs = [f"{task}: " + ", ".join(sorted(f"{_name(k)} {v:.1f}" for k, v in t.items()
                                           if getattr(find_method(k), "feed_forward", False)))
            for task, t in PUBLISHED.items()]
    out.append("Published adversarial baselines (%): " + "; ".join(pubs) + ".")
    ref = results.get("edge_reference") or {}
    if ref:
        out.append("Edge F1 of each sketch against its own real photo (ceiling): "
                   + ", ".join(f"{k} {_num(v)}" for k, v in ref.items()) + ".")
    speed = results.get("speed") or []
    if speed:
        out += ["", "## Speed: NAM vs VAE-NAM (same run)", ""]
        for sp in speed:
            out.append(f"- {sp['task']} ({_name(sp.get('generator', ''))}): NAM {_ms(sp.get('nam_ms'))} ms, "
                       f"VAE-NAM {_ms(sp.get('vae_nam_ms'))} ms per analogy ({sp.get('mode', 'batch-1')}) → "
                       f"VAE-NAM is {_num(sp.get('ratio'), 0)}× faster")
    gens = results.get("generators", [])
    if gens:
        out += ["", "## Generators", "", generator_table(gens), "",
                "FID and PRD (Sajjadi et al. 2018; F8 ≈ recall, F1/8 ≈ precision) between generated samples and "
                "the domain's test images in the named feature space (clf_<domain>: the project's digit "
                "classifier's 256-d embedding; not comparable with Inception FIDs). GLO + Gaussian: the GLO "
                "generator on a Gaussian fitted to its codes, the GLANN paper's baseline. Rarest class: the "
                "smallest share of samples the digit classifier assigns to one class (10 % = perfectly balanced; "
                "0 = a missing digit). Confident: share of samples it reads with probability > 0.9."]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------- figure
def _figure(results: dict[str, Any], path: Path) -> None:
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global backend state, safe inside the app

    rows = results.get("translations", [])
    fig = Figure(figsize=(13, max(3.5, 0.32 * len(rows) + 1.5)))
    ax_acc, ax_lat = fig.subplots(1, 2)
    labelled = [r for r in rows if r.get("mean") is not None]
    if labelled:
        tasks = list(dict.fromkeys(r["task"] for r in labelled))
        combos = list(dict.fromkeys((r["method"], r.get("generator", "")) for r in labelled))
        width = 0.8 / max(1, len(combos))
        cmap = matplotlib.colormaps["tab10"]
        for j, (meth, gen) in enumerate(combos):
            xs, ys, anys, firsts = [], [], [], []
            for i, t in enumerate(tasks):
                r = next((r for r in labelled if r["task"] == t and (r["method"], r.get("generator", "")) ==
                          (meth, gen)), None)
                if r is not None:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(100 * r["mean"])
                    anys.append(100 * r["any_of_k"] if r.get("any_of_k") is not None else np.nan)
                    firsts.append(100 * r["first"] if r.get("first") is not None else np.nan)
            ax_acc.bar(xs, ys, width, color=cmap(j % 10), label=f"{_name(meth)} / {_name(gen)}")
            ax_acc.scatter(xs, anys, marker="_", color="k", s=80, zorder=3)
            ax_acc.scatter(xs, firsts, marker="o", facecolors="none", edgecolors="k", s=18, zorder=3)
        for i, t in enumerate(tasks):
            for meth, style in PAPER_LINES.items():
                pub, _ = published_accuracy(t, meth, "dcgan")
                if pub is not None:
                    ax_acc.hlines(pub, i - 0.45, i + 0.45, colors="grey", linestyles=style, linewidth=1)
        ax_acc.set_xticks(range(len(tasks)), tasks, rotation=20)
        ax_acc.set_ylabel("translated-digit accuracy (%)")
        ax_acc.set_ylim(0, 100)
        ax_acc.axhline(10, color="r", linewidth=0.8, alpha=0.5)
        ax_acc.set_title("accuracy: bars = mean of K, circles = first (top-ranked), ticks = any-of-K\n"
                         "(grey: paper NAM ·· / VAE-NAM --; red: chance)", fontsize=9)
        ax_acc.legend(fontsize=7)
    else:
        ax_acc.text(0.5, 0.5, "no labelled tasks evaluated", ha="center", va="center")
        ax_acc.set_axis_off()
    timed = [r for r in rows if r.get("ms_per_analogy_batched") is not None]
    if timed:
        names = [f"{r['task']} {_name(r['method'])}/{_name(r.get('generator', ''))}" for r in timed]
        y = np.arange(len(timed))
        b1 = [r.get("ms_per_analogy_batch1") or np.nan for r in timed]
        ax_lat.barh(y - 0.2, [r["ms_per_analogy_batched"] for r in timed], 0.4, label="batched")
        ax_lat.barh(y + 0.2, b1, 0.4, label="batch 1")
        ax_lat.set_yticks(y, names, fontsize=7)
        ax_lat.invert_yaxis()
        ax_lat.set_xscale("log")
        ax_lat.set_xlabel("ms per analogy (K solutions), log scale")
        ax_lat.legend(fontsize=7)
        ax_lat.set_title("translation speed", fontsize=9)
    else:
        ax_lat.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


# -------------------------------------------------------------------------------------------------- write
def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def write_results(results: dict[str, Any], out_dir: str | Path, figure: bool = True) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and (``figure``) ``results.png`` into ``out_dir``, each atomically.

    Returns the paths by kind ("json", "md", "png")."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md"}
    clean = _jsonable(results)
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(clean, indent=2) + "\n")
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(markdown_report(clean))
    if figure:
        paths["png"] = out / "results.png"
        _figure(clean, paths["png"])
    return paths


DOC_SECTION = "## Evaluation (generated by training/evaluate.py)"


def doc_section(results: dict[str, Any], command: str) -> str:
    """The generated section of ``docs/RESULTS.md``: :func:`markdown_report` one heading level down, under a line
    saying which command produced it."""
    body = markdown_report(results).split("\n", 1)[1].lstrip("\n")  # without the "# NAM Studio evaluation" title
    body = "\n".join("#" + line if line.startswith("## ") else line for line in body.splitlines())
    return (f"{DOC_SECTION}\n\nGenerated by `{command}` (which also writes `results.json` / `results.md` / "
            "`results.png` beside the checkpoints); this section is rewritten by each such run, the rest of the file "
            f"is written by hand.\n\n{body.rstrip()}\n")


def write_results_doc(results: dict[str, Any], path: str | Path, command: str) -> Path:
    """Replace the generated evaluation section of a results document (from its ``DOC_SECTION`` heading to the next
    ``## `` heading) with :func:`doc_section`; appended when the file has none, created when it does not exist."""
    path = Path(path)
    new = doc_section(results, command)
    old = path.read_text() if path.exists() else "# NAM Studio — results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == DOC_SECTION), None)
    if start is None:
        text = old.rstrip("\n") + "\n\n" + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        text = "".join(lines[:start]) + new + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


__all__ = ["DOC_SECTION", "PUBLISHED", "PUBLISHED_PROXY", "doc_section", "format_duration", "generator_table",
           "machine_info", "markdown_report", "published_accuracy", "rank_label", "translation_table",
           "write_results", "write_results_doc"]
