"""The app's logic (nam_core.serving.app_logic) on tiny real checkpoints trained in a session fixture.

The checkpoints come from ``tests.helpers.build_tiny_checkpoints`` (shared with the app's client and browser
tests; built once per process and kept in pytest's cache folder, keyed by a hash of the library sources): GLANN
generators of mnist, street and shoes (+ a DCGAN of mnist), and the mappings listed in ``FIXTURE_MODELS``, trained
for a few steps with 8 filters. edges2handbags and the SVHN tasks are left out on purpose: the app must explain that
they are unavailable.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import FIXTURE_MODELS, build_tiny_checkpoints, drawing


@pytest.fixture(scope="session")
def ckpt_root(request: pytest.FixtureRequest) -> Path:
    return build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))


@pytest.fixture(scope="session")
def registry(ckpt_root: Path):
    from nam_core.serving.app_logic import ModelRegistry

    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")  # missing combinations must not try the network
    yield ModelRegistry(ckpt_root, device="cpu", nam_steps=20)
    mp.undo()


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def editor_value(layer: np.ndarray, theme: str = "light") -> dict:
    """An EditorValue as the Sketchpad sends it: background flattened on the theme's canvas colour, one layer."""
    bg = np.full(layer.shape[:2] + (3,), 255 if theme == "light" else 20, np.uint8)
    a = layer[..., 3:4].astype(np.float32) / 255
    comp = np.round(layer[..., :3] * a + bg * (1 - a)).astype(np.uint8)
    return {"background": bg, "layers": [layer], "composite": comp}


def task_kind(task: str) -> str:
    return "edges" if task.startswith("edges") else "digit"


# ---------------------------------------------------------------------------------------------- input conversion


def test_trained_mappings_record_their_generators_fingerprint(ckpt_root: Path) -> None:
    from nam_core.checkpoints import weights_fingerprint
    from nam_core.methods.generators import load_generator

    mappings = [p for p in ckpt_root.iterdir() if (p / "config.json").exists()
                and json.loads((p / "config.json").read_text()).get("generator")]  # the GAN baselines have none
    assert mappings
    for p in mappings:
        cfg = json.loads((p / "config.json").read_text())
        G, _ = load_generator(ckpt_root / Path(cfg["generator"]).name)
        assert cfg["generator_fingerprint"] == weights_fingerprint(G), p.name


def test_sketch_alpha_conversion_light_and_dark_theme() -> None:
    from nam_core.serving import app_logic as L

    for task in ("mnist2street", "street2mnist", "edges2shoes"):
        black = L.sketch_to_input(editor_value(drawing(task_kind(task), (0, 0, 0, 255)), "light"), task)
        white = L.sketch_to_input(editor_value(drawing(task_kind(task), (255, 255, 255, 255)), "dark"), task)
        np.testing.assert_array_equal(black, white)  # colour and theme do not matter, only alpha
    digit = L.sketch_to_input(editor_value(drawing("digit")), "mnist2street")
    assert digit.shape == (32, 32, 1) and digit.dtype == np.uint8
    assert digit[:2].max() == 0 and digit[:, :2].max() == 0  # 28→32 zero padding, like nam_core.data.mnist
    assert digit.max() == 255 and (digit > 128).mean() > 0.05  # white strokes on black
    ys, xs = np.nonzero(digit[..., 0] > 0)
    assert 18 <= ys.max() - ys.min() + 1 <= 21  # the longer side fills the 20 px box
    w = digit[..., 0].astype(float)
    com = (np.arange(32) @ w.sum(1) / w.sum(), np.arange(32) @ w.sum(0) / w.sum())
    assert abs(com[0] - 15.5) < 1.0 and abs(com[1] - 15.5) < 1.0  # centred by mass
    edges = L.sketch_to_input(editor_value(drawing("edges")), "edges2shoes")
    assert edges.shape == (64, 64, 1) and np.median(edges) == 255 and edges.min() < 200  # white bg, dark strokes
    street = L.sketch_to_input(editor_value(drawing("digit")), "street2mnist")
    assert street.shape == (32, 32, 3) and street[0, 0].mean() > street[16, 16].mean()  # dark digit, light plate


