"""The app as a live instrument (issue 16), without Gradio: one-pass methods translate every stroke
(:func:`run_live`), and NAM's per-input optimisation streams its K current solutions as it runs (:class:`NamStream`).

``app.py`` turns these into events: the live preview on the canvas's input event (latest request wins), the NAM
stream as a generator with a Stop button.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..methods.registry import is_iterative
from ..utils import to_uint8
from .app_logic import (
    DirectionInfo,
    MapResult,
    ModelRegistry,
    check_input,
    direction_info,
    parse_seed,
    rank_captions,
    resolve_kind,
    run_map,
)

DATASET_KINDS = ("style", "global")  # directions that do not depend on the input: the live preview can keep them
SNAPSHOT_EVERY_S = 0.25  # NAM stream: at most this often a rendered snapshot (a browser cannot show more anyway)
SNAPSHOT_EVERY_STEPS = 5  # … and at least every this many steps
# The solutions of an optimisation stopped early stay in the Translator's cache, so that the sliders, the strip and
# the directions move exactly what is shown; the next Map of that input (same K and seed) must optimise afresh
# instead of returning them, so each translator's stopped inputs are remembered here.
_STOPPED: weakref.WeakKeyDictionary[Any, set[tuple[bytes, tuple[int, ...], int, int]]] = weakref.WeakKeyDictionary()
_STOPPED_LOCK = threading.Lock()


def is_live_method(method: str) -> bool:
    """Whether ``method`` translates in one pass (live drawing); NAM optimises every input, so it streams."""
    return not is_iterative(method)


@dataclass
class LivePreview:
    """The gallery of one stroke: K solutions in rank order, with captions, and the directions when they are the
    input-independent kind (per-input directions cost a Map)."""

    input: np.ndarray
    outputs: np.ndarray  # K×H'×W'×C'
    reconstructions: np.ndarray  # K×H×W×C, T(G(z))
    losses: np.ndarray  # K
    captions: list[str]
    rank_note: str
    ms: float
    device: str
    directions: DirectionInfo | None


def run_live(registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray, k: int = 8,
             seed: int = 0, kind: str = "input") -> LivePreview:
    """The solutions of one prepared input, as Map would rank them (the Translator caches them, so a Map of the
    same drawing afterwards only adds the directions, the why-panel and the zip), without those extras."""
    t0 = time.perf_counter()
    seed = parse_seed(seed)
    tr = registry.get(task, method, generator)
    check_input(tr, task, image)
    with registry.lock(task, method, generator):
        res = tr.translate_full(image[None], int(k), seed)
        info = None
        if resolve_kind(tr, kind)[0] in DATASET_KINDS:
            info = direction_info(tr, image, int(k), seed, kind)[0]
    captions, note = rank_captions(tr, res, task, method, int(k))
    ms = (time.perf_counter() - t0) * 1000
    return LivePreview(image, res.outputs[0], res.reconstructions[0], res.losses[0], captions, note, ms,
                       str(tr.device), info)


@dataclass
class NamSnapshot:
    """NAM's K current solutions at one optimisation step (best current loss first)."""

    step: int
    total: int
    outputs: np.ndarray  # K×H'×W'×C' uint8, G(z)
    reconstructions: np.ndarray  # K×H×W×C uint8, T(G(z)): what is compared with the input
    losses: np.ndarray  # K, of this step
    curve: list[tuple[int, float, float]] = field(default_factory=list)  # (step, best loss, mean loss) so far


class NamStream:
    """NAM's Map run in a worker thread; iterating yields :class:`NamSnapshot` s while it optimises and finally
    the :class:`MapResult` (ranked, cached by the Translator, with zip and directions, like a plain Map).

    :meth:`stop` ends the optimisation after the current step: the result then holds the solutions reached so far
    (and the Translator caches those, so the sliders and the strip explore exactly what is shown); the next
    NamStream of that input optimises afresh rather than returning them."""

    def __init__(self, registry: ModelRegistry, task: str, method: str, generator: str, image: np.ndarray,
                 k: int = 8, seed: int = 0, kind: str = "input", every_s: float = SNAPSHOT_EVERY_S,
                 every_steps: int = SNAPSHOT_EVERY_STEPS) -> None:
        self.args = (registry, task, method, generator, image, int(k), parse_seed(seed), kind)
        self.k, self.every_s, self.every_steps = int(k), float(every_s), max(1, int(every_steps))
        self.tr: Any = None
        self.curve: list[tuple[int, float, float]] = []
        self.stopped_at: int | None = None  # the step Stop took effect at (None: ran to the end)
        self.result: MapResult | None = None
        self.error: BaseException | None = None
        self.first_snapshot_s: float | None = None  # seconds from start to the first snapshot (benchmarks)
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._latest: NamSnapshot | None = None
        self._done = False
        self._last_render = -1.0
        self._last_step = 0
        self._t0 = 0.0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _on_step(self, step: int, z: Any, losses: Any) -> bool:
        import torch

        per = losses[0]
        self.curve.append((step, float(per.min()), float(per.mean())))
        stop = self._stop.is_set()
        if stop and self.stopped_at is None:
            self.stopped_at = step
        now = time.perf_counter()
        total = int(getattr(self.tr, "nam_steps", step))
        due = (step == 1 or step - self._last_step >= self.every_steps or now - self._last_render >= self.every_s)
        if due and not stop and step < total:  # the final solutions come with the result
            order = torch.argsort(per)[: self.k]
            with torch.no_grad():
                outs, recs, _ = self.tr.render(z[0, order].unsqueeze(0))
            snap = NamSnapshot(step, total, to_uint8(outs), to_uint8(recs), per[order].cpu().numpy(),
                               list(self.curve))
            self._last_render, self._last_step = time.perf_counter(), step
            with self._wake:
                if self.first_snapshot_s is None:
                    self.first_snapshot_s = now - self._t0
                self._latest = snap
                self._wake.notify_all()
        return stop

    def _run(self) -> None:
        try:
            registry, task, method, generator, image, k, seed = self.args[:7]
            self.tr = registry.get(task, method, generator)
            key = (np.ascontiguousarray(image).tobytes(), tuple(np.shape(image)), k, seed)
            with _STOPPED_LOCK:
                stopped = _STOPPED.setdefault(self.tr, set())
                fresh = key in stopped
                stopped.discard(key)
            if fresh:  # the cached solutions are a stopped run's: optimise again
                with registry.lock(task, method, generator):
                    self.tr.forget(image, k, seed)
            self.result = run_map(*self.args, on_step=self._on_step)
            if self.stopped_at is not None:
                with _STOPPED_LOCK:
                    stopped.add(key)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self.error = exc
        finally:
            with self._wake:
                self._done = True
                self._wake.notify_all()

    def __iter__(self) -> Iterator[NamSnapshot | MapResult]:
        self._t0 = time.perf_counter()
        worker = threading.Thread(target=self._run, name="nam-stream", daemon=True)
        worker.start()
        try:
            while True:
                with self._wake:
                    while self._latest is None and not self._done:
                        self._wake.wait(timeout=1.0)
                    snap, self._latest, done = self._latest, None, self._done
                if snap is not None and not done:
                    yield snap  # only the newest: a slow consumer skips the snapshots it had no time for
                if done:
                    break
        finally:
            if self.result is None and self.error is None:  # the consumer left early: stop the optimisation
                self._stop.set()
        worker.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        yield self.result
