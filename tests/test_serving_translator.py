"""nam_core.serving.translator on tiny street2mnist checkpoints built here in a second (an 8-filter DCGAN generator
of "mnist" and NAM / AE-NAM / VAE-NAM mappings trained for a few steps on 16 synthetic images), plus
``prepare_inputs`` on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nam_core.checkpoints import (
    CheckpointError,
    read_config,
    read_training_info,
    save_checkpoint,
    store_half,
    weights_fingerprint,
)
from nam_core.methods.generators import load_generator
from nam_core.methods.mappings import global_directions
from nam_core.methods.nam import NAM, freeze, nam_starts
from nam_core.methods.vae_nam import VAENAM
from nam_core.nets import build_net
from nam_core.serving.translator import Translator, prepare_inputs
from nam_core.utils import per_image_noise, to_tensor

LATENT = 8
N_TARGETS = 16
METHODS = ("nam", "ae-nam", "vae-nam")


def _street_images(n: int, seed: int) -> np.ndarray:
    """Blurry random RGB 32×32 uint8 images (stand-ins for street digits)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 3, 4, 4, generator=g)
    x = torch.tanh(1.5 * F.interpolate(low, size=32, mode="bilinear", align_corners=False))
    return ((x.permute(0, 2, 3, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _tiny_generator() -> torch.nn.Module:
    torch.manual_seed(0)
    G = build_net("dcgan_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    for m in G.modules():  # BN statistics from real codes, so that G(z) depends on z in eval mode
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    G.train()
    with torch.no_grad():
        G(torch.randn(256, LATENT))
    return freeze(G)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders: "gen" (a generator checkpoint) and one mapping checkpoint per method, as train_mapping writes them."""
    root = tmp_path_factory.mktemp("translator_ckpts")
    G = _tiny_generator()
    gen = save_checkpoint(root / "gen_mnist", {"G": G}, {"kind": "generator", "domain": "mnist", "method": "dcgan",
                                                         "latent_dim": LATENT, "image_size": 32, "channels": 1})
    images = _street_images(N_TARGETS, seed=0)
    x = to_tensor(images)
    out = {"gen": gen}
    for method in METHODS:
        torch.manual_seed(1)
        if method == "nam":
            m = NAM(G, N_TARGETS, 3, 32, nf=8, lr_z=5e-2, task="street2mnist", generator_ref=str(gen))
        else:
            m = VAENAM(G, 3, 32, variational=method == "vae-nam", nf=8, nef=8, task="street2mnist",
                       generator_ref=str(gen))
        for net in m.networks.values():
            net.train()
        for _ in range(5):
            m.train_step(torch.arange(N_TARGETS), x)
        tensors = m.tensors() if method == "nam" else {}
        tensors.update(global_directions(m, images, torch.device("cpu"), k=4))
        config = m.config()
        config.update({"source": "street", "target": "mnist", "image_size": 32, "generator_method": "dcgan",
                       "style_min_gain": 0.0})  # keep every style direction of these tiny models
        out[method] = save_checkpoint(root / f"street2mnist_{method}_dcgan", m.networks, config, tensors=tensors)
    return out


@pytest.fixture(scope="module")
def translators(ckpts: dict[str, Path]) -> dict[str, Translator]:
    trs = {m: Translator.from_checkpoint(ckpts[m], device="cpu") for m in METHODS}
    trs["nam"].nam_steps = 5
    return trs


@pytest.fixture
def tr(request: pytest.FixtureRequest, translators: dict[str, Translator]) -> Translator:
    """The translator of ``request.param`` with an empty solution cache."""
    t = translators[request.param]
    t._cache.clear()
    t.cache_size = 8
    t.nam_init = "retrieval"
    return t


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return _street_images(3, seed=5)


all_methods = pytest.mark.parametrize("tr", METHODS, indirect=True)


# ------------------------------------------------------------------ loading
def test_from_checkpoint_loads_mapping_and_generator(translators: dict[str, Translator]) -> None:
    for method, t in translators.items():
        assert t.method == method and (t.source, t.target) == ("street", "mnist")
        assert t.latent_dim == LATENT and t.gen_config["kind"] == "generator"
        assert (t.E is None) == (method == "nam")
        assert t.global_dirs is not None and t.global_dirs.vectors.shape == (4, LATENT)
        assert not any(p.requires_grad for p in t.G.parameters())


def test_from_checkpoint_finds_a_sibling_generator_and_rejects_generators(ckpts: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    moved = Path(shutil.copytree(ckpts["vae-nam"], ckpts["gen"].parent / "moved_vae"))
    cfg_path = moved / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["generator"] = str(tmp_path / "elsewhere" / "gen_mnist")  # a stale absolute path; the sibling exists
    cfg_path.write_text(json.dumps(cfg))
    t = Translator.from_checkpoint(moved, device="cpu")
    assert t.method == "vae-nam" and t.latent_dim == LATENT
    with pytest.raises(CheckpointError, match="not a mapping checkpoint"):
        Translator.from_checkpoint(ckpts["gen"], device="cpu")


def test_generator_fingerprint_survives_float16_and_catches_a_swapped_generator(ckpts: dict[str, Path],
                                                                                tmp_path: Path) -> None:
    G, _ = load_generator(ckpts["gen"])
    want = weights_fingerprint(G)
    half = store_half(Path(shutil.copytree(ckpts["gen"], tmp_path / "gen_half")))
    assert weights_fingerprint(load_generator(half)[0]) == want  # float16 storage keeps the fingerprint
    moved = Path(shutil.copytree(ckpts["vae-nam"], tmp_path / "vae"))
    cfg = json.loads((moved / "config.json").read_text())
    cfg["generator"] = str(half)
    cfg["generator_fingerprint"] = want
    (moved / "config.json").write_text(json.dumps(cfg))
    assert Translator.from_checkpoint(moved, device="cpu").method == "vae-nam"
    torch.manual_seed(3)  # a retrained generator under the same name
    other = build_net("dcgan_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    save_checkpoint(tmp_path / "gen_half", {"G": other}, read_config(half))
    assert weights_fingerprint(load_generator(half)[0]) != want
    with pytest.raises(CheckpointError, match="fingerprint mismatch"):
        Translator.from_checkpoint(moved, device="cpu")


# ---------------------------------------------------------------- translate
@all_methods
def test_translate_shape_dtype_and_determinism(tr: Translator, inputs: np.ndarray) -> None:
    out = tr.translate(inputs[:2], num_solutions=3, seed=0)
    assert out.shape == (2, 3, 32, 32, 1) and out.dtype == np.uint8
    assert np.array_equal(out, tr.translate(inputs[:2], num_solutions=3, seed=0))
    single = tr.translate(inputs[0], num_solutions=3, seed=0)  # H×W×C: one image, through the cache
    assert single.shape == (1, 3, 32, 32, 1)
    tr._cache.clear()
    assert np.array_equal(single, tr.translate(inputs[0], num_solutions=3, seed=0))  # re-solved: same result
    assert np.array_equal(single[:, 0], out[:1, 0])  # the first solution does not depend on the batch
    full = tr.translate_full(inputs[:2], num_solutions=3, seed=0)
    assert np.array_equal(full.outputs, out)
    assert full.reconstructions.shape == (2, 3, 32, 32, 3) and full.reconstructions.dtype == np.uint8
    assert full.losses.shape == (2, 3) and np.isfinite(full.losses).all() and full.z.shape == (2, 3, LATENT)
    with pytest.raises(ValueError, match="num_solutions"):
        tr.translate(inputs[:1], num_solutions=0)


@all_methods
def test_solutions_do_not_depend_on_the_batch(tr: Translator, inputs: np.ndarray) -> None:
    """All K solutions of an image are the same alone, first or second in a batch, and beside other images."""
    tr.cache_size = 0
    batch = tr.translate_full(inputs[:3], num_solutions=4, seed=7)
    swapped = tr.translate_full(inputs[[2, 1, 0]], num_solutions=4, seed=7)
    alone = tr.translate_full(inputs[1:2], num_solutions=4, seed=7)
    for got, want in ((swapped.z[1], batch.z[1]), (alone.z[0], batch.z[1]), (swapped.z[0], batch.z[2])):
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert not np.allclose(batch.z[0, 1:], batch.z[1, 1:])  # …and different images still get different samples
    other_seed = tr.translate_full(inputs[1:2], num_solutions=4, seed=8)
    assert not np.allclose(other_seed.z[0, 1:], alone.z[0, 1:])


@all_methods
def test_different_inputs_give_different_outputs(tr: Translator, inputs: np.ndarray) -> None:
    out = tr.translate(inputs[:2], num_solutions=2, seed=0)
    assert not np.array_equal(out[0], out[1])


def test_vae_nam_seeds_differ_but_keep_the_posterior_mean(translators: dict[str, Translator],
                                                          inputs: np.ndarray) -> None:
    t = translators["vae-nam"]
    a = t.translate(inputs[:1], num_solutions=4, seed=0)
    b = t.translate(inputs[:1], num_solutions=4, seed=1)
    assert np.array_equal(a[:, 0], b[:, 0])  # solution 0 is G(μ) for every seed
    assert not np.array_equal(a[:, 1:], b[:, 1:])
    assert len({a[0, i].tobytes() for i in range(4)}) > 1  # the K solutions differ


def test_ae_nam_solutions_spread_along_the_global_axes(translators: dict[str, Translator],
                                                       inputs: np.ndarray) -> None:
    t = translators["ae-nam"]
    t.rank = None  # the drawing order: the code itself first
    try:
        full = t.translate_full(inputs[:2], num_solutions=4, seed=0)
    finally:
        t.rank = "loss"
    with torch.no_grad():
        mu, _ = t.E(to_tensor(inputs[:2]))
    torch.testing.assert_close(full.z[:, 0], mu)
    assert not torch.allclose(full.z[:, 1], mu)


@pytest.mark.parametrize("method", ["vae-nam", "ae-nam"])
def test_temperature_scales_the_spread_of_the_solutions(translators: dict[str, Translator], inputs: np.ndarray,
                                                        method: str) -> None:
    t = translators[method]
    assert t.temperature == 1.0  # no sampling_temperature in the config
    style = t.style_dirs
    t.style_temperature, t.style_dirs = 0.0, (style if method == "vae-nam" else None)  # AE-NAM: global axes
    t.rank = None  # the spread as drawn (ranking would reorder and oversample the solutions)
    try:
        spread = {}
        for temp in (0.0, 1.0, 2.5):
            t.temperature = temp
            z = t.translate_full(inputs[:2], num_solutions=4, seed=0).z
            spread[temp] = z - z[:, :1]  # solution 0 is the code itself
        assert spread[0.0].abs().max() == 0
        torch.testing.assert_close(spread[2.5], 2.5 * spread[1.0])
    finally:
        t.temperature, t.style_temperature, t.style_dirs, t.rank = 1.0, 2.0, style, "loss"


@pytest.mark.parametrize("method", ["vae-nam", "ae-nam"])
def test_style_temperature_moves_solutions_within_the_style_directions(translators: dict[str, Translator],
                                                                       inputs: np.ndarray, method: str) -> None:
    t = translators[method]
    assert t.style_dirs is not None and t.style_temperature == 2.0  # stored by global_directions; the default
    assert len(t.style_dirs.vectors) == len(t.ckpt.tensors["style_vectors"])  # style_min_gain 0: all kept
    v = t.style_dirs.vectors
    torch.testing.assert_close(v @ v.T, torch.eye(len(v)), atol=1e-4, rtol=0)
    t.rank = None  # the spread as drawn
    try:
        t.temperature = 0.0  # posterior spread off: only the style spread is left
        z = {}
        for st in (0.0, 1.0, 3.0):
            t.style_temperature = st
            z[st] = t.translate_full(inputs[:2], num_solutions=4, seed=0).z
        assert z[0.0].shape[1] == 1  # no spread at all (deterministic): one solution, the code
        delta = z[1.0] - z[0.0]
        assert delta[:, 0].abs().max() == 0 and delta[:, 1:].abs().max() > 0  # solution 0 stays the code
        torch.testing.assert_close(z[3.0] - z[0.0], 3 * delta)
        inside = (delta @ v.T) @ v  # the move lies in the span of the style directions
        torch.testing.assert_close(inside, delta, atol=1e-5, rtol=0)
        again = t.translate_full(inputs[:2], num_solutions=4, seed=0).z  # seeded: the same solutions
        torch.testing.assert_close(again, z[3.0])
    finally:
        t.temperature, t.style_temperature, t.rank = 1.0, 2.0, "loss"


def test_nam_callback_reports_every_step(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    t = translators["nam"]
    t._cache.clear()
    calls: list[tuple[int, int]] = []
    t.translate(inputs[:1], num_solutions=2, seed=3, callback=lambda s, n: calls.append((s, n)))
    assert calls == [(s, t.nam_steps) for s in range(1, t.nam_steps + 1)]


# -------------------------------------------------------------- solve cache
def _count_solutions(t: Translator, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = t._solutions

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(t, "_solutions", counting)
    return calls


@all_methods
def test_solve_cache_hit_returns_the_same_solutions(tr: Translator, inputs: np.ndarray,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_solutions(tr, monkeypatch)
    x, z, sigma = tr.solve(inputs[0], k=3, seed=0)
    assert x.shape == (1, 3, 32, 32) and z.shape == (3, LATENT)
    assert (sigma is None) == (tr.method == "nam")
    x2, z2, _ = tr.solve(inputs[0], k=3, seed=0)
    assert len(calls) == 1 and torch.equal(z, z2) and torch.equal(x, x2)
    tr.translate(inputs[0], num_solutions=3, seed=0)  # translate reuses the cached solutions
    tr.directions(inputs[0], k=2, num_solutions=3, seed=0)
    tr.explore(inputs[0], [1.0, 0.0], seed=0, num_solutions=3)
    assert len(calls) == 1
    tr.solve(inputs[0], k=3, seed=1)  # another seed, another k: new entries
    tr.solve(inputs[0], k=2, seed=0)
    assert len(calls) == 3


@pytest.mark.parametrize("tr", ["vae-nam"], indirect=True)
def test_solve_cache_is_lru(tr: Translator, inputs: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_solutions(tr, monkeypatch)
    tr.cache_size = 2
    a, b, c = inputs
    tr.solve(a, 2)
    tr.solve(b, 2)
    tr.solve(a, 2)  # hit: a becomes the most recent
    assert len(calls) == 2
    tr.solve(c, 2)  # evicts b, the least recently used
    assert len(tr._cache) == 2 and len(calls) == 3
    tr.solve(a, 2)
    assert len(calls) == 3
    tr.solve(b, 2)  # b was evicted: solved again
    assert len(calls) == 4 and len(tr._cache) == 2


# --------------------------------------------------------- directions, explore
@all_methods
def test_explore_with_zero_coefficients_gives_the_solutions(tr: Translator, inputs: np.ndarray) -> None:
    plain = tr.translate(inputs[0], num_solutions=3, seed=0)[0]
    zeros = tr.explore(inputs[0], [0.0, 0.0], seed=0, num_solutions=3)
    assert zeros.shape == (3, 32, 32, 1) and zeros.dtype == np.uint8
    assert np.array_equal(zeros, plain)
    moved = tr.explore(inputs[0], [3.0, 0.0], seed=0, num_solutions=3)
    assert not np.array_equal(moved, plain)
    anchored = tr.explore(inputs[0], [0.0, 0.0], seed=0, num_solutions=3, anchor=1)
    assert all(np.array_equal(tile, plain[1]) for tile in anchored)
    g_zero = tr.explore(inputs[0], [0.0, 0.0], seed=0, num_solutions=3, kind="global")
    assert np.array_equal(g_zero, plain)
    assert not np.array_equal(tr.explore(inputs[0], [3.0], seed=0, num_solutions=3, kind="global"), plain)


@all_methods
def test_input_directions_are_orthonormal(tr: Translator, inputs: np.ndarray) -> None:
    d = tr.directions(inputs[0], k=3, num_solutions=4, seed=0)
    assert 1 <= len(d.vectors) <= 3 and d.vectors.shape[1] == LATENT and len(d.scales) == len(d.vectors)
    torch.testing.assert_close(d.vectors @ d.vectors.T, torch.eye(len(d.vectors)), atol=1e-5, rtol=0)
    assert (d.scales > 0).all()
    assert d.kind == {"nam": "restarts", "ae-nam": "global", "vae-nam": "posterior"}[tr.method]
    with pytest.raises(ValueError, match="kind"):
        tr.directions(inputs[0], k=2, kind="sideways")


@all_methods
def test_global_directions_are_orthonormal_and_input_independent(tr: Translator, inputs: np.ndarray) -> None:
    d1 = tr.directions(inputs[0], k=3, kind="global")
    d2 = tr.directions(inputs[1], k=3, kind="global")
    assert d1.kind == "global" and d1.vectors.shape == (3, LATENT)
    assert torch.equal(d1.vectors, d2.vectors) and torch.equal(d1.scales, d2.scales)
    torch.testing.assert_close(d1.vectors @ d1.vectors.T, torch.eye(3), atol=1e-5, rtol=0)
    assert (d1.scales[:-1] >= d1.scales[1:]).all()


@all_methods
def test_strip(tr: Translator, inputs: np.ndarray) -> None:
    s = tr.strip(inputs[0], direction=0, steps=5, span=2.0, num_solutions=3)
    assert s.shape == (5, 32, 32, 1) and s.dtype == np.uint8
    plain = tr.translate(inputs[0], num_solutions=3, seed=0)[0]
    assert np.array_equal(s[2], plain[0])  # the middle of an odd strip is the anchor solution itself
    assert not np.array_equal(s[0], s[-1])
    with pytest.raises(ValueError, match="directions available"):
        tr.strip(inputs[0], direction=50, num_solutions=3)


def test_cache_size_zero_disables_the_cache(translators: dict[str, Translator], inputs: np.ndarray,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``cache_size`` is a public knob; 0 should mean "no caching", not a crash."""
    t = translators["vae-nam"]
    t._cache.clear()
    monkeypatch.setattr(t, "cache_size", 0)
    calls = _count_solutions(t, monkeypatch)
    try:
        x, z, _ = t.solve(inputs[0], 2)
    except KeyError:  # the key's bytes would flood the report
        pytest.fail("Translator.solve with cache_size=0 raises KeyError: the new entry is evicted before it is read")
    assert z.shape == (2, LATENT)
    t.solve(inputs[0], 2)
    assert len(calls) == 2 and len(t._cache) == 0


# ------------------------------------------------------------ NAM retrieval
def test_nam_retrieval_init(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    t = translators["nam"]
    t.nam_init = "retrieval"
    codes = t.ckpt.tensors["codes"]
    x = to_tensor(inputs[:2])
    k = 4
    starts = nam_starts(t, x, k, seed=0)
    assert starts.shape == (2 * k, LATENT)
    assert torch.equal(starts, nam_starts(t, x, k, seed=0))
    assert not torch.equal(starts, nam_starts(t, x, k, seed=1))
    noises = per_image_noise(x, k, LATENT, seed=0)  # the same per-image noise NAM's Gaussian starts use
    with torch.no_grad():
        recs = t.T(t.G(codes))
    for i in range(2):
        noise = noises[i]
        block = starts[i * k : (i + 1) * k]
        assert len({tuple(r.tolist()) for r in block}) == k  # K distinct starts
        base = block - 0.1 * noise  # each start is a training code plus a little seeded noise
        dist = torch.cdist(base, codes)
        assert (dist.min(1).values < 1e-5).all()
        chosen = set(dist.argmin(1).tolist())
        assert len(chosen) == k  # K different training codes ...
        losses = t.loss_fn(recs, x[i : i + 1].expand(len(codes), -1, -1, -1), reduction="none")
        assert chosen == set(losses.topk(k, largest=False).indices.tolist())  # ... the K best-matching ones
    many = nam_starts(t, x[:1], N_TARGETS + 3, seed=0)  # more starts than codes: codes are reused
    assert many.shape == (N_TARGETS + 3, LATENT)
    t.nam_init = "random"
    try:
        assert nam_starts(t, x, k, seed=0) is None
        t._cache.clear()
        out = t.translate(inputs[:1], num_solutions=2, seed=0)
        assert out.shape == (1, 2, 32, 32, 1)
    finally:
        t.nam_init = "retrieval"
        t._cache.clear()


def test_nam_solutions_start_from_retrieval(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    t = translators["nam"]
    t._cache.clear()
    x = to_tensor(inputs[:1])
    steps = t.nam_steps
    try:
        t.nam_steps = 0
        z, _ = t._solutions(x, 3, seed=0)
        torch.testing.assert_close(z[0], nam_starts(t, x, 3, seed=0))
    finally:
        t.nam_steps = steps


def test_nam_on_edge_inputs_uses_the_checkpoint_silhouette_weight(translators: dict[str, Translator],
                                                                     inputs: np.ndarray,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from nam_core.methods.nam import solver_silhouettes

    t = translators["nam"]
    x = to_tensor(inputs[:1])
    assert t.silhouette_weight == 0.0 and solver_silhouettes(t, x) is None  # not in the config: off
    plain, _ = t._solutions(x, 2, seed=0)
    monkeypatch.setattr(t, "silhouette_weight", 3.0)
    assert solver_silhouettes(t, x) is None  # the digits are no edge maps: still off
    monkeypatch.setattr(t, "source", "shoes_edges")
    sil = solver_silhouettes(t, x)
    assert sil is not None and sil.shape == (1, *x.shape[2:])
    t._cache.clear()
    try:
        shaped, _ = t._solutions(x, 2, seed=0)
    finally:
        t._cache.clear()
    assert not torch.equal(plain, shaped)


def test_glann_generator_checkpoint(ckpts: dict[str, Path], tmp_path: Path, inputs: np.ndarray) -> None:
    """A GLANN generator checkpoint (GLO G + IMLE T + codes) loads as one sampler that the Translator maps through."""
    torch.manual_seed(0)
    glo = build_net("glo_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    imle = build_net("imle", noise_dim=LATENT, latent_dim=LATENT, hidden=32, depth=2)
    gen = save_checkpoint(tmp_path / "gen_glann", {"G": glo, "T": imle},
                          {"kind": "generator", "domain": "mnist", "method": "glann", "latent_dim": LATENT},
                          tensors={"codes": torch.randn(10, LATENT)})
    t = Translator.from_checkpoint(ckpts["vae-nam"], device="cpu", generator=gen)
    assert type(t.G).__name__ == "GLANNSampler" and t.latent_dim == LATENT
    assert t.G.codes.shape == (10, LATENT) and not any(p.requires_grad for p in t.G.parameters())
    out = t.translate(inputs[:2], num_solutions=2, seed=0)
    assert out.shape == (2, 2, 32, 32, 1) and out.dtype == np.uint8


# ------------------------------------------------------------ prepare_inputs
def test_prepare_inputs_rgba_is_composited_on_white() -> None:
    rgba = np.zeros((1, 32, 32, 4), np.uint8)  # fully transparent black
    assert (prepare_inputs(rgba, "street") == 255).all()
    assert (prepare_inputs(rgba, "mnist") == 255).all()
    rgba[..., 3] = 255  # opaque black
    assert (prepare_inputs(rgba, "street") == 0).all()
    rgba[..., 3] = 128  # half-transparent black: mid gray
    half = prepare_inputs(rgba, "street")
    assert half.shape == (1, 32, 32, 3) and np.abs(half.astype(int) - 127).max() <= 1


def test_prepare_inputs_channel_conversions() -> None:
    gray = np.arange(2 * 32 * 32, dtype=np.int64).reshape(2, 32, 32, 1) % 256
    gray = gray.astype(np.uint8)
    rgb = prepare_inputs(gray, "street")
    assert rgb.shape == (2, 32, 32, 3) and rgb.dtype == np.uint8
    assert all(np.array_equal(rgb[..., c], gray[..., 0]) for c in range(3))
    red = np.zeros((1, 32, 32, 3), np.uint8)
    red[..., 0] = 255
    g = prepare_inputs(red, "mnist")
    assert g.shape == (1, 32, 32, 1) and (g == 76).all()  # 0.299 · 255
    assert np.array_equal(prepare_inputs(rgb, "mnist"), gray)  # gray → RGB → gray round trip
    assert prepare_inputs(gray, "mnist").flags["C_CONTIGUOUS"]


def test_prepare_inputs_shapes_and_resizing() -> None:
    flat = np.full((40, 40), 200, np.uint8)  # H×W
    out = prepare_inputs(flat, "mnist")
    assert out.shape == (1, 32, 32, 1) and (out == 200).all()  # a constant image stays constant
    one = np.full((64, 64, 3), 90, np.uint8)  # H×W×C
    assert prepare_inputs(one, "street").shape == (1, 32, 32, 3)
    many = np.zeros((5, 32, 32), np.uint8)  # N×H×W grayscale
    assert prepare_inputs(many, "mnist").shape == (5, 32, 32, 1)
    up = prepare_inputs(np.full((2, 16, 16, 3), 10, np.uint8), "shoes")
    assert up.shape == (2, 64, 64, 3) and (up == 10).all()
    same = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert np.array_equal(prepare_inputs(same, "street"), same)  # already right: unchanged


def test_prepare_inputs_float_and_wide_ints() -> None:
    f = np.zeros((1, 32, 32, 1), np.float32)
    f[..., :16, :] = 1.0
    f[..., 16:, :] = 0.5
    out = prepare_inputs(f, "mnist")
    assert out.dtype == np.uint8
    assert (out[:, :, :16] == 255).all() and (out[:, :, 16:] == 128).all()
    wide = np.full((1, 32, 32, 3), 300, np.int32)  # out-of-range integers are clipped
    assert (prepare_inputs(wide, "street") == 255).all()
    big = np.full((1, 32, 32, 3), 37.0)  # floats beyond [0, 1] are taken as 0–255 values
    assert (prepare_inputs(big, "street") == 37).all()


@pytest.mark.parametrize("shape", [(32,), (1, 1, 32, 32, 3), (2, 32, 32, 2), (1, 32, 32, 5), (1, 2, 2, 3),
                                   (3, 3)])
def test_prepare_inputs_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        prepare_inputs(np.zeros(shape, np.uint8), "street")


def test_translate_accepts_other_formats(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    t = translators["vae-nam"]
    base = t.translate(inputs[:1], num_solutions=2, seed=0)
    as_float = t.translate(inputs[:1].astype(np.float32) / 255.0, num_solutions=2, seed=0)
    assert np.array_equal(base, as_float)
    rgba = np.concatenate([inputs[:1], np.full((1, 32, 32, 1), 255, np.uint8)], axis=-1)
    assert np.array_equal(t.translate(rgba, num_solutions=2, seed=0), base)
    assert t.translate(inputs[0][..., 0], num_solutions=2, seed=0).shape == (1, 2, 32, 32, 1)  # gray → RGB
    with pytest.raises(ValueError):
        t.translate(np.zeros((1, 32, 32, 2), np.uint8))


def test_vae_nam_posterior_directions_are_cached_per_solution_set(translators: dict[str, Translator],
                                                                  inputs: np.ndarray,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Slider updates must not re-probe the generator: the posterior directions of a cached solution set are reused,
    and a new input gets its own."""
    import nam_core.methods.vae_nam as mod

    t = translators["vae-nam"]
    t._cache.clear()
    calls = []
    real = mod.posterior_directions
    monkeypatch.setattr(mod, "posterior_directions", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first = t.directions(inputs[0], k=3)
    again = t.directions(inputs[0], k=3)
    assert again is first and len(calls) == 1
    other = t.directions(inputs[1], k=3)
    assert len(calls) == 2 and other is not first
    t.explore(inputs[0], [1.0, 0.0, 0.0])
    assert len(calls) == 2


class Brightness(torch.nn.Module):
    """A stand-in digit classifier: reads "digit 1" on bright images, "digit 0" on dark ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([-m, m], 1)


def test_bench_speed_times_translate_without_the_cache(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    from benchmarks import bench_speed

    t = translators["vae-nam"]
    res = bench_speed.time_translator(t, inputs, k=3, batch=3, n_images=2, repeats=2, device=torch.device("cpu"))
    assert res["calls"] == 4 and res["ms_batch1"] > 0 and res["ms_batched"] > 0
    assert t.cache_size == 0 and len(t._cache) == 0  # real work timed, nothing reused
    t.cache_size = 8


def test_bench_diversity_scores_accuracy_sameness_and_spread(translators: dict[str, Translator],
                                                             inputs: np.ndarray) -> None:
    from benchmarks import bench_diversity

    t = translators["vae-nam"]
    outs = t.translate(inputs, num_solutions=4, seed=0)
    truth = (outs.reshape(len(inputs), 4, -1).astype(float).mean(-1)[:, 0] / 127.5 - 1 > 0).astype(int)
    try:
        flat = {}
        for temp in (0.0, 3.0):
            t.temperature, t.style_temperature = temp, temp
            flat[temp] = bench_diversity.score(t, inputs, truth, Brightness(), k=4, batch=2)
    finally:
        t.temperature, t.style_temperature, t.rank = 1.0, 2.0, "loss"
    assert flat[0.0]["diversity"] == 0.0 and flat[0.0]["same_digit"] == 1.0 and flat[0.0]["n"] == len(inputs)
    assert flat[0.0]["acc"] == 1.0  # every solution is solution 0, whose class is the "label"
    assert flat[3.0]["diversity"] > 0


def test_bench_polish_lowers_the_loss_it_ranks_by(translators: dict[str, Translator], inputs: np.ndarray) -> None:
    from benchmarks import bench_polish

    t = translators["vae-nam"]
    labels = np.zeros(len(inputs), dtype=int)
    rows = {(r["steps"], r["lr"]): r for r in bench_polish.run(t, Brightness(), inputs, labels, [0, 20], [0.05],
                                                                m=4, k=2, batch=2)}
    assert set(rows) == {(0, 0.0), (20, 0.05)} and all(r["n"] == len(inputs) for r in rows.values())
    # NAM's steps start from the encoder's codes and descend the loss the ranking uses
    assert rows[(20, 0.05)]["loss_first"] < rows[(0, 0.0)]["loss_first"]
    assert rows[(0, 0.0)]["ms_per_input"] == 0 and rows[(20, 0.05)]["ms_per_input"] > 0
    for r in rows.values():
        assert 0 <= r["mean"] <= 100 and r["first"] in (0.0, 100 / 3, 200 / 3, 100.0)


def test_bench_speed_main_times_shipped_and_reference_nam(ckpts: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import bench_speed

    class _Test:
        images = _street_images(4, seed=9)

    monkeypatch.setattr(bench_speed, "load_domain", lambda domain, split: _Test())
    out = tmp_path / "speed.json"
    root = ckpts["nam"].parent
    assert bench_speed.main(["--checkpoints", str(root), "--k", "2", "--images", "1", "--repeats", "1",
                             "--batch", "2", "--nam-batch", "2", "--nam-steps", "3", "--nam-reference", "random:6",
                             "--threads", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert row["task"] == "street2mnist" and data["nam_steps"] == 3 and data["nam_reference"] == "random:6"
    assert {"vae-nam", "ae-nam", "nam", "nam[random:6]"} <= set(row)
    assert row["speedup_batch1"] > 0 and row["speedup_batched_vs_reference"] > 0
    with pytest.raises(SystemExit):
        bench_speed.main(["--checkpoints", str(root), "--nam-reference", "sideways:10"])


def test_style_directions_cli_adds_them_to_older_checkpoints(ckpts: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """training/style_directions.py on copies of checkpoints saved without style directions (NAM: its codes; VAE-NAM:
    E's codes of the training inputs)."""
    import nam_core.serving.translator as trmod
    from nam_core.checkpoints import add_tensors
    from training import style_directions as cli

    class _Train:
        images = _street_images(20, seed=3)

    monkeypatch.setattr(trmod, "load_domain", lambda domain, split: _Train())
    shutil.copytree(ckpts["gen"], tmp_path / ckpts["gen"].name)
    copies = []
    for method in ("nam", "vae-nam"):
        dst = tmp_path / ckpts[method].name
        shutil.copytree(ckpts[method], dst)
        cfg = read_config(dst)  # strip the style tensors, as in a checkpoint from before they existed
        from safetensors.torch import load_file, save_file

        flat = {k: v for k, v in load_file(str(dst / "model.safetensors")).items() if ".style_" not in k}
        save_file(flat, str(dst / "model.safetensors"), metadata={"format": cfg["format"]})
        cfg["tensors"] = [t for t in cfg["tensors"] if not t.startswith("style_")]
        (dst / "config.json").write_text(json.dumps(cfg))
        add_tensors(dst, {})  # refresh the sha256
        assert Translator.from_checkpoint(dst).style_dirs is None
        copies.append(dst)
    assert cli.main([str(c) for c in copies] + ["--k", "3", "--probes", "4", "--images", "20"]) == 0
    for dst in copies:
        tr = Translator.from_checkpoint(dst)
        assert tr.style_dirs is not None and tr.style_dirs.vectors.shape == (3, LATENT)
        cfg = read_training_info(dst)["style_directions"]
        assert cfg["k"] == 3 and cfg["probes"] == 4 and "style_directions.py" in cfg["command"]
        assert tr.directions(_street_images(1, 0)[0], 2, "style").kind == "style"
    with pytest.raises(SystemExit):
        cli.main([])


def test_style_directions_below_the_minimum_gain_are_left_out(ckpts: dict[str, Path], inputs: np.ndarray,
                                                              tmp_path: Path) -> None:
    shutil.copytree(ckpts["gen"], tmp_path / ckpts["gen"].name)
    dst = tmp_path / ckpts["vae-nam"].name
    shutil.copytree(ckpts["vae-nam"], dst)
    gain = Translator.from_checkpoint(dst).ckpt.tensors["style_gain"]
    cfg = read_config(dst)
    cut = float(gain[1]) if len(gain) > 1 else float(gain[0])
    cfg["style_min_gain"] = cut  # keep the directions at or above the second gain
    (dst / "config.json").write_text(json.dumps(cfg))
    t = Translator.from_checkpoint(dst)
    assert len(t.style_dirs.vectors) == int((gain >= cut).sum()) < len(gain) or len(gain) == 1
    cfg["style_min_gain"] = float(gain.max()) * 2  # none passes: K solutions without any style spread
    (dst / "config.json").write_text(json.dumps(cfg))
    t = Translator.from_checkpoint(dst)
    assert t.style_dirs is not None and len(t.style_dirs.vectors) == 0
    t.temperature = 0.0
    z = t.translate_full(inputs[:2], num_solutions=3, seed=0).z
    assert (z - z[:, :1]).abs().max() == 0
    with pytest.raises(ValueError):
        t.strip(inputs[0], 0, kind="style")


def test_a_vae_nam_with_the_global_affine_t_loads_through_its_config(ckpts: dict[str, Path], tmp_path: Path) -> None:
    """A T with ``affine="global"`` is rebuilt from the checkpoint's network config (kind + kwargs), keeps its learned
    zoom/shift through float16 storage, and the Translator renders with it."""
    G, _ = load_generator(ckpts["gen"])
    m = VAENAM(G, 3, 32, variational=True, nf=8, nef=8, loss="ncc-sides", t_arch="local", t_affine="global",
               t_zoom=1.3, task="street2mnist", generator_ref=str(ckpts["gen"]))
    with torch.no_grad():
        m.T.shift_param.fill_(0.4)
    images = _street_images(N_TARGETS, seed=0)
    for net in m.networks.values():
        net.train()
    for _ in range(3):
        m.train_step(torch.arange(N_TARGETS), to_tensor(images))
    config = m.config()
    config.update({"source": "street", "target": "mnist", "image_size": 32, "generator_method": "dcgan"})
    path = store_half(save_checkpoint(tmp_path / "street2mnist_vae-nam_dcgan", m.networks, config))
    assert read_config(path)["networks"]["T"]["kwargs"]["affine"] == "global"
    t = Translator.from_checkpoint(path, device="cpu", generator=ckpts["gen"])  # not a sibling: passed explicitly
    zoom, shift = t.T.zoom_shift()
    want_zoom, want_shift = m.T.zoom_shift()
    torch.testing.assert_close(zoom, want_zoom.detach(), rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(shift, want_shift.detach(), rtol=2e-3, atol=2e-3)
    assert abs(zoom[0].item() - 1.3) < 0.05 and shift[0].item() > 0.05
    out = t.translate_full(images[:2], num_solutions=3)
    assert out.outputs.shape == (2, 3, 32, 32, 1) and np.isfinite(out.losses).all()
