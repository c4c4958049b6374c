"""Tasks and the training entry point for the mapping methods (NAM, AE-NAM, VAE-NAM).

``A2B``: the input is an A image and the output its B analogy, so G is B's generator and T maps B → A.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .. import checkpoints as _checkpoints
from ..checkpoints import (
    MAX_START_SPREAD,
    NAME_RE,
    CheckpointError,
    fetch_checkpoint,
    load_checkpoint,
    save_checkpoint,
    weights_fingerprint,
)
from ..data import DOMAINS, load_domain
from ..losses import build_loss
from ..utils import atomic_path, get_device, image_grid, save_png, to_tensor, to_uint8
from .directions import pca, style_directions
from .generators import load_generator
from .nam import NAM, nam_infer, retrieval_starts
from .refine import METHOD as REFINED_METHOD
from .refine import NAMRefiner
from .registry import find_method, get_method, methods
from .trainer import TrainConfig, Trainer
from .vae_nam import VAENAM


@dataclass(frozen=True)
class Task:
    name: str
    source: str  # input domain A
    target: str  # output domain B (G generates it)


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("mnist2street", "mnist", "street"), Task("street2mnist", "street", "mnist"),
    Task("mnist2svhn", "mnist", "svhn"), Task("svhn2mnist", "svhn", "mnist"),
    Task("edges2shoes", "shoes_edges", "shoes"), Task("edges2handbags", "handbags_edges", "handbags"),
]}
# the methods train_mapping trains (NAM, AE-NAM, VAE-NAM), and those served with a generator (+ NAM one-pass)
METHODS = tuple(m.name for m in methods() if m.script == "train_mapping")
SERVED_METHODS = (*METHODS, *(m.name for m in methods(feed_forward=False) if m.name not in METHODS))
STYLE_DIRECTIONS = 8  # style directions stored with each mapping (see directions.style_directions)
DEFAULTS: dict[str, dict[str, Any]] = {m: dict(get_method(m).defaults) for m in METHODS}


@torch.no_grad()
def encode_codes(E: torch.nn.Module, images: np.ndarray, device: torch.device, batch: int = 256) -> torch.Tensor:
    """E's μ for uint8 images (N, H, W, C), in batches: (N, d)."""
    return torch.cat([E(to_tensor(np.asarray(images[i : i + batch]), device))[0]
                      for i in range(0, len(images), batch)])


@torch.no_grad()
def global_directions(m: Any, images: np.ndarray, device: torch.device, k: int = 8,
                      style_k: int = STYLE_DIRECTIONS, style_probes: int = 128) -> dict[str, torch.Tensor]:
    """PCA of the codes of the training set (E's μ for AE/VAE-NAM, the trained per-target codes for NAM), stored
    with the checkpoint as ``global_mean`` / ``global_vectors`` / ``global_std`` (input-independent sliders), and the
    ``style_k`` style directions of those codes (``style_vectors`` / ``style_std`` / ``style_gain``, see
    :func:`~nam_core.methods.directions.style_directions`; ``style_k=0`` leaves them out), with the Jacobians they
    need measured at ``style_probes`` of the codes."""
    if isinstance(m, NAM):
        codes = m.codes.weight.detach()
    else:  # AE/VAE-NAM and NAM one-pass: E's codes of the training images
        m.E.eval()
        codes = encode_codes(m.E, images, device)
    mean, vecs, std = pca(codes.float().cpu(), k)
    out = {"global_mean": mean, "global_vectors": vecs, "global_std": std}
    if style_k:
        was_training = m.T.training
        m.T.eval()
        sv, ss, sg = style_directions(m.G, m.T, codes.float(), style_k, probes=style_probes)
        m.T.train(was_training)
        out.update({"style_vectors": sv, "style_std": ss, "style_gain": sg})
    return out


def register_task(task: Task) -> Task:
    """Add a task of the user's own domains (``folder:`` names) to :data:`TASKS`; the built-in ones cannot be
    redefined, and registering the same task again is a no-op."""
    name = task.name
    if not (0 < len(name) <= 100 and name[0].isalnum() and all(c.isascii() and (c.isalnum() or c in "-.")
                                                                 for c in name)):
        # "_" separates task, method and generator in checkpoint folder names (``<task>_<method>_<generator>``)
        raise ValueError(f"task name {task.name!r}: use letters, digits, '-' or '.', without '_'")
    old = TASKS.get(task.name)
    if old is not None and old != task:
        raise ValueError(f"task {task.name!r} already maps {old.source} → {old.target}; choose another name")
    TASKS[task.name] = task
    return task