def test_a_drawing_given_as_a_plain_array_reads_like_the_same_layer() -> None:
    """``benchmarks/bench_sketch.py`` passes its traced RGBA drawings as arrays: they must read as the same strokes
    as that drawing in the pad's layer (a ``value == ""`` check on an array once made this raise)."""
    from nam_core.serving import app_logic as L

    for task in ("mnist2street", "edges2shoes"):
        d = drawing(task_kind(task))
        np.testing.assert_array_equal(L.sketch_to_input(d, task), L.sketch_to_input(editor_value(d), task))
    with pytest.raises(L.AppError, match="empty"):
        L.sketch_to_input(np.zeros((400, 400, 4), np.uint8), "edges2shoes")


def test_stroke_width_is_normalised() -> None:
    from nam_core.serving import app_logic as L

    thin = L.sketch_to_input(editor_value(drawing("digit", width=3)), "mnist2street")
    thick = L.sketch_to_input(editor_value(drawing("digit", width=14)), "mnist2street")
    assert abs(int((thin > 128).sum()) - int((thick > 128).sum())) < 0.5 * (thick > 128).sum()


def test_empty_sketch_message() -> None:
    from nam_core.serving import app_logic as L

    blank = np.zeros((400, 400, 4), np.uint8)
    for value in (None, editor_value(blank), editor_value(blank, "dark"), {"background": None, "layers": [],
                                                                            "composite": None}):
        for task in ("mnist2street", "edges2shoes", "street2mnist"):
            with pytest.raises(L.AppError, match="empty"):
                L.sketch_to_input(value, task)


def test_uploads_blank_huge_nonimage_alpha_gray(tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    txt = tmp_path / "notes.png"
    txt.write_text("this is not an image")
    with pytest.raises(L.AppError, match="as an image"):
        L.upload_to_input(str(txt), "edges2shoes")
    with pytest.raises(L.AppError, match="not found"):
        L.upload_to_input(str(tmp_path / "missing.png"), "edges2shoes")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), (255, 255, 255)).save(blank)
    with pytest.raises(L.AppError, match="blank"):
        L.upload_to_input(str(blank), "street2mnist")
    huge = tmp_path / "huge.png"  # 8000×8000: downscaled safely (draft/thumbnail), then converted
    im = Image.new("L", (8000, 8000), 255)
    ImageDraw.Draw(im).line([(1000, 1000), (7000, 7000), (7000, 1000)], fill=0, width=120)
    im.save(huge)
    x = L.upload_to_input(str(huge), "mnist2street")
    assert x.shape == (32, 32, 1) and x.max() == 255 and x[0, 0] == 0
    with pytest.raises(L.AppError, match="too large"):
        L.load_image(str(huge), max_pixels=10_000_000)
    # alpha channel: white strokes on a transparent PNG (composited on white they would vanish)
    rgba = tmp_path / "alpha.png"
    Image.fromarray(drawing("digit", (255, 255, 255, 255))).save(rgba)
    a = L.upload_to_input(str(rgba), "mnist2street")
    np.testing.assert_array_equal(a, L.sketch_to_input(editor_value(drawing("digit")), "mnist2street"))
    # grayscale ↔ RGB mismatches
    gray = tmp_path / "gray.png"
    g = np.full((40, 50), 90, np.uint8)
    g[10:30, 10:20] = 200
    Image.fromarray(g).save(gray)
    assert L.upload_to_input(str(gray), "street2mnist").shape == (32, 32, 3)
    rgb_edges = tmp_path / "edges_rgb.png"
    Image.fromarray(editor_value(drawing("edges"))["composite"]).save(rgb_edges)
    assert L.upload_to_input(str(rgb_edges), "edges2shoes").shape == (64, 64, 1)


