"""One training loop for every method: device placement, AMP on CUDA, seeding, tqdm, periodic atomic
checkpoints with full resume, sample grids and loss curves, and DistributedDataParallel under ``torchrun``.

A method is an object with:

* ``networks: dict[str, nn.Module]`` – everything saved (trainable nets and frozen ones it needs)
* ``optimizers: dict[str, Optimizer]`` – created once, in ``__init__`` (never per epoch)
* ``train_step(index: LongTensor, images: Tensor) -> dict[str, float]`` – one update on a batch; ``index`` is the
  dataset position of every image (per-image latent codes are looked up by it)
* ``on_epoch_end(epoch: int) -> None`` – e.g. learning-rate decay
* ``config() -> dict`` – what the checkpoint records (method, domain, hyper-parameters)
* ``tensors() -> dict[str, Tensor]`` / ``load_tensors(d)`` – extra state such as per-image codes
* ``samples() -> Tensor`` – images in [-1, 1] for the periodic grid
* optional ``schedulers: list`` – learning-rate schedulers (their state is saved and resumed)
* optional ``wrap_ddp(fn)`` – under ``torchrun`` the trainer calls it with a function that wraps a module in
  DistributedDataParallel; the method then runs its forward passes through the wrapped modules

On CUDA the step runs under bf16 autocast (``TrainConfig.amp``).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..checkpoints import (
    KEEP_VERSIONS,
    CheckpointError,
    checkpoint_candidates,
    current_dir,
    load_checkpoint,
    save_checkpoint,
    set_current_version,
    versions_dir,
)
from ..utils import atomic_path, get_device, image_grid, save_png, seed_everything, to_uint8


class Method(Protocol):
    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]: ...
    def on_epoch_end(self, epoch: int) -> None: ...
    def config(self) -> dict[str, Any]: ...
    def tensors(self) -> dict[str, torch.Tensor]: ...
    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...
    def samples(self) -> torch.Tensor: ...


@dataclass
class TrainConfig:
    """Loop settings (recorded in every checkpoint)."""

    out_dir: str
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    checkpoint_every: int = 1  # epochs
    sample_every: int = 5  # epochs
    max_minutes: float | None = None  # stop cleanly (with a checkpoint) after this wall time
    progress: bool = True
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    finish_early: bool = False  # stopped by max_minutes: fit_to_end still says "export" (the epochs done so far)
    extra: dict[str, Any] = field(default_factory=dict)


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> bool:
    """Initialise the process group when launched by ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


