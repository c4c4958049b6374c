"""DTN, the Domain Transfer Network (Taigman, Polyak & Wolf 2017, "Unsupervised Cross-Domain Image Generation").

G = g∘f: f is a fixed feature encoder trained on the source domain (here the 256-d penultimate layer of a
:class:`~nam_core.nets.DigitClassifier`, pretrained briefly on the source domain's own labels, or a given
classifier checkpoint of the source domain) and g a DCGAN generator from f's features to target images.
A ternary discriminator D tells fakes made from source images (class 0), fakes made from target images (class 1)
and real target images (class 2) apart. g minimises

    L_GANG + α·L_CONST + β·L_TID + γ·L_TV,
    L_GANG  = CE(D(g(f(x))), real) + CE(D(g(f(y))), real)
    L_CONST = ‖f(x) − f(g(f(x)))‖²   (mean squared, over source images x)
    L_TID   = ‖g(f(y)) − y‖²         (mean squared, over target images y)
    L_TV    = total variation of g(f(x))

with the paper's digit setting α = β = 15, γ = 0. f only sees images with the source domain's channel count:
target images and g's outputs are converted (RGB → luma, gray → repeated; differentiable) before f.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import load_checkpoint
from ..data import DomainDataset
from ..nets import build_net
from ..utils import to_tensor
from .gan_base import BATCH_DEFAULTS, PairedMethod, gan_method, to_channels
from .registry import GPU_NOTE, Preset, register, register_presets

FAKE_FROM_SOURCE, FAKE_FROM_TARGET, REAL_TARGET = 0, 1, 2


def const_loss(f: Callable[[torch.Tensor], torch.Tensor], fx: torch.Tensor, gfx: torch.Tensor) -> torch.Tensor:
    """L_CONST = mean ‖f(x) − f(g(f(x)))‖² given ``fx`` = f(x) and ``gfx`` = g(f(x)); zero when f∘g is the
    identity on f's features."""
    return F.mse_loss(f(gfx).float(), fx.float())


