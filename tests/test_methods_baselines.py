"""Adversarial baselines (DistanceGAN, DTN, CycleGAN): pure losses, helpers, smoke training and serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nam_core import nets
from nam_core.checkpoints import read_config, read_training_info, save_checkpoint
from nam_core.data import DomainDataset, load_domain
from nam_core.methods import baselines as bl
from nam_core.methods.cyclegan import cycle_loss, identity_loss
from nam_core.methods.distancegan import DistanceGAN, DistanceStats, distance_loss, distance_stats, distances
from nam_core.methods.dtn import const_loss, feature_encoder, ternary_d_loss, ternary_g_loss, tid_loss, tv_loss
from nam_core.nets.translator_nets import ResnetTranslator
from nam_core.serving.feedforward import FeedForwardTranslator

TINY = {
    "cyclegan": {"ngf": 4, "n_blocks": 1, "ndf": 8, "pool_size": 4},
    "distancegan": {"ngf": 4, "n_blocks": 1, "ndf": 8, "pool_size": 4, "stats_images": 32},
    "dtn": {"ngf": 8, "d_width": 4, "f_width": 4},
}


@pytest.fixture(autouse=True)
def _translator_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ResNet translator until the lead registers it in nam_core.nets.NETS (then this is a no-op)."""
    if "resnet_translator" not in nets.NETS:
        monkeypatch.setitem(nets.NETS, "resnet_translator", ResnetTranslator)


@pytest.fixture(scope="module")
def digits(mnist_train) -> dict[str, DomainDataset]:
    return {"mnist": bl.random_subset(mnist_train, 64, 0), "street": load_domain("street", "train", n=64)}


