"""AE-NAM and VAE-NAM (Hoshen 2018, "Non-Adversarial Mapping with VAEs"): an encoder E(y) → (μ, log σ²) replaces
NAM's per-image codes. Loss ‖T(G(μ + εσ)) − y‖ + β·KL(q(z|y) ‖ N(0, I)) with a β warm-up; AE-NAM has a
deterministic E and no KL, but NAM's code prior λ·‖μ‖² (``prior_weight``): without it the codes drift far outside
the region G was trained on (‖μ‖ ≈ 52–81 measured against √d ≈ 6–8), where G draws no real image and T learns to
read the off-manifold pictures instead. Translation = G(μ + εσ): one forward pass, K samples of ε give K solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..losses import build_loss, silhouette_gap, soft_foreground
from ..nets import build_net
from ..utils import per_image_noise
from .base import DDPWrappable, sample_rows
from .directions import Directions, global_spread, posterior_directions, restart_directions
from .nam import build_mapping_t, freeze
from .registry import Method, Preset, register, register_presets, stopped_early_note

# AE-NAM checkpoints without style directions spread their K solutions along the global axes, by this many of
# their standard deviations (times the translator's temperature)
AE_NAM_TEMPERATURE = 0.5


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample, summed over latent dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class VAENAM(DDPWrappable):
    """Trainer-protocol method for ``variational=True`` (VAE-NAM) or ``False`` (AE-NAM)."""

    def __init__(self, generator: nn.Module, in_channels: int, size: int, variational: bool = True,
                 beta: float = 1e-3, beta_warmup_epochs: int = 5, nf: int = 64, nef: int = 64,
                 loss: str = "laplacian", lr: float = 1e-3, decay_every: int = 20, decay: float = 0.5,
                 seed: int = 0, device: torch.device | str = "cpu", task: str = "", generator_ref: str = "",
                 loss_kwargs: dict | None = None, t_arch: str = "crn", prior_weight: float = 0.0,
                 t_affine: str = "none", t_zoom: float = 1.0, sketch_bank: torch.Tensor | None = None,
                 sketch_aug: float = 0.0, silhouettes: torch.Tensor | None = None,
                 silhouette_weight: float = 0.0) -> None:
        self.device = torch.device(device)
        self.G = freeze(generator.to(self.device))
        self.latent_dim = generator.latent_dim
        with torch.no_grad():
            out_ch = self.G(torch.zeros(2, self.latent_dim, device=self.device)).shape[1]
        self.E = build_net("encoder", in_channels=in_channels, size=size, latent_dim=self.latent_dim, nef=nef,
                           variational=variational).to(self.device)
        self.T = build_mapping_t(t_arch, out_ch, in_channels, size, nf, t_affine, t_zoom).to(self.device)
        self.variational, self.beta_max, self.warmup = variational, beta, beta_warmup_epochs
        self.prior_weight = prior_weight
        self.epoch = 0
        self.loss_fn = build_loss(loss, **(loss_kwargs or {})).to(self.device)
        self.networks: dict[str, nn.Module] = {"E": self.E, "T": self.T}
        params = list(self.E.parameters()) + list(self.T.parameters())
        self.optimizers = {"ET": torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))}
        self.schedulers = [torch.optim.lr_scheduler.StepLR(self.optimizers["ET"], decay_every, decay)]
        self.hparams = {"in_channels": in_channels, "size": size, "variational": variational, "beta": beta,
                        "beta_warmup_epochs": beta_warmup_epochs, "nf": nf, "nef": nef, "loss": loss, "lr": lr,
                        "decay_every": decay_every, "decay": decay, "seed": seed, "t_arch": t_arch,
                        "prior_weight": prior_weight, "t_affine": t_affine, "t_zoom": t_zoom}
        self.task, self.generator_ref = task, generator_ref
        self._fixed: torch.Tensor | None = None
        # sketch augmentation (denoising): with probability ``sketch_aug`` E sees one of the image's drawn-outline
        # versions (``sketch_bank``: uint8 N×V×H×W×C, see nam_core.data.edges.sketch_like) while the loss still
        # compares T(G(z)) with the clean edge map, so T keeps modelling HED edges and a bare outline must still
        # find a full object
        self.sketch_aug = float(sketch_aug) if sketch_bank is not None else 0.0
        self.sketch_bank = None
        if sketch_bank is not None and self.sketch_aug > 0:
            self.sketch_bank = torch.as_tensor(sketch_bank).to(self.device)
            self.hparams.update({"sketch_aug": self.sketch_aug, "sketch_variants": int(self.sketch_bank.shape[1]),
                                 "sketch_target": "clean"})
        # silhouette term (edge tasks: white-background product photos): the object of G(z) should cover the region
        # the input's outline encloses (``silhouettes``: bool N×H×W, nam_core.data.edges.edge_silhouette of the
        # training maps). T only has to explain the strokes, which an object of almost any shape behind them does;
        # this says where the object is, so that a bare outline decides the output's shape
        self.silhouette_weight = float(silhouette_weight) if silhouettes is not None else 0.0
        self.silhouettes = None
        if silhouettes is not None and self.silhouette_weight > 0:
            self.silhouettes = torch.as_tensor(silhouettes).to(self.device)
            self.hparams["silhouette_weight"] = self.silhouette_weight

    @property
    def beta(self) -> float:
        if not self.variational:
            return 0.0
        return self.beta_max * min(1.0, (self.epoch + 1) / max(1, self.warmup))

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        if self._fixed is None:
            self._fixed = images[:10].detach().clone()
        mu, logvar = self.fwd["E"](self._sketch_inputs(index, images))
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.variational else mu
        photo = self.G(z)
        rec = self.loss_fn(self.fwd["T"](photo), images)
        kl = kl_standard_normal(mu, logvar).mean() if self.variational else torch.zeros((), device=mu.device)
        loss = rec + self.beta * kl
        sil = None
        if self.silhouettes is not None:
            target = self.silhouettes[index.to(self.silhouettes.device)].to(photo.device).float()
            sil = silhouette_gap(soft_foreground(photo), target).mean()
            loss = loss + self.silhouette_weight * sil
        if self.prior_weight:
            loss = loss + self.prior_weight * mu.pow(2).sum(1).mean()
        self.optimizers["ET"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["ET"].step()
        stats = {"recon": rec.item(), "kl": kl.item(), "code_norm": mu.detach().norm(dim=1).mean().item()}
        if sil is not None:
            stats["silhouette"] = sil.item()
        if getattr(self.T, "affine", "none") != "none":  # the learned global framing, logged as it moves
            zoom, shift = self.T.zoom_shift()
            stats.update({"zoom_x": zoom[0].item(), "zoom_y": zoom[1].item(), "shift_x": shift[0].item(),
                          "shift_y": shift[1].item()})
        return stats

    def _sketch_inputs(self, index: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The batch E sees: each image replaced, with probability ``sketch_aug``, by a random one of its sketch
        versions (torch's RNG: seeded and resumed by the trainer)."""
        if self.sketch_bank is None:
            return images
        pick = torch.rand(len(images), device=images.device) < self.sketch_aug
        if not bool(pick.any()):
            return images
        rows = index.to(self.sketch_bank.device)[pick.to(self.sketch_bank.device)]
        variant = torch.randint(self.sketch_bank.shape[1], (len(rows),), device=self.sketch_bank.device)
        sk = self.sketch_bank[rows, variant].to(images.device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        out = images.clone()
        out[pick] = sk.to(images.dtype)
        return out

    def on_epoch_end(self, epoch: int) -> None:
        self.epoch = epoch + 1
        for s in self.schedulers:
            s.step()

    def config(self) -> dict[str, Any]:
        return {"kind": "mapping", "method": "vae-nam" if self.variational else "ae-nam", "task": self.task,
                "generator": self.generator_ref, "latent_dim": self.latent_dim, "hparams": self.hparams}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"epoch": torch.tensor([self.epoch])}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "epoch" in tensors:
            self.epoch = int(tensors["epoch"].item())

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Rows: input y, then 4 sampled translations G(μ + εσ) of it."""
        if self._fixed is None:
            return torch.zeros(1, 1, 8, 8)
        self.E.eval()
        mu, logvar = self.E(self._fixed)
        self.E.train()
        outs = [self.G(mu + torch.randn_like(mu) * (0.5 * logvar).exp()) for _ in range(4)]
        return sample_rows(self._fixed, outs)


def encode_sample(E: nn.Module, images: torch.Tensor, num_solutions: int, seed: int = 0,
                  temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of E, then K samples of ε in one batch: returns z (N, K, d), μ (N, d), σ (N, d). Image i's ε depend
    on ``seed`` and its own pixels only (:func:`~nam_core.utils.per_image_noise`), not on its batch."""
    mu, logvar = E(images)
    sigma = (0.5 * logvar).exp()
    eps = per_image_noise(images, num_solutions, mu.shape[1], seed).to(mu)  # batch-independent per image
    if num_solutions >= 1:
        eps[:, 0] = 0.0  # the first solution is always the posterior mean
    z = mu.unsqueeze(1) + temperature * eps * sigma.unsqueeze(1)
    return z, mu, sigma


