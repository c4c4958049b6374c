"""DCGAN (Radford et al. 2016): the generator the NAM papers used, trained adversarially for comparison.

Checkpoint selection survives divergence: every epoch the generator is scored by a cheap Fréchet distance
(pixel statistics at 8×8, or a classifier's features when one is given) against real images, and the best
snapshot is kept in ``tensors()`` as ``best.*`` — a collapse late in training never replaces a good model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nets import build_net
from ..utils import to_tensor
from .base import DDPWrappable
from .registry import GPU_NOTE, Method, Preset, register, register_presets
from .trainer import Trainer


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples), float64."""
    import warnings

    import numpy as np
    from scipy import linalg

    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a rank-deficient product is expected for small sample sets
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def pixel_features(x: torch.Tensor) -> torch.Tensor:
    """A weight-free embedding for quick quality checks: 8×8 average-pooled pixels."""
    return F.adaptive_avg_pool2d(x, 8).flatten(1)


class DCGAN(DDPWrappable):
    """Trainer-protocol method: non-saturating GAN loss, Adam(2e-4, β1=0.5)."""

    def __init__(self, channels: int, size: int, latent_dim: int = 64, ngf: int = 64, ndf: int = 64,
                 lr: float = 2e-4, real_images: torch.Tensor | None = None,
                 features: Callable[[torch.Tensor], torch.Tensor] = pixel_features, seed: int = 0,
                 device: torch.device | str = "cpu", domain: str = "") -> None:
        self.device = torch.device(device)
        self.domain = domain
        self.hparams = {"channels": channels, "size": size, "latent_dim": latent_dim, "ngf": ngf, "ndf": ndf,
                        "lr": lr, "seed": seed}
        self.G = build_net("dcgan_generator", latent_dim=latent_dim, out_channels=channels, size=size, ngf=ngf)
        self.D = build_net("discriminator", in_channels=channels, size=size, ndf=ndf)
        self.G.to(self.device)
        self.D.to(self.device)
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.optimizers = {"G": torch.optim.Adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999)),
                           "D": torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))}
        gen = torch.Generator().manual_seed(seed)
        self.fixed = torch.randn(100, latent_dim, generator=gen).to(self.device)
        self.eval_noise = torch.randn(1000, latent_dim, generator=gen).to(self.device)
        self.real = real_images[:1000].to(self.device) if real_images is not None else None
        self.features = features
        self.best_score = float("inf")
        self.best_epoch = -1
        self.best_G = copy.deepcopy(self.G.state_dict())
        self.scores: list[float] = []

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        n = len(images)
        z = torch.randn(n, self.G.latent_dim, device=self.device)
        G, D = self.fwd["G"], self.fwd["D"]
        fake = G(z)
        d_real, d_fake = D(images), D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()
        d_gen = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["G"].step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def score(self) -> float:
        """Fréchet distance of 1,000 samples to 1,000 real images in ``features`` space (lower is better)."""
        if self.real is None:
            return float("nan")
        self.G.eval()
        fake = torch.cat([self.G(self.eval_noise[i : i + 250]) for i in range(0, len(self.eval_noise), 250)])
        self.G.train()
        return frechet_distance(self.features(fake), self.features(self.real))

    def on_epoch_end(self, epoch: int) -> None:
        s = self.score()
        self.scores.append(s)
        if s == s and s < self.best_score:
            self.best_score, self.best_epoch = s, epoch + 1
            self.best_G = copy.deepcopy(self.G.state_dict())

    def config(self) -> dict[str, Any]:
        return {"kind": "generator", "method": "dcgan", "domain": self.domain, "hparams": self.hparams,
                "selection": {"best_epoch": self.best_epoch, "best_score": self.best_score, "scores": self.scores}}

    def tensors(self) -> dict[str, torch.Tensor]:
        best = {f"best.{k}": v for k, v in self.best_G.items()}
        best["best_score"] = torch.tensor([self.best_score, float(self.best_epoch)], dtype=torch.float64)
        return best

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        if best:
            self.best_G = {k: v.clone() for k, v in best.items()}
        if "best_score" in tensors:
            self.best_score, epoch = tensors["best_score"].tolist()
            self.best_epoch = int(epoch)

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        self.G.eval()
        out = self.G(self.fixed)
        self.G.train()
        return out

    def best_generator(self) -> nn.Module:
        """A copy of G with the best-scoring weights (eval mode)."""
        g = build_net("dcgan_generator", **self.G.nam_config["kwargs"]).to(self.device)
        g.load_state_dict(self.best_G)
        return g.eval()


# ------------------------------------------------------------------------------------------------ training, registry
def fit(ds: Any, spec: Any, hp: dict[str, Any], cfg: Any, seed: int, device: torch.device, domain: str,
        progress: bool = True) -> tuple[Any, dict[str, nn.Module], dict[str, Any], dict[str, torch.Tensor],
                                        nn.Module, float] | None:
    """DCGAN on ``ds`` under the Trainer; the generator kept is the one with the best pixel-feature FID
    (:meth:`DCGAN.best_generator`). Returns (trainer, networks, config, tensors, sampler, 0.0), or None when
    stopped early (resumable)."""
    real = to_tensor(ds.images[:1000], device)
    m = DCGAN(spec.channels, spec.size, latent_dim=hp["latent_dim"], ngf=hp["ngf"], ndf=hp["ngf"], real_images=real,
              seed=seed, device=device, domain=domain)
    trainer = Trainer(m, ds.images, cfg, device=device)
    if not trainer.fit_to_end("DCGAN"):
        return None
    G = m.best_generator()
    return trainer, {"G": G}, m.config(), {}, G, 0.0


register(Method(
    name="dcgan", label="DCGAN", module="nam_core/methods/dcgan.py", kind="generator", script="train_generator",
    cites=("dcgan",), deterministic=False, loss_keys=("loss_g", "loss_d"), order=11, trainer=fit,
    summary="a DCGAN generator, trained adversarially, for comparison",
    defaults={"latent_dim": 32, "ngf": 64, "epochs": 25, "batch_size": 64}))
register_presets(
    Preset("gen_mnist_dcgan", "dcgan", "train_generator", {"domain": "mnist", "method": "dcgan", "epochs": 25}),
    Preset("gen_street_dcgan", "dcgan", "train_generator", {"domain": "street", "method": "dcgan", "epochs": 20},
           note=GPU_NOTE),
)
