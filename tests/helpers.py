"""Builders shared by several test files, imported as ``tests.helpers`` (pytest's ``pythonpath`` puts the
repository root on the path, so ``app.py`` imports too). Fixtures stay in ``conftest.py``; these are plain
functions and classes that build inputs, tiny models and checkpoints, or serve the app.

- :func:`translation_row`, :func:`sample_results`: evaluation results dicts.
- :func:`tiny_generator`, :func:`smooth_images`: an untrained generator and images for method tests.
- :func:`build_tiny_checkpoints`: the app's tiny real checkpoints (``FIXTURE_MODELS``), cached on disk.
- :func:`drawing`, :func:`digit_images`: sketches and digit image folders like a user's.
- :func:`serve_demo`, :func:`serve_app`, :func:`free_port`: the real app on 127.0.0.1.
- :class:`FakeHub`: what the Hub would be asked to store.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from nam_core.eval import report as R
from nam_core.methods.nam import freeze
from nam_core.nets import build_net


def translation_row(task: str, method: str, generator: str = "glann", **kw) -> dict:
    row = {"task": task, "method": method, "generator": generator, "n": 1000, "k": 8, "mean": 0.423,
           "best_of_k": 0.5, "any_of_k": 0.871, "per_class": {"0": 0.5}, "ms_per_analogy_batched": 3.25,
           "ms_per_analogy_batch1": 12.0, "train_seconds": 1500.0}
    row.update(kw)
    return row


def sample_results() -> dict:
    """A results dict with one row of each kind the report formats (ranked, deterministic, edges; a GLANN
    generator and its GLO baseline; a speed ratio)."""
    return {
        "machine": R.machine_info("cpu"),
        "settings": {"n_test": 1000, "num_solutions": 8},
        "translations": [
            translation_row("mnist2svhn", "vae-nam", same_class=0.9375, diversity=0.01234, first=0.61,
                            rank_by="loss", oversample=32),
            translation_row("street2mnist", "nam", n=40, ms_per_analogy_batched=4000.0, ms_per_analogy_batch1=3500.0,
                            best_of_k=float("nan"), k=1, deterministic=True),
            translation_row("edges2shoes", "ae-nam", "dcgan", mean=None, best_of_k=None, any_of_k=None,
                            edge_f1=0.61234, photo_fid=12.345),
        ],
        "generators": [
            {"domain": "mnist", "method": "glann", "features": "clf_mnist", "fid": 12.345, "f8": 0.95, "f1_8": 0.9,
             "min_class_share": 0.0812, "confident": 0.7, "n": 2000, "train_seconds": 600},
            {"domain": "mnist", "method": "glo-gaussian", "features": "clf_mnist", "fid": 40.0, "f8": 0.7,
             "f1_8": 0.6, "n": 2000},
        ],
        "edge_reference": {"edges2shoes": 0.9},
        "speed": [{"task": "street2mnist", "generator": "glann", "mode": "batch-1", "nam_ms": 3500.0,
                   "vae_nam_ms": 10.0, "ratio": 350.0}],
    }


# ------------------------------------------------------------------------------------------- tiny networks

LATENT = 8


def tiny_generator(out_channels: int = 1, size: int = 32, latent_dim: int = LATENT, seed: int = 0) -> torch.nn.Module:
    """A DCGAN generator (8 filters) whose BatchNorm running statistics are set from 256 random codes, so that in
    eval mode G(z) really depends on z (with the initial statistics the output is almost constant)."""
    torch.manual_seed(seed)
    G = build_net("dcgan_generator", latent_dim=latent_dim, out_channels=out_channels, size=size, ngf=8)
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    G.train()
    with torch.no_grad():
        G(torch.randn(256, latent_dim, generator=torch.Generator().manual_seed(seed + 1)))
    return freeze(G)


def smooth_images(n: int, channels: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Blurry random images in [-1, 1] (N×C×H×W): learnable structure, not white noise."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, channels, size // 8, size // 8, generator=g)
    return torch.tanh(1.5 * F.interpolate(low, size=size, mode="bilinear", align_corners=False))


# ------------------------------------------------------------------------------- the app's tiny checkpoints

FIXTURE_MODELS = [
    ("street2mnist", "nam", "glann"), ("street2mnist", "ae-nam", "glann"), ("street2mnist", "vae-nam", "glann"),
    ("street2mnist", "vae-nam", "dcgan"),
    ("edges2shoes", "nam", "glann"), ("edges2shoes", "ae-nam", "glann"), ("edges2shoes", "vae-nam", "glann"),
    ("mnist2street", "vae-nam", "glann"),
]
# enough steps for G's BatchNorm running statistics to settle (else G(z) barely depends on z in eval mode)
GEN_ARGS = {"glann": {"epochs": 16, "batch_size": 8, "limit": 64, "ngf": 8, "imle_epochs": 1},
            "dcgan": {"epochs": 5, "batch_size": 8, "limit": 64, "ngf": 8}}
MAP_ARGS = {"epochs": 2, "batch_size": 16, "limit": 64, "nf": 8, "n_targets": 64}
# one GAN baseline (street2mnist only: the "compare with GANs" panel must name the missing ones)
BASELINE_ARGS = {"epochs": 1, "batch_size": 16, "limit": 32, "hparams": {"ngf": 8, "n_blocks": 1, "ndf": 8}}
_BUILT: dict[str, Path] = {}
_BUILD_LOCK = threading.Lock()


def fixture_key() -> str:
    """Hash of the library sources that shape a checkpoint + the fixture's recipe (the on-disk cache key)."""
    import nam_core

    h = hashlib.sha256(repr((FIXTURE_MODELS, GEN_ARGS, MAP_ARGS, BASELINE_ARGS)).encode())
    pkg = Path(nam_core.__file__).parent
    for f in sorted(pkg.rglob("*.py")):
        if not {"serving", "eval"} & set(f.parts):
            h.update(f.relative_to(pkg).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:16]


