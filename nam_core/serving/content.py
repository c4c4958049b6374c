"""What the app shows besides results: the Learn tab (tour pictures, loss curves, results tables) and the
examples gallery. Regenerate the example PNGs with ``python -m nam_core.serving.content --make-examples``."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..methods.mappings import SERVED_METHODS, TASKS
from ..methods.registry import default_method, find_method, methods
from ..methods.registry import label as label_of
from .images import upload_to_input
from .inputs import (
    BASELINE_CHOICES,
    GENERATOR_KINDS,
    GENERATOR_LABEL,
    TASK_ORDER,
    AppError,
    checkpoints_dir,
    domain_label,
    task_label,
)
from .models import (
    ALL_METHOD_LABEL,
    RESULT_METHODS,
    TOUR_TASK,
    ModelRegistry,
    _score,
    _translation_rows,
    best_result,
    checkpoint_folder,
)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


# ------------------------------------------------------------------------------------------------ learn tab (tour)


LEARN_CACHE = Path(tempfile.gettempdir()) / "nam_studio_learn"
LEARN_VERSION = "tour-1"  # part of the cache key: bump when the pictures' drawing changes
SHORT_TASK = {"edges2shoes": "edges → shoes", "edges2handbags": "edges → handbags", "street2mnist": "street → MNIST",
              "mnist2street": "MNIST → street", "svhn2mnist": "SVHN → MNIST", "mnist2svhn": "MNIST → SVHN"}

TOUR_INTRO = """
### A short tour: three ideas

