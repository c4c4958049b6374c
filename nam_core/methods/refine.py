"""NAM refinement (NAM paper, appendix): distil NAM's per-image optimisation into a feed-forward network.

NAM translates y by optimising a code z_y so that T(G(z_y)) ≈ y: about a hundred forward/backward passes through G
and T per input. Its training already produced such pairs — the first ``n_targets`` training images y_i and their
jointly optimised codes z_i — so a network trained on (y_i, G(z_i)) gives NAM one-pass inference. Here that network
is an encoder R: y → z followed by the frozen G, trained with

    loss(G(R(y)), G(z_y)) + code_weight · ‖R(y) − z_y‖² / d,

the image term in G's output domain (so R is judged on the translation itself, not only on codes), the code term
keeping R(y) where NAM put it. With ``recon_weight`` > 0 every training image (not only the paired ones) also
contributes NAM's own objective recon_weight · loss_T(T(G(R(y))), y): a few thousand pairs are few for an encoder
when the codes also carry what the input does not determine (a street digit's colours, for an MNIST input), and
without it R memorised them (mnist→street: 55 % on its pairs, chance on other training images).
Keeping G at the end keeps the outputs on G's image manifold (sharp), where a free image-to-image network trained
on 2,000 pairs would blur. ``method = "nam-ff"``; served like AE-NAM (one pass of R and G, K solutions spread along
the style directions). T is copied from the NAM checkpoint, frozen, so the
refined model reports T(G(z)) and its losses like every other mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .. import checkpoints as _checkpoints
from ..checkpoints import CheckpointError, read_training_info
from ..losses import build_loss
from ..nets import build_net
from .base import DDPWrappable, sample_rows
from .nam import freeze
from .registry import Method, Preset, register, register_presets
from .vae_nam import encoder_input_directions, solve_encoder

METHOD = "nam-ff"


class NAMRefiner(DDPWrappable):
    """Trainer-protocol method: R (an AE-NAM-style deterministic encoder) regresses NAM's training codes."""

    def __init__(self, generator: nn.Module, T: nn.Module, codes: torch.Tensor, in_channels: int, size: int,
                 nef: int = 64, loss: str = "laplacian", code_weight: float = 0.1, recon_weight: float = 0.0,
                 recon_loss: str = "ncc", lr: float = 1e-3,
                 decay_every: int = 20, decay: float = 0.5, seed: int = 0, device: torch.device | str = "cpu",
                 task: str = "", generator_ref: str = "", nam_ref: str = "") -> None:
        self.device = torch.device(device)
        self.G = freeze(generator.to(self.device))
        self.T = freeze(T.to(self.device))
        self.latent_dim = generator.latent_dim
        if codes.shape[1] != self.latent_dim:
            raise ValueError(f"NAM codes have {codes.shape[1]} dimensions, the generator {self.latent_dim}")
        self.codes = codes.detach().float().to(self.device)
        torch.manual_seed(seed)
        self.E = build_net("encoder", in_channels=in_channels, size=size, latent_dim=self.latent_dim, nef=nef,
                           variational=False).to(self.device)
        self.loss_fn = build_loss(loss).to(self.device)
        self.code_weight, self.recon_weight = code_weight, recon_weight
        self.recon_fn = build_loss(recon_loss).to(self.device) if recon_weight > 0 else None
        with torch.no_grad():  # the targets G(z_y): fixed, computed once
            self.targets = torch.cat([self.G(self.codes[i : i + 256]) for i in range(0, len(self.codes), 256)])
        self.networks: dict[str, nn.Module] = {"E": self.E, "T": self.T}
        self.optimizers = {"E": torch.optim.Adam(self.E.parameters(), lr=lr, betas=(0.5, 0.999))}
        self.schedulers = [torch.optim.lr_scheduler.StepLR(self.optimizers["E"], decay_every, decay)]
        self.hparams = {"in_channels": in_channels, "size": size, "nef": nef, "loss": loss,
                        "code_weight": code_weight, "recon_weight": recon_weight, "recon_loss": recon_loss,
                        "lr": lr, "decay_every": decay_every, "decay": decay,
                        "seed": seed, "n_pairs": len(self.codes)}
        self.task, self.generator_ref, self.nam_ref = task, generator_ref, nam_ref
        self._fixed: torch.Tensor | None = None

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        if self._fixed is None:
            self._fixed = images[:10].detach().clone()
        index = index.to(self.device)
        z, _ = self.fwd["E"](images)
        out = self.G(z)
        paired = index < len(self.codes)  # the first images are NAM's targets; the rest (if any) are unpaired
        img = code = torch.zeros((), device=self.device)
        if paired.any():
            img = self.loss_fn(out[paired], self.targets[index[paired]])
            code = (z[paired] - self.codes[index[paired]]).pow(2).mean()
        loss = img + self.code_weight * code
        logs = {"image": img.item(), "code_mse": code.item()}
        if self.recon_fn is not None:
            rec = self.recon_fn(self.T(out), images)
            loss = loss + self.recon_weight * rec
            logs["recon"] = rec.item()
        self.optimizers["E"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["E"].step()
        return logs

    def on_epoch_end(self, epoch: int) -> None:
        for s in self.schedulers:
            s.step()

    def config(self) -> dict[str, Any]:
        # recon_loss: the loss T was trained with (NAM's), which ranking by loss must use — hparams["loss"] is the
        # distillation loss between G(R(y)) and G(z_y), a different thing
        return {"kind": "mapping", "method": METHOD, "task": self.task, "generator": self.generator_ref,
                "refined_from": self.nam_ref, "latent_dim": self.latent_dim,
                "recon_loss": self.hparams["recon_loss"], "hparams": self.hparams}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Rows: input y, R's translation G(R(y)), NAM's G(z_y) (first training pairs)."""
        if self._fixed is None:
            return torch.zeros(1, 1, 8, 8)
        self.E.eval()
        z, _ = self.E(self._fixed)
        self.E.train()
        return sample_rows(self._fixed, [self.G(z), self.targets[: len(self._fixed)]])


# ------------------------------------------------------------------------------------------- test time, registry
def recon_loss(config: Mapping[str, Any]) -> str:
    """T's reconstruction loss (NAM's), not the distillation loss ``hparams["loss"]``: the config's
    ``recon_loss``, else what the refiner recorded in ``hparams["recon_loss"]`` (every shipped nam-ff checkpoint),
    else the NAM checkpoint it was refined from (``refined_from``, looked up in the checkpoints folder)."""
    hp = config.get("hparams") if isinstance(config.get("hparams"), Mapping) else {}
    for value in (config.get("recon_loss"), hp.get("recon_loss")):
        if isinstance(value, str) and value:
            return value
    source = config.get("refined_from")
    if isinstance(source, str) and source:
        try:
            nam_hp = read_training_info(_checkpoints.CHECKPOINTS_DIR / source).get("hparams") or {}
            if isinstance(nam_hp.get("loss"), str):
                return nam_hp["loss"]
        except (CheckpointError, OSError, ValueError):
            pass
    return "ncc"  # NAMRefiner's default recon_loss, which every refiner before recon_loss was recorded used


register(Method(
    name=METHOD, label="NAM one-pass", module="nam_core/methods/refine.py", script="train_refiner", cites=("nam",),
    deterministic=True, loss_keys=("code_mse", "image"), partner_priority=2, order=1, solve=solve_encoder,
    input_directions=encoder_input_directions, recon_loss=recon_loss))

register_presets(
    Preset("street2mnist_nam-ff_glann", METHOD, "train_refiner",
           {"nam": "street2mnist_nam_glann", "epochs": 20, "unpaired": 6000, "resolve_steps": 100,
            "recon_weight": 1.0}),
    Preset("mnist2street_nam-ff_glann", METHOD, "train_refiner",
           {"nam": "mnist2street_nam_glann", "epochs": 30, "resolve_steps": 100, "recon_weight": 1.0,
            # one style std instead of the Translator's 2, chosen on 500 training inputs (its training_info.json note)
            "style_temperature": 1.0}),
)