class Trainer:
    """Runs ``method`` over ``images`` (a uint8 N×H×W×C array, or a float tensor in [-1, 1]) for ``cfg.epochs``."""

    def __init__(self, method: Method, images: np.ndarray | torch.Tensor, cfg: TrainConfig,
                 device: str | torch.device | None = None) -> None:
        self.method, self.cfg = method, cfg
        self.device = get_device(device)
        if init_distributed(self.device) and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        self.out = Path(cfg.out_dir)
        self.images = images
        self.n = len(images)
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.rank, self.world = dist_info()
        self.train_seconds = 0.0
        if self.world > 1 and hasattr(method, "wrap_ddp"):
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            method.wrap_ddp(lambda m: DDP(m, device_ids=ids))

    # ------------------------------------------------------------------ data
    def _batch(self, idx: np.ndarray) -> torch.Tensor:
        x = self.images[idx]
        if isinstance(x, torch.Tensor):
            return x.to(self.device, non_blocking=True)
        x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        owned = self._owned()
        return owned[np.random.default_rng([self.cfg.seed, epoch, self.rank]).permutation(len(owned))]

    # ------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "history": self.history, "train_seconds": self.train_seconds,
                "optimizers": {k: o.state_dict() for k, o in self.method.optimizers.items()},
                "schedulers": [sch.state_dict() for sch in getattr(self.method, "schedulers", [])],
                "rng_torch": torch.get_rng_state()}

    def save(self, folder: Path) -> Path:
        cfg = dict(self.method.config())
        cfg.update({"train": asdict(self.cfg), "epochs_done": self.epoch, "train_seconds": round(self.train_seconds, 1),
                    "recipe": cfg.get("recipe") or {"command": " ".join(shlex.quote(a) for a in sys.argv)},
                    "history_tail": self.history[-1] if self.history else {}})
        return save_checkpoint(folder, self.method.networks, cfg, tensors=self.method.tensors(), state=self._state(),
                               versions=KEEP_VERSIONS)

    def try_resume(self) -> bool:
        """Resume from ``out_dir/last`` when it exists; returns True if it did.

        ``last`` is a versioned checkpoint (each save a complete new version, the previous one kept): when its
        newest version cannot be loaded (corrupt, truncated, tampered with), resume falls back to the newest one
        that can, says so on stderr and points ``last`` back at it. Raises :class:`CheckpointError` when there are
        saved versions but none of them loads."""
        last = self.out / "last"
        candidates = checkpoint_candidates(last)
        if not candidates:
            return False
        failures: list[str] = []
        for cand in candidates:
            try:
                ckpt = load_checkpoint(cand, device=self.device, with_state=True)
                self._restore(ckpt)
            except Exception as exc:  # unreadable or not this run's: try the previous version
                where = current_dir(cand)
                failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")
                if self.rank == 0:
                    print(f"cannot resume from {where} ({type(exc).__name__}: {str(exc)[:300]})", file=sys.stderr)
                continue
            if failures and self.rank == 0:
                print(f"resuming from the previous good checkpoint {cand} (epoch {self.epoch}) instead of the newest "
                      "unreadable one", file=sys.stderr)
                if cand != last and self.world == 1:
                    set_current_version(last, cand)  # ``last`` points at it; the bad version goes at the next save
            return True
        raise CheckpointError(f"cannot resume from {last}: no saved version of it loads ({'; '.join(failures)}). "
                              f"Delete {last} and {versions_dir(last)} to start this stage over.")

    def _restore(self, ckpt: Any) -> None:
        """Load a checkpoint's networks, tensors, optimisers, schedulers, counters and RNG into this run."""
        for name, net in self.method.networks.items():
            net.load_state_dict(ckpt.networks[name].state_dict())
        self.method.load_tensors(ckpt.tensors)
        st = ckpt.state or {}
        for k, opt in self.method.optimizers.items():
            if k in st.get("optimizers", {}):
                opt.load_state_dict(st["optimizers"][k])
        for sch, sd in zip(getattr(self.method, "schedulers", []), st.get("schedulers", [])):
            sch.load_state_dict(sd)
        self.epoch = int(st.get("epoch", 0))
        self.history = list(st.get("history", []))
        self.train_seconds = float(st.get("train_seconds", 0.0))
        if "rng_torch" in st:
            torch.set_rng_state(st["rng_torch"].cpu().to(torch.uint8))

    def _write_artifacts(self) -> None:
        samples = self.method.samples()
        save_png(image_grid(to_uint8(samples), cols=10), self.out / f"samples_epoch{self.epoch:04d}.png", scale=2)
        save_png(image_grid(to_uint8(samples), cols=10), self.out / "samples.png", scale=2)
        with atomic_path(self.out / "history.json") as tmp:
            tmp.write_text(json.dumps(self.history))
        plot_history(self.history, self.out / "loss.png")

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = True) -> dict[str, float]:
        """Train to ``cfg.epochs`` (resuming when possible); returns the last epoch's mean losses."""
        seed_everything(self.cfg.seed + self.rank)
        if resume and self.try_resume() and self.rank == 0:
            print(f"resumed from {self.out / 'last'} at epoch {self.epoch}", file=sys.stderr)
        steps = math.ceil(len(self._epoch_indices(0)) / self.cfg.batch_size)
        start = time.time()
        last: dict[str, float] = {}
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            tqdm = None
        while self.epoch < self.cfg.epochs:
            t0 = time.time()
            for net in self.method.networks.values():
                if any(p.requires_grad for p in net.parameters()):
                    net.train()
            idx_all = self._epoch_indices(self.epoch)
            sums: dict[str, float] = {}
            bar = range(steps)
            if tqdm is not None and self.cfg.progress and self.rank == 0:
                bar = tqdm(bar, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", leave=False, file=sys.stderr)
            for s in bar:
                idx = idx_all[s * self.cfg.batch_size : (s + 1) * self.cfg.batch_size]
                if len(idx) < 2:
                    continue
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cfg.amp and self.device.type == "cuda"):
                    logs = self.method.train_step(torch.from_numpy(idx).to(self.device), self._batch(idx))
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if hasattr(bar, "set_postfix") and s % 10 == 0:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
            self.method.on_epoch_end(self.epoch)
            self.epoch += 1
            self.train_seconds += time.time() - t0
            last = {k: v / max(1, steps) for k, v in sums.items()}
            self.history.append({"epoch": self.epoch, "seconds": round(self.train_seconds, 2), **last})
            if self.rank == 0:
                if self.cfg.progress:
                    print(f"epoch {self.epoch}/{self.cfg.epochs} " + " ".join(f"{k}={v:.4f}" for k, v in last.items())
                          + f" ({self.train_seconds:.0f}s)", file=sys.stderr)
                timed_out = self.cfg.max_minutes is not None and (time.time() - start) / 60 > self.cfg.max_minutes
                if self.epoch % self.cfg.sample_every == 0 or self.epoch == self.cfg.epochs or timed_out:
                    self._write_artifacts()
            else:
                timed_out = False
            self._sync_tensors()
            if self.rank == 0 and (self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == self.cfg.epochs
                                   or timed_out):
                self.save(self.out / "last")
            if timed_out:
                print(f"stopping after {self.cfg.max_minutes} min (resume with the same command)", file=sys.stderr)
                break
        return last

    def fit_to_end(self, name: str) -> bool:
        """:meth:`fit`; True when all ``cfg.epochs`` are done, else (stopped by ``max_minutes``) say how to resume."""
        self.fit()
        if self.epoch < self.cfg.epochs and self.cfg.finish_early:
            print(f"{name}: stopped after {self.epoch}/{self.cfg.epochs} epochs; exporting it as it is",
                  file=sys.stderr)
            return True
        if self.epoch < self.cfg.epochs:
            print(f"{name} not finished; run the same command again to resume", file=sys.stderr)
            return False
        return True

    def _sync_tensors(self) -> None:
        """Under DDP: buffers from rank 0 everywhere; per-image tensors (codes) live with the rank that owns their
        images, merged by ownership."""
        if self.world == 1:
            return
        for net in self.method.networks.values():  # BN running stats: rank 0's, as DDP's forward uses them
            for buf in net.buffers():
                dist.broadcast(buf, 0)
        tensors = self.method.tensors()
        for k, t in tensors.items():
            if t.shape[0] == self.n:
                own = torch.zeros(self.n, device=t.device, dtype=t.dtype)
                own[torch.from_numpy(self._owned()).to(t.device)] = 1
                data = t.detach() * own.view(-1, *([1] * (t.dim() - 1)))
                dist.all_reduce(data)
                tensors[k] = data
        self.method.load_tensors(tensors)

    def _owned(self) -> np.ndarray:
        """Indices of the images this rank trains on (fixed across epochs, so a code is never shared)."""
        return np.arange(self.rank, self.n, self.world)


def plot_history(history: list[dict[str, float]], path: str | Path) -> None:
    """Loss curves (one line per logged quantity, log y axis when all positive) as a PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k not in ("epoch", "seconds")]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ep = [h["epoch"] for h in history]
    positive = True
    for k in keys:
        vals = [h.get(k, float("nan")) for h in history]
        positive &= all(v > 0 for v in vals if v == v)
        ax.plot(ep, vals, marker="o", ms=2, label=k)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
