"""What the adversarial baselines (DistanceGAN, DTN, CycleGAN) share: channel conversion, GAN losses, the
CycleGAN learning-rate schedule and image pool, the base training objects (:class:`PairedMethod`,
:class:`UnpairedGAN`) and the feed-forward serving passes. The methods themselves live in
:mod:`~nam_core.methods.cyclegan`, :mod:`~nam_core.methods.distancegan` and :mod:`~nam_core.methods.dtn`; their
training entry point in :mod:`~nam_core.methods.baselines`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DomainDataset
from ..nets import NETS, build_net
from ..utils import to_tensor
from .base import DDPWrappable
from .registry import Method
from .trainer import dist_info

TRANSLATOR_NET = "resnet_translator"
GRAY = (0.299, 0.587, 0.114)
BATCH_DEFAULTS: dict[str, Any] = {"epochs": 20, "batch_size": 64}


def gan_method(name: str, label: str, module: str, cls: type, order: int, loss_keys: tuple[str, ...],
               published: dict[str, float] | None = None) -> Method:
    """The registry entry of a GAN baseline: one deterministic feed-forward network, trained by
    ``training/train_baseline.py`` (``cls``: its Trainer-protocol class)."""
    return Method(name=name, label=label, module=module, script="train_baseline", cites=(name,),
                  published=published or {}, deterministic=True, feed_forward=True, loss_keys=loss_keys,
                  order=order, trainer=cls)


# ---------------------------------------------------------------------------------------------------- helpers
def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Differentiable gray ↔ RGB for N×C×H×W images in [-1, 1]: RGB → luma (ITU-R 601), gray → repeated."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 3 and channels == 1:
        w = torch.tensor(GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def gan_loss(pred: torch.Tensor, real: bool, kind: str = "lsgan") -> torch.Tensor:
    """Adversarial loss of discriminator outputs against the label ``real``: ``"lsgan"`` (mean squared error to
    1/0, Mao et al. 2017) or ``"bce"`` (logistic loss on logits, non-saturating for the generator)."""
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    if kind == "lsgan":
        return F.mse_loss(pred.float(), target.float())
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(pred.float(), target.float())
    raise ValueError(f"gan loss must be 'lsgan' or 'bce', got {kind!r}")


def linear_decay(optimizer: torch.optim.Optimizer, epochs: int,
                 decay_epochs: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """CycleGAN's schedule: constant learning rate, then linear decay towards 0 over the last ``decay_epochs``
    (default: half of ``epochs``); stepped once per epoch."""
    decay = max(0, epochs // 2 if decay_epochs is None else min(decay_epochs, epochs))
    keep = epochs - decay
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0 - max(0, e + 1 - keep) / float(decay + 1))


class ImagePool:
    """Shrivastava et al.'s history of generated images (CycleGAN: 50): once full, each image of a batch is,
    with probability ½, swapped for a random stored one, so the discriminator also sees older fakes."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: torch.Tensor | None = None

    def query(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float()
        if self.size <= 0:
            return x
        out = []
        for img in x:
            n = 0 if self.images is None else len(self.images)
            if n < self.size:
                self.images = img[None].clone() if self.images is None else torch.cat([self.images, img[None]])
                out.append(img)
            elif torch.rand(()).item() < 0.5:
                j = int(torch.randint(n, ()).item())
                out.append(self.images[j].clone())
                self.images[j] = img
            else:
                out.append(img)
        return torch.stack(out)


def _as_uint8_array(images: np.ndarray | DomainDataset) -> np.ndarray:
    arr = images.images if isinstance(images, DomainDataset) else images
    return np.ascontiguousarray(np.asarray(arr))


def require_translator_net() -> None:
    """Clear error when the ResNet translator is not registered in :data:`nam_core.nets.NETS`."""
    if TRANSLATOR_NET not in NETS:
        raise RuntimeError(f"network kind {TRANSLATOR_NET!r} is not registered in nam_core.nets.NETS; add "
                           "`from .translator_nets import ResnetTranslator` and "
                           f"`\"{TRANSLATOR_NET}\": ResnetTranslator,` to nam_core/nets/__init__.py")


# ------------------------------------------------------------------------------------------------ base method
class PairedMethod(DDPWrappable):
    """What every baseline shares: the B images and their seeded batch sampler, fixed sample images, config and
    checkpointed extra state (sampler state, image pools)."""

    name = ""
    defaults: dict[str, Any] = BATCH_DEFAULTS  # train_baseline's epochs / batch size
    uses_translator_net = True  # the ResNet translator (nets.NETS[TRANSLATOR_NET]) must be registered

    def __init__(self, a_images: np.ndarray, b_images: np.ndarray, seed: int = 0,
                 device: torch.device | str = "cpu", task: str = "") -> None:
        self.device = torch.device(device)
        self.task = task
        a, b = _as_uint8_array(a_images), _as_uint8_array(b_images)
        if a.ndim != 4 or b.ndim != 4 or a.dtype != np.uint8 or b.dtype != np.uint8:
            raise ValueError("a_images and b_images must be uint8 N×H×W×C arrays")
        self.a_channels, self.b_channels, self.size = a.shape[-1], b.shape[-1], a.shape[1]
        self.b = torch.from_numpy(b if b.flags.writeable else b.copy()).to(self.device)  # uint8 N×H×W×C
        rank, _ = dist_info()
        self.b_gen = torch.Generator().manual_seed(int(seed) * 1000 + 17 + rank)
        pick = np.random.default_rng([seed, 99])
        self.fixed_a = to_tensor(a[np.sort(pick.choice(len(a), min(10, len(a)), replace=False))], self.device)
        self.fixed_b = to_tensor(b[np.sort(pick.choice(len(b), min(10, len(b)), replace=False))], self.device)
        self.pools: dict[str, ImagePool] = {}
        self.hparams: dict[str, Any] = {"seed": seed, "a_channels": self.a_channels, "b_channels": self.b_channels,
                                        "size": self.size}
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: list = []

    def draw_b(self, n: int) -> torch.Tensor:
        """A batch of ``n`` B images (float N×C×H×W in [-1, 1]), drawn with replacement by the seeded sampler."""
        idx = torch.randint(len(self.b), (n,), generator=self.b_gen).to(self.device)
        return self.b[idx].permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    def on_epoch_end(self, epoch: int) -> None:
        for s in self.schedulers:
            s.step()

    def config(self) -> dict[str, Any]:
        return {"kind": "mapping", "method": self.name, "task": self.task, "hparams": dict(self.hparams),
                "deterministic": True}

    # Extra tensors are stored with a leading axis of 1 so that the trainer never takes them for per-image state.
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"b_sampler": self.b_gen.get_state().view(1, -1)}
        for k, pool in self.pools.items():
            if pool.images is not None:
                out[f"pool_{k}"] = pool.images[None].detach()
        return out

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "b_sampler" in tensors:
            self.b_gen.set_state(tensors["b_sampler"].reshape(-1).cpu().to(torch.uint8))
        for k, pool in self.pools.items():
            if f"pool_{k}" in tensors:
                pool.images = tensors[f"pool_{k}"][0].to(self.device).clone()

    def inference_networks(self) -> dict[str, nn.Module]:
        """The networks the final checkpoint keeps (what :func:`translate_tensor` needs)."""
        raise NotImplementedError

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        return translate_tensor(self.inference_networks(), x)

    def sample_rows(self) -> list[torch.Tensor]:
        """Rows of the sample grid (each ≤ 10 images); default: inputs and their translations."""
        return [self.fixed_a, self.translate(self.fixed_a)]

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        modes = {k: n.training for k, n in self.networks.items()}
        for n in self.networks.values():
            n.eval()
        try:
            rows = self.sample_rows()
        finally:
            for k, n in self.networks.items():
                n.train(modes[k])
        c = max(self.a_channels, self.b_channels)
        return torch.cat([to_channels(r.float(), c) for r in rows])


