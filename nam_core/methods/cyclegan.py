"""CycleGAN (Zhu et al. 2017) for the project's tasks: G: A → B and F: B → A, least-squares GAN losses against
D_B and D_A, cycle consistency λ_cyc·(‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁) with λ_cyc = 10, and the identity term
λ_idt·λ_cyc·(‖G(b) − b‖₁ + ‖F(a) − a‖₁) with λ_idt = 0.5.

The identity term needs G to accept B images and produce B images unchanged, which only makes sense when both
domains have the same number of channels. For mnist (1 channel) ↔ street/svhn (3 channels) and edges (1) ↔ photos
(3) it is **skipped** (recorded in the config as ``identity_used: false``); converting B to A's channels first would
ask G to colourise gray digits into exactly themselves, a different constraint from the paper's.

Networks: the ResNet generator (:class:`~nam_core.nets.translator_nets.ResnetTranslator`; at 32 px, 2
down-samplings and 6 residual blocks) and the DCGAN discriminator (one score per image) — at 32 px a 70×70 PatchGAN
would see the whole image anyway. Discriminators see a 50-image history of fakes; learning rates decay linearly
over the second half of training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .gan_base import UnpairedGAN, gan_method
from .registry import GPU_NOTE, Preset, register, register_presets


def cycle_loss(x: torch.Tensor, forward: Callable[[torch.Tensor], torch.Tensor],
               backward: Callable[[torch.Tensor], torch.Tensor], mapped: torch.Tensor | None = None) -> torch.Tensor:
    """‖backward(forward(x)) − x‖₁ (mean); pass ``mapped`` = forward(x) when already computed. Zero for inverse
    maps."""
    y = forward(x) if mapped is None else mapped
    return (backward(y) - x).abs().mean()


def identity_loss(y: torch.Tensor, net: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """‖net(y) − y‖₁ (mean): the generator into y's domain should leave y unchanged."""
    return (net(y) - y).abs().mean()


class CycleGAN(UnpairedGAN):
    """Trainer-protocol method (defaults: LSGAN, λ_cyc = 10, λ_idt = 0.5, Adam 2e-4, β1 = 0.5)."""

    name = "cyclegan"

    def __init__(self, a_images: np.ndarray, b_images: np.ndarray, lambda_cyc: float = 10.0,
                 lambda_idt: float = 0.5, **kwargs: Any) -> None:
        super().__init__(a_images, b_images, two_sided=True, **kwargs)
        self.lambda_cyc, self.lambda_idt = lambda_cyc, lambda_idt
        self.use_identity = lambda_idt > 0 and self.a_channels == self.b_channels
        self.hparams.update({"lambda_cyc": lambda_cyc, "lambda_idt": lambda_idt, "identity_used": self.use_identity})
        if lambda_idt > 0 and not self.use_identity:
            self.hparams["identity_note"] = (f"identity term skipped: A has {self.a_channels} channel(s), "
                                             f"B has {self.b_channels}")

    def extra_generator_losses(self, a: torch.Tensor, b: torch.Tensor, fake_b: torch.Tensor,
                               fake_a: torch.Tensor | None) -> dict[str, torch.Tensor]:
        assert fake_a is not None
        G, F_ = self.fwd["G"], self.fwd["F"]
        terms = {"cycle": self.lambda_cyc * (cycle_loss(a, G, F_, fake_b) + cycle_loss(b, F_, G, fake_a))}
        if self.use_identity:
            terms["identity"] = self.lambda_cyc * self.lambda_idt * (identity_loss(b, G) + identity_loss(a, F_))
        return terms


register(gan_method("cyclegan", "CycleGAN", "nam_core/methods/cyclegan.py", CycleGAN, order=6,
                    loss_keys=("loss_g", "cycle"), published={"mnist2svhn": 17.7, "svhn2mnist": 26.1}))
register_presets(*(
    Preset(f"{task}_cyclegan", "cyclegan", "train_baseline", {"task": task, "method": "cyclegan", "epochs": 20,
                                                               "limit": 5000},
           note=GPU_NOTE)
    for task in ("street2mnist", "mnist2street")))
