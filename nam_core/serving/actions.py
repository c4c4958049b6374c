"""What the app does with a model: map / compare / explore / strip an input (with the server time and the
directions' meaning), notes on the GAN baselines' outputs, and the GLANN tab's sample, interpolate and invert."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DOMAINS
from ..methods.mappings import SERVED_METHODS, TASKS
from ..methods.registry import get_method
from .downloads import write_zip
from .images import _gray, _has_alpha_shape, _hwc, load_image
from .inputs import (
    BASELINE_CHOICES,
    GENERATOR_CHOICES,
    GENERATOR_KINDS,
    GENERATOR_LABEL,
    MAX_K,
    METHOD_LABEL,
    N_DIRECTIONS,
    SPAN,
    AppError,
    domain_label,
    parse_int,
    parse_seed,
    task_label,
)
from .models import ALL_METHOD_LABEL, ModelRegistry, _score, best_result

ProgressFn = Callable[[float, str], None]


# ------------------------------------------------------------------------------------------------ results


@dataclass
class DirectionInfo:
    """The sliders' meaning for the current input: one label and scale per usable direction."""

    kind: str
    scales: list[float]
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.scales)

    def labels(self, n: int = N_DIRECTIONS) -> list[str]:
        kind = {"posterior": "posterior axis", "restarts": "restart PCA", "global": "global PCA",
                "style": "style"}.get(self.kind, self.kind)
        return [f"Direction {i + 1} · {kind} · 1σ = {self.scales[i]:.3g}" if i < self.count
                else f"Direction {i + 1} (unused)" for i in range(n)]


@dataclass
class MapResult:
    """One Map request: K solutions, T(G(z)) of each, their losses, the directions, the zip and the server time."""

    input: np.ndarray  # H×W×C, what the model saw
    outputs: np.ndarray  # K×H'×W'×C'
    reconstructions: np.ndarray  # K×H×W×C
    losses: np.ndarray  # K
    directions: DirectionInfo
    zip_path: Path
    ms: float
    device: str
    warnings: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)  # one per solution, in rank order ("#1 · best round-trip")
    rank_note: str = ""  # one line: what the order means (or that the model is deterministic)


@dataclass
class ExploreResult:
    outputs: np.ndarray
    zip_path: Path
    ms: float
    warnings: list[str] = field(default_factory=list)