def _rand(n: int = 8, c: int = 1, s: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ------------------------------------------------------------------------------------------------ DistanceGAN
def test_distance_loss_zero_when_distances_are_preserved() -> None:
    x = _rand()
    same = DistanceStats(0.6, 0.2, 0.6, 0.2)
    assert distance_loss(x, x, same).item() == pytest.approx(0.0, abs=1e-6)
    # a map that doubles every distance is matched by doubled B statistics
    assert distance_loss(x, 2 * x, DistanceStats(0.6, 0.2, 1.2, 0.4)).item() == pytest.approx(0.0, abs=1e-5)
    # gray → RGB repetition keeps mean absolute differences
    assert distance_loss(x, bl.to_channels(x, 3), same).item() == pytest.approx(0.0, abs=1e-6)
    # but not a map that scrambles them
    assert distance_loss(x, x.pow(2) * torch.linspace(0, 1, 8).view(8, 1, 1, 1), same).item() > 0.1
    assert distance_loss(x, 2 * x, same).item() > 0.1


def test_self_distance_modes() -> None:
    x = _rand(6, 3, 8)
    tb, lr = DistanceStats(0.5, 0.1, 0.5, 0.1, "top_bottom"), DistanceStats(0.5, 0.1, 0.5, 0.1, "left_right")
    assert distances(x, "top_bottom").shape == (6,) and distances(x, "pairs").shape == (15,)
    # flipping the image upside down keeps the top/bottom distance, not (in general) the left/right one
    flipped = x.flip(2)
    assert distance_loss(x, flipped, tb).item() == pytest.approx(0.0, abs=1e-6)
    half_dark = x.clone()
    half_dark[:, :, 4:] = -1
    assert distance_loss(x, half_dark, tb).item() > 0.1
    assert distance_loss(x, x.flip(3), lr).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        distances(x, "diagonal")


def test_distance_stats_match_brute_force_and_scaling() -> None:
    a = _rand(12, 1, 8, seed=1)
    st = distance_stats(a, 0.5 * a, n=100)
    brute = [(a[i] - a[j]).abs().mean().item() for i in range(12) for j in range(i + 1, 12)]
    assert st.mu_a == pytest.approx(np.mean(brute), rel=1e-5)
    assert st.std_a == pytest.approx(np.std(brute, ddof=1), rel=1e-4)
    assert st.mu_b == pytest.approx(0.5 * st.mu_a, rel=1e-5) and st.std_b == pytest.approx(0.5 * st.std_a, rel=1e-4)
    assert distance_loss(a, 0.5 * a, st).item() == pytest.approx(0.0, abs=1e-4)
    assert st.swapped().mu_a == st.mu_b
    u8 = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    st2 = distance_stats(u8, u8[..., :1], mode="left_right", n=10)
    assert st2.mode == "left_right" and st2.std_a > 0 and st2.mu_b > 0


# ------------------------------------------------------------------------------------------------------- DTN
def test_dtn_losses() -> None:
    x = _rand(4, 1, 8)

    def f(im: torch.Tensor) -> torch.Tensor:
        return im.flatten(1)

    def g(z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 1, 8, 8)

    fx = f(x)
    assert const_loss(f, fx, g(fx)).item() == 0.0  # f∘g = id on features
    assert const_loss(f, fx, g(fx) + 0.1).item() == pytest.approx(0.01, rel=1e-4)
    assert tid_loss(g(f(x)), x).item() == 0.0  # g∘f = id on targets
    assert tid_loss(g(f(x)) * 0.5, x).item() > 0
    assert tv_loss(torch.zeros(2, 3, 8, 8)).item() < 1e-3
    checker = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2 * 2.0 - 1
    assert tv_loss(checker.expand(1, 1, 8, 8)).item() == pytest.approx(8**0.5, rel=1e-3)
    sure = torch.tensor([[20.0, 0, 0]]), torch.tensor([[0, 20.0, 0]]), torch.tensor([[0, 0, 20.0]])
    assert ternary_d_loss(*sure).item() < 1e-6
    assert ternary_g_loss(sure[2], sure[2]).item() < 1e-6
    assert ternary_g_loss(sure[0], sure[1]).item() > 10


def test_dtn_feature_encoder_errors(tmp_path, digits) -> None:
    unlabelled = DomainDataset("mnist", "train", digits["mnist"].images[:8])
    with pytest.raises(ValueError, match="no labels"):
        feature_encoder(unlabelled, progress=False)
    clf = nets.build_net("classifier", in_channels=3, width=4)
    save_checkpoint(tmp_path / "clf", {"classifier": clf}, {"kind": "classifier", "domain": "street"})
    with pytest.raises(ValueError, match="source domain"):
        feature_encoder(digits["mnist"], f_checkpoint=tmp_path / "clf", progress=False)
    f, info = feature_encoder(digits["street"], f_checkpoint=tmp_path / "clf", progress=False)
    assert info["source"] == "checkpoint" and f.features(torch.zeros(2, 3, 32, 32)).shape == (2, 256)


# -------------------------------------------------------------------------------------------------- CycleGAN
def test_cycle_and_identity_losses() -> None:
    x = _rand(4, 3, 8)
    neg = torch.neg
    assert cycle_loss(x, neg, neg).item() == 0.0
    assert cycle_loss(x, neg, neg, mapped=-x).item() == 0.0
    assert cycle_loss(x, neg, lambda t: t).item() == pytest.approx((2 * x).abs().mean().item())
    assert identity_loss(x, lambda t: t).item() == 0.0 and identity_loss(x, neg).item() > 0


# --------------------------------------------------------------------------------------------------- helpers
def test_helpers() -> None:
    g = _rand(2, 1, 4)
    assert torch.allclose(bl.to_channels(bl.to_channels(g, 3), 1), g, atol=1e-6)
    assert bl.to_channels(_rand(2, 3, 4), 1).shape == (2, 1, 4, 4)
    assert bl.gan_loss(torch.ones(3), True).item() == 0.0 and bl.gan_loss(torch.zeros(3), False).item() == 0.0
    assert bl.gan_loss(torch.full((3,), 30.0), True, "bce").item() < 1e-6
    with pytest.raises(ValueError):
        bl.gan_loss(torch.ones(1), True, "wgan")
    pool = bl.ImagePool(4)
    for i in range(5):
        out = pool.query(torch.full((3, 1, 2, 2), float(i)))
        assert out.shape == (3, 1, 2, 2)
    assert pool.images is not None and len(pool.images) == 4
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = bl.linear_decay(opt, epochs=4, decay_epochs=2)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3])
    net = ResnetTranslator(1, 3, size=32, ngf=4, n_blocks=1)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 32, 32)