def build_tiny_checkpoints(cache: Path) -> Path:
    """Train the fixture's generators and mappings into ``cache/<key>`` unless a previous run left them there
    (pytest's cache folder; the key changes with the library sources); once per process."""
    with _BUILD_LOCK:
        if "root" in _BUILT:
            return _BUILT["root"]
        root = cache / fixture_key()
        if not (root / "DONE").exists():
            tmp = Path(tempfile.mkdtemp(prefix="build_", dir=cache))
            _train_fixture(tmp)
            (tmp / "DONE").write_text("ok")
            shutil.rmtree(root, ignore_errors=True)
            try:
                tmp.rename(root)  # mappings find their generator as a sibling folder, so the move is safe
            except OSError:  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
        _BUILT["root"] = root
        return root


def _train_fixture(root: Path) -> None:
    from nam_core import data as data_mod
    from nam_core.methods.baselines import train_baseline
    from nam_core.methods.generators import train_generator
    from nam_core.methods.mappings import TASKS, train_mapping, train_refiner

    mp = pytest.MonkeyPatch()
    # fewer synthetic street digits to render, and MNIST parsed once (the loaders are called per training)
    mp.setitem(data_mod.STREET_SIZES, "train", 256)
    mp.setitem(data_mod.STREET_SIZES, "test", 64)
    spec = data_mod.DOMAINS["mnist"]
    loaded: dict[str, object] = {}

    def cached_mnist(split: str = "train", **kw: object) -> object:
        if split not in loaded:
            loaded[split] = spec.loader(split=split, **kw)
        return loaded[split]

    mp.setitem(data_mod.DOMAINS, "mnist", dataclasses.replace(spec, loader=cached_mnist))
    try:
        runs = root / "_runs"
        gens: dict[tuple[str, str], Path] = {}
        for dom, kind in sorted({(TASKS[t].target, g) for t, _, g in FIXTURE_MODELS}):
            final = train_generator(dom, kind, runs / f"gen_{dom}_{kind}", progress=False, **GEN_ARGS[kind])
            gens[(dom, kind)] = Path(shutil.copytree(final, root / f"gen_{dom}_{kind}"))
        for task, method, gen in FIXTURE_MODELS:
            final = train_mapping(task, method, gens[(TASKS[task].target, gen)], runs / f"{task}_{method}_{gen}",
                                  progress=False, **MAP_ARGS)
            shutil.move(str(final), root / f"{task}_{method}_{gen}")
        # NAM distilled into one pass, on the NAM just trained (its pairs re-solved with a few steps)
        final = train_refiner(root / "street2mnist_nam_glann", runs / "street2mnist_nam-ff_glann", epochs=2,
                              batch_size=16, nef=8, resolve_steps=3, progress=False)
        shutil.move(str(final), root / "street2mnist_nam-ff_glann")
        final = train_baseline("street2mnist", "distancegan", runs / "street2mnist_distancegan", progress=False,
                               **BASELINE_ARGS)
        shutil.move(str(final), root / "street2mnist_distancegan")
        shutil.rmtree(runs, ignore_errors=True)
    finally:
        mp.undo()