def _progress_cb(progress: ProgressFn | None, desc: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def cb(step: int, total: int) -> None:
        progress(step / max(1, total), f"{desc} {step}/{total}")

    return cb


def _solve(tr: Any, image: np.ndarray, k: int, seed: int, callback: Callable[[int, int], None] | None) -> Any:
    """translate_full for one image; Translator caches single-image solutions, so explore/strip/directions reuse
    them (for NAM this avoids running the optimisation twice)."""
    return tr.translate_full(image[None], k, seed, callback)


def resolve_kind(tr: Any, kind: str) -> tuple[str, list[str]]:
    """``kind`` when the checkpoint has those directions, else "input" with a warning saying why."""
    if kind == "global" and getattr(tr, "global_dirs", None) is None:
        return "input", ["This checkpoint has no global (dataset PCA) directions; using per-input directions."]
    if kind == "style" and getattr(tr, "style_dirs", None) is None:
        return "input", ["This checkpoint has no style directions (training/style_directions.py adds them); "
                         "using per-input directions."]
    if kind == "style" and len(tr.style_dirs.vectors) == 0:
        return "input", ["No latent direction of this model changes the output without changing its reconstruction "
                         "of the input (the mapping is close to one-to-one here); using per-input directions."]
    return kind, []


def direction_info(tr: Any, image: np.ndarray, k: int, seed: int, kind: str,
                   n: int = N_DIRECTIONS) -> tuple[DirectionInfo, list[str]]:
    """The directions behind the sliders (falls back to per-input when the checkpoint lacks the kind asked for)."""
    asked = kind
    kind, warns = resolve_kind(tr, kind)
    d = tr.directions(image, n, kind, k, seed)
    scales = [float(s) for s in d.scales[:n]]
    note = ""
    if not scales:
        if tr.spec.iterative and k < 2:
            note = "NAM's per-input directions are the principal axes of its K solutions: use K ≥ 2."
        elif tr.spec.deterministic and not tr.spec.feed_forward:
            note = (f"{METHOD_LABEL[tr.method]} is deterministic and this checkpoint has no global directions: "
                    "nothing to explore.")
        else:
            note = "No latent direction changes the output for this input."
    else:
        what = {"posterior": "axes of the VAE posterior q(z|x), ranked by how much they change G(z)",
                "restarts": "principal axes of the K NAM solutions (restart spread)",
                "global": "principal axes of the codes of the whole training set",
                "style": "dataset-wide directions that change the output but hardly its reconstruction of the input "
                         "(appearance, not identity)"}.get(d.kind, d.kind)
        note = f"{len(scales)} direction(s): {what}. Sliders are in units of each direction's σ."
        if asked == "input" and d.kind == "global":  # a deterministic encoder: one code, no spread of its own
            note = (f"{METHOD_LABEL.get(tr.method, tr.method)} encodes an input to a single code, so it has no "
                    f"per-input axes: these {len(scales)} are the principal axes of the whole training set's "
                    "codes (Global), moved around this input's solution. Sliders are in units of each "
                    "direction's σ.")
    return DirectionInfo(d.kind, scales, note), warns


def check_input(tr: Any, task: str, image: np.ndarray) -> None:
    """AppError unless ``image`` has the size and channels of the translator's input domain."""
    spec = DOMAINS[tr.source]
    if image.shape[-1] != spec.channels or image.shape[0] != spec.size:
        raise AppError(f"The input is {image.shape} but {task} expects {spec.size} px {spec.channels}-channel "
                       "images: convert it again (press Map).")


class _StepCallback:
    """A progress callback that also carries ``on_step`` down to :func:`nam_core.methods.nam.nam_infer` (through
    the Translator, whose signatures take one callback)."""

    def __init__(self, progress: Callable[[int, int], None] | None, on_step: Callable[..., bool | None]) -> None:
        self.progress, self.on_step = progress, on_step

    def __call__(self, step: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, total)


def run_map(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int = 8,
            seed: int = 0, kind: str = "input", progress: ProgressFn | None = None,
            on_step: Callable[..., bool | None] | None = None) -> MapResult:
    """Translate one prepared input into K solutions (NAM reports its optimisation through ``progress``, and
    ``on_step(step, z, losses)`` sees its codes after every step and may stop it early: see ``nam_infer``)."""
    k = int(np.clip(int(k), 1, MAX_K))
    seed = parse_seed(seed)
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    check_input(tr, task, image)
    cb: Callable[[int, int], None] | None = _progress_cb(
        progress, "NAM: optimising latent codes" if get_method(method).iterative else "encoding")
    if on_step is not None:
        cb = _StepCallback(cb, on_step)
    with registry.lock(task, method, generator):
        res = _solve(tr, image, k, seed, cb)
        info, warns = direction_info(tr, image, k, seed, kind)
    outs, recs, losses = res.outputs[0], res.reconstructions[0], res.losses[0]
    captions, rank_note = rank_captions(tr, res, task, method, k)
    ms = (time.perf_counter() - t0) * 1000
    meta = {"task": task, "method": method, "generator": generator, "k": len(outs), "k_requested": k, "seed": seed,
            "kind": info.kind, "rank_by": getattr(res, "rank_by", None), "coefficients": [0.0] * N_DIRECTIONS,
            "server_ms": round(ms, 1)}
    zp = write_zip(outs, meta, image, recs, losses)
    return MapResult(image, outs, recs, losses, info, zp, ms, str(tr.device), warns, captions, rank_note)


def rank_captions(tr: Any, res: Any, task: str, method: str, k: int) -> tuple[list[str], str]:
    """One caption per solution of a single-image ``translate_full`` result (``#1 · best reconstruction``), and
    one line saying what the order means (or that the model is deterministic)."""
    outs = res.outputs[0]
    # the Translator returns the solutions in rank order (one when the model is deterministic): say what it means
    by = getattr(res, "rank_by", None)
    best = {"loss": "best reconstruction", "roundtrip": "best round-trip", "roundtrip+loss": "best round-trip + loss"}
    captions = [f"#{i + 1}" + (f" · {best[by]}" if i == 0 and by in best else "") for i in range(len(outs))]
    drawn = max(len(outs), int(getattr(tr, "oversample", 0) or 0))
    of = f" among {drawn} drawn candidates" if drawn > len(outs) else ""
    partner = getattr(getattr(tr, "partner", None), "task", None) if by and "roundtrip" in by else None
    back = f"mapped back by the {task_label(partner.name)} model" if partner is not None else "mapped back"
    rank_note = {
        "loss": f"Ranked by reconstruction loss ‖T(G(z)) − x‖{of}: #1 explains the input best.",
        "roundtrip": f"Ranked by round trip{of}: #1, {back}, comes closest to the input.",
        "roundtrip+loss": f"Ranked by round trip and reconstruction loss together{of}: #1 is the best of both "
                          f"({back}, and explaining the input).",
    }.get(by or "", "Solutions in the order they were drawn (not ranked).")
    if getattr(tr, "deterministic", False) and len(outs) < k:
        rank_note = (f"{METHOD_LABEL.get(method, method)} is deterministic for this task: one solution (the other "
                     f"{k - 1} would be identical copies).")
    return captions, rank_note


@dataclass
class CompareResult:
    """The GAN baselines' analogies of one input (one each: they are deterministic)."""

    outputs: list[tuple[np.ndarray, str]]  # (H'×W'×C' image, label)
    message: str
    ms: float


def run_compare(registry: ModelRegistry, task: str, image: np.ndarray) -> CompareResult:
    """Translate the prepared input with every shipped GAN baseline of ``task`` (CycleGAN, DistanceGAN, DTN)."""
    t0 = time.perf_counter()
    outs, missing = [], []
    for label, method in BASELINE_CHOICES:
        tr = registry.baseline(task, method)
        if tr is None:
            missing.append(label)
            continue
        check_input(tr, task, image)
        outs.append((tr.translate(image[None], num_solutions=1)[0, 0], label))
    if not outs:
        raise AppError(f"No GAN baseline is shipped for {task_label(task)} (looked for {task}_cyclegan, "
                       f"{task}_distancegan, {task}_dtn in the checkpoints folder).")
    msg = ("Adversarial baselines trained on the same data (one deterministic analogy each); their accuracy is in "
           "the Learn tab's table.")
    if missing:
        msg += f" Not shipped for this task: {', '.join(missing)}."
    methods = dict(BASELINE_CHOICES)
    notes, captioned = [], []
    for img, label in outs:
        note, caption = baseline_note(registry.root, task, methods[label], img)
        captioned.append((img, caption))
        if note:
            notes.append(note)
    if notes:
        msg += "\n\n" + "\n\n".join(notes)
    return CompareResult(captioned, msg, (time.perf_counter() - t0) * 1000)


NOISE_NEIGHBOUR_CORR = 0.3  # photos and digits have strongly correlated neighbouring pixels, per-pixel noise ~none
CHANCE_ACCURACY = 0.1  # ten digit classes
POOR_ACCURACY = 1.5 * CHANCE_ACCURACY  # a baseline this close to chance keeps almost nothing of the input digit


def neighbour_correlation(img: np.ndarray) -> float:
    """Correlation of horizontally and vertically adjacent pixels of a uint8 H×W×C image (its luminance)."""
    g = _gray(_hwc(np.asarray(img)))
    pairs = [(g[:, :-1], g[:, 1:]), (g[:-1], g[1:])]
    cs = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairs if a.std() > 1e-6 and b.std() > 1e-6]
    return float(np.mean(cs)) if cs else 1.0  # a flat image is not noise


