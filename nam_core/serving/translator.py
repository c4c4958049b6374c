"""``Translator``: load a trained mapping (NAM, AE-NAM, VAE-NAM) with its generator and translate images.

    tr = Translator.load("street2mnist", "vae-nam")            # shipped checkpoint, GLANN generator
    out = tr.translate(images, num_solutions=8, seed=0)        # uint8 (N, K, H', W', C'), most trustworthy first
    tr.rank, tr.oversample = "roundtrip", 32                   # how the K are chosen and ordered (see RANKINGS)
    full = tr.translate_full(images)                           # + T(G(z)), losses, the ranking's scores, rank_by
    tr.deterministic                                           # True: one solution is returned, not K copies
    dirs = tr.directions(images[0], k=4)                       # latent directions with their scales
    moved = tr.explore(images[0], [1.5, 0, -1, 0], seed=0)     # uint8 (K, H', W', C')
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checkpoints import (
    CheckpointError,
    add_tensors,
    find_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    weights_fingerprint,
)
from ..data import load_domain
from ..losses import build_loss, soft_foreground
from ..methods.directions import STYLE_SEED_OFFSET, Directions, move, style_directions, style_spread
from ..methods.generators import load_generator
from ..methods.mappings import TASKS, encode_codes, get_task, resolve_generator_ref
from ..methods.registry import Method, find_method, get_method, method_names, partner_methods
from ..methods.vae_nam import AE_NAM_TEMPERATURE
from ..paths import CHECKPOINTS_DIR
from ..utils import get_device, to_tensor, to_uint8
from .feedforward import FeedForwardTranslator
from .interface import MappingTranslator, Translation, prepare_inputs

__all__ = ["AE_NAM_TEMPERATURE", "STYLE_SEED_OFFSET", "MappingTranslator", "Translation", "Translator",
           "available_models", "checkpoint_name", "load_translator", "prepare_inputs"]

GENERATORS = method_names("generator")
BASELINE_METHODS = method_names(feed_forward=True)
# the K sampled solutions of AE-NAM / VAE-NAM also move along the checkpoint's style directions (when it has them),
# by this many of their standard deviations: the solutions then differ in appearance while T(G(z)) — and so the
# digit — stays close to the input (benchmarks/bench_diversity.py --style-temperatures measures the trade-off)
STYLE_TEMPERATURE = 2.0
# only style directions whose gain (output change per unit of reconstruction change, relative to the least such
# direction) reaches this are used: street→mnist has none (its outputs cannot change without changing what they
# reconstruct), mnist→street and edges→photos have 3–8 of their 8
STYLE_MIN_GAIN = 5.0
# how the K solutions are ordered (Translator.rank; lower score first): "loss" = ‖T(G(z)) − x‖, "roundtrip" = the
# opposite task's one-pass model maps G(z) back and that is compared with x, "roundtrip+loss" = the sum of the two
# rank positions; None keeps the order they were drawn in (the posterior mean first)
RANKINGS = ("loss", "roundtrip", "roundtrip+loss")
DEFAULT_RANK = "loss"  # chosen on training inputs (benchmarks/bench_ranking.py; docs/RESULTS.md has the figures)
# candidates drawn before the best K are kept (Translator.oversample): cheap for the one-pass methods (one batched
# pass of G and T per candidate), so only they oversample by default — NAM would pay its per-input optimisation for
# every extra candidate
DEFAULT_OVERSAMPLE = 16
PARTNER_METHODS = tuple(m.name for m in partner_methods())  # one-pass partners for the round trip (posterior mean)


def opposite_task(task: str) -> str | None:
    """``b2a`` for ``a2b`` when that task exists (street2mnist ↔ mnist2street), else None (edges→photos)."""
    a, _, b = task.partition("2")
    name = f"{b}2{a}"
    return name if name in TASKS and name != task else None


def _positions(scores: torch.Tensor) -> torch.Tensor:
    """Rank position (0 = lowest) of every entry along dim 1."""
    return scores.argsort(dim=1, stable=True).argsort(1).to(scores.dtype)


def rank_scores(losses: torch.Tensor, roundtrip: torch.Tensor | None, rank: str) -> tuple[torch.Tensor, str]:
    """Per-candidate scores (N, M), lower = more trustworthy, and the ranking actually used: ``rank`` itself, or
    "loss" when it needs a round trip and there is none (no partner model for the task)."""
    if rank not in RANKINGS:
        raise ValueError(f"rank must be one of {', '.join(RANKINGS)} or None, got {rank!r}")
    if rank == "loss" or roundtrip is None:
        return losses, "loss"
    if rank == "roundtrip":
        return roundtrip, rank
    m = losses.shape[1]  # rank-sum; the loss position / M (< 1) breaks ties without outweighing a whole position
    return _positions(roundtrip) + _positions(losses) * (1 + 1 / (m + 1)), rank


def select_ranked(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (N, k) of the ``k`` lowest scores per row, best first (ties keep the drawing order)."""
    return scores.argsort(dim=1, stable=True)[:, :k]