def get_task(name: str, config: dict[str, Any] | None = None) -> Task:
    """The task called ``name``; a task not in :data:`TASKS` (one trained on the user's own domains, in another
    process) is registered from the ``source``/``target`` a mapping checkpoint's ``config`` records."""
    if name not in TASKS and config and config.get("source") and config.get("target"):
        return register_task(Task(name, str(config["source"]), str(config["target"])))
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]


def _check_style_temperature(style_temperature: float | None) -> None:
    """The bound that :func:`train_mapping` and :func:`train_refiner` put on the style temperature they store."""
    if style_temperature is not None and not 0.0 <= style_temperature <= 10.0:
        raise ValueError("style_temperature must be between 0 and 10")


def train_mapping(task: str, method: str, generator: str | Path, out_dir: str | Path, epochs: int | None = None,
                  batch_size: int | None = None, n_targets: int | None = None, beta: float | None = None,
                  prior_weight: float | None = None,
                  loss: str = "laplacian", nf: int = 64, nef: int = 64, t_arch: str = "crn", lr_z: float = 1e-2,
                  t_affine: str = "none", t_zoom: float = 1.0, sketch_aug: float = 0.0, sketch_variants: int = 4,
                  silhouette_weight: float = 0.0, style_probes: int = 128, style_temperature: float | None = None,
                  sampling_temperature: float | None = None, solver_silhouette_weight: float | None = None,
                  solver_start_spread: int | None = None,
                  limit: int | None = None, seed: int = 0, device: str | None = None,
                  max_minutes: float | None = None, finish_early: bool = False, progress: bool = True,
                  recipe: str = "") -> Path:
    """Train ``method`` for ``task`` on top of the frozen generator checkpoint ``generator``; resumable.

    ``sketch_aug`` (AE/VAE-NAM on an edge-map input domain): the probability that E sees one of ``sketch_variants``
    drawn-outline versions of a training edge map instead of the map itself (denoising: the loss keeps the clean
    map; see :class:`~nam_core.methods.vae_nam.VAENAM`); the versions are made once and cached in ``out_dir``.
    ``silhouette_weight`` (same tasks): weight of the term that puts G(z)'s object where the input's outline
    encloses it (:func:`~nam_core.data.edges.edge_silhouette`). ``style_temperature``: the spread of the K
    solutions along the style directions that the checkpoint asks the Translator for (inference only; ``None``: the
    Translator's default); ``sampling_temperature`` likewise scales VAE-NAM's posterior spread ε·σ (AE-NAM's along the
    global axes).
    ``solver_silhouette_weight`` (NAM on an edge-map input): the weight of the silhouette
    term in NAM's test-time solver (:func:`~nam_core.methods.nam.solve`), also inference only.
    ``solver_start_spread`` (NAM): its K retrieval starts are picked among that many times K best training codes,
    as different as possible (:func:`~nam_core.methods.nam.retrieval_starts`), also inference only.

    Returns ``out_dir/final`` (T, and E for AE/VAE-NAM, with the config naming the generator it needs)."""
    t = get_task(task)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    meth = get_method(method)  # iterative: NAM (per-target codes); else an encoder, variational unless deterministic
    if (sketch_aug or silhouette_weight) and (meth.iterative or not t.source.endswith("_edges")):
        raise ValueError("sketch augmentation and the silhouette term need AE-NAM or VAE-NAM on an edge-map input "
                         "(edges2shoes/handbags)")
    if not 0.0 <= sketch_aug <= 1.0:
        raise ValueError("sketch_aug is a probability: 0..1")
    _check_style_temperature(style_temperature)
    if sampling_temperature is not None and (meth.iterative or not 0.0 <= sampling_temperature <= 10.0):
        raise ValueError("sampling_temperature is AE-NAM's and VAE-NAM's, between 0 and 10")
    if solver_silhouette_weight is not None:
        if not meth.iterative or not t.source.endswith("_edges"):
            raise ValueError("the solver's silhouette term is NAM's, on an edge-map input (edges2shoes/handbags)")
        if not 0.0 <= solver_silhouette_weight <= 100.0:
            raise ValueError("solver_silhouette_weight must be between 0 and 100")
    if solver_start_spread is not None:
        if not meth.iterative:
            raise ValueError("the solver's start spread is NAM's")
        if isinstance(solver_start_spread, bool) or not 1 <= int(solver_start_spread) <= MAX_START_SPREAD \
                or int(solver_start_spread) != solver_start_spread:
            raise ValueError(f"solver_start_spread must be a whole number from 1 to {MAX_START_SPREAD}")
    hp = dict(DEFAULTS[method])
    for k, v in {"epochs": epochs, "batch_size": batch_size, "n_targets": n_targets, "beta": beta,
                 "prior_weight": prior_weight}.items():
        if v is not None:
            hp[k] = v
    dev = get_device(device)
    G, gcfg = load_generator(generator, device=dev)
    if gcfg.get("domain") != t.target:
        raise ValueError(f"task {task} needs a generator of {t.target!r}; {generator} generates {gcfg.get('domain')!r}")
    spec = DOMAINS[t.source]
    ds = load_domain(t.source, "train")
    if meth.iterative:
        ds = ds.subset(hp["n_targets"] if limit is None else min(limit, hp["n_targets"]))
        m: Any = NAM(G, len(ds), spec.channels, spec.size, nf=nf, loss=loss, seed=seed, device=dev, task=task,
                     generator_ref=str(generator), t_arch=t_arch, lr_z=lr_z)
    else:
        ds = ds.subset(limit)
        bank = sketch_bank(ds.images, sketch_variants, seed, Path(out_dir), progress) if sketch_aug else None
        if sketch_aug:
            hp.update({"sketch_aug": sketch_aug, "sketch_variants": sketch_variants})
        sils = None
        if silhouette_weight:
            from ..data.edges import edge_silhouette

            sils = edge_silhouette(ds.images)
            hp["silhouette_weight"] = silhouette_weight
        m = VAENAM(G, spec.channels, spec.size, variational=not meth.deterministic, beta=hp.get("beta", 0.0), nf=nf,
                   nef=nef, loss=loss, seed=seed, device=dev, task=task, generator_ref=str(generator),
                   t_arch=t_arch, prior_weight=hp.get("prior_weight", 0.0), t_affine=t_affine, t_zoom=t_zoom,
                   sketch_bank=bank, sketch_aug=sketch_aug, silhouettes=sils, silhouette_weight=silhouette_weight)
    out = Path(out_dir)
    cfg = TrainConfig(out_dir=str(out / method), epochs=hp["epochs"], batch_size=hp["batch_size"], seed=seed,
                      max_minutes=max_minutes, progress=progress,
                      finish_early=finish_early)
    trainer = Trainer(m, ds.images, cfg, device=dev)
    t0 = time.time()
    if not trainer.fit_to_end(method):
        return out / method / "last"
    config = m.config()
    config.update({"source": t.source, "target": t.target, "image_size": spec.size,
                   "generator_method": gcfg.get("method"), "generator_fingerprint": weights_fingerprint(G),
                   "train_images": len(ds),
                   "train_seconds_total": round(trainer.train_seconds, 1), "epochs_done": trainer.epoch,
                   "device": str(dev),
                   "recipe": {"command": recipe, "hparams": hp, "seed": seed, "loss": loss},
                   "history": trainer.history})
    if style_temperature is not None:
        config["style_temperature"] = float(style_temperature)
    if sampling_temperature is not None:
        config["sampling_temperature"] = float(sampling_temperature)
    if solver_silhouette_weight is not None:
        config["solver_silhouette_weight"] = float(solver_silhouette_weight)
    if solver_start_spread is not None:
        config["solver_start_spread"] = int(solver_start_spread)
    tensors = m.tensors() if meth.iterative else {}
    tensors.update(global_directions(m, ds.images, dev, style_probes=style_probes))
    final = save_checkpoint(out / "final", m.networks, config, tensors=tensors)
    save_png(image_grid(to_uint8(m.samples()), cols=10 if meth.iterative else 5), final / "samples.png", scale=2)
    if progress:
        print(f"trained {method} for {task} in {time.time() - t0:.0f}s", file=sys.stderr)
    return final


