"""What the app accepts: its choices and labels, parsing of UI/API values, the task list, draw hints, and
the ZeroGPU / checkpoints-folder helpers (no Gradio import; the UI turns :class:`AppError` into ``gr.Error``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..data import DOMAINS
from ..methods.mappings import TASKS
from ..methods.registry import methods
from ..paths import CHECKPOINTS_DIR

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("nam_studio.app_logic")

METHOD_CHOICES: list[tuple[str, str]] = [("NAM", "nam"), ("NAM one-pass", "nam-ff"), ("AE-NAM", "ae-nam"),
                                         ("VAE-NAM", "vae-nam")]
# the registered generators in menu order: the first is preferred wherever any generator would do
GENERATOR_CHOICES: list[tuple[str, str]] = [(m.label, m.name) for m in methods("generator")]
GENERATOR_KINDS: tuple[str, ...] = tuple(g for _, g in GENERATOR_CHOICES)
# GAN baselines shown beside the non-adversarial methods ("compare with GANs"): checkpoint <task>_<method>
LOAD_ERRORS = (Exception,)  # whatever stops a checkpoint becoming a Translator is a failed model, not a crash
BASELINE_CHOICES: list[tuple[str, str]] = [("CycleGAN", "cyclegan"), ("DistanceGAN", "distancegan"), ("DTN", "dtn")]
DIRECTION_KINDS: list[tuple[str, str]] = [("Per input", "input"), ("Global (dataset PCA)", "global"),
                                          ("Style (keeps the input)", "style")]
METHOD_LABEL = dict((v, k) for k, v in METHOD_CHOICES)
GENERATOR_LABEL = dict((v, k) for k, v in GENERATOR_CHOICES)
DOMAIN_LABEL = {"mnist": "MNIST", "street": "street digits", "svhn": "SVHN", "shoes": "shoes", "handbags": "handbags",
                "shoes_edges": "shoe edges", "handbags_edges": "handbag edges"}
# a list: tasks trained on the user's own images are appended when a registry finds them (register_user_tasks)
TASK_ORDER = ["edges2shoes", "edges2handbags", "street2mnist", "mnist2street", "svhn2mnist", "mnist2svhn"]
N_DIRECTIONS = 4  # sliders in the UI
MAX_K = 16
SPAN = 3.0  # sliders and strips go from −3σ to +3σ
MAX_SEED = 2**32 - 1


class AppError(ValueError):
    """A problem the user can fix (shown as ``gr.Error``); the server keeps serving."""


def parse_int(value: Any, name: str, lo: int, hi: int, default: int | None = None, clamp: bool = True) -> int:
    """A whole number from a UI/API value (int, float, numeric string; None → ``default``), clamped into
    [lo, hi] (or refused when ``clamp`` is False); AppError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise AppError(f"{name} is missing: give a whole number from {lo:,} to {hi:,}.")
        return default
    if isinstance(value, bool):
        value = int(value)
    try:
        v = int(value) if isinstance(value, int) else float(str(value).strip())
    except (TypeError, ValueError):
        raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]!r}).") from None
    if isinstance(v, float):
        if not np.isfinite(v) or v != int(v):
            raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]}).")
        v = int(v)
    if lo <= v <= hi:
        return v
    if clamp:
        return min(max(v, lo), hi)
    raise AppError(f"{name} must be a whole number from {lo:,} to {hi:,} (got {str(value)[:40]}).")


def parse_seed(value: Any, name: str = "Seed") -> int:
    """A seed from the UI/API: a whole number in [0, MAX_SEED] (None/empty → 0); out of range is refused, not
    wrapped, so that a seed always names the same result."""
    return parse_int(value, name, 0, MAX_SEED, default=0, clamp=False)


def check_choices(task: Any = None, method: Any = None, generator: Any = None, kind: Any = None) -> None:
    """AppError unless each given value is one of the UI's choices (API clients can send anything)."""
    for name, value, choices in (("task", task, [v for _, v in TASK_CHOICES]),
                                 ("method", method, [v for _, v in METHOD_CHOICES]),
                                 ("generator", generator, [v for _, v in GENERATOR_CHOICES]),
                                 ("directions", kind, [v for _, v in DIRECTION_KINDS])):
        if name == "task" and value in PRIVATE_TASKS:  # a Studio tab model: accepted, never listed
            continue
        if value is not None and value not in choices:
            raise AppError(f"Unknown {name} {str(value)[:40]!r}: choose one of {', '.join(choices)}.")


def domain_label(domain: str) -> str:
    """A domain's name in the UI; a user's folder domain by its folder (and side), never its full path."""
    if domain in DOMAIN_LABEL:
        return DOMAIN_LABEL[domain]
    if domain.startswith("folder:"):
        rest, _, side = domain[len("folder:"):].partition("#")
        base = Path(rest.split("?")[0]).name or "images"
        return f"{base} ({side})" if side else base
    return domain


def task_label(task: str) -> str:
    t = TASKS[task]
    return f"{domain_label(t.source)} → {domain_label(t.target)}"


TASK_CHOICES: list[tuple[str, str]] = [(f"{task_label(t)}  ({t})", t) for t in TASK_ORDER if t in TASKS]
# tasks trained in the Studio tab: served to the browser that trained them (its own task list, see
# ModelRegistry.add_private_root), never in TASK_CHOICES, the matrix or the GLANN tab of anyone else
PRIVATE_TASKS: set[str] = set()


