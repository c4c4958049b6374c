"""Adversarial baselines (DistanceGAN, DTN, CycleGAN) in the shared training harness.

Every baseline learns a deterministic feed-forward map A → B from *unpaired* images of the two domains of a
task (``A2B``: input domain A, output domain B, see :data:`~nam_core.methods.mappings.TASKS`). The
:class:`~nam_core.methods.trainer.Trainer` iterates over the A images; each ``train_step`` draws a B batch of
the same size from the B images the method holds (a seeded ``torch.Generator`` whose state is checkpointed, so a
resumed run draws the same batches).

Checkpoints use the mapping format (``kind="mapping"``, ``method`` in :data:`BASELINES`); the final one holds only
the networks inference needs: ``G`` (A → B) and, when trained, ``F`` (B → A, the cycle reconstruction) for
CycleGAN/DistanceGAN; ``f`` and ``g`` (output ``g(f(x))``) for DTN. See
:class:`~nam_core.serving.feedforward.FeedForwardTranslator`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints import read_config, read_training_info, save_checkpoint
from ..data import DomainDataset, load_domain
from ..utils import get_device, image_grid, save_png, seed_everything, to_uint8
from . import cyclegan, distancegan, dtn  # noqa: F401 - each registers its Method
from .gan_base import (  # noqa: F401 - re-exported: the baselines' shared pieces used to live here
    GRAY,
    TRANSLATOR_NET,
    ImagePool,
    PairedMethod,
    UnpairedGAN,
    gan_loss,
    linear_decay,
    reconstruct_tensor,
    require_translator_net,
    to_channels,
    translate_tensor,
)
from .mappings import get_task
from .registry import get_method, method_names
from .trainer import TrainConfig, Trainer

BASELINES = method_names(feed_forward=True)
DEFAULTS: dict[str, dict[str, Any]] = {m: dict(get_method(m).trainer.defaults) for m in BASELINES}

# ------------------------------------------------------------------------------------------------ entry point
def random_subset(ds: DomainDataset, n: int | None, seed: int) -> DomainDataset:
    """``n`` images picked at random (seeded; sorted indices): the domains are often stored sorted by class."""
    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False))
    labels = None if ds.labels is None else np.asarray(ds.labels)[idx]
    return DomainDataset(ds.name, ds.split, np.asarray(ds.images)[idx], labels, dict(ds.info))


_INTERNAL = {"self", "f", "a_images", "b_images", "two_sided", "epochs", "seed", "device", "task", "f_info", "kwargs"}


def method_hparams(method: str) -> list[str]:
    """The hyper-parameters ``train_baseline(..., hparams=...)`` accepts for ``method``."""
    import inspect

    cls = _baseline_class(method)
    names = set(inspect.signature(cls.__init__).parameters)
    if issubclass(cls, UnpairedGAN):
        names |= set(inspect.signature(UnpairedGAN.__init__).parameters)
    else:
        names.add("f_width")
    return sorted(names - _INTERNAL)


def _baseline_class(method: str) -> type[PairedMethod]:
    if method not in BASELINES:
        raise ValueError(f"method must be one of {BASELINES}, got {method!r}")
    return get_method(method).trainer


def check_hparams(method: str, hparams: dict[str, Any]) -> None:
    """ValueError naming the accepted keys when ``hparams`` has one ``method`` does not take."""
    accepted = method_hparams(method)
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(f"unknown {method} hyper-parameter(s) {unknown}; accepted: {accepted}")


def build_baseline(method: str, task: str, source: DomainDataset, target: DomainDataset, epochs: int, seed: int,
                   device: torch.device, hparams: dict[str, Any] | None = None, f_checkpoint: str | Path | None = None,
                   f_epochs: int = 3, batch_size: int = 64, resuming: bool = False,
                   progress: bool = True) -> PairedMethod:
    """The Trainer-protocol object for ``method`` (``hparams`` go to its constructor)."""
    kw = dict(hparams or {})
    check_hparams(method, kw)
    return _baseline_class(method).build(source, target, epochs=epochs, seed=seed, device=device, task=task,
                                         hparams=kw, f_checkpoint=f_checkpoint, f_epochs=f_epochs,
                                         batch_size=batch_size, resuming=resuming, progress=progress)


def train_baseline(task: str, method: str, out_dir: str | Path, epochs: int | None = None,
                   batch_size: int | None = None, limit: int | None = None, seed: int = 0, device: str | None = None,
                   max_minutes: float | None = None, finish_early: bool = False, progress: bool = True,
                   recipe: str = "",
                   hparams: dict[str, Any] | None = None, f_checkpoint: str | Path | None = None,
                   f_epochs: int | None = None,
                   datasets: tuple[DomainDataset, DomainDataset] | None = None) -> Path:
    """Train a baseline for ``task`` on unpaired train images of its two domains; resumable (rerun the same call).

    ``limit`` takes that many random images of each domain; ``datasets`` = (source, target) replaces the train
    splits (tests, custom data); ``hparams`` go to the method's constructor (e.g. ``ngf``, ``lambda_cyc``);
    DTN: ``f_checkpoint`` is a source-domain classifier checkpoint used as f, else f is pretrained for
    ``f_epochs`` on the source labels. Returns ``out_dir/final`` (``out_dir/<method>/last`` when stopped early).
    """
    t = get_task(task)
    cls = _baseline_class(method)
    check_hparams(method, hparams or {})
    if cls.uses_translator_net:
        require_translator_net()  # fail before loading data
    hp = dict(DEFAULTS[method])
    for k, v in {"epochs": epochs, "batch_size": batch_size, "f_epochs": f_epochs}.items():
        if v is not None:
            hp[k] = v
    dev = get_device(device)
    src, tgt = datasets if datasets is not None else (load_domain(t.source, "train"), load_domain(t.target, "train"))
    src, tgt = random_subset(src, limit, seed), random_subset(tgt, limit, seed + 1)
    if src.images.shape[1:3] != tgt.images.shape[1:3]:
        raise ValueError(f"{task}: the domains differ in size ({src.images.shape[1:3]} vs {tgt.images.shape[1:3]})")
    out = Path(out_dir)
    run_dir = out / method
    try:
        read_config(run_dir / "last")
        resuming = True
    except Exception:
        resuming = False
    seed_everything(seed)
    m = build_baseline(method, task, src, tgt, hp["epochs"], seed, dev, hparams=hparams, f_checkpoint=f_checkpoint,
                       f_epochs=hp.get("f_epochs", 3), batch_size=hp["batch_size"], resuming=resuming,
                       progress=progress)
    if resuming and hasattr(m, "f_info") and f_checkpoint is None:  # DTN: the f it pretrained before resuming
        m.f_info = read_training_info(run_dir / "last").get("f_encoder", m.f_info)
    cfg = TrainConfig(out_dir=str(run_dir), epochs=hp["epochs"], batch_size=hp["batch_size"], seed=seed,
                      max_minutes=max_minutes, progress=progress,
                      finish_early=finish_early)
    trainer = Trainer(m, src.images, cfg, device=dev)
    t0 = time.time()
    if not trainer.fit_to_end(method):
        return run_dir / "last"
    config = m.config()
    config.update({"source": t.source, "target": t.target, "image_size": m.size,
                   "train_images": len(src), "target_images": len(tgt),
                   "train_seconds_total": round(trainer.train_seconds, 1), "epochs_done": trainer.epoch,
                   "device": str(dev),
                   "recipe": {"command": recipe, "hparams": hp, "method_hparams": dict(hparams or {}), "seed": seed,
                              "limit": limit, "f_checkpoint": str(f_checkpoint) if f_checkpoint else None},
                   "history": trainer.history})
    final = save_checkpoint(out / "final", m.inference_networks(), config)
    save_png(image_grid(to_uint8(m.samples()), cols=10), final / "samples.png", scale=2)
    if progress:
        print(f"trained {method} for {task} in {time.time() - t0:.0f}s", file=sys.stderr)
    return final
