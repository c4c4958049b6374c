"""One entry per method: what the rest of the library asks about a method instead of testing its name.

Each method module registers its :class:`Method` (``register``) and the recipes of the models it shipped
(``register_presets``): NAM in :mod:`~nam_core.methods.nam`, AE-NAM and VAE-NAM in
:mod:`~nam_core.methods.vae_nam`, NAM one-pass in :mod:`~nam_core.methods.refine`, the GAN baselines in
:mod:`~nam_core.methods.cyclegan` / :mod:`~nam_core.methods.distancegan` / :mod:`~nam_core.methods.dtn`, the
generators in :mod:`~nam_core.methods.glann` / :mod:`~nam_core.methods.dcgan`. ``nam_core/methods/__init__.py``
imports them all, so a lookup here always sees every method.

    m = get_method("vae-nam")
    m.label, m.iterative, m.deterministic          # "VAE-NAM", False, False
    z, sigma = m.solve(translator, x, k, seed)       # its test-time algorithm
    get_preset("street2mnist_vae-nam_glann").argv()  # the shipped recipe as CLI arguments

This module imports nothing from the method modules (they import it), so it is a leaf of the import graph.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# what a solver returns: codes z (N, K, d) and, for a posterior, σ (N, d) (None for NAM's optimisation)
Solver = Callable[..., tuple[Any, Any]]


def hparams_loss(config: Mapping[str, Any]) -> str:
    """The loss a mapping's T was trained with: the config's ``recon_loss`` when it records one, else
    ``hparams["loss"]`` (what NAM, AE-NAM and VAE-NAM train T with)."""
    if isinstance(config.get("recon_loss"), str) and config["recon_loss"]:
        return str(config["recon_loss"])
    hp = config.get("hparams")
    return str(hp.get("loss", "laplacian")) if isinstance(hp, Mapping) else "laplacian"


@dataclass(frozen=True)
class Method:
    """What serving, evaluation, the app and the training tools need to know about one method.

    ``deterministic``: an input's code is a function of the input (an encoder's μ, a GAN's forward pass), so its K
    solutions differ only where the model adds a spread of its own (style or global directions). ``iterative``:
    test time optimises a code per input (NAM), so every extra candidate costs a whole optimisation.
    ``feed_forward``: a GAN baseline, one network A → B with no latent space (served by ``translate(x)``).
    ``partner_priority``: preference (lower first) as the opposite task's one-pass model in the round-trip
    ranking; None when the method cannot map back in one pass. ``solve(translator, x, k, seed, callback)`` →
    (z, σ) is its test-time algorithm; ``input_directions(translator, z, sigma, k, reference)`` its per-input
    latent directions; ``recon_loss(config)`` the loss its T was trained with (what ranking by loss must use).
    ``speed_baseline``: the one-pass method the speed tables compare the iterative one against (one method sets
    it). ``variational``: its encoder gives a posterior (μ, σ) rather than one code. ``app_default``: the one-pass
    method the app selects first and the benchmarks measure first (one method sets it). ``summary``: what the
    model is, in one sentence (model cards)."""

    name: str
    label: str
    module: str  # the file that holds the method, e.g. "nam_core/methods/nam.py"
    kind: str = "mapping"  # "mapping" or "generator"
    script: str = ""  # the training CLI in training/ (without .py)
    cites: tuple[str, ...] = ()  # keys of nam_core.serving.publish.PAPERS
    published: Mapping[str, float] = field(default_factory=dict)  # "task" or "task+generator" → paper's top-1 %
    deterministic: bool = False
    iterative: bool = False
    feed_forward: bool = False
    loss_keys: tuple[str, ...] = ("recon",)  # training-history keys the loss-curve panels show
    partner_priority: int | None = None
    speed_baseline: bool = False
    variational: bool = False
    app_default: bool = False
    summary: str = ""
    order: int = 100  # position in tables and menus
    solve: Solver | None = None
    input_directions: Callable[..., Any] | None = None
    recon_loss: Callable[[Mapping[str, Any]], str] = hparams_loss
    # the training entry's own piece: GAN baselines, their Trainer-protocol class (``cls.build(...)``); generators,
    # ``fit(ds, spec, hp, train_config, seed=, device=, domain=, progress=)`` (see methods/generators.py)
    trainer: Any = None
    defaults: Mapping[str, Any] = field(default_factory=dict)  # its training entry's default hyper-parameters

    def published_accuracy(self, task: str, generator: str = "") -> float | None:
        """The paper's figure for ``task`` (the generator-specific one first, e.g. NAM on GLANN)."""
        return self.published.get(f"{task}+{generator}", self.published.get(task))


