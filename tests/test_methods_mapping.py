"""The mapping methods (nam_core.methods.nam / vae_nam / directions / mappings) on tiny problems: a DCGAN generator
with 8 filters and an 8-d latent, 16 synthetic 32×32 targets, a few optimiser steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nam_core.data import DOMAINS
from nam_core.losses import build_loss
from nam_core.methods.directions import (
    Directions,
    fix_signs,
    move,
    pca,
    posterior_directions,
    restart_directions,
    style_directions,
)
from nam_core.methods.glann import GLANNSampler
from nam_core.methods.mappings import METHODS, TASKS, get_task, global_directions
from nam_core.methods.nam import NAM, freeze, nam_infer
from nam_core.methods.vae_nam import VAENAM, encode_sample, kl_standard_normal
from nam_core.nets import build_net
from nam_core.utils import per_image_noise, to_tensor
from tests.helpers import LATENT, smooth_images, tiny_generator


def make_method(method: str, G: torch.nn.Module, n_targets: int, t_arch: str = "crn", loss: str = "laplacian"):
    if method == "nam":
        return NAM(G, n_targets, in_channels=3, size=32, nf=8, loss=loss, lr_t=3e-3, lr_z=3e-2, seed=0,
                   t_arch=t_arch, task="street2mnist")
    return VAENAM(G, in_channels=3, size=32, variational=method == "vae-nam", nf=8, nef=8, loss=loss, lr=3e-3,
                  seed=0, t_arch=t_arch, task="street2mnist")


def _set_train(m) -> None:
    for net in m.networks.values():
        net.train()


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("loss", ["laplacian", "ncc"])
@pytest.mark.parametrize("t_arch", ["crn", "local"])
@pytest.mark.parametrize("method", ["nam", "ae-nam", "vae-nam"])
def test_training_reduces_the_loss(method: str, t_arch: str, loss: str) -> None:
    torch.manual_seed(0)
    G = tiny_generator()
    images = smooth_images(16, 3)
    m = make_method(method, G, len(images), t_arch, loss)
    _set_train(m)
    index = torch.arange(len(images))
    recon = [m.train_step(index, images)["recon"] for _ in range(25)]
    assert all(np.isfinite(recon))
    first, last = np.mean(recon[:3]), np.mean(recon[-3:])
    assert last < 0.9 * first, (method, t_arch, loss, recon)
    # G is frozen: no gradients reach it and its weights never change
    assert all(not p.requires_grad and p.grad is None for p in G.parameters())
    assert m.config()["method"] == method and m.config()["hparams"]["t_arch"] == t_arch
    if t_arch == "local":
        assert m.T.nam_config["kind"] == "local_mapping"
    else:
        assert m.T.nam_config["kind"] == "mapping"


@pytest.mark.parametrize("method", ["nam", "vae-nam"])
def test_training_through_a_glann_sampler(method: str) -> None:
    """The shipped generators are GLANN samplers G(T(e)) (sphere-projected GLO generator after an IMLE mapping)."""
    torch.manual_seed(0)
    glo = build_net("glo_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    imle = build_net("imle", noise_dim=LATENT, latent_dim=LATENT, hidden=32, depth=2)
    G = GLANNSampler(glo, imle)
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.momentum = None
    G.train()
    with torch.no_grad():
        G(torch.randn(256, LATENT))
    G = freeze(G)
    images = smooth_images(16, 3)
    m = make_method(method, G, len(images))
    assert m.latent_dim == LATENT
    _set_train(m)
    recon = [m.train_step(torch.arange(16), images)["recon"] for _ in range(20)]
    assert np.mean(recon[-3:]) < 0.9 * np.mean(recon[:3])


def test_nam_codes_are_trained_and_saved() -> None:
    G = tiny_generator()
    images = smooth_images(8, 3)
    m = make_method("nam", G, len(images))
    before = m.codes.weight.detach().clone()
    _set_train(m)
    m.train_step(torch.arange(4), images[:4])
    after = m.codes.weight.detach()
    assert not torch.equal(before[:4], after[:4])  # the batch's codes moved
    assert torch.equal(before[4:], after[4:])  # the others did not (sparse updates)
    assert set(m.tensors()) == {"codes"} and m.tensors()["codes"].shape == (8, LATENT)
    other = make_method("nam", tiny_generator(), len(images))
    other.load_tensors(m.tensors())
    assert torch.equal(other.codes.weight, m.codes.weight)
    assert m.samples().shape == (8, 1, 32, 32)


# -------------------------------------------------------------- KL and AE
def test_kl_zero_for_the_prior_and_positive_otherwise() -> None:
    zeros = torch.zeros(3, LATENT)
    assert torch.equal(kl_standard_normal(zeros, zeros), torch.zeros(3))
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, LATENT, generator=g), torch.randn(5, LATENT, generator=g)
    kl = kl_standard_normal(mu, logvar)
    assert kl.shape == (5,) and (kl > 0).all()
    assert (kl_standard_normal(mu, zeros[:1].expand_as(mu)) > 0).all()  # only μ off
    assert (kl_standard_normal(zeros[:1].expand_as(mu), logvar) > 0).all()  # only σ off
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl, ref)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
def test_beta_warms_up_for_vae_and_is_zero_for_ae() -> None:
    G = tiny_generator()
    vae = VAENAM(G, 3, 32, variational=True, beta=1e-2, beta_warmup_epochs=4, nf=8, nef=8)
    assert vae.beta == pytest.approx(1e-2 / 4)
    for e in range(6):
        vae.on_epoch_end(e)
    assert vae.beta == pytest.approx(1e-2)
    ae = VAENAM(G, 3, 32, variational=False, beta=1e-2, nf=8, nef=8)
    assert ae.beta == 0.0


def test_ae_nam_has_no_kl_and_deterministic_codes() -> None:
    G = tiny_generator()
    images = smooth_images(8, 3)
    ae = make_method("ae-nam", G, len(images))
    assert ae.E.logvar is None and ae.config()["method"] == "ae-nam"
    _set_train(ae)
    logs = [ae.train_step(torch.arange(8), images) for _ in range(2)]
    assert all(lg["kl"] == 0.0 for lg in logs)
    ae.E.eval()
    with torch.no_grad():
        mu1, logvar = ae.E(images)
        mu2, _ = ae.E(images)
    assert torch.equal(mu1, mu2)
    z, mu, sigma = encode_sample(ae.E, images, 4, seed=3)
    assert float(sigma.max()) < 1e-6  # σ is negligible: the K "samples" are the code itself
    torch.testing.assert_close(z, mu.unsqueeze(1).expand_as(z), atol=1e-5, rtol=0)
    vae = make_method("vae-nam", G, len(images))
    _set_train(vae)
    assert vae.train_step(torch.arange(8), images)["kl"] > 0


def test_ae_nam_code_prior_keeps_codes_near_the_prior() -> None:
    G = tiny_generator()
    images = smooth_images(16, 3)
    norms = {}
    for weight in (0.0, 0.05):
        torch.manual_seed(0)
        ae = VAENAM(G, in_channels=3, size=32, variational=False, nf=8, nef=8, lr=1e-2, seed=0,
                    task="street2mnist", prior_weight=weight)
        assert ae.hparams["prior_weight"] == weight
        _set_train(ae)
        logs = [ae.train_step(torch.arange(16), images) for _ in range(40)]
        norms[weight] = logs[-1]["code_norm"]
    assert norms[0.05] < 0.5 * norms[0.0]


def test_ae_nam_defaults_to_nams_code_prior() -> None:
    from nam_core.methods.mappings import DEFAULTS

    assert DEFAULTS["ae-nam"]["prior_weight"] == 1e-3 and "prior_weight" not in DEFAULTS["vae-nam"]


# ---------------------------------------------------------- encode_sample
def test_encode_sample_shapes_mean_first_and_seeding() -> None:
    torch.manual_seed(0)
    E = build_net("encoder", in_channels=3, size=32, latent_dim=LATENT, nef=8, variational=True).eval()
    x = smooth_images(3, 3)
    with torch.no_grad():
        z, mu, sigma = encode_sample(E, x, 5, seed=0)
        mu_ref, logvar = E(x)
        z_again, _, _ = encode_sample(E, x, 5, seed=0)
        z_other, _, _ = encode_sample(E, x, 5, seed=1)
        z_cold, _, _ = encode_sample(E, x, 5, seed=1, temperature=0.0)
    assert z.shape == (3, 5, LATENT) and mu.shape == sigma.shape == (3, LATENT)
    torch.testing.assert_close(mu, mu_ref)
    torch.testing.assert_close(sigma, (0.5 * logvar).exp())
    assert torch.equal(z[:, 0], mu)  # the first solution is the posterior mean
    assert torch.equal(z, z_again)
    assert torch.equal(z_other[:, 0], mu)
    assert not torch.allclose(z[:, 1:], z_other[:, 1:])
    assert len({tuple(r.tolist()) for r in z[0]}) == 5  # K distinct samples
    torch.testing.assert_close(z_cold, mu.unsqueeze(1).expand_as(z_cold))
    one = encode_sample(E, x, 1, seed=0)[0]
    assert one.shape == (3, 1, LATENT) and torch.equal(one[:, 0], mu)


# ---------------------------------------------------------------- nam_infer (frozen_pair: conftest.py)
def test_nam_infer_shapes_determinism_and_progress(frozen_pair) -> None:
    G, T, targets = frozen_pair
    calls: list[tuple[int, int]] = []
    z, losses = nam_infer(G, T, targets, num_solutions=3, steps=6, seed=0, callback=lambda s, n: calls.append((s, n)))
    assert z.shape == (2, 3, LATENT) and losses.shape == (2, 3)
    assert calls == [(s, 6) for s in range(1, 7)]
    z2, losses2 = nam_infer(G, T, targets, num_solutions=3, steps=6, seed=0)
    assert torch.equal(z, z2) and torch.equal(losses, losses2)
    z3, _ = nam_infer(G, T, targets, num_solutions=3, steps=6, seed=1)
    assert not torch.allclose(z, z3)
    assert not z.requires_grad and not any(p.requires_grad for p in T.parameters())


def test_nam_infer_reduces_the_loss_from_the_random_start(frozen_pair) -> None:
    G, T, targets = frozen_pair
    loss = build_loss("laplacian")
    z0, start = nam_infer(G, T, targets, num_solutions=4, steps=0, seed=0, loss=loss)
    assert torch.equal(z0, per_image_noise(targets, 4, LATENT, seed=0))  # steps=0: the random start itself
    _, end = nam_infer(G, T, targets, num_solutions=4, steps=40, seed=0, loss=loss)
    assert float(end.mean()) < 0.8 * float(start.mean())
    assert int((end < start).sum()) >= 6  # nearly every solution improved
    with torch.no_grad():  # reported losses are the real per-solution losses
        zs, ls = nam_infer(G, T, targets, num_solutions=2, steps=3, seed=0, loss=loss)
        torch.testing.assert_close(ls, loss(T(G(zs.flatten(0, 1))), targets.repeat_interleave(2, 0),
                                            reduction="none").view(2, 2))


def test_nam_infer_uses_the_given_init(frozen_pair) -> None:
    G, T, targets = frozen_pair
    init = torch.full((2 * 3, LATENT), 0.25)
    z, _ = nam_infer(G, T, targets, num_solutions=3, steps=0, init=init)
    assert torch.equal(z, init.view(2, 3, LATENT))
    assert torch.equal(init, torch.full((6, LATENT), 0.25))  # not modified in place


def test_silhouette_targets_fill_a_drawn_outline() -> None:
    from nam_core.methods.nam import silhouette_targets

    canvas = np.full((2, 64, 64), 255, np.uint8)
    canvas[0, 16:48, 16:18] = canvas[0, 16:48, 46:48] = canvas[0, 16:18, 16:48] = canvas[0, 46:48, 16:48] = 0
    sil = silhouette_targets(to_tensor(canvas[..., None]))
    assert sil.shape == (2, 64, 64) and sil.dtype == torch.float32
    assert sil[0, 20:44, 20:44].min() == 1.0  # the inside of the outline, which has no strokes of its own
    assert sil[0, :12].max() == 0.0 and sil[0, :, 52:].max() == 0.0
    assert sil[1].max() == 0.0  # an empty canvas outlines nothing


class _Photos(torch.nn.Module):
    """The tiny G's grey images stretched towards white, so that some of each image reads as background."""

    def __init__(self, G: torch.nn.Module) -> None:
        super().__init__()
        self.G, self.latent_dim = G, G.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(8.0 * self.G(z) + 0.5)