def sketch_bank(images: np.ndarray, variants: int, seed: int, out_dir: Path, progress: bool = True) -> np.ndarray:
    """:func:`~nam_core.data.edges.sketch_variants` of the training edge maps, cached in ``out_dir`` (a resumed run
    reuses them)."""
    from ..data.edges import sketch_variants as make_variants

    cache = out_dir / f"sketch_bank_v{variants}_s{seed}_n{len(images)}.npy"
    if cache.exists():
        bank = np.load(cache)
        if bank.shape[:2] == (len(images), variants):
            return bank
    t0 = time.time()
    bank = make_variants(images, variants, seed, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, bank)
    if progress:
        print(f"{variants} sketch versions of {len(images)} edge maps in {time.time() - t0:.0f}s", file=sys.stderr)
    return bank


def resolve_generator_ref(ref: str | Path, mapping_path: Path | None, from_config: bool = True) -> Path:
    """The generator a mapping names. A name read from a mapping's config (``from_config``) is not trusted as a
    path: only its last component is used, as a checkpoint name, looked up as a sibling of the mapping checkpoint
    (the shipped layout), then in the checkpoints folder, then on the Hub by that plain name; ``../..`` tricks and
    absolute paths elsewhere on disk are never followed. A generator the caller passes itself
    (``from_config=False``) may also be any existing checkpoint path."""
    if not isinstance(ref, (str, Path)) or not str(ref).strip():
        raise CheckpointError(f"bad generator reference {str(ref)[:80]!r}")
    if not from_config and (Path(ref) / "config.json").exists():
        return Path(ref)
    name = Path(str(ref).replace("\\", "/")).name
    if name in ("", ".", "..") or not NAME_RE.fullmatch(name):
        raise CheckpointError(f"generator reference {str(ref)[:80]!r} does not end in a checkpoint name")
    roots = ([mapping_path.parent] if mapping_path is not None else []) + [_checkpoints.CHECKPOINTS_DIR]
    for root in roots:
        c = root / name
        if (c / "config.json").exists():
            if mapping_path is not None and c.resolve() == Path(mapping_path).resolve():
                continue  # the mapping itself (e.g. both are called "final")
            return c
    try:
        return fetch_checkpoint(name)
    except CheckpointError as exc:
        raise CheckpointError(f"generator {str(ref)[:120]!r} not found as a checkpoint named {name!r} beside the "
                              f"mapping or in {_checkpoints.CHECKPOINTS_DIR} (a mapping's config may only name its "
                              f"generator; pass the generator explicitly otherwise): {exc}") from exc