@dataclass(frozen=True)
class Preset:
    """A shipped model's recipe: the training CLI ``script`` with these arguments (argparse ``dest`` → value)
    rebuilds checkpoint ``name``. ``note`` says what the recipe cannot promise, e.g. that it was time-bounded
    (``max_minutes`` + ``finish_early``: a faster or slower machine stops at a different epoch)."""

    name: str
    method: str
    script: str
    args: Mapping[str, Any]
    note: str = ""

    @property
    def time_bounded(self) -> bool:
        return self.args.get("max_minutes") is not None

    def argv(self) -> list[str]:
        """The arguments as command-line flags (``--epochs 24 ... --finish-early``)."""
        out: list[str] = []
        for dest, value in self.args.items():
            flag = "--" + dest.replace("_", "-")
            if value is True:
                out.append(flag)
            elif value is not False and value is not None:
                out += [flag, str(value)]
        return out

    def command(self, out_dir: str | None = None) -> str:
        """``python training/<script>.py --preset <name> --out <out_dir>``: what rebuilds the model."""
        return shlex.join(["python", f"training/{self.script}.py", "--preset", self.name, "--out",
                           out_dir or f"runs/{self.name}"])


GPU_NOTE = "shipped model trained on a GPU (cuda)"


def stopped_early_note(max_minutes: str, where: str, done: int, planned: int) -> str:
    """A preset's ``note`` for a shipped run that ``--max-minutes`` stopped before its planned epochs: the preset
    trains the epochs that run finished."""
    return (f"the shipped run was time-bounded (--max-minutes {max_minutes} --finish-early {where}): it stopped after "
            f"{done} of {planned} planned epochs; the preset trains those {done} (the step schedule does not depend "
            "on the total)")


METHODS: dict[str, Method] = {}
PRESETS: dict[str, Preset] = {}


def register(method: Method) -> Method:
    """Add ``method`` (its module calls this at import); registering the same name twice is an error."""
    old = METHODS.get(method.name)
    if old is not None and old != method:
        raise ValueError(f"method {method.name!r} is already registered (by {old.module})")
    METHODS[method.name] = method
    return method


def register_presets(*presets: Preset) -> None:
    for p in presets:
        old = PRESETS.get(p.name)
        if old is not None and old != p:
            raise ValueError(f"preset {p.name!r} is already registered")
        PRESETS[p.name] = p


def get_method(name: str) -> Method:
    """The registered method called ``name`` (KeyError naming the known ones otherwise)."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(sorted(METHODS))}") from None


def find_method(name: str | None) -> Method | None:
    """:func:`get_method`, or None for an unknown or missing name (a config written by something else)."""
    return METHODS.get(name) if isinstance(name, str) else None


def is_iterative(name: Any) -> bool:
    """Whether ``name`` is a registered method that optimises per input (NAM); False for anything else, so that
    raw user input (an API call's method) can be routed before it is validated."""
    m = find_method(name)
    return m is not None and m.iterative


def methods(kind: str | None = "mapping", feed_forward: bool | None = None) -> list[Method]:
    """Registered methods of ``kind`` (None: all), GAN baselines only / excluded with ``feed_forward``, in table
    order."""
    return sorted((m for m in METHODS.values() if (kind is None or m.kind == kind)
                   and (feed_forward is None or m.feed_forward == feed_forward)), key=lambda m: (m.order, m.name))


def method_names(kind: str | None = "mapping", feed_forward: bool | None = None) -> tuple[str, ...]:
    return tuple(m.name for m in methods(kind, feed_forward))


def label(name: str) -> str:
    """The display name of a method ("VAE-NAM"), or ``name`` itself when it is not registered."""
    m = METHODS.get(name)
    return m.label if m is not None else name


def speed_baseline() -> str | None:
    """The name of the method whose speed the iterative method's is reported against (None if none registers)."""
    return next((m.name for m in methods(None) if m.speed_baseline), None)


def default_method() -> str:
    """The name of the app's default one-pass method (the one registered with ``app_default``)."""
    found = [m.name for m in methods(None) if m.app_default]
    if len(found) != 1:
        raise LookupError(f"exactly one method must set app_default (found {found or 'none'})")
    return found[0]


def default_first(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` in their order, with the app's default method moved to the front (runs and plans start with the
    model most people use)."""
    names, first = tuple(names), default_method()
    return (*(n for n in names if n == first), *(n for n in names if n != first))


def partner_methods() -> list[Method]:
    """Methods that can serve as the round trip's one-pass model, preferred first."""
    return sorted((m for m in METHODS.values() if m.partner_priority is not None),
                  key=lambda m: (m.partner_priority, m.name))


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose from {', '.join(sorted(PRESETS))}") from None


def presets(script: str | None = None) -> list[Preset]:
    """The registered presets (of one training ``script``), sorted by name."""
    return sorted((p for p in PRESETS.values() if script is None or p.script == script), key=lambda p: p.name)