def test_examples_cover_every_task_and_pass_through_unchanged() -> None:
    from nam_core.methods.mappings import TASKS
    from nam_core.serving import app_logic as L

    ex = L.example_paths()
    assert {t for _, t in ex} == set(TASKS)
    for p, t in ex:
        x = L.upload_to_input(str(p), t)
        raw = np.asarray(Image.open(p))
        raw = raw[..., None] if raw.ndim == 2 else raw
        if x.shape[-1] == 1 and raw.shape[-1] == 3:
            raw = raw[..., :1]
        np.testing.assert_array_equal(x, raw)  # dataset-sized examples are what the model sees, untouched


# ---------------------------------------------------------------------------------------------- models


def test_registry_availability_explained(registry) -> None:
    from nam_core.serving import app_logic as L

    for combo in FIXTURE_MODELS:
        assert registry.status(*combo).available
    st = registry.status("edges2handbags", "vae-nam", "glann")
    assert not st.available and "edges2handbags_vae-nam_glann" in st.message
    st = registry.status("svhn2mnist", "nam", "glann")
    assert "SVHN" in st.message
    st = registry.status("street2mnist", "ae-nam", "dcgan")
    assert "Available for this task" in st.message and "VAE-NAM/DCGAN" in st.message
    with pytest.raises(L.AppError, match="Unavailable"):
        registry.get("edges2handbags", "nam", "glann")
    matrix = registry.matrix_markdown()
    assert "| street digits → MNIST | GLANN | GLANN | GLANN, DCGAN |" in matrix
    assert "| handbag edges → handbags | — | — | — |" in matrix
    assert registry.default_choice() == ("mnist2street", "vae-nam", "glann")  # the tour's task, VAE-NAM


@pytest.mark.parametrize("combo", FIXTURE_MODELS, ids=["_".join(c) for c in FIXTURE_MODELS])
def test_map_every_model(registry, combo) -> None:
    from nam_core.data import DOMAINS
    from nam_core.methods.mappings import TASKS
    from nam_core.serving import app_logic as L

    task, method, gen = combo
    img = L.sketch_to_input(editor_value(drawing(task_kind(task))), task)
    steps = []
    res = L.run_map(registry, task, method, gen, img, k=5, seed=3, progress=lambda f, d: steps.append(f))
    tgt = DOMAINS[TASKS[task].target]
    tr = registry.get(task, method, gen)
    n = 1 if tr.deterministic else 5  # a deterministic model shows one solution, not 5 copies
    assert res.outputs.shape == (n, tgt.size, tgt.size, tgt.channels) and res.outputs.dtype == np.uint8
    assert res.reconstructions.shape == (n, *img.shape) and res.losses.shape == (n,)
    assert np.isfinite(res.losses).all() and res.ms > 0
    assert len(res.captions) == n and res.captions[0].startswith("#1") and res.rank_note
    assert ("deterministic" in res.rank_note) == tr.deterministic
    if not tr.deterministic:
        assert res.captions[0] == "#1 · best reconstruction" and "Ranked by" in res.rank_note
    assert (len(steps) > 0) == (method == "nam")  # NAM reports its optimisation
    with zipfile.ZipFile(res.zip_path) as zf:
        names = zf.namelist()
    assert {"solution_01.png", f"solution_0{n}.png", "input.png", "losses.csv", "info.json"} <= set(names)
    again = L.run_map(registry, task, method, gen, img, k=5, seed=3)
    np.testing.assert_array_equal(res.outputs, again.outputs)  # same seed → same output
    if method != "ae-nam":
        other = L.run_map(registry, task, method, gen, img, k=5, seed=4)
        assert not np.array_equal(other.outputs[1:], res.outputs[1:])
    if res.directions.count:
        coefs = [0.0] * L.N_DIRECTIONS
        coefs[0] = 3.0
        moved = L.run_explore(registry, task, method, gen, img, 5, 3, coefs)
        assert moved.outputs.shape == res.outputs.shape
        assert not np.array_equal(moved.outputs, res.outputs)  # the slider moves the gallery
        zero = L.run_explore(registry, task, method, gen, img, 5, 3, [0.0] * L.N_DIRECTIONS)
        np.testing.assert_array_equal(zero.outputs, res.outputs)  # all sliders at 0 = the Map result
        anchor = min(2, n - 1)
        strip, caps, _ = L.run_strip(registry, task, method, gen, img, 5, 3, 0, anchor=anchor)
        assert strip.shape == (7, *res.outputs.shape[1:]) and caps[0] == "-3.0σ" and caps[-1] == "+3.0σ"
        np.testing.assert_array_equal(strip[3], res.outputs[anchor])  # the middle of the strip is the anchor