def resolve_pairs(G: torch.nn.Module, T: torch.nn.Module, codes: torch.Tensor, images: np.ndarray, loss: str,
                  steps: int, device: torch.device, chunk: int = 500, seed: int = 0,
                  progress: bool = True) -> torch.Tensor:
    """Codes for NAM's training images as NAM's test-time inference finds them: a leave-one-out retrieval start
    (the best *other* training code, :func:`~nam_core.methods.nam.retrieval_starts`) and ``steps`` Adam steps with
    T and G frozen. NAM's jointly trained codes were fitted while T was still moving; these are fitted to the final
    T, as a new input would be. Returns (N, d)."""
    loss_fn = build_loss(loss).to(device)
    with torch.no_grad():
        pool = torch.cat([T(G(codes[i : i + 256])) for i in range(0, len(codes), 256)])
    out = []
    chunks = range(0, len(codes), chunk)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="re-solving NAM pairs", file=sys.stderr)
    for i in chunks:
        x = to_tensor(np.asarray(images[i : i + chunk]), device)
        starts = retrieval_starts(codes, pool, x, 1, loss_fn, seed, exclude=torch.arange(i, i + len(x)))
        z, _ = nam_infer(G, T, x, num_solutions=1, steps=steps, loss=loss_fn, seed=seed, init=starts)
        out.append(z[:, 0])
    return torch.cat(out)