def tid_loss(gfy: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L_TID = mean ‖g(f(y)) − y‖² given ``gfy`` = g(f(y)); zero when g∘f is the identity on target images."""
    return F.mse_loss(gfy.float(), y.float())


def tv_loss(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Total variation Σ((x[i, j+1] − x[i, j])² + (x[i+1, j] − x[i, j])²)^½, averaged over pixels."""
    dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    return (dx.float().pow(2) + dy.float().pow(2) + eps).sqrt().mean()


def ternary_d_loss(d_fake_source: torch.Tensor, d_fake_target: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """D's loss on its 3-way logits: fakes from source → class 0, fakes from target → 1, real targets → 2."""
    def ce(logits: torch.Tensor, cls: int) -> torch.Tensor:
        return F.cross_entropy(logits.float(), torch.full((len(logits),), cls, dtype=torch.long,
                                                          device=logits.device))

    return ce(d_fake_source, FAKE_FROM_SOURCE) + ce(d_fake_target, FAKE_FROM_TARGET) + ce(d_real, REAL_TARGET)


def ternary_g_loss(d_fake_source: torch.Tensor, d_fake_target: torch.Tensor) -> torch.Tensor:
    """L_GANG: both kinds of fakes should be classified as real targets (class 2)."""
    def ce(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), torch.full((len(logits),), REAL_TARGET, dtype=torch.long,
                                                          device=logits.device))

    return ce(d_fake_source) + ce(d_fake_target)


def pretrain_encoder(images: np.ndarray, labels: np.ndarray, in_channels: int, width: int = 32, epochs: int = 3,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0, device: torch.device | str = "cpu",
                     progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Train a DigitClassifier on the source images' labels (f = its ``features``); returns it frozen with
    ``{"source": "pretrained", "epochs", "train_accuracy", "seconds"}``."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed + 5)
    net = build_net("classifier", in_channels=in_channels, width=width).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    y_all = torch.from_numpy(np.asarray(labels).astype(np.int64))
    t0, correct, seen = time.time(), 0, 0
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(images), generator=gen).numpy()
        correct = seen = 0
        for i in range(0, len(perm), batch_size):
            idx = np.sort(perm[i : i + batch_size])
            if len(idx) < 2:
                continue
            x, y = to_tensor(np.asarray(images[idx]), dev), y_all[idx].to(dev)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        if progress:
            print(f"dtn: f pretraining epoch {ep + 1}/{epochs} train accuracy {correct / max(1, seen):.3f}",
                  file=sys.stderr)
    info = {"source": "pretrained", "epochs": epochs, "width": width, "lr": lr,
            "train_accuracy": round(correct / max(1, seen), 4), "seconds": round(time.time() - t0, 1)}
    return net.eval(), info


def feature_encoder(source: DomainDataset, f_checkpoint: str | Path | None = None, epochs: int = 3, seed: int = 0,
                    device: torch.device | str = "cpu", width: int = 32, batch_size: int = 128,
                    pretrained: bool = True, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """DTN's f for a source dataset: a classifier checkpoint of that domain, else a classifier pretrained on its
    labels (``pretrained=False`` builds an untrained one, e.g. when the weights come from a resumed checkpoint)."""
    channels = source.images.shape[-1]
    if f_checkpoint is not None:
        ckpt = load_checkpoint(f_checkpoint, device=device)
        if ckpt.config.get("kind") != "classifier":
            raise ValueError(f"{f_checkpoint} is not a classifier checkpoint")
        dom = ckpt.config.get("domain")
        if dom is not None and dom != source.name:
            raise ValueError(f"DTN's f must be trained on the source domain {source.name!r}; "
                             f"{f_checkpoint} is a {dom!r} classifier")
        net = ckpt["classifier"]
        if getattr(net, "in_channels", channels) != channels:
            raise ValueError(f"{f_checkpoint} takes {net.in_channels} channels; the source has {channels}")
        return net.eval(), {"source": "checkpoint", "path": str(f_checkpoint),
                            "metrics": ckpt.info.get("metrics", {})}
    if not pretrained:
        return build_net("classifier", in_channels=channels, width=width).to(device).eval(), {"source": "resumed"}
    if source.labels is None:
        raise ValueError(f"DTN needs a feature encoder f: {source.name!r} has no labels to pretrain one on; pass a "
                         "classifier checkpoint of the source domain (f_checkpoint)")
    return pretrain_encoder(source.images, source.labels, channels, width=width, epochs=epochs,
                            batch_size=batch_size, seed=seed, device=device, progress=progress)


class DTN(PairedMethod):
    """Trainer-protocol method; ``f`` is frozen, g and D are trained (Adam 3e-4, β1 = 0.5)."""

    name = "dtn"
    defaults = {**BATCH_DEFAULTS, "f_epochs": 3}
    uses_translator_net = False  # g is a DCGAN generator from f's features

    @classmethod
    def build(cls, source: DomainDataset, target: DomainDataset, *, epochs: int, seed: int, device: torch.device,
              task: str, hparams: dict[str, Any], f_checkpoint: str | Path | None = None, f_epochs: int = 3,
              batch_size: int = 64, resuming: bool = False, progress: bool = True) -> DTN:
        """f from ``f_checkpoint`` (a source-domain classifier) or pretrained for ``f_epochs`` on the source labels
        (an untrained one when ``resuming``: its weights come from the checkpoint); the rest of ``hparams`` go to
        the constructor. ``epochs`` is the Trainer's business (DTN has no schedule)."""
        kw = dict(hparams)
        f, info = feature_encoder(source, f_checkpoint=f_checkpoint, epochs=f_epochs, seed=seed, device=device,
                                  width=int(kw.pop("f_width", 32)), batch_size=batch_size, pretrained=not resuming,
                                  progress=progress)
        return cls(f, source.images, target.images, f_info=info, seed=seed, device=device, task=task, **kw)

    def __init__(self, f: nn.Module, a_images: np.ndarray, b_images: np.ndarray, alpha: float = 15.0,
                 beta: float = 15.0, gamma: float = 0.0, ngf: int = 64, d_width: int = 32, lr: float = 3e-4,
                 f_info: dict[str, Any] | None = None, seed: int = 0, device: torch.device | str = "cpu",
                 task: str = "") -> None:
        super().__init__(a_images, b_images, seed=seed, device=device, task=task)
        self.f = f.to(self.device).eval()
        for p in self.f.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            feat = self.f.features(torch.zeros(2, self.a_channels, self.size, self.size, device=self.device)).shape[1]
        self.g = build_net("dcgan_generator", latent_dim=feat, out_channels=self.b_channels, size=self.size,
                           ngf=ngf).to(self.device)
        self.D = build_net("classifier", in_channels=self.b_channels, num_classes=3, width=d_width,
                           dropout=0.0).to(self.device)
        self.networks = {"f": self.f, "g": self.g, "D": self.D}
        self.optimizers = {"g": torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999)),
                           "D": torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))}
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.f_info = dict(f_info or {})
        self.hparams.update({"alpha": alpha, "beta": beta, "gamma": gamma, "ngf": ngf, "d_width": d_width, "lr": lr,
                             "feature_dim": feat, "f": "classifier features (frozen)", "g": "dcgan_generator",
                             "D": "classifier, 3 classes"})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """f on images of either domain (converted to the source channels first)."""
        return self.f.features(to_channels(x, self.a_channels))

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        x = images
        y = self.draw_b(len(x))
        g, D = self.fwd["g"], self.fwd["D"]
        with torch.no_grad():
            fx, fy = self.encode(x), self.encode(y)
        gfx, gfy = g(fx), g(fy)
        loss_d = ternary_d_loss(D(gfx.detach()), D(gfy.detach()), D(y))
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()
        l_gan = ternary_g_loss(D(gfx), D(gfy))
        l_const = const_loss(self.encode, fx, gfx)
        l_tid = tid_loss(gfy, y)
        loss_g = l_gan + self.alpha * l_const + self.beta * l_tid
        l_tv = tv_loss(gfx) if self.gamma > 0 else None
        if l_tv is not None:
            loss_g = loss_g + self.gamma * l_tv
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["g"].step()
        logs = {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "gan_g": l_gan.item(), "const": l_const.item(),
                "tid": l_tid.item()}
        if l_tv is not None:
            logs["tv"] = l_tv.item()
        return logs

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["f_encoder"] = self.f_info
        return cfg

    def inference_networks(self) -> dict[str, nn.Module]:
        return {"f": self.f, "g": self.g}

    def sample_rows(self) -> list[torch.Tensor]:
        return [self.fixed_a, self.g(self.encode(self.fixed_a)), self.fixed_b, self.g(self.encode(self.fixed_b))]


register(gan_method("dtn", "DTN", "nam_core/methods/dtn.py", DTN, order=5, loss_keys=("loss_g", "const")))
register_presets(*(
    Preset(f"{task}_dtn", "dtn", "train_baseline",
           {"task": task, "method": "dtn", "epochs": 20, "limit": 5000, "f_checkpoint": f"clf_{task.split('2')[0]}"},
           note=GPU_NOTE)
    for task in ("street2mnist", "mnist2street")))