def baseline_note(root: str | Path | None, task: str, method: str, output: np.ndarray) -> tuple[str, str]:
    """(warning or "", gallery caption) for one GAN baseline's analogy: the caption carries its measured accuracy
    (``results.json``); the warning says when this output is per-pixel noise or the baseline's accuracy is close
    to chance, with the figures, and what the best non-adversarial model reaches on the same task."""
    label = ALL_METHOD_LABEL.get(method, method)
    row = best_result(root, task, method)
    score = _score(row) if row else None
    acc = score[1] if score and score[0] == "acc" else None
    caption = label + (f" · {acc * 100:.0f} %" if acc is not None else "")
    corr = neighbour_correlation(output)
    problems = []
    if corr < NOISE_NEIGHBOUR_CORR:
        noise = "colour noise" if np.asarray(output).shape[-1] == 3 else "noise"
        problems.append(f"this output is per-pixel {noise}, not an image of the input (correlation of "
                        f"neighbouring pixels: {corr:.2f})")
    if acc is not None and acc < POOR_ACCURACY:
        problems.append(f"in the evaluation the {domain_label(TASKS[task].target)} classifier read the input's "
                        f"digit in {acc * 100:.1f} % of its {int(row.get('n', 0)):,} test translations "  # type: ignore[union-attr]
                        f"(chance: {CHANCE_ACCURACY * 100:.0f} %)")
    if not problems:
        return "", caption
    ours = [r for r in (best_result(root, task, m) for m in SERVED_METHODS) if r and _score(r)]
    best = max(ours, key=lambda r: _score(r)[1], default=None)  # type: ignore[index]
    tail = ""
    if best is not None and _score(best)[0] == "acc":  # type: ignore[index]
        tail = (f" For comparison, {METHOD_LABEL[best['method']]} ({GENERATOR_LABEL.get(best['generator'], '')}) "
                f"reaches {_score(best)[1] * 100:.1f} %.")  # type: ignore[index]
    return f"⚠ **{label}** fails on {task_label(task)}: " + "; ".join(problems) + "." + tail, caption