def train_refiner(nam_checkpoint: str | Path, out_dir: str | Path, epochs: int = 40, batch_size: int = 64,
                  nef: int = 64, loss: str = "laplacian", code_weight: float = 0.1, resolve_steps: int = 0,
                  recon_weight: float = 0.0, unpaired: int | None = None, style_temperature: float | None = None,
                  seed: int = 0, device: str | None = None, generator: str | Path | None = None,
                  max_minutes: float | None = None, finish_early: bool = False, progress: bool = True,
                  recipe: str = "") -> Path:
    """Distil a trained NAM checkpoint into a one-pass ``nam-ff`` model (:mod:`nam_core.methods.refine`) on the
    (y_i, G(z_i)) pairs of its training: the first ``n_targets`` training images of the task's input domain and the
    codes NAM optimised for them, or, with ``resolve_steps`` > 0, the codes NAM's inference finds for them against
    the final T (:func:`resolve_pairs`; cached in ``out_dir`` so a resumed run does not redo it). With
    ``recon_weight`` > 0 the training set grows to the first ``unpaired`` training images (all when None), which add
    NAM's own objective (see :class:`~nam_core.methods.refine.NAMRefiner`). ``style_temperature``: as for
    :func:`train_mapping`, stored for inference. Resumable. Returns ``out_dir/final``."""
    _check_style_temperature(style_temperature)
    dev = get_device(device)
    nam = load_checkpoint(nam_checkpoint, device=dev)
    cfg = nam.config
    source = find_method(cfg.get("method"))
    if cfg.get("kind") != "mapping" or source is None or not source.iterative or "codes" not in nam.tensors:
        raise CheckpointError(f"{nam_checkpoint} is not a NAM mapping checkpoint with its training codes")
    t = get_task(cfg["task"], cfg)
    gref = generator or cfg["generator"]
    G, gcfg = load_generator(resolve_generator_ref(gref, nam.path, from_config=generator is None), device=dev)
    if cfg.get("generator_fingerprint") and weights_fingerprint(G) != cfg["generator_fingerprint"]:
        raise CheckpointError(f"{nam_checkpoint} was trained on a different {gref}: pass --generator")
    codes = nam.tensors["codes"]
    spec = DOMAINS[t.source]
    ds = load_domain(t.source, "train").subset(len(codes))  # NAM's targets: the first n_targets training images
    if len(ds) != len(codes):
        raise CheckpointError(f"{nam_checkpoint} has {len(codes)} codes but {t.source} only {len(ds)} training images")
    out = Path(out_dir)
    resolve_seconds = 0.0
    if resolve_steps > 0:
        cache = out / f"pairs_resolved_{resolve_steps}.safetensors"
        if cache.exists():
            codes = load_file(str(cache))["codes"].to(dev)
            with safe_open(str(cache), "pt") as f:
                resolve_seconds = float((f.metadata() or {}).get("seconds", 0.0))  # 0: a cache from before
        else:
            t0 = time.time()
            codes = resolve_pairs(G, nam.networks["T"], codes, ds.images, cfg.get("recon_loss", "ncc"),
                                  resolve_steps, dev, seed=seed, progress=progress)
            resolve_seconds = time.time() - t0
            out.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache) as tmp:
                save_file({"codes": codes.detach().cpu().contiguous()}, str(tmp),
                          metadata={"seconds": f"{resolve_seconds:.1f}"})
    if recon_weight > 0:
        ds = load_domain(t.source, "train").subset(unpaired)  # starts with the paired images, in order
    m = NAMRefiner(G, nam.networks["T"], codes, spec.channels, spec.size, nef=nef, loss=loss,
                   code_weight=code_weight, recon_weight=recon_weight,
                   recon_loss=cfg.get("recon_loss", "ncc"), seed=seed, device=dev, task=t.name,
                   generator_ref=str(cfg["generator"]),
                   nam_ref=nam.path.name)
    m.hparams["resolve_steps"] = resolve_steps
    tcfg = TrainConfig(out_dir=str(out / REFINED_METHOD), epochs=epochs, batch_size=batch_size, seed=seed,
                       max_minutes=max_minutes, progress=progress, finish_early=finish_early)
    trainer = Trainer(m, ds.images, tcfg, device=dev)
    if not trainer.fit_to_end(REFINED_METHOD):
        return out / REFINED_METHOD / "last"
    config = m.config()
    config.update({"source": t.source, "target": t.target, "image_size": spec.size,
                   "generator_method": gcfg.get("method"), "generator_fingerprint": weights_fingerprint(G),
                   "refined_from_sha256": nam.config.get("sha256", {}), "train_images": len(ds),
                   "train_seconds_total": round(trainer.train_seconds + resolve_seconds, 1),
                   "resolve_seconds": round(resolve_seconds, 1), "epochs_done": trainer.epoch, "device": str(dev),
                   "recipe": {"command": recipe, "hparams": {"epochs": epochs, "batch_size": batch_size},
                              "seed": seed, "loss": loss},
                   "history": trainer.history})
    if style_temperature is not None:
        config["style_temperature"] = float(style_temperature)
    tensors = global_directions(m, ds.images, dev)
    final = save_checkpoint(out / "final", m.networks, config, tensors=tensors)
    save_png(image_grid(to_uint8(m.samples()), cols=6), final / "samples.png", scale=2)
    return final
