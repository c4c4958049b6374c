"""Which models the app serves: the evaluation's ``results.json`` rows and the :class:`ModelRegistry` of task ×
method × generator checkpoints (why the missing ones are missing), one cached Translator per combination."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoints import CheckpointError
from ..methods.mappings import SERVED_METHODS, TASKS
from ..methods.registry import default_method
from .inputs import (
    BASELINE_CHOICES,
    DOMAIN_LABEL,
    GENERATOR_KINDS,
    GENERATOR_LABEL,
    LOAD_ERRORS,
    METHOD_CHOICES,
    METHOD_LABEL,
    PRIVATE_TASKS,
    TASK_ORDER,
    AppError,
    checkpoints_dir,
    hub_allowed,
    register_user_tasks,
    task_label,
)

# ------------------------------------------------------------------------------------------------ evaluation results


TOUR_TASK = "mnist2street"  # the tour's task and the app's first one: digits make the methods' differences visible
RESULT_METHODS = [m for _, m in METHOD_CHOICES] + [m for _, m in BASELINE_CHOICES]
ALL_METHOD_LABEL = {**METHOD_LABEL, **{m: label for label, m in BASELINE_CHOICES}}


def load_results(root: str | Path | None = None) -> dict[str, Any]:
    """``results.json`` of the checkpoints folder (``{}`` when missing or unreadable)."""
    try:
        data = json.loads((checkpoints_dir(root) / "results.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _translation_rows(root: str | Path | None) -> list[dict[str, Any]]:
    rows = load_results(root).get("translations")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _score(row: dict[str, Any]) -> tuple[str, float] | None:
    """A result row's headline figure: ("acc", mean accuracy over the K analogies) on digit tasks, ("f1", edge F1)
    on edge tasks; None when it has neither."""
    for kind, key in (("acc", "mean"), ("f1", "edge_f1")):
        v = row.get(key)
        if isinstance(v, (int, float)) and np.isfinite(v):
            return kind, float(v)
    return None


def best_result(root: str | Path | None, task: str, method: str) -> dict[str, Any] | None:
    """The ``results.json`` row of ``task`` × ``method`` whose generator has the best headline figure."""
    rows = [r for r in _translation_rows(root) if r.get("task") == task and r.get("method") == method and _score(r)]
    return max(rows, key=lambda r: _score(r)[1], default=None)  # type: ignore[index]


# ------------------------------------------------------------------------------------------------ models


@dataclass
class ModelStatus:
    """Whether a task × method × generator combination can be used, and a sentence saying why (not)."""

    task: str
    method: str
    generator: str
    where: str  # "local" | "hub" | "missing" | "failed"
    message: str
    path: Path | None = None

    @property
    def available(self) -> bool:
        return self.where in ("local", "hub")


def checkpoint_folder(task: str, method: str, generator: str) -> str:
    return f"{task}_{method}_{generator}"


class ModelRegistry:
    """Finds checkpoints (local first, then the Hub) and caches one Translator per task × method × generator."""

    def __init__(self, root: str | Path | None = None, device: str | None = None,
                 nam_steps: int | None = None, extra_roots: tuple[str | Path, ...] = ()) -> None:
        self.root = checkpoints_dir(root)
        # searched after ``root`` (e.g. the shipped checkpoints beside a folder of the user's own models)
        self.extra_roots = tuple(Path(r) for r in extra_roots if Path(r).resolve() != self.root.resolve())
        self.user_tasks = register_user_tasks(self.root, *self.extra_roots)
        self.device = device
        self.nam_steps = nam_steps  # NAM's per-request optimisation steps (None: the Translator's default)
        self._translators: dict[tuple[str, str, str], Any] = {}
        self._generators: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._failed: dict[tuple[str, str, str], str] = {}  # load failures: not retried (see ``status``)
        self._lock = threading.RLock()  # guards the dicts only; never held while loading (see ``get``)
        self._loading: dict[tuple[str, str, str], Future] = {}
        self._gen_loading: dict[tuple[str, str], Future] = {}
        self.locks: dict[tuple[str, str, str], threading.Lock] = {}
        self.private_roots: dict[str, Path] = {}  # Studio tab tasks → their folder (see add_private_root)

    def add_private_root(self, root: str | Path) -> list[str]:
        """Serve the mapping checkpoints directly under ``root`` (a Studio tab job's output) without listing them:
        their tasks are registered and accepted by :func:`check_choices`, but only a UI that is told their names
        shows them. Returns the tasks."""
        from ..checkpoints import find_checkpoints
        from ..methods.mappings import get_task

        found = []
        for _, cfg in find_checkpoints(root, "mapping"):
            name = cfg.get("task")
            if isinstance(name, str) and name not in TASK_ORDER:
                get_task(name, cfg)
                with self._lock:
                    self.private_roots[name] = Path(root)
                PRIVATE_TASKS.add(name)
                found.append(name)
        return sorted(set(found))

    def forget_private(self, task: str) -> None:
        """Stop serving a Studio tab task (its files are about to go)."""
        with self._lock:
            self.private_roots.pop(task, None)
            for key in [k for k in self._translators if k[0] == task]:
                self._translators.pop(key, None)
            for key in [k for k in self._failed if k[0] == task]:
                self._failed.pop(key, None)
        PRIVATE_TASKS.discard(task)

    # -------------------------------------------------------------- availability
    def local_path(self, task: str, method: str, generator: str) -> Path | None:
        private = self.private_roots.get(task)
        for root in ((private,) if private is not None else (self.root, *self.extra_roots)):
            p = root / checkpoint_folder(task, method, generator)
            if (p / "config.json").exists():
                return p
        return None

    def status(self, task: str, method: str, generator: str) -> ModelStatus:
        """Availability of one combination, with an explanation for the UI."""
        if task not in TASKS:
            return ModelStatus(task, method, generator, "missing", f"Unknown task {task!r}.")
        if method not in SERVED_METHODS:
            return ModelStatus(task, method, generator, "missing", f"Unknown method {method!r}.")
        name = f"**{METHOD_LABEL[method]}** · {task_label(task)} · {GENERATOR_LABEL.get(generator, generator)} G"
        key = (task, method, generator)
        failed = self._failed.get(key)
        if failed is not None:  # a load failed once: not retried on every request
            return ModelStatus(task, method, generator, "failed", f"**Unavailable:** {name}: {failed}")
        path = self.local_path(*key)
        if path is not None:
            return ModelStatus(task, method, generator, "local", f"**Ready:** {name} — checkpoint `{path.name}`", path)
        why = f"no checkpoint `{checkpoint_folder(*key)}` in `{self.root}`"
        if TASKS[task].source == "svhn" or TASKS[task].target == "svhn":
            why += " (SVHN is not bundled with the app: train it with your own SVHN .mat files, see the README)"
        alts = [f"{METHOD_LABEL[m]}/{GENERATOR_LABEL[g]}" for m in SERVED_METHODS for g in GENERATOR_KINDS
                if (m, g) != (method, generator) and self.local_path(task, m, g) is not None]
        alt = f" Available for this task: {', '.join(alts)}." if alts else ""
        if hub_allowed():
            msg = f"**Not local:** {name}: {why}; it will be downloaded from the Hugging Face Hub on first use.{alt}"
            return ModelStatus(task, method, generator, "hub", msg)
        return ModelStatus(task, method, generator, "missing", f"**Unavailable:** {name}: {why}.{alt}")

    def available(self) -> list[tuple[str, str, str]]:
        """Locally available combinations (task, method, generator)."""
        return [(t, m, g) for t in TASK_ORDER for m in SERVED_METHODS for g in GENERATOR_KINDS
                if t in TASKS and self.local_path(t, m, g) is not None]

    def default_choice(self) -> tuple[str, str, str]:
        """The first selection: the registry's default method (VAE-NAM) on the tour's task (mnist→street) with the
        generator whose evaluation figures are best (``results.json``), else on edges→shoes or street→mnist with
        the first generator, else any of its models, else the first available combination."""
        avail = self.available()
        method, gen = default_method(), GENERATOR_KINDS[0]
        best = best_result(self.root, TOUR_TASK, method)
        prefs = [(TOUR_TASK, method, g) for g in ([best["generator"]] if best else []) + list(GENERATOR_KINDS)]
        for pref in [*prefs, ("edges2shoes", method, gen), ("street2mnist", method, gen)]:
            if pref in avail:
                return pref
        same = [a for a in avail if a[1] == method]
        return (same or avail or [("edges2shoes", method, gen)])[0]

    def matrix_markdown(self) -> str:
        """A task × method table of what is available (GLANN / DCGAN)."""
        head = ("| task | " + " | ".join(METHOD_LABEL[m] for m in SERVED_METHODS) + " |\n|---|"
                + "---|" * len(SERVED_METHODS))
        rows = []
        for t in TASK_ORDER:
            if t not in TASKS:
                continue
            cells = []
            for m in SERVED_METHODS:
                gens = [GENERATOR_LABEL[g] for g in GENERATOR_KINDS if self.local_path(t, m, g) is not None]
                cells.append(", ".join(gens) if gens else "—")
            rows.append(f"| {task_label(t)} | " + " | ".join(cells) + " |")
        note = "" if hub_allowed() else "\n\nHub downloads are off (`HF_HUB_OFFLINE`/`NAM_APP_HUB=0`)."
        return head + "\n" + "\n".join(rows) + f"\n\nCheckpoints folder: `{self.root}`.{note}"

    # -------------------------------------------------------------- loading
    # The registry lock only guards these dicts: no file, network or model loading happens under it. Each key loads
    # once, in the first thread that asks (its Future tells the others when it is done), so a slow cold load (a Hub
    # lookup, a big checkpoint) never delays a warm ``get`` of another key.
    def get(self, task: str, method: str, generator: str) -> Any:
        """The cached Translator of a combination (loaded on first use); AppError with the reason when unavailable."""
        from .translator import Translator

        key = (task, method, generator)
        with self._lock:
            if key in self._translators:
                return self._translators[key]
            failed = self._failed.get(key)
        if failed is not None:
            raise AppError(f"Could not load {METHOD_LABEL.get(method, method)} for {task} ({generator}): {failed}")
        st = self.status(*key)  # file checks only (no network), outside the lock
        if not st.available:
            raise AppError(st.message.replace("**", ""))
        try:
            tr = self._load_once(key, lambda: (Translator.from_checkpoint(st.path, device=self.device)
                                               if st.path is not None else
                                               Translator.load(task, method, generator, device=self.device)))
        except LOAD_ERRORS as exc:
            raise AppError(f"Could not load {METHOD_LABEL.get(method, method)} for {task} ({generator}): "
                           f"{type(exc).__name__}: {exc}") from exc
        return tr

    def _load_once(self, key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
        """``load()`` a translator into the cache under ``key``, once (see :meth:`_single_flight`). Any failure is
        recorded in ``_failed`` (shown by ``status``, not retried) and raised again."""
        def cached() -> Any:
            if key not in self._translators and key in self._failed:
                raise CheckpointError(self._failed[key])
            return self._translators.get(key)

        def load_configured() -> Any:
            tr = load()
            if self.nam_steps is not None and hasattr(tr, "nam_steps"):
                tr.nam_steps = int(self.nam_steps)
            return tr

        def store(tr: Any) -> None:
            self.locks[key] = threading.Lock()
            self._translators[key] = tr

        def failed(exc: Exception) -> None:
            self._failed[key] = f"{type(exc).__name__}: {exc}"

        return self._single_flight(self._loading, key, cached, load_configured, store, failed)

    def _single_flight(self, loading: dict[Any, Future], key: Any, cached: Callable[[], Any],
                       load: Callable[[], Any], store: Callable[[Any], None],
                       failed: Callable[[Exception], None] | None = None) -> Any:
        """The cached value (``cached()``, under the registry lock; None: not cached), else ``load()`` it once: the
        first caller loads without the registry lock, concurrent callers of the same key wait for its result, other
        keys are not held up. ``store`` (and, on an Exception, ``failed``) run under the lock."""
        with self._lock:
            hit = cached()
            if hit is not None:
                return hit
            fut = loading.get(key)
            owner = fut is None
            if owner:
                fut = loading[key] = Future()
        assert fut is not None
        if not owner:
            return fut.result()
        try:
            value = load()
        except BaseException as exc:
            with self._lock:
                if failed is not None and isinstance(exc, Exception):
                    failed(exc)
                loading.pop(key, None)
            fut.set_exception(exc)
            raise
        with self._lock:
            store(value)
            loading.pop(key, None)
        fut.set_result(value)
        return value

    def baseline(self, task: str, method: str) -> Any | None:
        """The cached Translator of the GAN baseline ``<task>_<method>`` (None when no such local checkpoint)."""
        from .translator import load_translator

        key = (task, method, "")
        with self._lock:
            if key in self._translators:
                return self._translators[key]
            if key in self._failed:
                return None
        path = self.root / f"{task}_{method}"
        if not (path / "config.json").exists():
            return None
        try:
            return self._load_once(key, lambda: load_translator(path, device=self.device))
        except LOAD_ERRORS:
            return None

    def lock(self, task: str, method: str, generator: str) -> threading.Lock:
        self.get(task, method, generator)
        with self._lock:
            return self.locks[(task, method, generator)]

    def loaded(self) -> dict[tuple[str, str, str], Any]:
        with self._lock:
            return dict(self._translators)

    # -------------------------------------------------------------- generators (GLANN tab)
    def generator_domains(self) -> list[str]:
        """Domains with a generator available (local ``gen_<domain>_<kind>`` folders or loaded translators)."""
        doms = {p.name.split("_")[1] for r in (self.root, *self.extra_roots) for p in r.glob("gen_*_*")
                if (p / "config.json").exists()}
        doms -= set(self.user_tasks)  # gen_<task>_glann of a user's task: listed by its domain (below)
        doms |= {tr.target for key, tr in self.loaded().items() if key[0] not in self.private_roots}
        for t, _, _ in self.available():
            doms.add(TASKS[t].target)
        order = ["shoes", "handbags", "mnist", "street", "svhn"]
        return [d for d in order if d in doms] + sorted(doms - set(order))

    def generator(self, domain: str, kind: str = GENERATOR_KINDS[0]) -> tuple[Any, dict[str, Any]]:
        """(G, config) of ``domain``'s ``kind`` generator: ``gen_<domain>_<kind>``, else the one of a mapping
        (named by the mapping's config, looked up only by name in the checkpoints folder), else the Hub."""
        key = (domain, kind)

        def cached() -> tuple[Any, dict[str, Any]] | None:
            if key not in self._generators:
                for tr in self._translators.values():
                    if tr.target == domain and tr.gen_config.get("method") == kind:
                        self._generators[key] = (tr.G, tr.gen_config)
                        break
            return self._generators.get(key)

        def store(found: tuple[Any, dict[str, Any]]) -> None:
            self._generators[key] = found

        return self._single_flight(self._gen_loading, key, cached, lambda: self._find_generator(domain, kind), store)

    def _find_generator(self, domain: str, kind: str) -> tuple[Any, dict[str, Any]]:
        """Load ``domain``'s ``kind`` generator (see :meth:`generator`; called without the registry lock)."""
        from ..checkpoints import NAME_RE, read_config
        from ..methods.generators import load_generator

        refs: list[str | Path] = [r / f"gen_{domain}_{kind}" for r in (self.root, *self.extra_roots)]
        for t, m, g in self.available():
            if TASKS[t].target == domain and g == kind:
                mapping = self.local_path(t, m, g)
                try:
                    cfg = read_config(mapping)
                except CheckpointError:
                    continue
                name = Path(str(cfg.get("generator") or "").replace("\\", "/")).name
                if NAME_RE.fullmatch(name) and mapping.parent / name not in refs:
                    refs.append(mapping.parent / name)  # never the config's path itself (it could point anywhere)
        if hub_allowed():
            refs.append(f"gen_{domain}_{kind}")
        errors = []
        for ref in refs:
            if isinstance(ref, Path) and not (ref / "config.json").exists():
                continue
            try:
                return load_generator(ref, device=self.device)
            except LOAD_ERRORS as exc:
                errors.append(str(exc))
        raise AppError(f"No {GENERATOR_LABEL.get(kind, kind)} generator of {DOMAIN_LABEL.get(domain, domain)} "
                       f"found (looked for gen_{domain}_{kind} in {self.root}). {' '.join(errors)[:300]}")