def run_explore(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int,
                seed: int, coefficients: list[float], kind: str = "input", anchor: int | None = None,
                progress: ProgressFn | None = None) -> ExploreResult:
    """The K solutions moved by ``coefficients`` (σ units), rendered in one batched forward pass."""
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    kind, warns = resolve_kind(tr, kind)
    coefs = [float(np.clip(c, -SPAN, SPAN)) for c in coefficients]
    cb = _progress_cb(progress, "NAM: optimising latent codes")
    with registry.lock(task, method, generator):
        outs = tr.explore(image, coefs, seed=int(seed), num_solutions=int(k), kind=kind, anchor=anchor, callback=cb)
    ms = (time.perf_counter() - t0) * 1000
    meta = {"task": task, "method": method, "generator": generator, "k": int(k), "seed": int(seed), "kind": kind,
            "coefficients": coefs, "anchor": anchor, "server_ms": round(ms, 1)}
    return ExploreResult(outs, write_zip(outs, meta, image), ms, warns)


def run_strip(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int,
              seed: int, direction: int, kind: str = "input", anchor: int = 0, steps: int = 7,
              span: float = SPAN) -> tuple[np.ndarray, list[str], float]:
    """One direction from −span σ to +span σ around solution ``anchor``: (images, captions, ms)."""
    t0 = time.perf_counter()
    tr = registry.get(task, method, generator)
    kind = resolve_kind(tr, kind)[0]
    with registry.lock(task, method, generator):
        d = tr.directions(image, N_DIRECTIONS, kind, int(k), int(seed))
        if direction >= len(d.vectors):
            raise AppError(f"Direction {direction + 1} is not available for this input ({len(d.vectors)} found).")
        imgs = tr.strip(image, direction, steps=steps, span=span, seed=int(seed), kind=kind,
                        anchor=int(anchor or 0), num_solutions=int(k))
    caps = [f"{c:+.1f}σ" for c in np.linspace(-span, span, steps)]
    return imgs, caps, (time.perf_counter() - t0) * 1000


def random_coefficients(rng: np.random.Generator, n: int = N_DIRECTIONS, count: int | None = None) -> list[float]:
    """N(0, 1) coefficients (σ units), clipped to ±3 and rounded to the sliders' step; unused ones are 0."""
    c = np.clip(rng.standard_normal(n), -SPAN, SPAN).round(1)
    if count is not None:
        c[count:] = 0.0
    return [float(v) for v in c]


# ------------------------------------------------------------------------------------------------ GLANN tab