# -------------------------------------------------------------------------------------------- user inputs

def drawing(kind: str, color: tuple[int, int, int, int] = (0, 0, 0, 255), width: int = 12,
            size: int = 400) -> np.ndarray:
    """An RGBA layer like the Sketchpad's: transparent, with strokes of ``color`` (a 7, or a shoe outline)."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    s = size / 400
    if kind == "digit":
        d.line([(120 * s, 90 * s), (290 * s, 90 * s), (180 * s, 330 * s)], fill=color, width=width)
        d.line([(170 * s, 210 * s), (260 * s, 210 * s)], fill=color, width=width)
    else:
        pts = [(60, 250), (70, 140), (130, 120), (180, 170), (300, 220), (350, 260), (340, 290), (70, 290), (60, 250)]
        d.line([(x * s, y * s) for x, y in pts], fill=color, width=width)
        d.line([(150 * s, 290 * s), (150 * s, 200 * s)], fill=color, width=width)
    return np.asarray(im)


def sketch_payload(tmp_path: Path | None = None, kind: str = "digit",
                   color: tuple[int, int, int, int] = (0, 0, 0, 255)) -> str:
    """The drawing pad's value for ``drawing(kind, color)``: its stroke layer as a PNG data URL (transparent where
    nothing is drawn), what the browser sends (``tmp_path`` is unused: kept for the callers' signature)."""
    return png_data_url(drawing(kind, color))


def png_data_url(rgba: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def gallery_tiles(gallery: list[dict]) -> list[np.ndarray]:
    """The images of a Gallery value returned through gradio_client."""
    return [np.asarray(Image.open(item["image"])) for item in gallery]


N_DIGIT_IMAGES = 120  # per collection: just over the folder loader's 100-image minimum


def digit_images(folder: Path, colour: bool, seed: int) -> None:
    """Digits drawn with PIL: gray white-on-black (MNIST-like A) or coloured on a coloured plate (street-like B)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(N_DIGIT_IMAGES):
        if colour:
            bg, fg = tuple(int(v) for v in rng.integers(150, 256, 3)), tuple(int(v) for v in rng.integers(0, 90, 3))
            im = Image.new("RGB", (32, 32), bg)
        else:
            bg, fg = 0, 255
            im = Image.new("L", (32, 32), bg)
        d = ImageDraw.Draw(im)
        x, y = (int(v) for v in rng.integers(8, 14, 2))
        d.text((x, y), str(i % 10), fill=fg, font_size=int(rng.integers(14, 20)))
        im.save(folder / f"{i:04d}.png")


# ------------------------------------------------------------------------------------------- the app served

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_demo(root: str | Path, **build: object) -> Iterator[tuple[str, object]]:
    """The real app on 127.0.0.1 (free port, Hub lookups off) over the checkpoints in ``root``: (URL, Blocks)."""
    import app

    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    demo = app.build_demo(root, device="cpu", **build)
    demo.registry.nam_steps = 20  # type: ignore[attr-defined]
    port = free_port()
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        demo.close()
        mp.undo()


@contextlib.contextmanager
def serve_app(root: str | Path) -> Iterator[str]:
    with serve_demo(root) as (url, _):
        yield url


class FakeHub:
    """Records what HfApi would be asked (create_repo / upload_folder) and keeps copies of the uploaded files."""

    def __init__(self, tmp: Path, fail_on: str | None = None) -> None:
        self.tmp, self.fail_on = tmp, fail_on
        self.created: list[tuple[str, dict]] = []
        self.uploaded: dict[str, dict[str, str]] = {}

    def whoami(self, token: str | None = None) -> dict:
        return {"name": "tester"}

    def create_repo(self, repo_id: str, **kw: object) -> str:
        self.created.append((repo_id, kw))
        return f"https://hub.invalid/{repo_id}"

    def upload_folder(self, *, repo_id: str, folder_path: str, **kw: object) -> None:
        if self.fail_on and self.fail_on in repo_id:
            raise OSError("upload refused")
        assert kw.get("repo_type") == "model"
        self.uploaded[repo_id] = {p.name: p.read_text() if p.suffix in (".md", ".json") else str(p.stat().st_size)
                                  for p in Path(folder_path).iterdir()}