Every method here maps an image **x** of domain A (say, an MNIST digit) to images of domain B (street-number
digits) **without paired examples and without an adversary**. A generator **G** of domain B is trained first, on B
alone, then frozen. A small network **T** learns to map B images back to A, so that **T(G(z)) ≈ x**: an analogy of
x is **G(z)** for a code **z** that explains x. The three ideas differ in how they find z, and in how G is trained.
"""


@dataclass(frozen=True)
class TourIdea:
    """One idea of the tour: ``key`` names its picture (cache file, ``tour_<key>`` / ``try_<key>`` element ids);
    ``method`` is the mapping it shows (its picture and "try it" use that method's tour model), ``generator`` the
    generator it shows instead (its picture is that generator alone; "try it" maps with the default method on it,
    and ``sample_tab`` adds a button to the tab that samples it). ``draw(registry, combo, inputs, picked)`` returns
    the figure: ``inputs`` are the shipped examples of the combination's task (only when ``uses_examples``), and
    ``picked`` maps a task to the example an earlier picture chose, so that pictures of one task show one input."""

    key: str
    title: str
    text: str
    draw: Callable[..., Any]
    method: str | None = None
    generator: str | None = None
    uses_examples: bool = True
    sample_tab: bool = False


def _draw_optimisation(registry: ModelRegistry, combo: tuple[str, str, str], xs: list[np.ndarray],
                       picked: dict[str, int]) -> Any:
    fig, picked[combo[0]] = _nam_picture(registry, combo, xs)
    return fig


def _draw_one_pass(registry: ModelRegistry, combo: tuple[str, str, str], xs: list[np.ndarray],
                   picked: dict[str, int]) -> Any:
    return _vae_picture(registry, combo, xs[min(picked.get(combo[0], 0), len(xs) - 1)])


def _draw_generator(registry: ModelRegistry, combo: tuple[str, str, str], xs: list[np.ndarray],
                    picked: dict[str, int]) -> Any:
    return _glann_picture(registry, TASKS[combo[0]].target, combo[2])


TOUR_IDEAS: list[TourIdea] = [
    TourIdea("nam", "1 · NAM: optimise a code for each input",
     "NAM (Hoshen & Wolf, 2018) starts from K codes and moves each by gradient descent on the loss between "
     "T(G(z)) and x. The picture follows one solution: the top row is T(G(z)), what is compared with the input; "
     "the bottom row is G(z), the analogy. The loss falls step by step: slow (one optimisation per input), but "
     "each of the K restarts can land on a different analogy.", _draw_optimisation, method="nam"),
    TourIdea("vae-nam", "2 · VAE-NAM: one forward pass",
     "VAE-NAM trains an encoder E with T, so that E(x) gives a Gaussian q(z|x) = N(μ, σ²) at once. The K "
     "solutions are samples z = μ + σ·ε (the first is μ) rendered in one batched pass: milliseconds instead of "
     "seconds, and the spread of the samples shows how ambiguous the mapping is. The bottom row checks each "
     "sample: T(G(z)) should look like the input.", _draw_one_pass, method="vae-nam"),
    TourIdea("glann", "3 · GLANN: a generator in two stages, no discriminator",
     "GLANN (Hoshen, Li & Malik, 2019) trains G in two stages. Stage 1 (GLO) learns one code z_i per training "
     "image together with G, so that G(z_i) redraws image i (top row). Codes drawn from a Gaussian fitted to "
     "the z_i fall between them, where G was never trained (middle row). Stage 2 (IMLE) learns a map T from "
     "noise e ~ N(0, I) onto the codes, so that G(T(e)) samples new images (bottom row).", _draw_generator,
     generator="glann", uses_examples=False, sample_tab=True),
]
LOSS_GROUPS: list[tuple[str, str, str]] = [
    ("generator", "Generators (trained first, on the target domain alone)",
     "GLANN stage 1 (GLO): the reconstruction loss between G(z_i) and training image i, with one learned code per "
     "image. Stage 2 (IMLE): the distance from each code to its nearest mapped noise T(e). A DCGAN has no such "
     "measure: its generator and discriminator losses pull against each other and do not fall together."),
    ("mapping", "Mappings onto a frozen generator",
     "Reconstruction is the loss between T(G(z)) and the training input x, the quantity each method lowers: NAM "
     "by optimising one code per training input (with T), AE-NAM and VAE-NAM through an encoder E(x). VAE-NAM "
     "adds the KL divergence of q(z|x) from the prior; AE-NAM logs its codes' norm. NAM one-pass learns to give "
     "NAM's codes in one pass (code error, and the image error of G of its codes)."),
    ("baseline", "GAN baselines (CycleGAN, DistanceGAN, DTN)",
     "The adversarial baselines' generator loss and their own constraint (cycle consistency, distance "
     "preservation, DTN's f-constancy). A falling generator loss only says that the discriminator is fooled "
     "more often, not that a translation keeps the input's content: compare the accuracies in the table."),
]
# per method: the history keys each loss-curve panel shows (absent keys are skipped)
LOSS_KEYS = {m.name: m.loss_keys for m in methods(None)}
KEY_LABEL = {"recon": "reconstruction", "kl": "KL(q(z|x) ‖ prior)", "code_norm": "code norm", "loss_g": "G loss",
             "loss_d": "D loss", "code_mse": "code error", "image": "image error", "cycle": "cycle loss",
             "dist_ab": "distance loss", "const": "f-constancy", "imle": "IMLE code distance"}


def _fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else (f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms")


def compact_results_markdown(root: str | Path | None = None) -> str:
    """One small table for the tour: a row per method, a column per task, each cell the best generator's headline
    figure and its time per input; falls back to :func:`results_markdown` without ``results.json`` rows."""
    rows = _translation_rows(root)
    tasks = [t for t in TASK_ORDER if any(r.get("task") == t and _score(r) for r in rows)]
    if not tasks:
        return results_markdown(root)
    methods = [m for m in RESULT_METHODS if any(r.get("method") == m and r.get("task") in tasks for r in rows)]
    lines = ["| method | " + " | ".join(SHORT_TASK.get(t, t) for t in tasks) + " |", "|---|" + "---|" * len(tasks)]
    for m in methods:
        cells = []
        for t in tasks:
            r = best_result(root, t, m)
            if r is None:
                cells.append("–")
                continue
            kind, v = _score(r)  # type: ignore[misc]
            cell = f"**{v * 100:.0f} %**" if kind == "acc" else f"F1 **{v:.2f}**"
            ms = r.get("ms_per_analogy_batch1")
            if isinstance(ms, (int, float)):
                cell += f" · {_fmt_ms(float(ms))}"
            gen = r.get("generator")
            if gen in GENERATOR_LABEL and gen != GENERATOR_KINDS[0]:  # marked by its initial: "(D)" for DCGAN
                cell += f" ({GENERATOR_LABEL[gen][0]})"
            cells.append(cell)
        lines.append(f"| {ALL_METHOD_LABEL.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


RESULTS_NOTE = ("Digit tasks: the share of the analogies that the target domain's classifier reads as the input's "
                "digit (chance: 10 %). Edge tasks: F1 of the analogies' edges against the input's edges. Time: server "
                "time per input, one at a time, on the evaluation machine. Each cell shows the better of the two "
                "generators; (D) marks DCGAN, the others use GLANN.")


def full_results_markdown(root: str | Path | None = None) -> str:
    """The whole evaluation (``results.md``) for its own page, with ``<`` escaped so that names such as
    ``clf_<domain>`` are shown instead of being read as HTML tags."""
    return results_markdown(root).replace("<", "&lt;")


def _fingerprint(*parts: Any) -> str:
    import hashlib

    h = hashlib.sha256(LEARN_VERSION.encode())
    for p in parts:
        if isinstance(p, Path):
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(str(p).encode())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _save_figure(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
    fig.savefig(tmp, format="png", dpi=fig.dpi)
    tmp.replace(path)  # atomic: two app processes may draw the same picture
    return str(path)


def _show(ax: Any, img: np.ndarray, title: str = "") -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _tour_combo(registry: ModelRegistry, method: str) -> tuple[str, str, str] | None:
    """The tour's model for ``method``: the tour task first, with its best-measured generator first."""
    avail = set(registry.available())
    for t in (TOUR_TASK, *TASK_ORDER):
        best = best_result(registry.root, t, method)
        for g in dict.fromkeys(([best["generator"]] if best else []) + list(GENERATOR_KINDS)):
            if (t, method, g) in avail:
                return t, method, g
    return None


def _example_inputs(task: str) -> list[np.ndarray]:
    out = []
    for p, _ in example_paths(tasks=[task]):
        try:
            out.append(upload_to_input(str(p), task))
        except AppError:
            continue
    return out


def _nam_picture(registry: ModelRegistry, combo: tuple[str, str, str], xs: list[np.ndarray]) -> tuple[Any, int]:
    """The NAM picture on the example that NAM explains best (lowest final loss), and that example's index."""
    from matplotlib.figure import Figure

    tr = registry.get(*combo)
    total = max(1, int(tr.nam_steps))
    steps = sorted({0, max(1, total // 20), max(1, total // 5), total})
    runs = []
    with registry.lock(*combo):
        finals = [tr.translate_full(x[None], 4, 0) for x in xs]
        pick = int(np.argmin([f.losses[0].min() for f in finals]))
        x = xs[pick]
        saved = tr.nam_steps
        try:
            for s in steps[:-1]:  # the same seeded starts each time, so each run continues the previous one's path
                tr.nam_steps = s
                runs.append(tr.translate_full(x[None], 4, 0))
        finally:
            tr.nam_steps = saved
        runs.append(finals[pick])
    best = int(np.argmin(runs[-1].losses[0]))
    fig = Figure(figsize=(1.5 * (len(steps) + 1), 3.3), dpi=100)
    axes = fig.subplots(2, len(steps) + 1)
    _show(axes[0, 0], x, "input x")
    axes[1, 0].set_axis_off()
    for j, (s, run) in enumerate(zip(steps, runs), start=1):
        _show(axes[0, j], run.reconstructions[0, best], f"step {s}\nloss {float(run.losses[0, best]):.3f}")
        _show(axes[1, j], run.outputs[0, best])
    axes[0, 1].set_ylabel("T(G(z))", fontsize=8)
    axes[1, 1].set_ylabel("G(z)", fontsize=8)
    title = f"NAM on {task_label(combo[0])}: one of K = 4 solutions as z is optimised"
    if tr.recon_loss.startswith("ncc"):
        title += "\n(its loss, a normalised cross-correlation, ignores contrast: T(G(z)) may be dark on light)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig, pick


def _vae_picture(registry: ModelRegistry, combo: tuple[str, str, str], x: np.ndarray) -> Any:
    from matplotlib.figure import Figure

    tr = registry.get(*combo)
    k = 6
    with registry.lock(*combo):
        t0 = time.perf_counter()
        res = tr.translate_full(x[None], k, 1)
        ms = (time.perf_counter() - t0) * 1000
    fig = Figure(figsize=(1.5 * (k + 1), 3.3), dpi=100)
    axes = fig.subplots(2, k + 1)
    _show(axes[0, 0], x, "input x")
    axes[1, 0].set_axis_off()
    for j in range(k):
        _show(axes[0, j + 1], res.outputs[0, j], "z = μ" if j == 0 else f"sample {j}")
        _show(axes[1, j + 1], res.reconstructions[0, j], f"loss {float(res.losses[0, j]):.3f}")
    axes[0, 1].set_ylabel("G(z)", fontsize=8)
    axes[1, 1].set_ylabel("T(G(z))", fontsize=8)
    fig.suptitle(f"VAE-NAM on {task_label(combo[0])}: K = {k} solutions in one pass ({ms:.0f} ms here)", fontsize=9)
    fig.tight_layout()
    return fig


def _glann_picture(registry: ModelRegistry, domain: str, kind: str, n: int = 6) -> Any:
    """``kind``'s generator of ``domain`` in its two stages (GLANN: GLO codes, then IMLE's map from noise)."""
    import torch
    from matplotlib.figure import Figure

    from ..utils import to_uint8

    sampler, _ = registry.generator(domain, kind)
    codes = getattr(sampler, "codes", None)
    if not hasattr(sampler, "noise_dim") or codes is None or len(codes) < n:
        raise AppError(f"No {GENERATOR_LABEL.get(kind, kind)} generator with its GLO codes for {domain}.")
    dev = next(sampler.parameters()).device
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(codes), generator=g)[:n]
    c = codes.float().to(dev)
    gauss = c.mean(0) + torch.randn(n, c.shape[1], generator=g).to(dev) * c.std(0)
    with torch.no_grad():
        rows = [to_uint8(sampler.G(c[idx.to(dev)])), to_uint8(sampler.G(gauss)),
                to_uint8(sampler(torch.randn(n, sampler.noise_dim, generator=g).to(dev)))]
    names = ["stage 1 · GLO: G(z_i)", "Gaussian codes: G(z)", "stage 2 · IMLE: G(T(e))"]
    fig = Figure(figsize=(1.3 * n + 1.2, 4.4), dpi=100)
    axes = fig.subplots(3, n)
    for i, (row, name) in enumerate(zip(rows, names)):
        for j in range(n):
            _show(axes[i, j], row[j])
        axes[i, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"{GENERATOR_LABEL.get(kind, kind)} generator of {domain_label(domain)}", fontsize=9)
    fig.tight_layout()
    return fig


def _idea_combo(registry: ModelRegistry, idea: TourIdea) -> tuple[str, str, str] | None:
    if idea.method is not None:
        return _tour_combo(registry, idea.method)
    on_gen = [c for c in registry.available() if c[2] == idea.generator]
    return next((c for c in on_gen if c[0] == TOUR_TASK and c[1] == default_method()), on_gen[0] if on_gen else None)


def tour_combos(registry: ModelRegistry) -> dict[str, tuple[str, str, str] | None]:
    """The Translate-tab set-up behind each idea's "try it" button (None where no such model is available): an
    idea's method on its tour model, or a generator's model on the tour's task with the default method first."""
    return {idea.key: _idea_combo(registry, idea) for idea in TOUR_IDEAS}


def tour_figures(registry: ModelRegistry, cache: Path | None = None) -> dict[str, str | None]:
    """PNG paths of the tour's three pictures (keys of ``TOUR_IDEAS``), drawn from the registry's models on the
    shipped example of their task and cached on disk (keyed by the checkpoints' configs), so that later starts and
    every visit of the Learn tab only read files; None where a model is missing or drawing fails."""
    cache = cache or LEARN_CACHE
    combos = tour_combos(registry)
    out: dict[str, str | None] = {}
    picked: dict[str, int] = {}
    for idea in TOUR_IDEAS:
        key, combo = idea.key, combos.get(idea.key)
        if combo is None:
            out[key] = None
            continue
        task = combo[0]
        cfgs = [registry.root / checkpoint_folder(*combo) / "config.json"]
        if idea.generator is not None:  # the picture shows the generator alone: its checkpoint is the one drawn
            cfgs = [registry.root / f"gen_{TASKS[task].target}_{idea.generator}" / "config.json"]
        path = cache / f"{key}_{_fingerprint(key, combo, *cfgs, *(p for p, _ in example_paths(tasks=[task])))}.png"
        if path.exists():
            out[key] = str(path)
            continue
        try:
            xs = _example_inputs(task) if idea.uses_examples else []
            if idea.uses_examples and not xs:
                out[key] = None
                continue
            out[key] = _save_figure(idea.draw(registry, combo, xs, picked), path)
        except Exception as exc:  # noqa: BLE001 - a picture is optional: the app must start without it
            warnings.warn(f"Learn tab: no {key} picture ({type(exc).__name__}: {exc})", stacklevel=2)
            out[key] = None
    return out


def _loss_group_of(cfg: dict[str, Any]) -> str | None:
    if cfg.get("kind") == "generator":
        return "generator"
    if cfg.get("kind") == "mapping":
        return "baseline" if cfg.get("method") in {m for _, m in BASELINE_CHOICES} else "mapping"
    return None


def _curve_label(folder: str, cfg: dict[str, Any]) -> str:
    if cfg.get("kind") == "generator":
        return domain_label(str(cfg.get("domain")))
    task = str(cfg.get("task", ""))
    gen = folder.rsplit("_", 1)[-1] if folder.count("_") >= 2 else ""
    return SHORT_TASK.get(task, task) + (f" ({GENERATOR_LABEL[gen]})" if gen in GENERATOR_LABEL else "")


def loss_curve_panels(root: str | Path | None = None) -> dict[str, dict[str, list[tuple[str, list[float]]]]]:
    """group → panel title → [(curve label, values per epoch)] from every checkpoint's ``history`` in ``root`` (one
    panel per method and loss, one curve per task or domain)."""
    from ..checkpoints import CheckpointError, find_checkpoints, read_training_info

    root = checkpoints_dir(root)
    groups: dict[str, dict[str, list[tuple[str, list[float]]]]] = {g: {} for g, _, _ in LOSS_GROUPS}
    found = find_checkpoints(root, "generator") + find_checkpoints(root, "mapping")
    for folder, cfg in sorted(found, key=lambda fc: fc[0].name):
        group, method = _loss_group_of(cfg), str(cfg.get("method"))
        try:
            info = read_training_info(folder)
        except CheckpointError:
            continue
        hist = info.get("history")
        if group is None or not isinstance(hist, list):
            continue
        label = _curve_label(folder.name, cfg)
        series = {k: [float(h[k]) for h in hist if isinstance(h, dict) and isinstance(h.get(k), (int, float))]
                  for k in LOSS_KEYS.get(method, ("recon",))}
        two_stage = isinstance(info.get("imle_history"), list)  # a GLO generator with its IMLE stage (GLANN)
        if two_stage:
            series["imle"] = [float(v) for v in info["imle_history"] if isinstance(v, (int, float))]
        name = ALL_METHOD_LABEL.get(method) or (label_of(method) if find_method(method) else method.upper())
        for key, ys in series.items():
            if len(ys) >= 2:
                title = f"{name} · {KEY_LABEL.get(key, key)}"
                if two_stage:
                    title = f"{name} · " + ("stage 2 (IMLE) code distance" if key == "imle" else
                                            "stage 1 (GLO) reconstruction")
                groups[group].setdefault(title, []).append((label, ys))
    return {g: p for g, p in groups.items() if p}


def _panels_figure(panels: dict[str, list[tuple[str, list[float]]]], cols: int = 3) -> Any:
    from matplotlib.figure import Figure

    n = len(panels)
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(3.6 * cols, 2.5 * rows), dpi=90)
    for i, (title, curves) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        vals = []
        for label, ys in curves:
            xs = np.linspace(0, 1, len(ys))  # share of each run's epochs: runs of different lengths line up
            ax.plot(xs, ys, label=label, linewidth=1.2)
            vals += [v for v in ys if np.isfinite(v)]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")  # a steep first epoch would flatten the rest
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("share of training", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def loss_curve_figures(root: str | Path | None = None, cache: Path | None = None) -> list[tuple[str, str, str]]:
    """(title, explanation, PNG path) per group of ``LOSS_GROUPS`` that has curves, drawn once and cached on disk."""
    cache = cache or LEARN_CACHE
    panels = loss_curve_panels(root)
    out = []
    for group, title, text in LOSS_GROUPS:
        if group not in panels:
            continue
        path = cache / f"loss_{group}_{_fingerprint(group, panels[group])}.png"
        out.append((title, text, str(path) if path.exists() else _save_figure(_panels_figure(panels[group]), path)))
    return out


def results_markdown(root: str | Path | None = None) -> str:
    """The evaluation table: ``results.md`` if present, else a table built from ``results.json``, else a note."""
    root = checkpoints_dir(root)
    md, js = root / "results.md", root / "results.json"
    if md.exists():
        try:
            return md.read_text()
        except OSError as exc:
            return f"Could not read `{md.name}`: {exc}"
    if js.exists():
        try:
            data = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            return f"Could not read `{js.name}`: {exc}"
        return _json_table(data)
    return ("The evaluation has not been run yet: no `results.md` / `results.json` in the checkpoints folder. "
            "Run `python training/evaluate.py --out checkpoints` to fill this table.")


def results_figure(root: str | Path | None = None) -> str | None:
    """Path of the evaluation figure ``results.png`` when the evaluation has written one."""
    p = checkpoints_dir(root) / "results.png"
    return str(p) if p.exists() else None


def _json_table(data: Any) -> str:
    rows = data.get("results", data.get("rows")) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v} for k, v in rows.items()]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return "```json\n" + json.dumps(data, indent=2)[:5000] + "\n```"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols and not isinstance(r[c], (dict, list))]

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ examples