def checkpoint_name(task: str, method: str, generator: str = "glann") -> str:
    """Folder name of a shipped mapping checkpoint, e.g. ``street2mnist_vae-nam_glann`` (GAN baselines have no
    separate generator: ``street2mnist_cyclegan``)."""
    m = find_method(method)
    return f"{task}_{method}" if m is not None and m.feed_forward else f"{task}_{method}_{generator}"


def available_models(root: str | Path = CHECKPOINTS_DIR) -> list[dict[str, str]]:
    """Mapping checkpoints (task, method, generator, path) in the folders directly under ``root``."""
    return [{"task": cfg.get("task", ""), "method": cfg.get("method", ""), "generator": cfg.get("generator_method", ""),
             "path": str(path)} for path, cfg in find_checkpoints(root, "mapping")]


class Translator:
    """A mapping checkpoint + its frozen generator, ready to translate images of the task's input domain."""

    def __init__(self, mapping: Any, generator: nn.Module, gen_config: dict[str, Any],
                 device: torch.device) -> None:
        self.ckpt, self.G, self.gen_config, self.device = mapping, generator, gen_config, device
        cfg = mapping.config
        self.config = cfg
        self.method: str = cfg["method"]
        self.spec: Method = get_method(self.method)  # its test-time algorithm and what the app needs to know
        self.task = get_task(cfg["task"], cfg)  # a user-trained task: from the source/target its config records
        self.source, self.target = self.task.source, self.task.target
        self.T = mapping.networks["T"]
        self.E = mapping.networks.get("E")
        # the loss T was trained with (NAM one-pass: its NAM's, not the distillation loss in hparams["loss"])
        self.recon_loss: str = self.spec.recon_loss(cfg)
        self.loss_fn = build_loss(self.recon_loss).to(device)
        self.latent_dim = generator.latent_dim
        self.global_mean = mapping.tensors.get("global_mean")
        self.global_dirs = None
        if "global_vectors" in mapping.tensors:
            self.global_dirs = Directions(mapping.tensors["global_vectors"], mapping.tensors["global_std"], "global")
        self.style_dirs = None  # None: the checkpoint has none; 0 rows: none reaches STYLE_MIN_GAIN
        if "style_vectors" in mapping.tensors:
            gain = mapping.tensors.get("style_gain", torch.full((len(mapping.tensors["style_vectors"]),), math.inf))
            keep = gain.cpu() >= float(cfg.get("style_min_gain", STYLE_MIN_GAIN))
            self.style_dirs = Directions(mapping.tensors["style_vectors"][keep], mapping.tensors["style_std"][keep],
                                         "style")
        self.style_temperature = float(cfg.get("style_temperature", STYLE_TEMPERATURE))
        self.nam_steps = 100
        # NAM on edge inputs: weight of the term that draws the object where the input's outline encloses it
        self.silhouette_weight = float(cfg.get("solver_silhouette_weight", 0.0))
        # NAM: its K retrieval starts are picked among this many times K best matches, as different as possible
        self.start_spread = int(cfg.get("solver_start_spread", 1))
        # spread of the K sampled solutions: ε·σ is scaled by it (VAE-NAM), as is AE-NAM's spread along the global
        # axes; the checkpoint may carry a value chosen on training inputs (``sampling_temperature``)
        self.temperature = float(cfg.get("sampling_temperature", 1.0))
        self.nam_init = "retrieval"  # or "random": Gaussian starts (the NAM paper's)
        self.rank: str | None = DEFAULT_RANK  # see RANKINGS
        self.oversample = 0 if self.spec.iterative else DEFAULT_OVERSAMPLE  # candidates drawn (≥ K; 0: K)
        # the opposite task's model for the round trip: found next to this checkpoint on first use, unless a loader
        # (e.g. the app's registry) is given or ``partner`` is set
        self.partner_loader: Callable[[], Translator | None] | None = None
        self._partner: Translator | None | bool = False  # False: not looked for yet
        self._pool: torch.Tensor | None = None
        self._pool_fg: torch.Tensor | None = None
        self._pool_thumbs: torch.Tensor | None = None
        self._dirs: dict[int, tuple[weakref.ref, dict[int, Directions]]] = {}  # id(z) → (ref, {k: Directions})
        self.cache_size = 8  # solutions of the last few single-image requests (NAM optimisation is costly)
        # → (x, z, σ, scores, ranking used, (G(z), T(G(z)), losses) of those z, kept so a hit needs no new pass)
        self._cache: OrderedDict[tuple, tuple] = OrderedDict()

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_loaded(cls, mapping: Any, device: torch.device, generator: str | Path | None = None) -> Translator:
        """A Translator for an already loaded mapping checkpoint (``load_checkpoint``) and the generator it names
        (or ``generator``)."""
        cfg = mapping.config
        path = getattr(mapping, "path", None)
        if cfg.get("kind") != "mapping":
            raise CheckpointError(f"{path} is not a mapping checkpoint (kind={cfg.get('kind')!r})")
        spec = find_method(cfg.get("method"))
        if spec is None or spec.feed_forward:
            what = "unknown" if spec is None else "GAN baseline"
            raise CheckpointError(f"{path} is a {cfg.get('method')!r} ({what}) mapping, not one with a generator: "
                                  "load it with nam_core.serving.load_translator")
        gref = generator or cfg.get("generator")
        if not gref:
            raise CheckpointError(f"{path} does not name its generator")
        gpath = resolve_generator_ref(gref, mapping.path, from_config=generator is None)
        G, gcfg = load_generator(gpath, device=device)
        want = cfg.get("generator_fingerprint")
        if want and weights_fingerprint(G) != want:
            raise CheckpointError(
                f"{path} was trained on a different {gref} than the one at {gpath} (weights fingerprint mismatch): "
                "retrain the mapping on this generator, or pass the generator it was trained on")
        return cls(mapping, G, gcfg, device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None,
                        generator: str | Path | None = None) -> Translator:
        """Load a mapping checkpoint folder (NAM, AE-NAM, VAE-NAM, NAM one-pass) and the generator it names (or
        ``generator``); :func:`load_translator` loads any mapping, the GAN baselines too."""
        dev = get_device(device)
        return cls.from_loaded(load_checkpoint(path, device=dev), dev, generator)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, revision: str | None = None,
                        device: str | torch.device | None = None, generator: str | Path | None = None) -> Translator:
        """A mapping by folder, shipped name or Hub name (at ``revision``), with the generator it names."""
        return cls.from_checkpoint(resolve_checkpoint(name_or_path, revision=revision), device, generator)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the mapping (T, its encoder or tensors, config, training info) to the folder ``path``; the generator
        stays a reference (name + fingerprint) in its config, as diffusers' pipelines name their components."""
        return self.ckpt.save_pretrained(path)

    @property
    def info(self) -> dict[str, Any]:
        """The mapping's training info (history, hparams, recipe, provenance; ``training_info.json``)."""
        return getattr(self.ckpt, "info", {})

    @classmethod
    def load(cls, task: str, method: str, generator: str = "glann", device: str | torch.device | None = None,
             root: str | Path | None = None) -> Translator:
        """The shipped model for ``task`` × ``method`` on a ``generator`` ("glann" or "dcgan") G."""
        return cls.from_checkpoint(shipped_path(task, method, generator, root), device=device)

    # ------------------------------------------------------------------ ranking
    @property
    def deterministic(self) -> bool:
        """True when all K solutions of an input would be the same image (a deterministic code — AE-NAM, NAM
        one-pass, or VAE-NAM at temperature 0 — with no usable style direction and no other spread): one solution
        is then returned instead of K copies."""
        if self.spec.iterative:
            return False  # K optimisations from different starts
        if self.style_dirs is not None and len(self.style_dirs.vectors) and self.style_temperature != 0:
            return False
        if not self.spec.deterministic:  # a posterior: sampled unless at temperature 0
            return self.temperature == 0
        # AE-NAM / NAM one-pass: a checkpoint with style directions spreads only along them (none usable here);
        # one without spreads along the global axes
        return self.style_dirs is not None or self.global_dirs is None or self.temperature == 0

    @property
    def partner(self) -> Translator | None:
        """The opposite task's one-pass model (None when there is none, e.g. edges→photos), loaded on first use."""
        if self._partner is False:
            self._partner = self.partner_loader() if self.partner_loader is not None else self._find_partner()
        return self._partner  # type: ignore[return-value]

    @partner.setter
    def partner(self, tr: Translator | None) -> None:
        self._partner = tr
        self._cache.clear()

    def _find_partner(self) -> Translator | None:
        """The opposite task's VAE-NAM / AE-NAM / NAM one-pass checkpoint in the folder of this one or the shipped
        folder (local only), on the same kind of generator first."""
        opp = opposite_task(self.task.name)
        if opp is None:
            return None
        kind = self.config.get("generator_method") or self.gen_config.get("method") or "glann"
        kinds = [kind] + [g for g in GENERATORS if g != kind]
        here = getattr(self.ckpt, "path", None)
        roots = list(dict.fromkeys(([Path(here).parent] if here else []) + [Path(CHECKPOINTS_DIR)]))
        for g in kinds:
            for method in PARTNER_METHODS:
                for root in roots:
                    path = root / checkpoint_name(opp, method, g)
                    if not (path / "config.json").exists():
                        continue
                    try:
                        return Translator.from_checkpoint(path, device=self.device)
                    except (CheckpointError, OSError, ValueError, KeyError, RuntimeError):
                        continue  # a broken partner only costs the round trip: the ranking falls back to the loss
        return None

    @torch.no_grad()
    def roundtrip_distances(self, outs: torch.Tensor, x: torch.Tensor, batch: int = 256) -> torch.Tensor | None:
        """Analogies ``outs`` (N·M, C', H', W', M per input) mapped back by the partner's posterior mean G'(E'(y))
        (one pass, no adversary, no labels), each scored with this model's loss against its input x (N, C, H, W):
        (N, M); None without a partner."""
        p = self.partner
        if p is None or p.E is None:
            return None
        back = torch.cat([p.G(p.E(outs[i : i + batch])[0]) for i in range(0, len(outs), batch)])
        m = len(outs) // len(x)
        return self.loss_fn(back, x.repeat_interleave(m, 0), reduction="none").view(len(x), m)

    @torch.no_grad()
    def candidates(self, images: np.ndarray, m: int, seed: int = 0, roundtrip: bool = True) -> dict[str, Any]:
        """The ``m`` candidates a ranked request draws, before ranking: ``outputs`` uint8 (N, M, H', W', C'),
        ``losses`` (N, M), ``roundtrip`` (N, M, or None without a partner / when not asked for). Any K of them are
        distributed like a draw of K (same posterior / style spread / restart starts, not the same numbers), so
        ``benchmarks/bench_ranking.py`` scores every smaller M on prefixes of one draw; rank them with
        :func:`rank_scores` and :func:`select_ranked`."""
        x = self._inputs(images)
        z, _ = self._solutions(x, 1 if self.deterministic else m, seed)
        outs, _, losses = self.render(z, x)
        assert losses is not None
        rt = self.roundtrip_distances(outs, x) if roundtrip else None
        return {"outputs": self._as_images(outs, *z.shape[:2]), "losses": losses.cpu(),
                "roundtrip": None if rt is None else rt.cpu()}

    @torch.no_grad()
    def _ranked(self, x: torch.Tensor, k: int, seed: int, callback: Callable[[int, int], None] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                           torch.Tensor | None, str | None]:
        """The K solutions in rank order: z (N, K, d), σ, (G(z), T(G(z)), losses) of those K, their scores (N, K)
        and the ranking used. Draws max(K, ``oversample``) candidates when ranking; K = 1 when deterministic."""
        if self.rank is not None and self.rank not in RANKINGS:
            raise ValueError(f"rank must be one of {', '.join(RANKINGS)} or None, got {self.rank!r}")
        if self.deterministic:
            k = 1
        m = k if self.rank is None or self.deterministic else max(k, int(self.oversample or 0))
        z, sigma = self._solutions(x, m, seed, callback)
        outs, recs, losses = self.render(z, x)
        assert losses is not None
        if self.rank is None:
            return z, sigma, (outs, recs, losses), None, None
        rt = self.roundtrip_distances(outs, x) if self.rank != "loss" else None
        scores, used = rank_scores(losses, rt, self.rank)
        order = select_ranked(scores, k)
        rows = torch.arange(len(x), device=order.device)[:, None]
        flat = (rows * m + order).reshape(-1).to(outs.device)
        picked = (outs[flat], recs[flat], losses.gather(1, order.to(losses.device)))
        return z[rows, order], sigma, picked, scores.gather(1, order.to(scores.device)), used

    # ------------------------------------------------------------------ core
    def _inputs(self, images: np.ndarray) -> torch.Tensor:
        return to_tensor(prepare_inputs(images, self.source), self.device)

    @torch.no_grad()
    def _solutions(self, x: torch.Tensor, k: int, seed: int,
                   callback: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latent solutions z (N, K, d) and σ (N, d) (None for NAM's optimisation): the method's own solver."""
        assert self.spec.solve is not None
        return self.spec.solve(self, x, k, seed, callback)

    def style_spread(self, z: torch.Tensor, x: torch.Tensor, seed: int) -> torch.Tensor:
        """z (N, K, d) spread along the usable style directions (:func:`~nam_core.methods.directions.style_spread`
        at ``style_temperature``)."""
        return style_spread(z, x, seed, self.style_dirs, self.style_temperature)

    @torch.no_grad()
    def code_pool(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The checkpoint's training codes and their T(G(z)), computed once (NAM's retrieval starts), or None
        when it has no codes."""
        codes = self.ckpt.tensors.get("codes")
        if codes is None:
            return None
        if self._pool is None:
            recs, fgs, thumbs = [], [], []
            for i in range(0, len(codes), 256):  # one pass of G serves all three
                photos = self.G(codes[i : i + 256])
                recs.append(self.T(photos))
                fgs.append(soft_foreground(photos))
                thumbs.append(F.adaptive_avg_pool2d(photos, 16))
            self._pool, self._pool_fg, self._pool_thumbs = torch.cat(recs), torch.cat(fgs), torch.cat(thumbs)
        return codes, self._pool

    def pool_foreground(self) -> torch.Tensor | None:
        """soft_foreground(G(z)) of the training codes (N, H, W), from the same pass as :meth:`code_pool`."""
        return None if self.code_pool() is None else self._pool_fg

    def pool_thumbnails(self) -> torch.Tensor | None:
        """G(z) of the training codes at 16×16 (N, C, 16, 16), from the same pass as :meth:`code_pool`: what NAM's
        spread-out retrieval starts compare."""
        return None if self.code_pool() is None else self._pool_thumbs

    @torch.no_grad()
    def _generate(self, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """G(z) for z (..., d), in chunks of ``batch``: (∏..., C', H', W')."""
        flat = z.reshape(-1, self.latent_dim)
        return torch.cat([self.G(flat[i : i + batch]) for i in range(0, len(flat), batch)])

    @staticmethod
    def _as_images(t: torch.Tensor, n: int, k: int) -> np.ndarray:
        """(n·k, C, H, W) in [-1, 1] → uint8 (n, k, H, W, C)."""
        return to_uint8(t).reshape(n, k, t.shape[2], t.shape[3], t.shape[1])

    @torch.no_grad()
    def render(self, z: torch.Tensor, x: torch.Tensor | None = None,
               batch: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """G(z) and T(G(z)) for z (..., d); losses against x (N×C×H×W) when given (z then (N, K, d))."""
        outs = self._generate(z, batch)
        recs = torch.cat([self.T(outs[i : i + batch]) for i in range(0, len(outs), batch)])
        losses = None
        if x is not None:
            k = z.shape[1]
            losses = self.loss_fn(recs, x.repeat_interleave(k, 0), reduction="none").view(len(x), k)
        return outs, recs, losses

    def _codes(self, images: np.ndarray, num_solutions: int, seed: int,
               callback: Callable[[int, int], None] | None, rendered: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, tuple | None, torch.Tensor | None, str | None]:
        """(x N×C×H×W, z (N, K, d) in rank order, (G(z), T(G(z)), losses) when already computed, scores, ranking
        used); single images (the app) go through the cache so directions/explore reuse the solutions.
        ``rendered=False`` with no ranking skips T (``translate``'s one pass of E and G)."""
        if num_solutions < 1:
            raise ValueError("num_solutions must be ≥ 1")
        x = self._inputs(images)
        if len(x) == 1:
            x, z1, _, scores, used, picked = self._solve_entry(images, num_solutions, seed, callback)
            return x, z1.unsqueeze(0), picked, None if scores is None else scores.unsqueeze(0), used
        if self.rank is None and not rendered:
            k = 1 if self.deterministic else num_solutions
            return x, self._solutions(x, k, seed, callback)[0], None, None, None
        z, _, out, scores, used = self._ranked(x, num_solutions, seed, callback)
        return x, z, out, scores, used

    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                       callback: Callable[[int, int], None] | None = None) -> Translation:
        """Translate with everything returned (outputs, T(G(z)), per-solution loss, codes, and the ranking's
        scores), solutions in rank order (:attr:`rank`); K = 1 when the model is :attr:`deterministic`."""
        x, z, out, scores, used = self._codes(images, num_solutions, seed, callback)
        outs, recs, losses = out if out is not None else self.render(z, x)
        n, k = z.shape[:2]
        return Translation(self._as_images(outs, n, k), self._as_images(recs, n, k), losses.cpu().numpy(), z,
                           None if scores is None else scores.cpu().numpy(), used)

    def translate(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0,
                  callback: Callable[[int, int], None] | None = None) -> np.ndarray:
        """uint8 images (N, H, W, C) of the input domain → uint8 analogies (N, K, H', W', C'), in rank order.

        The same analogies as :meth:`translate_full`, without its extras; with ``rank = None`` VAE-NAM and AE-NAM
        then cost one pass of E and of G (ranking also needs T, and the partner for the round trip)."""
        _, z, out, _, _ = self._codes(images, num_solutions, seed, callback, rendered=False)
        return self._as_images(out[0] if out is not None else self._generate(z), *z.shape[:2])

    # ------------------------------------------------------------ directions
    def solve(self, image: np.ndarray, k: int = 8, seed: int = 0, callback: Callable[[int, int], None] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Solutions for one image in rank order, cached (LRU of ``cache_size``): (x 1×C×H×W, z (K, d), σ (d,) or
        None); K = 1 when :attr:`deterministic`."""
        return self._solve_entry(image, k, seed, callback)[:3]  # type: ignore[return-value]

    def _solve_entry(self, image: np.ndarray, k: int, seed: int, callback: Callable[[int, int], None] | None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, str | None,
                                tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
        """:meth:`solve` plus the solutions' scores (K,), the ranking used and their (G(z), T(G(z)), losses)."""
        x = self._inputs(image)[:1]
        key = self._cache_key(x, k, seed)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        z, sigma, picked, scores, used = self._ranked(x, k, seed, callback)
        # the K solutions' G(z), T(G(z)) and losses, as ranking computed them: translate_full needs no second pass
        entry = (x, z[0], None if sigma is None else sigma[0], None if scores is None else scores[0], used, picked)
        self._cache[key] = entry
        while len(self._cache) > max(0, self.cache_size):  # cache_size = 0 turns caching off
            self._cache.popitem(last=False)
        return entry


    def _cache_key(self, x: torch.Tensor, k: int, seed: int) -> tuple:
        partner = id(self.partner) if self.rank not in (None, "loss") else None  # loads it on first use
        return (x.cpu().numpy().tobytes(), k, seed, self.nam_steps, self.nam_init, self.temperature,
                self.style_temperature, self.silhouette_weight, self.start_spread, self.rank, self.oversample,
                partner, id(self.style_dirs))

    def forget(self, image: np.ndarray, k: int = 8, seed: int = 0) -> bool:
        """Drop the cached solutions of one input (whether there were any): the next request solves it afresh.
        The app calls it for solutions of an optimisation stopped early, once a new Map asks for that input."""
        return self._cache.pop(self._cache_key(self._inputs(image)[:1], k, seed), None) is not None

    def directions(self, image: np.ndarray, k: int = 4, kind: str = "input", num_solutions: int = 8,
                   seed: int = 0) -> Directions:
        """``k`` latent directions for one input (``kind="input"``), the dataset-wide principal axes (``"global"``) or
        the dataset-wide style directions (``"style"``: appearance changes that keep T(G(z)), so the digit)."""
        ref = self.global_dirs.vectors if self.global_dirs is not None else None
        if kind == "global":
            if self.global_dirs is None:
                raise ValueError("this checkpoint has no global directions")
            return Directions(self.global_dirs.vectors[:k], self.global_dirs.scales[:k], "global")
        if kind == "style":
            if self.style_dirs is None:
                raise ValueError("this checkpoint has no style directions (training/style_directions.py adds them)")
            return Directions(self.style_dirs.vectors[:k], self.style_dirs.scales[:k], "style")
        if kind != "input":
            raise ValueError("kind must be 'input', 'global' or 'style'")
        x, z, sigma = self.solve(image, num_solutions, seed)
        assert self.spec.input_directions is not None
        # a posterior's directions cost d + 1 generator passes: cached per solution set
        ref_z, per_z = self._dirs.get(id(z), (None, {}))
        if ref_z is None or ref_z() is not z:  # keyed by identity: z lives in the solution cache
            per_z = {}
            self._dirs = {i: v for i, v in self._dirs.items() if v[0]() is not None}
            self._dirs[id(z)] = (weakref.ref(z), per_z)
        if k not in per_z:
            per_z[k] = self.spec.input_directions(self, z, sigma, k, ref)
        return per_z[k]

    def explore(self, image: np.ndarray, coefficients: list[float], seed: int = 0, num_solutions: int = 8,
                kind: str = "input", anchor: int | None = None,
                callback: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The K solutions for ``image`` moved by ``coefficients`` (units of each direction's std): uint8 (K, H, W, C).

        With ``anchor`` = i, every tile is solution i moved (a one-anchor gallery)."""
        entry = self._solve_entry(image, num_solutions, seed, callback)
        z, picked = entry[1], entry[5]
        if anchor is None and picked is not None and not any(float(c) for c in coefficients):
            return to_uint8(picked[0])  # exactly the tiles Map showed (a new pass may differ by a rounding step)
        dirs = self.directions(image, len(coefficients), kind, num_solutions, seed)
        base = z if anchor is None else z[anchor : anchor + 1].expand_as(z)
        outs, _, _ = self.render(move(base, dirs, coefficients))
        return to_uint8(outs)

    def strip(self, image: np.ndarray, direction: int, steps: int = 7, span: float = 3.0, seed: int = 0,
              kind: str = "input", anchor: int = 0, num_solutions: int = 8) -> np.ndarray:
        """One direction from −span to +span std around one solution: uint8 (steps, H, W, C)."""
        x, z, _ = self.solve(image, num_solutions, seed)
        dirs = self.directions(image, direction + 1, kind, num_solutions, seed)
        if direction >= len(dirs.vectors):
            raise ValueError(f"only {len(dirs.vectors)} directions available")
        coefs = torch.linspace(-span, span, steps)
        one = Directions(dirs.vectors[direction : direction + 1], dirs.scales[direction : direction + 1], dirs.kind)
        zs = torch.stack([move(z[anchor], one, [c]) for c in coefs])
        outs, _, _ = self.render(zs)
        return to_uint8(outs)


def attach_style_directions(path: str | Path, k: int = 8, n_images: int = 2000, probes: int = 128,
                            device: str | torch.device | None = None, recipe: str = "") -> dict[str, Any]:
    """Compute a NAM / AE-NAM / VAE-NAM checkpoint's style directions (:func:`style_directions` on its training
    codes: NAM's per-target codes, or E's μ of the first ``n_images`` training inputs) and store them in it
    (``style_vectors`` / ``style_std`` / ``style_gain``); what :func:`~nam_core.methods.mappings.train_mapping` now
    does at the end of training, for checkpoints trained before. Returns the added config entry."""
    tr = Translator.from_checkpoint(path, device=device)  # a GAN baseline (no latent space) is refused there
    codes = tr.ckpt.tensors.get("codes")
    if codes is None:
        assert tr.E is not None
        codes = encode_codes(tr.E, load_domain(tr.source, "train").images[:n_images], tr.device)
    vectors, std, gain = style_directions(tr.G, tr.T, codes.float(), k, probes=probes)
    entry = {"k": len(vectors), "codes": len(codes), "probes": probes, "gain": [round(float(g), 2) for g in gain],
             "command": recipe}
    add_tensors(tr.ckpt.path, {"style_vectors": vectors, "style_std": std, "style_gain": gain},
                {"style_directions": entry})
    return entry


def shipped_path(task: str, method: str, generator: str = "glann", root: str | Path | None = None) -> Path:
    """The folder of the shipped (or ``root``'s) model for ``task`` × ``method`` × ``generator``."""
    name = checkpoint_name(task, method, generator)
    ref = Path(root) / name if root is not None else name
    try:
        return resolve_checkpoint(ref, local_only=True if root is not None else None)
    except CheckpointError as exc:
        raise CheckpointError(f"no {method} model for {task} with a {generator} generator: {exc}") from exc


def load_translator(path: str | Path, device: str | torch.device | None = None,
                    generator: str | Path | None = None, revision: str | None = None) -> MappingTranslator:
    """Any mapping checkpoint, loaded once, as the translator its method needs: a :class:`Translator` (with its
    generator, or ``generator``) or, for a GAN baseline, a
    :class:`~nam_core.serving.feedforward.FeedForwardTranslator`."""
    dev = get_device(device)
    mapping = load_checkpoint(resolve_checkpoint(path, revision=revision) if revision else path, device=dev)
    spec = find_method(mapping.config.get("method"))
    if spec is not None and spec.feed_forward:
        return FeedForwardTranslator.from_loaded(mapping, dev)
    return Translator.from_loaded(mapping, dev, generator)