def register_user_tasks(*roots: str | Path) -> list[str]:
    """Tasks of mapping checkpoints under ``roots`` that are not built in (trained with ``nam-studio train-task``
    on the user's own images): registered from the source/target their configs record and added to the task list
    (:data:`TASK_ORDER`, :data:`TASK_CHOICES`, in place, so the UI built afterwards lists them). Returns them."""
    from ..checkpoints import find_checkpoints
    from ..methods.mappings import get_task

    found: list[str] = []
    for root in roots:
        for path, cfg in find_checkpoints(root, "mapping"):
            name = cfg.get("task")
            if not isinstance(name, str) or (name in TASKS and name in TASK_ORDER):
                continue
            try:
                get_task(name, cfg)
            except (KeyError, ValueError) as exc:  # a clash or a bad name: that checkpoint is not served
                log.warning("not serving %s: %s", path.name, exc)
                continue
            if name not in TASK_ORDER:
                TASK_ORDER.append(name)
                TASK_CHOICES.append((f"{task_label(name)}  ({name})", name))
            found.append(name)
    return found


def input_kind(task: str) -> str:
    """How the task's input is drawn: ``"digit"`` (MNIST), ``"street"`` (street/SVHN digit photo) or ``"edges"``."""
    src = TASKS[task].source
    if src == "mnist":
        return "digit"
    if src in ("street", "svhn"):
        return "street"
    if src.startswith("folder:"):  # the user's images: drawn like the built-in domain they most resemble
        spec = DOMAINS[src]
        return "image" if spec.channels == 3 else ("digit" if spec.size == 32 else "edges")
    return "edges"


_BRUSH = "With the pen (its width, the eraser and undo are above the canvas), "
DRAW_HINTS = {  # by input kind; DRAW_TASK_HINTS adds what each task turns the drawing into
    "digit": _BRUSH + "draw one digit (0–9), large; it is centred and scaled like MNIST (white on black).",
    "street": _BRUSH + "draw one digit (0–9); it becomes a dark digit on a light plate, like a house-number crop.",
    "edges": _BRUSH + "draw the outline of the object (side view, toe to the left for shoes).",
    "image": _BRUSH + "draw the input (dark strokes on white), or better, upload an image like the training ones.",
}
DRAW_TASK_HINTS = {
    "mnist2street": " The analogies are street-number photos of that digit, in varied fonts and colours.",
    "mnist2svhn": " The analogies are SVHN house-number photos of that digit.",
    "street2mnist": " The analogies are handwritten MNIST digits.",
    "svhn2mnist": " The analogies are handwritten MNIST digits.",
    "edges2shoes": " Draw a shoe: sole along the bottom, toe to the left, heel to the right; the analogies are shoe "
                   "photos.",
    "edges2handbags": " Draw a handbag from the front: body, then its handle on top; the analogies are handbag photos.",
}


def draw_hint(task: str) -> str:
    """The hint above the canvas for ``task``: how to draw its input and what comes out."""
    if task not in TASKS:
        return DRAW_HINTS["digit"]
    hint = DRAW_HINTS[input_kind(task)]
    if input_kind(task) == "edges":
        hint = _BRUSH + "draw the outline of the object with a few clean strokes."
    return hint + DRAW_TASK_HINTS.get(task, "")


# ------------------------------------------------------------------------------------------------ ZeroGPU / device


# ZeroGPU durations (seconds asked for per call; a shorter ask queues ahead of longer ones, and a call that runs
# past its ask is killed). These are budgets with headroom, not timings: a one-pass call is a few forward passes
# (plus a first model load), an optimisation adds a per-step allowance for each of its steps.
GPU_BASE_S = 20
GPU_PER_STEP_S = 0.1
GPU_MAX_S = 300
NAM_DEFAULT_STEPS = 100  # the Translator's when neither the registry nor the checkpoint says otherwise


def gpu_seconds(steps: int | None = 0, restarts: int = 1) -> int:
    """The ZeroGPU duration for one call that runs ``steps`` optimisation steps ``restarts`` times in a row (0: a
    one-pass call; None: unknown, taken as NAM's default budget), between GPU_BASE_S and GPU_MAX_S."""
    n = NAM_DEFAULT_STEPS if steps is None else max(0, int(steps))
    return int(min(GPU_MAX_S, GPU_BASE_S + np.ceil(GPU_PER_STEP_S * n * max(1, int(restarts)))))


def gpu(duration: int | Callable[..., int] = GPU_BASE_S) -> Callable[[F], F]:
    """``spaces.GPU(duration=...)`` on Hugging Face ZeroGPU Spaces; a no-op decorator when ``spaces`` is absent.
    ``duration`` may be a function of the call's arguments (ZeroGPU's dynamic duration), e.g. NAM's step budget."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def checkpoints_dir(override: str | Path | None = None) -> Path:
    """Where the app looks for checkpoints: ``override``, ``$NAM_CHECKPOINTS_DIR`` or the repo's ``checkpoints/``."""
    if override is not None:
        return Path(override)
    env = os.environ.get("NAM_CHECKPOINTS_DIR")
    return Path(env) if env else CHECKPOINTS_DIR


def hub_allowed() -> bool:
    """Whether missing checkpoints may be fetched from the Hub (off with ``HF_HUB_OFFLINE=1`` or ``NAM_APP_HUB=0``)."""
    off = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    return not off and os.environ.get("NAM_APP_HUB", "1") not in ("0", "false", "False")
