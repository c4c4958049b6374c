"""Train and load the generators G that NAM / AE-NAM / VAE-NAM map through.

Every loaded generator is a module from Gaussian latents to images with a ``latent_dim`` attribute:
a DCGAN generator, or a GLANN sampler ``G(T(e))``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data import DOMAINS, load_domain
from ..utils import get_device, image_grid, save_png, to_tensor, to_uint8
from .dcgan import DCGAN
from .glann import IMLE, GLANNSampler, glann_config
from .glo import GLO, pca_codes
from .trainer import TrainConfig, Trainer

DEFAULTS: dict[str, dict[str, Any]] = {
    "glann": {"latent_dim": 32, "ngf": 64, "epochs": 40, "batch_size": 64, "loss": "laplacian", "imle_epochs": 40,
              "init": "pca"},
    "dcgan": {"latent_dim": 32, "ngf": 64, "epochs": 25, "batch_size": 64},
}


def train_generator(domain: str, method: str, out_dir: str | Path, epochs: int | None = None,
                    latent_dim: int | None = None, ngf: int | None = None, batch_size: int | None = None,
                    loss: str | None = None, imle_epochs: int | None = None, init: str | None = None,
                    limit: int | None = None,
                    seed: int = 0, device: str | None = None, max_minutes: float | None = None,
                    finish_early: bool = False, progress: bool = True, recipe: str | None = None) -> Path:
    """Train a ``glann`` or ``dcgan`` generator of ``domain``; resumable; returns the final checkpoint folder
    (``out_dir/final``), which holds G (and T for GLANN) plus config, samples and loss curves beside it."""
    if method not in DEFAULTS:
        raise ValueError(f"method must be one of {sorted(DEFAULTS)}")
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
    if method == "glann":
        if hp["init"] not in ("pca", "random"):
            raise ValueError(f"init must be 'pca' or 'random', got {hp['init']!r}")
        codes = pca_codes(ds.images, hp["latent_dim"], seed=seed) if hp["init"] == "pca" else None
        m = GLO(len(ds), spec.channels, spec.size, latent_dim=hp["latent_dim"], ngf=hp["ngf"], loss=hp["loss"],
                init_codes=codes, seed=seed, device=dev, domain=domain)
        trainer = Trainer(m, ds.images, cfg, device=dev)
        if not trainer.fit_to_end("GLO stage"):
            return stage_dir / "last"
        t_imle = time.time()
        imle = IMLE(m.codes.weight.detach(), seed=seed, device=dev)
        imle_hist = imle.fit(epochs=hp["imle_epochs"], progress=progress)
        extra_seconds = time.time() - t_imle
        G, T = m.G.eval(), imle.T.eval()
        nets: dict[str, nn.Module] = {"G": G, "T": T}
        config = glann_config(m.config(), imle.hparams)
        config["imle_history"] = imle_hist
        tensors = {"codes": m.codes.weight.detach()}
        sampler: nn.Module = GLANNSampler(G, T)
    else:
        real = to_tensor(ds.images[:1000], dev)
        m = DCGAN(spec.channels, spec.size, latent_dim=hp["latent_dim"], ngf=hp["ngf"], ndf=hp["ngf"],
                  real_images=real, seed=seed, device=dev, domain=domain)
        trainer = Trainer(m, ds.images, cfg, device=dev)
        if not trainer.fit_to_end("DCGAN"):
            return stage_dir / "last"
        G = m.best_generator()
        nets = {"G": G}
        config = m.config()
        tensors = {}
        sampler = G
        extra_seconds = 0.0
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
