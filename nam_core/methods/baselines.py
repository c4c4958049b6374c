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
import torch.nn.functional as F
from torch import nn

from ..checkpoints import read_config, save_checkpoint
from ..data import DomainDataset, load_domain
from ..nets import NETS, build_net
from ..utils import get_device, image_grid, save_png, seed_everything, to_tensor, to_uint8
from .base import DDPWrappable
from .mappings import get_task
from .trainer import TrainConfig, Trainer, dist_info

BASELINES = ("distancegan", "dtn", "cyclegan")
DEFAULTS: dict[str, dict[str, Any]] = {
    "distancegan": {"epochs": 20, "batch_size": 64},
    "dtn": {"epochs": 20, "batch_size": 64, "f_epochs": 3},
    "cyclegan": {"epochs": 20, "batch_size": 64},
}
TRANSLATOR_NET = "resnet_translator"
GRAY = (0.299, 0.587, 0.114)


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

    if method == "cyclegan":
        from .cyclegan import CycleGAN as cls
    elif method == "distancegan":
        from .distancegan import DistanceGAN as cls
    elif method == "dtn":
        from .dtn import DTN as cls
    else:
        raise ValueError(f"method must be one of {BASELINES}, got {method!r}")
    names = set(inspect.signature(cls.__init__).parameters)
    if issubclass(cls, UnpairedGAN):
        names |= set(inspect.signature(UnpairedGAN.__init__).parameters)
    else:
        names.add("f_width")
    return sorted(names - _INTERNAL)


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
    common = {"seed": seed, "device": device, "task": task}
    if method == "cyclegan":
        from .cyclegan import CycleGAN

        return CycleGAN(source.images, target.images, epochs=epochs, **common, **kw)
    if method == "distancegan":
        from .distancegan import DistanceGAN

        return DistanceGAN(source.images, target.images, epochs=epochs, **common, **kw)
    if method == "dtn":
        from .dtn import DTN, feature_encoder

        f, info = feature_encoder(source, f_checkpoint=f_checkpoint, epochs=f_epochs, seed=seed, device=device,
                                  width=int(kw.pop("f_width", 32)), batch_size=batch_size, pretrained=not resuming,
                                  progress=progress)
        return DTN(f, source.images, target.images, f_info=info, **common, **kw)
    raise ValueError(f"method must be one of {BASELINES}, got {method!r}")


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
    if method not in BASELINES:
        raise ValueError(f"method must be one of {BASELINES}, got {method!r}")
    check_hparams(method, hparams or {})
    if method != "dtn":
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
    if resuming and method == "dtn" and f_checkpoint is None:
        m.f_info = read_config(run_dir / "last").get("f_encoder", m.f_info)  # type: ignore[attr-defined]
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
