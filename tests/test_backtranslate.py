"""Back-translation (nam_core.methods.backtranslate) on tiny problems: the pseudo-pair filter keeps the pairs that
map back to their targets and drops the ones that do not; fine-tuning steps lower the pair term."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nam_core.losses import build_loss
from nam_core.methods.backtranslate import (
    BackTranslateVAENAM,
    filter_pairs,
    roundtrip_losses,
    synthesize_inputs,
)
from nam_core.nets import build_net
from tests.helpers import LATENT, smooth_images, tiny_generator


class LookupEncoder(nn.Module):
    """An encoder that knows the code of each of a fixed set of images (nearest key): a model whose round trip is
    known exactly."""

    def __init__(self, keys: torch.Tensor, codes: torch.Tensor) -> None:
        super().__init__()
        self.keys, self.codes = keys.flatten(1), codes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.cdist(x.flatten(1), self.keys).argmin(1)
        mu = self.codes[idx]
        return mu, torch.full_like(mu, -30.0)


def test_filter_keeps_consistent_pairs_and_drops_inconsistent() -> None:
    G = tiny_generator(out_channels=1)
    n = 16
    inputs = smooth_images(n, 3, seed=1)
    codes = torch.randn(n, LATENT, generator=torch.Generator().manual_seed(2))
    E = LookupEncoder(inputs, codes)
    with torch.no_grad():
        targets = G(codes)
    bad = torch.arange(1, n, 2)  # every odd pair gets another input's target: its round trip misses it
    targets[bad] = targets[(bad + 4) % n]
    loss = build_loss("laplacian")
    rt = roundtrip_losses(E, G, inputs, targets, loss, batch=5)
    assert rt.shape == (n,)
    assert rt[::2].max() < 1e-5 < rt[bad].min()
    recon = torch.zeros(n)  # the partner explains all pairs alike
    kept = filter_pairs(recon, rt, keep=0.5)
    assert kept.tolist() == list(range(0, n, 2))
    # a pair the partner cannot explain loses its place even when its round trip is perfect
    recon[0] = 10.0
    assert 0 not in filter_pairs(recon, rt, keep=0.4).tolist()
    with pytest.raises(ValueError, match="fraction"):
        filter_pairs(recon, rt, keep=0.0)


def test_synthesize_picks_the_best_reconstructing_candidate() -> None:
    G = tiny_generator(out_channels=3)
    targets = smooth_images(6, 1, seed=4)
    torch.manual_seed(0)
    E = build_net("encoder", in_channels=1, size=32, latent_dim=LATENT, nef=8, variational=True).eval()
    T = build_net("local_mapping", in_channels=3, out_channels=1, nf=8, size=32).eval()
    loss = build_loss("ncc")
    inputs, rec = synthesize_inputs(E, G, T, targets, loss, candidates=8, seed=0, batch=4)
    assert inputs.shape == (6, 3, 32, 32) and rec.shape == (6,)
    _, rec1 = synthesize_inputs(E, G, T, targets, loss, candidates=1, seed=0, batch=4)
    assert torch.all(rec <= rec1 + 1e-6)  # the posterior mean is one of the candidates
    with torch.no_grad():
        assert torch.allclose(loss(T(inputs), targets, reduction="none"), rec, atol=1e-5)


def test_finetune_steps_lower_the_pair_loss() -> None:
    G = tiny_generator(out_channels=1)
    torch.manual_seed(0)
    pair_inputs = smooth_images(16, 3, seed=5)
    with torch.no_grad():
        pair_targets = G(torch.randn(16, LATENT, generator=torch.Generator().manual_seed(6)))
    m = BackTranslateVAENAM(G, pair_inputs, pair_targets, pair_weight=10.0, in_channels=3, size=32, nf=8, nef=8,
                            loss="laplacian", lr=3e-3, beta_warmup_epochs=0)
    rows = torch.arange(16)
    with torch.no_grad():
        before = m.pair_loss(rows).item()
    real = smooth_images(16, 3, seed=7)
    for _ in range(5):
        logs = m.train_step(torch.arange(16), real)
    with torch.no_grad():
        after = m.pair_loss(rows).item()
    assert {"recon", "kl", "pair"} <= set(logs)
    assert after < before
    assert m.config()["method"] == "vae-nam" and m.hparams["pairs"] == 16
    with pytest.raises(ValueError, match="one length"):
        BackTranslateVAENAM(G, pair_inputs, pair_targets[:3], in_channels=3, size=32, nf=8, nef=8)