def test_two_sided_distancegan_step(digits) -> None:
    m = DistanceGAN(digits["mnist"].images, digits["street"].images, mode="top_bottom", lambda_cyc=10.0, seed=0,
                    task="mnist2street", **{**TINY["distancegan"]})
    logs = m.train_step(torch.arange(8), torch.from_numpy(digits["mnist"].images[:8].copy()).permute(0, 3, 1, 2)
                        .float().div(127.5).sub(1))
    assert {"dist_ab", "dist_ba", "cycle", "gan_a", "gan_b", "loss_d_a", "loss_d_b"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert set(m.inference_networks()) == {"G", "F"} and m.samples().shape == (50, 3, 32, 32)


# ------------------------------------------------------------------------------------- training and serving
@pytest.mark.parametrize("method", ["cyclegan", "distancegan", "dtn"])
@pytest.mark.parametrize("task", ["mnist2street", "street2mnist"])
def test_smoke_train_and_serve(tmp_path, digits, method: str, task: str) -> None:
    src, tgt = task.split("2")
    final = bl.train_baseline(task, method, tmp_path / "run", epochs=1, batch_size=32, seed=0, device="cpu",
                           progress=False, hparams=dict(TINY[method]), f_epochs=1,
                           datasets=(digits[src], digits[tgt]))
    assert final == tmp_path / "run" / "final" and (final / "samples.png").exists()
    cfg = read_config(final)
    assert (cfg["kind"], cfg["method"], cfg["task"], cfg["source"], cfg["target"]) == ("mapping", method, task,
                                                                                         src, tgt)
    info = read_training_info(final)
    assert len(info["history"]) == 1 and info["train_images"] == 64 and cfg["deterministic"] is True
    tr = FeedForwardTranslator.from_checkpoint(final, device="cpu")
    cs, ct = (1, 3) if src == "mnist" else (3, 1)
    images = digits[src].images[:3]
    out = tr.translate(images, num_solutions=2)
    assert out.shape == (3, 2, 32, 32, ct) and out.dtype == np.uint8
    assert np.array_equal(out[:, 0], out[:, 1])  # deterministic: K identical copies
    full = tr.translate_full(images, num_solutions=2)
    assert full.reconstructions.shape == (3, 2, 32, 32, cs) and np.isnan(full.losses).all()
    assert full.losses.shape == (3, 2) and full.z.shape == (3, 2, 0)
    if method == "dtn":
        assert set(tr.networks) == {"f", "g"} and not full.reconstructions.any()
        assert info["f_encoder"]["source"] == "pretrained"
    if method == "cyclegan":
        assert set(tr.networks) == {"G", "F"} and info["hparams"]["identity_used"] is False
    assert len(tr.directions(images[0]).scales) == 0
    assert tr.explore(images[0], [1.0, 0.0], num_solutions=3).shape == (3, 32, 32, ct)
    assert tr.strip(images[0], 0, steps=5).shape == (5, 32, 32, ct)
    # another domain's images are converted to the input domain
    other = digits[tgt].images[:2]
    assert tr.translate(other, num_solutions=1).shape == (2, 1, 32, 32, ct)
    with torch.no_grad():
        x = torch.zeros(2, cs, 32, 32)
        y = bl.translate_tensor(tr.networks, x)
        assert y.shape == (2, ct, 32, 32)
        rec = bl.reconstruct_tensor(tr.networks, y)
        assert (rec is None) == (method != "cyclegan")


@pytest.mark.parametrize("method", ["cyclegan", "dtn"])
def test_resume_continues_history(tmp_path, digits, method: str) -> None:
    kw = dict(batch_size=32, seed=0, device="cpu", progress=False, hparams=dict(TINY[method]), f_epochs=1,
              datasets=(digits["street"], digits["mnist"]))
    first = read_training_info(bl.train_baseline("street2mnist", method, tmp_path, epochs=1, **kw))
    second = read_training_info(bl.train_baseline("street2mnist", method, tmp_path, epochs=2, **kw))
    assert len(second["history"]) == 2
    assert second["history"][0] == first["history"][0]  # epoch 1 was resumed, not retrained
    if method == "dtn":  # f came back from the checkpoint with its pretraining record
        assert second["f_encoder"] == first["f_encoder"] and second["f_encoder"]["source"] == "pretrained"


def test_unknown_hparam_fails_fast(tmp_path) -> None:
    with pytest.raises(ValueError, match="accepted"):
        bl.train_baseline("mnist2street", "dtn", tmp_path, hparams={"n_blocks": 2})
    assert "lambda_dist" in bl.method_hparams("distancegan") and "alpha" in bl.method_hparams("dtn")


def test_cli_parse_hparams() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "training" / "train_baseline.py"
    spec = importlib.util.spec_from_file_location("train_baseline_cli", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    assert mod.parse_hparams(["ngf=16", "gan=bce", "lambda_cyc=2.5", "two=true"]) == {
        "ngf": 16, "gan": "bce", "lambda_cyc": 2.5, "two": True}
    with pytest.raises(SystemExit):
        mod.parse_hparams(["oops"])