class UnpairedGAN(PairedMethod):
    """G: A → B against a discriminator D_B and, when ``two_sided``, F: B → A against D_A. Subclasses add their
    terms in :meth:`extra_generator_losses`. Adam(lr, β=(0.5, 0.999)) for the generators and the
    discriminators, linear learning-rate decay over the last ``decay_epochs`` (CycleGAN's recipe)."""

    def __init__(self, a_images: np.ndarray, b_images: np.ndarray, two_sided: bool = True, epochs: int = 20,
                 ngf: int = 32, n_down: int = 2, n_blocks: int = 6, ndf: int = 64, lr: float = 2e-4,
                 gan: str = "lsgan", pool_size: int = 50, decay_epochs: int | None = None, seed: int = 0,
                 device: torch.device | str = "cpu", task: str = "") -> None:
        super().__init__(a_images, b_images, seed=seed, device=device, task=task)
        require_translator_net()
        gan_loss(torch.zeros(1), True, gan)  # validates the name
        ca, cb, s = self.a_channels, self.b_channels, self.size
        gkw = {"size": s, "ngf": ngf, "n_down": n_down, "n_blocks": n_blocks}
        self.G = build_net(TRANSLATOR_NET, in_channels=ca, out_channels=cb, **gkw).to(self.device)
        self.D_B = build_net("discriminator", in_channels=cb, size=s, ndf=ndf).to(self.device)
        self.networks = {"G": self.G, "D_B": self.D_B}
        self.two_sided = two_sided
        if two_sided:
            self.F = build_net(TRANSLATOR_NET, in_channels=cb, out_channels=ca, **gkw).to(self.device)
            self.D_A = build_net("discriminator", in_channels=ca, size=s, ndf=ndf).to(self.device)
            self.networks.update({"F": self.F, "D_A": self.D_A})
        gens = [p for k in ("G", "F") if k in self.networks for p in self.networks[k].parameters()]
        discs = [p for k in ("D_A", "D_B") if k in self.networks for p in self.networks[k].parameters()]
        self.optimizers = {"G": torch.optim.Adam(gens, lr=lr, betas=(0.5, 0.999)),
                           "D": torch.optim.Adam(discs, lr=lr, betas=(0.5, 0.999))}
        self.schedulers = [linear_decay(o, epochs, decay_epochs) for o in self.optimizers.values()]
        self.gan = gan
        self.pools = {"A": ImagePool(pool_size), "B": ImagePool(pool_size)}
        self.hparams.update({"two_sided": two_sided, "epochs": epochs, "ngf": ngf, "n_down": n_down,
                             "n_blocks": n_blocks, "ndf": ndf, "lr": lr, "gan": gan, "pool_size": pool_size,
                             "decay_epochs": epochs // 2 if decay_epochs is None else decay_epochs,
                             "generator": TRANSLATOR_NET, "discriminator": "discriminator (DCGAN)"})

    @classmethod
    def build(cls, source: DomainDataset, target: DomainDataset, *, epochs: int, seed: int, device: torch.device,
              task: str, hparams: dict[str, Any], **_: Any) -> UnpairedGAN:
        """The training object for unpaired ``source`` / ``target`` images (``hparams`` go to the constructor;
        the DTN-only options in ``_`` are ignored)."""
        return cls(source.images, target.images, epochs=epochs, seed=seed, device=device, task=task, **hparams)

    def extra_generator_losses(self, a: torch.Tensor, b: torch.Tensor, fake_b: torch.Tensor,
                               fake_a: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Weighted non-adversarial generator terms (name → scalar), added to the GAN loss."""
        return {}

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        a = images
        b = self.draw_b(len(a))
        G, D_B = self.fwd["G"], self.fwd["D_B"]
        fake_b = G(a)
        fake_a = self.fwd["F"](b) if self.two_sided else None
        # generators
        terms = {"gan_b": gan_loss(D_B(fake_b), True, self.gan)}
        if fake_a is not None:
            terms["gan_a"] = gan_loss(self.fwd["D_A"](fake_a), True, self.gan)
        terms.update(self.extra_generator_losses(a, b, fake_b, fake_a))
        loss_g = sum(terms.values())
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["G"].step()
        # discriminators (real vs. a history of fakes), halved as in CycleGAN
        loss_d = 0.5 * (gan_loss(D_B(b), True, self.gan) + gan_loss(D_B(self.pools["B"].query(fake_b)), False,
                                                                       self.gan))
        logs = {"loss_d_b": loss_d.item()}
        if fake_a is not None:
            D_A = self.fwd["D_A"]
            loss_da = 0.5 * (gan_loss(D_A(a), True, self.gan) + gan_loss(D_A(self.pools["A"].query(fake_a)), False,
                                                                           self.gan))
            logs["loss_d_a"] = loss_da.item()
            loss_d = loss_d + loss_da
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()
        logs.update({"loss_g": loss_g.item(), **{k: v.item() for k, v in terms.items()}})
        return logs

    def inference_networks(self) -> dict[str, nn.Module]:
        return {k: self.networks[k] for k in ("G", "F") if k in self.networks}

    def sample_rows(self) -> list[torch.Tensor]:
        fake_b = self.G(self.fixed_a)
        rows = [self.fixed_a, fake_b]
        if self.two_sided:
            rows += [self.F(fake_b), self.fixed_b, self.F(self.fixed_b)]
        return rows


# ---------------------------------------------------------------------------------------------------- serving
def translate_tensor(networks: dict[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """A → B for a baseline's networks: ``G(x)`` (CycleGAN, DistanceGAN) or ``g(f(x))`` (DTN)."""
    if "G" in networks:
        return networks["G"](x)
    if "f" in networks and "g" in networks:
        return networks["g"](networks["f"].features(x))
    raise KeyError(f"no A → B network among {sorted(networks)}")


def reconstruct_tensor(networks: dict[str, nn.Module], y: torch.Tensor) -> torch.Tensor | None:
    """B → A (the cycle reconstruction ``F(G(x))`` when given ``y = G(x)``), or None when there is no F."""
    return networks["F"](y) if "F" in networks else None
