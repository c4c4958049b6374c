"""GLANN (Hoshen, Li & Malik 2019): GLO, then IMLE maps Gaussian noise onto the GLO codes by nearest neighbours.

Sampling is ``G(T(e))``, ``e ~ N(0, I)`` — no adversary anywhere. :func:`invert` finds ``e`` for an image.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nets import build_net
from .glo import GLO, pca_codes
from .registry import GPU_NOTE, Method, Preset, register, register_presets
from .trainer import Trainer


@torch.no_grad()
def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Index in ``pool`` of the exact L2-nearest row for every row of ``queries`` (batched ``cdist``, so memory is
    bounded by chunk × chunk-of-pool even for 50k codes)."""
    best = torch.empty(len(queries), dtype=torch.long, device=queries.device)
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk]
        best_d = torch.full((len(q),), float("inf"), device=q.device)
        best_i = torch.zeros(len(q), dtype=torch.long, device=q.device)
        for j in range(0, len(pool), 8192):
            d = torch.cdist(q, pool[j : j + 8192])
            m, a = d.min(1)
            better = m < best_d
            best_d = torch.where(better, m, best_d)
            best_i = torch.where(better, a + j, best_i)
        best[i : i + chunk] = best_i
    return best


class IMLE:
    """Train the noise→code MLP ``T`` so that every GLO code has a nearby mapped noise sample."""

    def __init__(self, codes: torch.Tensor, noise_dim: int | None = None, hidden: int = 512, lr: float = 1e-3,
                 samples_factor: int = 4, seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.codes = F.normalize(codes.detach().float(), dim=1).to(self.device)
        latent = codes.shape[1]
        self.noise_dim = noise_dim or latent
        self.factor = max(2, samples_factor)  # M ≥ 2N noise vectors per epoch
        self.T = build_net("imle", noise_dim=self.noise_dim, latent_dim=latent, hidden=hidden).to(self.device)
        self.opt = torch.optim.Adam(self.T.parameters(), lr=lr, betas=(0.5, 0.999))
        self.gen = torch.Generator().manual_seed(seed)
        self.hparams = {"noise_dim": self.noise_dim, "hidden": hidden, "lr": lr, "samples_factor": self.factor}

    @torch.no_grad()
    def _mapped(self, e: torch.Tensor) -> torch.Tensor:
        self.T.eval()
        out = torch.cat([F.normalize(self.T(e[i : i + 4096]), dim=1) for i in range(0, len(e), 4096)])
        self.T.train()
        return out

    def fit(self, epochs: int = 30, batch_size: int = 128, inner_steps: int = 4,
            progress: bool = True, callback: Callable[[int, float], None] | None = None) -> list[float]:
        """Each epoch: sample M = factor·N noises, find for every code its nearest mapped noise, regress to it."""
        n = len(self.codes)
        history = []
        for ep in range(epochs):
            e = torch.randn(self.factor * n, self.noise_dim, generator=self.gen).to(self.device)
            nn_idx = nearest_neighbours(self.codes, self._mapped(e))
            e_sel = e[nn_idx]
            total, count = 0.0, 0
            for _ in range(inner_steps):
                perm = torch.randperm(n, generator=self.gen).to(self.device)
                for i in range(0, n, batch_size):
                    b = perm[i : i + batch_size]
                    if len(b) < 2:
                        continue
                    pred = F.normalize(self.T(e_sel[b]), dim=1)
                    loss = (pred - self.codes[b]).pow(2).sum(1).mean()
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self.opt.step()
                    total, count = total + loss.item(), count + 1
            history.append(total / max(1, count))
            if progress:
                print(f"imle epoch {ep + 1}/{epochs} loss={history[-1]:.4f}", file=sys.stderr)
            if callback is not None:
                callback(ep, history[-1])
        self.T.eval()
        return history


class GLANNSampler(nn.Module):
    """G(T(e)): a generator of images from Gaussian noise, built from a GLO generator and an IMLE mapping."""

    def __init__(self, G: nn.Module, T: nn.Module) -> None:
        super().__init__()
        self.G, self.T = G, T
        self.noise_dim = self.latent_dim = T.noise_dim

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.G(self.T(e))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        e = torch.randn(n, self.noise_dim, generator=torch.Generator().manual_seed(seed))
        return self(e.to(next(self.G.parameters()).device))


def invert(sampler: GLANNSampler, images: torch.Tensor, loss_fn: nn.Module, steps: int = 200, lr: float = 0.05,
           restarts: int = 4, prior_weight: float = 1e-3, seed: int = 0,
           callback: Callable[[int, float], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Find noise ``e`` with ``G(T(e)) ≈ image`` for each image (best of ``restarts``); returns (e, loss)."""
    dev = images.device
    n = len(images)
    gen = torch.Generator().manual_seed(seed)
    e = torch.randn(restarts * n, sampler.noise_dim, generator=gen).to(dev).requires_grad_(True)
    target = images.repeat(restarts, 1, 1, 1)
    opt = torch.optim.Adam([e], lr=lr)
    for p in sampler.parameters():
        p.requires_grad_(False)
    sampler.eval()
    per = torch.zeros(len(e), device=dev)
    for s in range(steps):
        per = loss_fn(sampler(e), target, reduction="none")
        loss = per.sum() + prior_weight * e.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None:
            callback(s, float(per.mean()))
    with torch.no_grad():
        per = loss_fn(sampler(e), target, reduction="none").view(restarts, n)
        best = per.argmin(0)
        e_best = e.detach().view(restarts, n, -1)[best, torch.arange(n)]
        return e_best, per.min(0).values


def glann_config(glo_cfg: dict[str, Any], imle_hparams: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint config of a finished GLANN generator (GLO config + IMLE stage)."""
    cfg = dict(glo_cfg)
    cfg.update({"method": "glann", "imle": imle_hparams})
    return cfg


# ------------------------------------------------------------------------------------------------ training, registry
def fit(ds: Any, spec: Any, hp: dict[str, Any], cfg: Any, seed: int, device: torch.device, domain: str,
        progress: bool = True) -> tuple[Any, dict[str, nn.Module], dict[str, Any], dict[str, torch.Tensor],
                                        nn.Module, float] | None:
    """GLANN's two stages on ``ds``: GLO (codes initialised by PCA or at random) under the Trainer, then IMLE from
    noise to the GLO codes. Returns (trainer, networks, config, tensors, sampler, IMLE seconds), or None when the
    GLO stage stopped early (resumable)."""
    if hp["init"] not in ("pca", "random"):
        raise ValueError(f"init must be 'pca' or 'random', got {hp['init']!r}")
    codes = pca_codes(ds.images, hp["latent_dim"], seed=seed) if hp["init"] == "pca" else None
    m = GLO(len(ds), spec.channels, spec.size, latent_dim=hp["latent_dim"], ngf=hp["ngf"], loss=hp["loss"],
            init_codes=codes, seed=seed, device=device, domain=domain)
    trainer = Trainer(m, ds.images, cfg, device=device)
    if not trainer.fit_to_end("GLO stage"):
        return None
    t_imle = time.time()
    imle = IMLE(m.codes.weight.detach(), seed=seed, device=device)
    imle_hist = imle.fit(epochs=hp["imle_epochs"], progress=progress)
    extra_seconds = time.time() - t_imle
    G, T = m.G.eval(), imle.T.eval()
    config = glann_config(m.config(), imle.hparams)
    config["imle_history"] = imle_hist
    return trainer, {"G": G, "T": T}, config, {"codes": m.codes.weight.detach()}, GLANNSampler(G, T), extra_seconds


register(Method(
    name="glann", label="GLANN", module="nam_core/methods/glann.py", kind="generator", script="train_generator",
    cites=("glann",), deterministic=False, loss_keys=("recon",), order=10, trainer=fit,
    summary="GLANN: a GLO generator G with one learned code per training image, and an IMLE network T that maps "
            "Gaussian noise onto those codes, so that G(T(e)) samples new images without a discriminator",
    defaults={"latent_dim": 32, "ngf": 64, "epochs": 40, "batch_size": 64, "loss": "laplacian", "imle_epochs": 40,
              "init": "pca"}))


def _gen(name: str, note: str = "", **args: Any) -> Preset:
    _, domain, method = name.split("_")
    return Preset(name, method, "train_generator", {"domain": domain, "method": method, **args}, note)


register_presets(
    _gen("gen_mnist_glann", epochs=30, imle_epochs=30, init="random"),
    _gen("gen_street_glann", epochs=30, imle_epochs=100, limit=10000, loss="laplacian-flat", init="pca"),
    _gen("gen_shoes_glann", epochs=40, imle_epochs=30, latent_dim=64, loss="laplacian-flat", init="random"),
    _gen("gen_handbags_glann", GPU_NOTE, epochs=120, imle_epochs=40, latent_dim=64,
         loss="laplacian-flat", init="random"),
)