def test_nam_infer_silhouette_term_draws_the_object_inside_the_outline(frozen_pair) -> None:
    from nam_core.losses import soft_foreground

    G0, T, targets = frozen_pair
    G = _Photos(G0)
    loss = build_loss("laplacian")
    sil = torch.zeros(2, 32, 32)
    sil[:, 8:24, 8:24] = 1.0  # the object: a centred square
    z0, plain = nam_infer(G, T, targets, num_solutions=2, steps=0, seed=0, loss=loss)
    _, with_term = nam_infer(G, T, targets, num_solutions=2, steps=0, seed=0, loss=loss, silhouettes=sil,
                             silhouette_weight=2.0)
    with torch.no_grad():
        gap = (soft_foreground(G(z0.view(-1, LATENT))) - sil.repeat_interleave(2, 0)).abs().flatten(1).mean(1)
    assert gap.min() > 0.05
    torch.testing.assert_close(with_term, plain + 2.0 * gap.view(2, 2))  # the returned losses include the term

    def gap_after(weight: float) -> float:
        z, _ = nam_infer(G, T, targets, num_solutions=2, steps=40, seed=0, loss=loss, silhouettes=sil,
                         silhouette_weight=weight)
        with torch.no_grad():
            fg = soft_foreground(G(z.view(-1, LATENT)))
        return (fg - sil.repeat_interleave(2, 0)).abs().mean().item()

    assert gap_after(5.0) < 0.9 * gap_after(0.0)  # the tiny G can only go so far