def example_paths(folder: Path = EXAMPLES_DIR, tasks: list[str] | None = None) -> list[tuple[Path, str]]:
    """(png path, task) of the shipped examples, in task order (file names start with the task); only those of
    ``tasks`` when given."""
    out = []
    for t in TASK_ORDER:
        if tasks is None or t in tasks:
            out += [(p, t) for p in sorted(folder.glob(f"{t}_*.png"))]
    return out


def servable_tasks(registry: ModelRegistry) -> list[str]:
    """Tasks with a local model, in task order; when there is none, those the registry could fetch from the Hub
    (the Examples tab shows only these, so that no example leads to a disabled Map button)."""
    local = {t for t, _, _ in registry.available()}
    if local:
        return [t for t in TASK_ORDER if t in local]
    return [t for t in TASK_ORDER if t in TASKS and any(registry.status(t, m, g).available
                                                        for m in SERVED_METHODS for g in GENERATOR_LABEL)]


def choice_for_task(registry: ModelRegistry, task: str, method: str, generator: str) -> tuple[str, str]:
    """(method, generator) to use for ``task``: the current ones when that model is available, else the task's
    model of the current method, else of the default method (VAE-NAM, any generator), else its first available
    model."""
    if registry.status(task, method, generator).available:
        return method, generator
    avail = [(m, g) for t, m, g in registry.available() if t == task]
    same = [c for c in avail if c[0] == method]
    default = [c for c in avail if c[0] == default_method()]
    return (same or default or avail or [(method, generator)])[0]


def example_caption(task: str) -> str:
    return SHORT_TASK.get(task, task)


def make_examples(out_dir: Path = EXAMPLES_DIR, per_task: int = 3, seed: int = 7) -> list[Path]:
    """Write a few small PNGs per task from the datasets (test splits; street digits stand in for SVHN)."""
    from ..data import load_domain, load_street

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    street = load_street("test", n=64, seed=4242)
    for t in TASK_ORDER:
        src = TASKS[t].source
        if src in ("street", "svhn"):
            ds_images = street.images
        else:
            ds_images = load_domain(src, "test").images
        idx = rng.choice(len(ds_images), size=per_task, replace=False)
        for j, i in enumerate(sorted(idx)):
            p = out_dir / f"{t}_{j + 1}.png"
            im = ds_images[i]
            Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(p, format="PNG", optimize=True)
            written.append(p)
    return written


if __name__ == "__main__":
    import sys

    if "--make-examples" in sys.argv:
        for p in make_examples():
            print(p)