def test_directions_labels_global_toggle_and_fallback(registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from nam_core.serving import app_logic as L

    task = "street2mnist"
    img = L.upload_to_input(str(L.EXAMPLES_DIR / "street2mnist_1.png"), task)
    tr = registry.get(task, "vae-nam", "glann")
    info, warns = L.direction_info(tr, img, 4, 0, "global")
    assert info.kind == "global" and not warns and info.count >= 1
    assert "1σ" in info.labels()[0]
    moved = L.run_explore(registry, task, "vae-nam", "glann", img, 4, 0, [2.0, 0, 0, 0], kind="global")
    base = L.run_explore(registry, task, "vae-nam", "glann", img, 4, 0, [0.0] * 4, kind="global")
    assert not np.array_equal(moved.outputs, base.outputs)
    tr2 = registry.get(task, "nam", "glann")
    monkeypatch.setattr(tr2, "global_dirs", None)  # like a checkpoint saved without dataset PCA directions
    info2, warns2 = L.direction_info(tr2, img, 4, 0, "global")
    assert warns2 and "per-input" in warns2[0] and info2.kind == "restarts"
    info3, _ = L.direction_info(tr2, img, 1, 0, "input")
    assert info3.count == 0 and "K ≥ 2" in info3.note


def test_style_directions_in_the_app_and_their_fallback(registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from nam_core.serving import app_logic as L

    assert ("Style (keeps the input)", "style") in L.DIRECTION_KINDS
    task = "street2mnist"
    img = L.upload_to_input(str(L.EXAMPLES_DIR / "street2mnist_1.png"), task)
    import torch

    from nam_core.methods.directions import Directions

    tr = registry.get(task, "vae-nam", "glann")
    assert tr.style_dirs is not None  # train_mapping stores them; a tiny model may have none above the min gain:
    every = Directions(tr.ckpt.tensors["style_vectors"], tr.ckpt.tensors["style_std"], "style")
    monkeypatch.setattr(tr, "style_dirs", every)  # so use all of them here
    info, warns = L.direction_info(tr, img, 4, 0, "style")
    assert info.kind == "style" and not warns and info.count >= 1 and "appearance" in info.note
    moved = L.run_explore(registry, task, "vae-nam", "glann", img, 4, 0, [2.0, 0, 0, 0], kind="style")
    base = L.run_explore(registry, task, "vae-nam", "glann", img, 4, 0, [0.0] * 4, kind="style")
    assert not moved.warnings and not np.array_equal(moved.outputs, base.outputs)
    strip, caps, _ = L.run_strip(registry, task, "vae-nam", "glann", img, 4, 0, 0, kind="style")
    assert len(strip) == len(caps) == 7
    tr2 = registry.get(task, "ae-nam", "glann")
    monkeypatch.setattr(tr2, "style_dirs", None)  # a checkpoint trained before style directions existed
    info2, warns2 = L.direction_info(tr2, img, 4, 0, "style")
    assert warns2 and "style_directions.py" in warns2[0] and info2.kind != "style"
    res = L.run_explore(registry, task, "ae-nam", "glann", img, 4, 0, [1.0, 0, 0, 0], kind="style")
    assert res.warnings and res.outputs.shape[0] == 4
    none = Directions(torch.zeros(0, every.vectors.shape[1]), torch.zeros(0), "style")
    monkeypatch.setattr(tr2, "style_dirs", none)
    info3, warns3 = L.direction_info(tr2, img, 4, 0, "style")  # a task with no direction above the min gain
    assert warns3 and "one-to-one" in warns3[0] and info3.kind != "style"


def test_distilled_nam_is_served_in_one_pass(registry) -> None:
    from nam_core.serving import app_logic as L

    assert ("NAM one-pass", "nam-ff") in L.METHOD_CHOICES
    task = "street2mnist"
    assert registry.status(task, "nam-ff", "glann").where == "local"
    assert "NAM one-pass" in registry.matrix_markdown()
    img = L.upload_to_input(str(L.EXAMPLES_DIR / "street2mnist_1.png"), task)
    steps: list[float] = []
    res = L.run_map(registry, task, "nam-ff", "glann", img, k=4, seed=0, progress=lambda f, desc="": steps.append(f))
    tr = registry.get(task, "nam-ff", "glann")
    assert tr.method == "nam-ff" and tr.E is not None and res.outputs.shape[0] == 4
    assert tr.info["refined_from"] == "street2mnist_nam_glann" and tr.info["hparams"]["resolve_steps"] == 3
    again = L.run_map(registry, task, "nam-ff", "glann", img, k=4, seed=0)
    np.testing.assert_array_equal(res.outputs, again.outputs)  # deterministic under a seed
    info, _ = L.direction_info(tr, img, 4, 0, "input")
    assert info.kind == "global" and info.count >= 1  # deterministic code: the dataset axes as sliders


def test_mismatched_input_is_refused(registry) -> None:
    from nam_core.serving import app_logic as L

    edges = np.full((64, 64, 1), 255, np.uint8)
    with pytest.raises(L.AppError, match="expects 32 px"):
        L.run_map(registry, "street2mnist", "vae-nam", "glann", edges)


def test_compare_with_gans(registry) -> None:
    from nam_core.serving import app_logic as L

    image = L.upload_to_input(str(L.EXAMPLES_DIR / "street2mnist_1.png"), "street2mnist")
    res = L.run_compare(registry, "street2mnist", image)
    assert [label for _, label in res.outputs] == ["DistanceGAN"]
    out = res.outputs[0][0]
    assert out.shape == (32, 32, 1) and out.dtype == np.uint8
    assert "Not shipped for this task: CycleGAN, DTN" in res.message and res.ms > 0
    with pytest.raises(L.AppError, match="No GAN baseline"):
        L.run_compare(registry, "edges2shoes", np.full((64, 64, 1), 255, np.uint8))
    with pytest.raises(L.AppError, match="expects 32 px"):
        L.run_compare(registry, "street2mnist", np.full((64, 64, 1), 255, np.uint8))


def test_glann_sample_interpolate_invert(registry, tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    assert {"mnist", "shoes"} <= set(registry.generator_domains())
    a, _ = L.glann_sample(registry, "shoes", "glann", 6, seed=1)
    b, _ = L.glann_sample(registry, "shoes", "glann", 6, seed=1)
    assert a.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    d, _ = L.glann_sample(registry, "mnist", "dcgan", 3, seed=1)
    assert d.shape == (3, 32, 32, 1)
    interp, _ = L.glann_interpolate(registry, "mnist", 1, 2, steps=5)
    s1, _ = L.glann_sample(registry, "mnist", "glann", 1, seed=1)
    assert interp.shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(interp[0], s1[0])  # t = 0 is seed A's sample
    p = tmp_path / "shoe.png"
    Image.fromarray(a[0]).save(p)
    x, rec, loss, _ = L.glann_invert(registry, "shoes", str(p), steps=10)
    assert x.shape == rec.shape == (64, 64, 3) and np.isfinite(loss)
    with pytest.raises(L.AppError, match="No GLANN generator"):
        L.glann_sample(registry, "handbags", "glann", 2)


def test_learn_tab_results_and_curves(registry, tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    assert "has not been run" in L.results_markdown(tmp_path) and L.results_figure(tmp_path) is None
    Image.new("RGB", (8, 8)).save(tmp_path / "results.png")
    assert L.results_figure(tmp_path) == str(tmp_path / "results.png")
    (tmp_path / "results.json").write_text(json.dumps([{"task": "street2mnist", "method": "vae-nam", "acc": 0.9}]))
    md = L.results_markdown(tmp_path)
    assert "| task | method | acc |" in md and "0.9" in md
    (tmp_path / "results.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n\nfeatures clf_<domain>")
    assert L.results_markdown(tmp_path).startswith("| a | b |")
    assert "clf_&lt;domain>" in L.full_results_markdown(tmp_path)  # shown as text, not swallowed as a tag
    rows = [{"task": "mnist2street", "method": "vae-nam", "generator": g, "n": 1000, "mean": acc,
             "ms_per_analogy_batch1": 6.2} for g, acc in (("glann", 0.501), ("dcgan", 0.573))]
    rows.append({"task": "edges2shoes", "method": "nam", "generator": "glann", "edge_f1": 0.64,
                 "ms_per_analogy_batch1": 6348.0})
    (tmp_path / "results.json").write_text(json.dumps({"translations": rows}))
    md = L.compact_results_markdown(tmp_path)
    assert md.splitlines()[0] == "| method | edges → shoes | MNIST → street |"
    assert "| NAM | F1 **0.64** · 6.3 s | – |" in md and "| VAE-NAM | – | **57 %** · 6.2 ms (D) |" in md
    assert L.best_result(tmp_path, "mnist2street", "vae-nam")["generator"] == "dcgan"


def test_learn_pictures_and_loss_curves_are_drawn_once(registry, ckpt_root: Path, tmp_path: Path) -> None:
    import time

    from nam_core.serving import app_logic as L

    combos = L.tour_combos(registry)
    assert combos["nam"][1] == "nam" and combos["vae-nam"][1] == "vae-nam" and combos["glann"][2] == "glann"
    figs = L.tour_figures(registry, tmp_path)
    assert set(figs) == {"nam", "vae-nam", "glann"} and all(figs.values())
    assert all(Image.open(p).size[0] > 400 for p in figs.values())
    t0 = time.perf_counter()
    assert L.tour_figures(registry, tmp_path) == figs  # from the cache: no model runs again
    assert time.perf_counter() - t0 < 0.5
    curves = L.loss_curve_figures(ckpt_root, tmp_path)
    titles = [t for t, _, _ in curves]
    # grouped, each explained (the fixture's one-epoch GAN baseline has no curve to draw)
    assert [t.split(" ")[0] for t in titles] == ["Generators", "Mappings"]
    assert all(len(text) > 100 and Path(p).exists() for _, text, p in curves)
    panels = L.loss_curve_panels(ckpt_root)
    assert "VAE-NAM · KL(q(z|x) ‖ prior)" in panels["mapping"] and "GLANN · stage 1 (GLO) reconstruction" in \
        panels["generator"]


def test_glann_kinds_examples_hints_and_gan_notes(registry, tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    assert L.generator_kinds(registry, "shoes") == ["glann"]  # no DCGAN of shoes: not offered
    assert L.generator_kinds(registry, "mnist") == ["glann", "dcgan"]
    tasks = L.servable_tasks(registry)
    assert tasks == ["edges2shoes", "street2mnist", "mnist2street"]  # no handbags, no SVHN model in the fixture
    assert {t for _, t in L.example_paths(tasks=tasks)} == set(tasks)
    assert L.choice_for_task(registry, "edges2shoes", "vae-nam", "dcgan") == ("vae-nam", "glann")
    assert len({L.draw_hint(t) for t in ("edges2shoes", "edges2handbags", "street2mnist", "mnist2street")}) == 4
    assert L.has_baselines(registry, "street2mnist") and not L.has_baselines(registry, "edges2shoes")
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    smooth = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, 0).repeat(3, 2)
    (tmp_path / "results.json").write_text(json.dumps({"translations": [
        {"task": "mnist2street", "method": "cyclegan", "generator": "", "n": 1000, "mean": 0.106},
        {"task": "mnist2street", "method": "vae-nam", "generator": "dcgan", "n": 1000, "mean": 0.573}]}))
    note, caption = L.baseline_note(tmp_path, "mnist2street", "cyclegan", noise)
    assert caption == "CycleGAN · 11 %" and "colour noise" in note and "10.6 % of its 1,000" in note
    assert "VAE-NAM (DCGAN) reaches 57.3 %" in note
    note, _ = L.baseline_note(tmp_path, "mnist2street", "dtn", smooth)
    assert note == ""  # a real-looking output without poor figures: no warning


def test_gpu_decorator_is_a_noop_without_spaces() -> None:
    from nam_core.serving import app_logic as L

    def f(x: int) -> int:
        return x + 1

    try:
        import spaces  # noqa: F401
    except ImportError:
        assert L.gpu(duration=30)(f) is f


def test_display_and_random_coefficients() -> None:
    from nam_core.serving import app_logic as L

    d = L.to_display(np.zeros((32, 32, 1), np.uint8))
    assert d.shape == (128, 128)
    assert L.to_display(np.zeros((64, 64, 3), np.uint8)).shape == (128, 128, 3)
    c = L.random_coefficients(np.random.default_rng(0), count=2)
    assert len(c) == L.N_DIRECTIONS and c[2:] == [0.0, 0.0] and all(-3 <= v <= 3 for v in c)


def test_choose_input_falls_back_to_the_other_source(tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    ex = str(L.EXAMPLES_DIR / "edges2shoes_1.png")
    drawn = editor_value(drawing("edges"))
    np.testing.assert_array_equal(L.choose_input("edges2shoes", "draw", drawn, ex),
                                  L.sketch_to_input(drawn, "edges2shoes"))
    np.testing.assert_array_equal(L.choose_input("edges2shoes", "upload", drawn, ex),
                                  L.upload_to_input(ex, "edges2shoes"))
    empty = editor_value(np.zeros((400, 400, 4), np.uint8))
    np.testing.assert_array_equal(L.choose_input("edges2shoes", "draw", empty, ex),
                                  L.upload_to_input(ex, "edges2shoes"))
    with pytest.raises(L.AppError, match="No uploaded image"):
        L.choose_input("edges2shoes", "upload", empty, None)
    strip = L.strip_image(np.zeros((7, 32, 32, 1), np.uint8))
    assert strip.shape == (96 + 6, 7 * 96 + 8 * 3)


# ---------------------------------------------------------------------------------------------- zips, seeds


def test_zip_store_is_private_and_deletes_only_its_own_files(tmp_path: Path) -> None:
    import os
    import stat

    from nam_core.serving import app_logic as L

    out = np.zeros((2, 8, 8, 1), np.uint8)
    store = L.ZipStore(keep=2, min_age_s=0, max_age_s=3600, parent=tmp_path)
    other = L.ZipStore(parent=tmp_path)
    root = store.root
    assert root != other.root and stat.S_IMODE(os.stat(root).st_mode) == 0o700  # per process, not a fixed name
    first = L.write_zip(out, {"task": "t", "seed": 1}, store=store)
    assert stat.S_IMODE(os.stat(first.parent).st_mode) == 0o700
    (first.parent / "nested").mkdir()  # a directory that is not ours, inside one of our folders
    (first.parent / "nested" / "keep.txt").write_text("not the app's")
    foreign_dir = root / "someone_elses"
    foreign_dir.mkdir()
    (foreign_dir / "data.bin").write_bytes(b"x")
    (root / "loose.txt").write_text("not the app's either")
    zips = [L.write_zip(out, {"task": "t", "seed": s}, store=store) for s in range(2, 6)]  # never raises
    assert not first.exists() and (first.parent / "nested" / "keep.txt").exists()  # our zip gone, theirs kept
    assert [z.exists() for z in zips] == [False, False, True, True] and len(store) == 2  # the newest `keep`
    assert (foreign_dir / "data.bin").exists() and (root / "loose.txt").exists()
    with zipfile.ZipFile(zips[-1]) as zf:
        assert json.loads(zf.read("info.json"))["seed"] == 5
    fresh = L.ZipStore(keep=1, min_age_s=60, parent=tmp_path)
    a, b = (L.write_zip(out, {"seed": s}, store=fresh) for s in (1, 2))
    assert a.exists() and b.exists()  # none younger than min_age_s is deleted (Gradio may not have copied it)
    assert fresh.prune(now=time.time() + 4000) == 2 and not a.exists()  # none older than max_age_s is kept
    fresh_root = fresh.root
    fresh.close()
    assert not fresh_root.exists()  # nothing else was in it
    store.close()
    assert root.exists() and (root / "loose.txt").exists()  # close() removes only what the store made


def test_default_zips_live_in_a_private_folder() -> None:
    import os
    import stat

    from nam_core.serving import app_logic as L

    p = L.write_zip(np.zeros((1, 8, 8, 3), np.uint8), {"task": "x", "seed": 0})
    assert p.parent.parent == L.ZIPS.root and L.ZIPS.root.name.startswith("nam_studio_zips_")
    assert stat.S_IMODE(os.stat(L.ZIPS.root).st_mode) == 0o700 and L.ZIPS.root.stat().st_uid == os.getuid()


def test_run_map_refuses_bad_seeds(registry) -> None:
    from nam_core.serving import app_logic as L

    img = L.upload_to_input(str(L.EXAMPLES_DIR / "street2mnist_1.png"), "street2mnist")
    for bad in (2**70, -3, "x"):
        with pytest.raises(L.AppError, match="Seed must be a whole number"):
            L.run_map(registry, "street2mnist", "vae-nam", "glann", img, 2, bad)
    with pytest.raises(L.AppError, match="Seed A must be"):
        L.glann_interpolate(registry, "mnist", 2**70, 1)
    res = L.run_map(registry, "street2mnist", "vae-nam", "glann", img, 2, L.MAX_SEED)
    assert res.outputs.shape[0] == 2


def test_drawing_pad_value_is_read_from_its_data_url() -> None:
    """Issue 16: the Translate tab's canvas sends its stroke layer as a PNG data URL with the event (no upload).
    It reads exactly like the same drawing as an in-process layer; empty values say the canvas is empty; anything
    that is not a data URL (a server path, a file reference) is refused with our message."""
    from nam_core.serving import app_logic as L
    from tests.helpers import png_data_url

    for task in ("mnist2street", "street2mnist", "edges2shoes"):
        rgba = drawing(task_kind(task))
        np.testing.assert_array_equal(L.sketch_to_input(png_data_url(rgba), task),
                                      L.sketch_to_input(editor_value(rgba), task))
    for empty in ("", None, png_data_url(np.zeros((400, 400, 4), np.uint8))):
        with pytest.raises(L.AppError, match="empty"):
            L.sketch_to_input(empty, "mnist2street")
    for bad in ("/etc/passwd", {"path": "/etc/passwd"}, {"layers": [{"path": "/etc/hosts"}]}, 3, ["x"]):
        with pytest.raises(L.AppError, match="PNG data URL"):
            L.pad_value(bad)
    with pytest.raises(L.AppError, match="base64|read"):
        L.sketch_to_input("data:image/png;base64,bm90IGFuIGltYWdl", "mnist2street")
    huge = "data:image/png;base64," + "A" * (6 * 2**20)
    with pytest.raises(L.AppError, match="MB"):
        L.sketch_to_input(huge, "mnist2street")