def test_retrieval_starts_count_the_silhouette_when_asked() -> None:
    from nam_core.losses import soft_foreground
    from nam_core.methods.nam import retrieval_starts

    G = _Photos(tiny_generator())
    T = freeze(build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8))
    codes = torch.randn(12, LATENT, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        pool = T(G(codes))
        fg = soft_foreground(G(codes))
    loss = build_loss("laplacian")
    plain = retrieval_starts(codes, pool, pool[:1], 1, loss, noise=0.0)
    torch.testing.assert_close(plain, codes[:1])  # the target's own reconstruction matches best ...
    shaped = retrieval_starts(codes, pool, pool[:1], 1, loss, noise=0.0, pool_silhouettes=fg,
                              silhouettes=fg[5:6], silhouette_weight=1e3)
    torch.testing.assert_close(shaped, codes[5:6])  # ... unless the outline says the object is code 5's
    unused = retrieval_starts(codes, pool, pool[:1], 1, loss, noise=0.0, pool_silhouettes=fg, silhouettes=fg[5:6])
    torch.testing.assert_close(unused, codes[:1])  # weight 0: as before


def test_spread_retrieval_starts_pick_different_photos_among_the_best_matches() -> None:
    """With a spread, the K starts are the best match and then the candidates (among spread·K best) whose photos
    differ most from those picked: near-copies of the best match are skipped, poor matches never chosen."""
    from nam_core.methods.nam import farthest_first, retrieval_starts

    items = torch.tensor([[0.0], [0.01], [1.0], [0.5], [0.02]])
    assert farthest_first(items, 3).tolist() == [0, 2, 3]
    codes = torch.eye(6)
    target = torch.zeros(1, 1, 2, 2)
    # reconstructions at distance 0, 1, 2, ... from the target: code i is the i-th best match
    pool = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 2, 2).contiguous()
    thumbs = torch.tensor([[0.0], [0.0], [0.0], [5.0], [9.0], [9.0]]).view(6, 1, 1, 1)
    loss = build_loss("l1")
    plain = retrieval_starts(codes, pool, target, 2, loss, noise=0.0)
    torch.testing.assert_close(plain, codes[[0, 1]])  # the two best, although their photos are the same
    spread = retrieval_starts(codes, pool, target, 2, loss, noise=0.0, pool_thumbs=thumbs, spread=2)
    torch.testing.assert_close(spread, codes[[0, 3]])  # among the 4 best: the best, then the most different
    no_thumbs = retrieval_starts(codes, pool, target, 2, loss, noise=0.0, spread=2)
    torch.testing.assert_close(no_thumbs, plain)