def _slerp(a: Any, b: Any, t: float) -> Any:
    import torch

    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos(torch.clamp((an * bn).sum(), -1.0, 1.0))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def has_baselines(registry: ModelRegistry, task: str) -> bool:
    """Whether any GAN baseline of ``task`` is shipped (the Translate tab offers "Compare with GANs" only then)."""
    return any((registry.root / f"{task}_{m}" / "config.json").exists() for _, m in BASELINE_CHOICES)


def generator_kinds(registry: ModelRegistry, domain: str) -> list[str]:
    """The generator kinds ("glann", "dcgan") the GLANN tab can load for ``domain``: a ``gen_<domain>_<kind>``
    folder, or a local mapping onto ``domain`` with that kind of generator."""
    mapped = {g for t, _, g in registry.available() if TASKS[t].target == domain}
    return [g for _, g in GENERATOR_CHOICES
            if g in mapped or (registry.root / f"gen_{domain}_{g}" / "config.json").exists()]


def glann_sample(registry: ModelRegistry, domain: str, kind: str = GENERATOR_KINDS[0], n: int = 16,
                 seed: int = 0) -> tuple[np.ndarray, float]:
    """``n`` new images G(T(e)), e ~ N(0, I) (deterministic for a seed): (uint8 n×H×W×C, ms)."""
    from ..methods.generators import sample_images
    from ..utils import to_uint8

    t0 = time.perf_counter()
    G, _ = registry.generator(domain, kind)
    imgs = to_uint8(sample_images(G, parse_int(n, "Images", 1, 64, default=16), seed=parse_seed(seed)))
    return imgs, (time.perf_counter() - t0) * 1000


def glann_interpolate(registry: ModelRegistry, domain: str, seed_a: int, seed_b: int, steps: int = 8,
                      kind: str = GENERATOR_KINDS[0]) -> tuple[np.ndarray, float]:
    """Spherical interpolation between the noise vectors of two seeds: (uint8 steps×H×W×C, ms)."""
    import torch

    from ..utils import to_uint8

    t0 = time.perf_counter()
    G, _ = registry.generator(domain, kind)
    d = G.latent_dim
    a = torch.randn(1, d, generator=torch.Generator().manual_seed(parse_seed(seed_a, "Seed A")))[0]
    b = torch.randn(1, d, generator=torch.Generator().manual_seed(parse_seed(seed_b, "Seed B")))[0]
    steps = int(np.clip(steps, 2, 16))
    z = torch.stack([_slerp(a, b, float(t)) for t in np.linspace(0, 1, steps)])
    dev = next(G.parameters()).device
    with torch.no_grad():
        imgs = to_uint8(G(z.to(dev)))
    return imgs, (time.perf_counter() - t0) * 1000


def glann_invert(registry: ModelRegistry, domain: str, src: Any, steps: int = 150, seed: int = 0,
                 progress: ProgressFn | None = None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Find the noise e with G(T(e)) ≈ the uploaded image (``glann.invert``): (input, reconstruction, loss, ms)."""
    from ..losses import build_loss
    from ..methods.glann import invert
    from ..utils import to_tensor, to_uint8
    from .translator import prepare_inputs

    t0 = time.perf_counter()
    G, cfg = registry.generator(domain, "glann")
    if not hasattr(G, "noise_dim"):
        raise AppError("Inversion needs a GLANN generator (G(T(e))).")
    arr = load_image(src)
    if float(arr[..., :3].std()) < 1.0 and not _has_alpha_shape(arr):
        raise AppError("The image is blank (a single colour): nothing to invert.")
    x = prepare_inputs(arr, domain)
    dev = next(G.parameters()).device
    loss_fn = build_loss(str(cfg.get("recon_loss") or "laplacian")).to(dev)
    steps = int(np.clip(steps, 10, 1000))
    cb = None
    if progress is not None:
        def cb(step: int, loss: float) -> None:
            progress((step + 1) / steps, f"inverting: step {step + 1}/{steps}, loss {loss:.4f}")
    e, loss = invert(G, to_tensor(x, dev), loss_fn, steps=steps, restarts=4, seed=int(seed), callback=cb)
    import torch

    with torch.no_grad():
        rec = to_uint8(G(e))[0]
    return x[0], rec, float(loss[0]), (time.perf_counter() - t0) * 1000

