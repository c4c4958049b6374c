"""Train and load the generators G that NAM / AE-NAM / VAE-NAM map through.

Every loaded generator is a module from Gaussian latents to images with a ``latent_dim`` attribute:
a DCGAN generator, or a GLANN sampler ``G(T(e))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data import DOMAINS, load_domain
from ..utils import get_device, image_grid, save_png, to_uint8
from . import dcgan, glann  # noqa: F401 - each registers its generator Method
from .glann import GLANNSampler
from .registry import get_method, method_names
from .trainer import TrainConfig

DEFAULTS: dict[str, dict[str, Any]] = {m: dict(get_method(m).defaults) for m in method_names("generator")}


def train_generator(domain: str, method: str, out_dir: str | Path, epochs: int | None = None,
                    latent_dim: int | None = None, ngf: int | None = None, batch_size: int | None = None,
                    loss: str | None = None, imle_epochs: int | None = None, init: str | None = None,
                    limit: int | None = None,
                    seed: int = 0, device: str | None = None, max_minutes: float | None = None,
                    finish_early: bool = False, progress: bool = True, recipe: str | None = None) -> Path:
    """Train a ``glann`` or ``dcgan`` generator of ``domain``; resumable; returns the final checkpoint folder
    (``out_dir/final``), which holds G (and T for GLANN) plus config, samples and loss curves beside it."""
    if method not in DEFAULTS:
        raise ValueError(f"method must be one of {sorted(DEFAULTS)}")  # DEFAULTS: the registered generators
    hp = dict(DEFAULTS[method])
    for k, v in {"epochs": epochs, "latent_dim": latent_dim, "ngf": ngf, "batch_size": batch_size, "loss": loss,
                 "imle_epochs": imle_epochs, "init": init}.items():
        if v is not None:
            hp[k] = v
    dev = get_device(device)
    ds = load_domain(domain, "train").subset(limit)
    spec = DOMAINS[domain]
    out = Path(out_dir)
    stage_dir = out / method
    cfg = TrainConfig(out_dir=str(stage_dir), epochs=hp["epochs"], batch_size=hp["batch_size"], seed=seed,
                      max_minutes=max_minutes, progress=progress,
                      finish_early=finish_early)
    fitted = get_method(method).trainer(ds, spec, hp, cfg, seed=seed, device=dev, domain=domain, progress=progress)
    if fitted is None:  # stopped by max_minutes: resumable
        return stage_dir / "last"
    trainer, nets, config, tensors, sampler, extra_seconds = fitted
    config.update({
        "kind": "generator", "domain": domain, "image_size": spec.size, "channels": spec.channels,
        "latent_dim": hp["latent_dim"], "train_images": len(ds), "data_source": ds.info.get("source", ""),
        "train_seconds_total": round(trainer.train_seconds + extra_seconds, 1), "epochs_done": trainer.epoch,
        "device": str(dev), "recipe": {"command": recipe or "", "hparams": hp, "seed": seed},
        "history": trainer.history,
    })
    final = save_checkpoint(out / "final", nets, config, tensors=tensors)
    with torch.no_grad():
        grid = to_uint8(sample_images(sampler, 100, seed=seed))
    save_png(image_grid(grid, cols=10), final / "samples.png", scale=2)
    return final


class _Sampler(nn.Module):
    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.latent_dim = G.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)


def load_generator(ref: str | Path, device: str | torch.device | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A frozen, eval-mode generator ``latent (N, latent_dim) ~ N(0, I) → images`` and its checkpoint config."""
    ckpt = load_checkpoint(ref, device=device)
    if ckpt.config.get("kind") != "generator":
        raise ValueError(f"{ref} is a {ckpt.config.get('kind')!r} checkpoint, not a generator")
    if "T" in ckpt.networks:
        gen: nn.Module = GLANNSampler(ckpt["G"], ckpt["T"])
    else:
        gen = _Sampler(ckpt["G"])
    for p in gen.parameters():
        p.requires_grad_(False)
    gen.eval()
    gen.codes = ckpt.tensors.get("codes")  # type: ignore[assignment]
    return gen, ckpt.config


@torch.no_grad()
def sample_images(generator: nn.Module, n: int, seed: int = 0, batch: int = 500) -> torch.Tensor:
    """``n`` images in [-1, 1] from Gaussian latents (deterministic for a seed)."""
    dim = generator.latent_dim if hasattr(generator, "latent_dim") else generator.noise_dim
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    dev = next(generator.parameters()).device
    return torch.cat([generator(z[i : i + batch].to(dev)) for i in range(0, n, batch)])