# --------------------------------------------------------------- directions
def _orthonormal(v: torch.Tensor) -> None:
    torch.testing.assert_close(v @ v.T, torch.eye(len(v)), atol=1e-5, rtol=0)


def anisotropic_codes(n: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rot, _ = torch.linalg.qr(torch.randn(LATENT, LATENT, generator=g))
    scales = torch.tensor([4.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.25, 0.1])
    return (torch.randn(n, LATENT, generator=g) * scales) @ rot.T + 1.0


def test_pca_orthonormal_sorted_and_consistent() -> None:
    codes = anisotropic_codes()
    mean, vecs, std = pca(codes, 5)
    assert mean.shape == (LATENT,) and vecs.shape == (5, LATENT) and std.shape == (5,)
    _orthonormal(vecs)
    assert (std[:-1] >= std[1:]).all() and (std > 0).all()
    torch.testing.assert_close(mean, codes.mean(0))
    proj = (codes - codes.mean(0)) @ vecs.T  # the std of the projections (ddof 1)
    torch.testing.assert_close(std, proj.std(0), rtol=1e-4, atol=1e-5)
    assert std[0] == pytest.approx(4.0, rel=0.2)
    _, v3, _ = pca(codes[:3], 6)  # at most as many axes as samples
    assert len(v3) == 3


def test_fix_signs_sign_stability_and_reference_alignment() -> None:
    _, vecs, _ = pca(anisotropic_codes(), 4)
    flipped = vecs * torch.tensor([-1.0, 1.0, -1.0, -1.0])[:, None]
    assert torch.equal(fix_signs(flipped), fix_signs(vecs))
    out = fix_signs(flipped)
    assert (out.gather(1, out.abs().argmax(1, keepdim=True)) > 0).all()  # largest entry positive
    ref = -vecs[[1, 0, 3, 2]]  # a permuted, negated reference
    aligned = fix_signs(flipped, ref)
    assert torch.equal(aligned, fix_signs(vecs, ref))
    torch.testing.assert_close(aligned, -vecs)  # each row points like its matching reference row
    assert ((aligned @ ref.T).max(1).values > 0.99).all()
    # a row unrelated to the reference (|dot| ≤ 0.2 with every row) falls back to "largest entry positive"
    lone = torch.zeros(1, LATENT)
    lone[0, 0], lone[0, 1] = -0.8, 0.6
    ref2 = torch.zeros(1, LATENT)
    ref2[0, 5] = 1.0
    assert torch.equal(fix_signs(lone, ref2), -lone)
    assert torch.equal(fix_signs(-lone, ref2), -lone)
    assert torch.equal(fix_signs(vecs, torch.zeros(0, LATENT)), fix_signs(vecs))


def test_restart_directions() -> None:
    z = anisotropic_codes(8, seed=1)
    d = restart_directions(z, 4)
    assert d.kind == "restarts" and d.vectors.shape == (4, LATENT) and d.scales.shape == (4,)
    _orthonormal(d.vectors)
    assert (d.scales[:-1] >= d.scales[1:]).all()
    d_flip = restart_directions(2 * z.mean(0) - z, 4)  # z reflected through its mean: axes flip sign
    torch.testing.assert_close(d_flip.vectors, d.vectors, atol=1e-5, rtol=0)
    ref = -d.vectors
    torch.testing.assert_close(restart_directions(z, 4, reference=ref).vectors, ref, atol=1e-5, rtol=0)
    assert len(restart_directions(z[:1], 4).vectors) == 0
    same = restart_directions(z[:1].repeat(5, 1), 4)  # identical restarts: no spread, no direction
    assert len(same.vectors) == 0 and len(same.scales) == 0
    line = z[:1] + torch.linspace(-1, 1, 6)[:, None] * torch.eye(LATENT)[2]  # spread along one axis only
    d_line = restart_directions(line, 4)
    assert len(d_line.vectors) == 1
    torch.testing.assert_close(d_line.vectors[0].abs(), torch.eye(LATENT)[2], atol=1e-5, rtol=0)


def test_posterior_directions_rank_axes_and_drop_dead_ones() -> None:
    G = tiny_generator()
    mu = torch.randn(LATENT, generator=torch.Generator().manual_seed(3)) * 0.5
    sigma = torch.tensor([0.8, 1e-9, 0.5, 0.0, 1.0, 1e-9, 0.3, 0.6])
    d = posterior_directions(G, mu, sigma, k=LATENT)
    assert d.kind == "posterior"
    _orthonormal(d.vectors)
    axes = d.vectors.abs().argmax(1)
    assert set(axes.tolist()) == {0, 2, 4, 6, 7}  # σ≈0 axes dropped
    assert (d.vectors.sum(1) == 1).all()  # unit axes, positive
    torch.testing.assert_close(d.scales, sigma[axes])
    with torch.no_grad():  # ranked by ‖G(μ + σ_j e_j) − G(μ)‖, descending
        base = G(mu[None])
        score = torch.stack([(G((mu + sigma[j] * torch.eye(LATENT)[j])[None]) - base).norm() for j in axes])
    assert (score[:-1] >= score[1:] - 1e-6).all()
    top2 = posterior_directions(G, mu, sigma, k=2)
    assert torch.equal(top2.vectors, d.vectors[:2])
    ref = -torch.eye(LATENT)[[0, 4]]
    d_ref = posterior_directions(G, mu, sigma, k=LATENT, reference=ref)
    assert (d_ref.vectors[axes == 0, 0] == -1).all() and (d_ref.vectors[axes == 4, 4] == -1).all()
    assert (d_ref.vectors[axes == 2, 2] == 1).all()


def test_move() -> None:
    vecs = torch.eye(LATENT)[[1, 3]]
    dirs = Directions(vecs, torch.tensor([0.5, 2.0]), "global")
    z = torch.randn(4, LATENT, generator=torch.Generator().manual_seed(0))
    assert torch.equal(move(z, dirs, [0.0, 0.0]), z)
    moved = move(z, dirs, [3.0])
    torch.testing.assert_close(moved - z, (3.0 * 0.5 * vecs[0]).expand_as(z))
    both = move(z[0], dirs, torch.tensor([1.0, -1.0, 7.0]))  # the extra coefficient is ignored
    torch.testing.assert_close(both - z[0], 0.5 * vecs[0] - 2.0 * vecs[1])
    empty = Directions(torch.zeros(0, LATENT), torch.zeros(0), "restarts")
    assert torch.equal(move(z, empty, [1.0, 2.0]), z)
    assert torch.equal(move(z, dirs, []), z)


# --------------------------------------------------------- tasks, global PCA
def test_tasks_name_known_domains() -> None:
    assert set(METHODS) == {"nam", "ae-nam", "vae-nam"}
    for name, task in TASKS.items():
        assert task.name == name and task.source in DOMAINS and task.target in DOMAINS
        assert get_task(name) is task
    assert (get_task("street2mnist").source, get_task("street2mnist").target) == ("street", "mnist")
    with pytest.raises(KeyError, match="unknown task"):
        get_task("mnist2cats")


@pytest.mark.parametrize("method", ["nam", "vae-nam"])
def test_global_directions(method: str) -> None:
    G = tiny_generator()
    images = smooth_images(12, 3)
    m = make_method(method, G, len(images))
    uint8 = ((images.permute(0, 2, 3, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    out = global_directions(m, uint8, torch.device("cpu"), k=4, style_k=3)
    assert set(out) == {"global_mean", "global_vectors", "global_std", "style_vectors", "style_std", "style_gain"}
    assert out["style_vectors"].shape == (3, LATENT) and out["style_std"].shape == (3,)
    _orthonormal(out["style_vectors"])
    assert (out["style_gain"][:-1] >= out["style_gain"][1:]).all() and out["style_gain"][-1] >= 1
    assert set(global_directions(m, uint8, torch.device("cpu"), k=4, style_k=0)) == {"global_mean", "global_vectors",
                                                                                     "global_std"}
    assert out["global_vectors"].shape == (4, LATENT) and out["global_mean"].shape == (LATENT,)
    _orthonormal(out["global_vectors"])
    assert (out["global_std"][:-1] >= out["global_std"][1:]).all()
    if method == "nam":
        torch.testing.assert_close(out["global_mean"], m.codes.weight.mean(0))
    else:
        with torch.no_grad():
            mu, _ = m.E.eval()(to_tensor(uint8))
        torch.testing.assert_close(out["global_mean"], mu.mean(0), atol=1e-5, rtol=1e-5)


def test_style_directions_find_what_t_ignores() -> None:
    """G writes z into 4 pixels; T keeps pixels 0 and 1 and all but erases 2 and 3: the two style directions must
    span e2, e3 (changing the output, not its reconstruction), ordered by the codes' spread along them."""
    class Pixels(torch.nn.Module):
        latent_dim = 4

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z.view(-1, 1, 2, 2)

    class Keep01(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.tensor([1.0, 1.0, 0.01, 0.01]).view(1, 1, 2, 2)

    g = torch.Generator().manual_seed(0)
    codes = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 1.0, 0.5, 2.0])
    vecs, std, gain = style_directions(Pixels(), Keep01(), codes, k=2, probes=16)
    _orthonormal(vecs)
    torch.testing.assert_close(vecs[:, :2], torch.zeros(2, 2), atol=1e-4, rtol=0)  # nothing along e0, e1
    torch.testing.assert_close(vecs[0].abs(), torch.tensor([0.0, 0.0, 0.0, 1.0]), atol=1e-2, rtol=0)  # widest first
    assert std[0] == pytest.approx(2.0, rel=0.1) and std[1] == pytest.approx(0.5, rel=0.1)
    assert gain[0] > 100  # ~ (1 / 0.01)² against the kept axes


# --------------------------------------------------------- NAM refinement (one-pass distillation)
def test_refiner_learns_the_nam_codes_and_keeps_t_frozen() -> None:
    from nam_core.methods.refine import NAMRefiner

    G = tiny_generator()
    images = smooth_images(16, 3)
    codes = torch.randn(16, LATENT, generator=torch.Generator().manual_seed(3))
    T = build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8)
    t_before = {k: v.clone() for k, v in T.state_dict().items()}
    m = NAMRefiner(G, T, codes, in_channels=3, size=32, nef=8, lr=3e-3, task="street2mnist")
    assert m.config()["method"] == "nam-ff" and not any(p.requires_grad for p in m.T.parameters())
    torch.testing.assert_close(m.targets, G(codes))  # the fixed targets are NAM's translations G(z_y)
    m.E.train()
    first = [m.train_step(torch.arange(16), images) for _ in range(3)]
    for _ in range(150):
        last = m.train_step(torch.arange(16), images)
    assert last["image"] < 0.7 * first[0]["image"] and last["code_mse"] < 0.5 * first[0]["code_mse"]
    for k, v in m.T.state_dict().items():
        torch.testing.assert_close(v, t_before[k])
    grid = m.samples()  # rows: input (as gray), R's translation, NAM's
    assert grid.shape == (30, 1, 32, 32) and m.E.training
    torch.testing.assert_close(grid[2::3], m.targets[:10])
    with pytest.raises(ValueError, match="dimensions"):
        NAMRefiner(G, T, torch.zeros(4, LATENT + 1), in_channels=3, size=32)
    # with NAM's own objective, images beyond the pairs (index ≥ number of codes) train R too
    m2 = NAMRefiner(G, T, codes[:8], in_channels=3, size=32, nef=8, lr=3e-3, recon_weight=1.0, recon_loss="ncc")
    m2.E.train()
    logs = m2.train_step(torch.arange(8, 16), images[8:])  # unpaired only: no distillation terms
    assert logs["image"] == 0.0 and logs["code_mse"] == 0.0 and logs["recon"] > 0
    before = {k: v.clone() for k, v in m2.E.state_dict().items()}
    m2.train_step(torch.arange(8, 16), images[8:])
    assert any(not torch.equal(v, before[k]) for k, v in m2.E.state_dict().items())  # ... yet R learns


def test_resolve_pairs_starts_leave_one_out_and_lowers_the_loss() -> None:
    from nam_core.methods.mappings import resolve_pairs
    from nam_core.methods.nam import retrieval_starts

    G = tiny_generator()
    T = freeze(build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8))
    codes = torch.randn(12, LATENT, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        targets = T(G(codes))  # each target is exactly reproduced by its own code
    loss = build_loss("laplacian")
    own = retrieval_starts(codes, targets, targets, 1, loss, noise=0.0)
    torch.testing.assert_close(own, codes)  # without exclusion each target retrieves its own code
    loo = retrieval_starts(codes, targets, targets, 1, loss, noise=0.0, exclude=torch.arange(12))
    assert not any(torch.equal(loo[i], codes[i]) for i in range(12))  # leave-one-out: never its own
    uint8 = ((targets.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    z = resolve_pairs(G, T, codes, uint8, "laplacian", steps=40, device=torch.device("cpu"), chunk=5,
                      progress=False)
    assert z.shape == codes.shape
    x = to_tensor(uint8)
    with torch.no_grad():
        start = loss(T(G(loo)), x, reduction="none").mean()
        after = loss(T(G(z)), x, reduction="none").mean()
    assert after < start


def test_global_affine_t_learns_the_framing_and_vae_nam_records_it() -> None:
    """Targets that show the generated pictures enlarged (as street crops frame digits larger than MNIST): the local
    T with the global affine front learns a zoom > 1 under NCC, which the convs alone cannot express; VAE-NAM builds
    it from ``t_affine``, records it in its hparams and logs the zoom while training."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    c = torch.rand(16, 2, 1, 1) * 0.6 - 0.3
    small = torch.exp(-((xx - c[:, :1]) ** 2 + (yy - c[:, 1:]) ** 2) / 0.03) * 2 - 1  # blobs, 16×1×32×32
    theta = torch.tensor([[1 / 1.5, 0, 0], [0, 1 / 1.5, 0]]).expand(16, 2, 3)
    big = F.grid_sample(small, F.affine_grid(theta, list(small.shape), align_corners=False), padding_mode="border",
                        align_corners=False)
    loss = build_loss("ncc")
    final = {}
    for affine in ("none", "global"):
        torch.manual_seed(0)
        T = build_net("local_mapping", in_channels=1, out_channels=3, size=32, nf=8, affine=affine)
        opt = torch.optim.Adam(T.parameters(), lr=1e-2)
        for _ in range(80):
            value = loss(T(small), big)
            opt.zero_grad()
            value.backward()
            opt.step()
        final[affine] = value.item()
        zoom, _ = T.zoom_shift()
    assert torch.all(zoom > 1.2), zoom
    assert final["global"] < 0.5 * final["none"], final
    G = tiny_generator()
    m = VAENAM(G, in_channels=3, size=32, nf=8, nef=8, loss="ncc", t_arch="local", t_affine="global", t_zoom=1.2)
    _set_train(m)
    stats = m.train_step(torch.arange(4), smooth_images(4, 3))
    assert m.config()["hparams"]["t_affine"] == "global" and m.T.nam_config["kwargs"]["zoom"] == 1.2
    assert stats["zoom_x"] == pytest.approx(1.2, abs=0.02)
    with pytest.raises(ValueError, match="local T"):
        VAENAM(G, in_channels=3, size=32, nf=8, nef=8, t_arch="crn", t_affine="global")