# ------------------------------------------------------------------------------------------- test time, registry
def solve_posterior(tr: Any, x: torch.Tensor, k: int, seed: int, callback: Callable[[int, int], None] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """VAE-NAM's test time: one pass of E, K draws from its posterior (the mean first, ε·σ scaled by
    ``tr.temperature``), then the spread along the checkpoint's style directions."""
    z, _, sigma = encode_sample(tr.E, x, k, seed=seed, temperature=tr.temperature)
    return tr.style_spread(z, x, seed), sigma


def solve_encoder(tr: Any, x: torch.Tensor, k: int, seed: int, callback: Callable[[int, int], None] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic encoder's test time (AE-NAM, NAM one-pass): E's code, its K solutions spread along the
    style directions (when the checkpoint has them), else along the global axes; σ is zero."""
    mu, _ = tr.E(x)
    if tr.style_dirs is not None:
        return tr.style_spread(mu.unsqueeze(1).expand(-1, k, -1), x, seed), torch.zeros_like(mu)
    eps = per_image_noise(x, k, tr.latent_dim, seed).to(mu)
    eps[:, 0] = 0
    spread = global_spread(tr.global_dirs, tr.latent_dim).to(mu)
    return mu.unsqueeze(1) + tr.temperature * AE_NAM_TEMPERATURE * eps * spread, torch.zeros_like(mu)


def posterior_input_directions(tr: Any, z: torch.Tensor, sigma: torch.Tensor | None, k: int,
                               reference: torch.Tensor | None) -> Directions:
    """The posterior's axes at the first solution (the mean), ranked by how much they move G's output."""
    if sigma is None:
        return restart_directions(z, k, reference=reference)
    return posterior_directions(tr.G, z[0], sigma, k, reference=reference)


def encoder_input_directions(tr: Any, z: torch.Tensor, sigma: torch.Tensor | None, k: int,
                             reference: torch.Tensor | None) -> Directions:
    """A deterministic code has no posterior: the dataset's global axes (or the spread of the K solutions)."""
    if tr.global_dirs is not None:
        return Directions(tr.global_dirs.vectors[:k], tr.global_dirs.scales[:k], "global")
    return restart_directions(z, k)


register(Method(
    name="ae-nam", label="AE-NAM", module="nam_core/methods/vae_nam.py", script="train_mapping",
    cites=("vae-nam", "nam"), published={"mnist2svhn": 16.7, "svhn2mnist": 37.4}, deterministic=True,
    loss_keys=("recon", "code_norm"), partner_priority=1, order=2, solve=solve_encoder,
    defaults={"epochs": 30, "batch_size": 64, "prior_weight": 1e-3},  # NAM's code prior (see the module docstring)
    input_directions=encoder_input_directions))
register(Method(
    name="vae-nam", label="VAE-NAM", module="nam_core/methods/vae_nam.py", script="train_mapping",
    cites=("vae-nam", "nam"), published={"mnist2svhn": 51.7, "svhn2mnist": 37.4}, deterministic=False,
    loss_keys=("recon", "kl"), partner_priority=0, speed_baseline=True, variational=True, order=3,
    app_default=True, solve=solve_posterior,
    defaults={"epochs": 30, "batch_size": 64, "beta": 1e-3},
    input_directions=posterior_input_directions))


def _mapping(name: str, generator: str, note: str = "", **args: Any) -> Preset:
    task, method = name.split("_")[:2]
    return Preset(name, method, "train_mapping", {"task": task, "method": method, "generator": generator, **args},
                  note)


_DIGITS = {"nf": 32, "loss": "ncc", "t_arch": "local"}  # the weak local T: the codes must carry the digit's shape
# street crops as the input: their cut-off neighbouring digits at the sides count less (docs/RESULTS.md, "Training
# choices, measured")
_STREET_IN = {**_DIGITS, "loss": "ncc-sides"}
register_presets(
    _mapping("street2mnist_vae-nam_glann", "gen_mnist_glann", **_STREET_IN, t_affine="global", epochs=36, limit=5000,
             beta=1e-3),
    _mapping("street2mnist_vae-nam_dcgan", "gen_mnist_dcgan", **_STREET_IN, t_affine="global", epochs=12, limit=5000),
    _mapping("street2mnist_ae-nam_glann", "gen_mnist_glann", **_STREET_IN, t_affine="global", epochs=24, limit=5000),
    _mapping("street2mnist_ae-nam_dcgan", "gen_mnist_dcgan", **_STREET_IN, t_affine="global", epochs=24, limit=5000),
    _mapping("mnist2street_vae-nam_glann", "gen_street_glann", **_DIGITS, t_affine="global", t_zoom=0.92,
             epochs=24, beta=1e-3),
    _mapping("mnist2street_vae-nam_dcgan", "gen_street_dcgan", **_DIGITS, t_affine="global", t_zoom=0.92,
             epochs=40, beta=1e-3),
    # style temperature 2.5 instead of the Translator's 2: K solutions that differ by at least 0.05 (mean L1) at
    # the same accuracy on the training inputs (docs/RESULTS.md, "Diversity of the K solutions")
    _mapping("mnist2street_ae-nam_glann", "gen_street_glann", **_DIGITS, t_affine="global", t_zoom=0.92,
             epochs=24, style_temperature=2.5),
    # seed 2 of 0-2, chosen on the training inputs: the reconstruction loss rules out seed 1 but ties 0 and 2, their
    # accuracy decides (docs/RESULTS.md, "Training seeds"); style temperature as above
    _mapping("mnist2street_ae-nam_dcgan", "gen_street_dcgan", **_DIGITS, t_affine="global", t_zoom=0.92, epochs=12,
             seed=2, style_temperature=2.5),
    # drawn outlines as the handbags; its posterior is narrower than before, so its samples are drawn wider
    _mapping("edges2shoes_vae-nam_glann", "gen_shoes_glann", stopped_early_note("48", "on one CPU thread", 34, 40),
             nf=32, loss="laplacian-flat", sketch_aug=0.5, silhouette_weight=1.0, epochs=34, sampling_temperature=1.5),
    # drawn outlines as the handbags; the 48 epochs that a 45-minute run on one CPU thread did of the planned 60
    _mapping("edges2shoes_ae-nam_glann", "gen_shoes_glann", nf=32, nef=32, loss="laplacian-flat", sketch_aug=0.5,
             silhouette_weight=1.0, epochs=48),
    _mapping("edges2handbags_vae-nam_glann", "gen_handbags_glann", nf=32, loss="laplacian-flat", sketch_aug=0.5,
             silhouette_weight=1.0, epochs=30),
    # drawn outlines as the VAE-NAM handbag: without them it ignored a drawing (docs/RESULTS.md, "Drawn outlines");
    # its style directions spread little, so they are walked further (same edge F1 on the training edges)
    _mapping("edges2handbags_ae-nam_glann", "gen_handbags_glann", nf=32, loss="laplacian-flat", sketch_aug=0.5,
             silhouette_weight=1.0, epochs=30, style_temperature=5.0),
)
