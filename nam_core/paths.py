"""Where the project finds shared data, its caches and its shipped checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"


def shared_data_dir() -> Path | None:
    """The read-only ``shared/data`` folder: ``$NAM_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("NAM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def require_shared_data(sub: str) -> Path:
    """Path of ``shared/data/<sub>``; a clear error when it is not there."""
    root = shared_data_dir()
    if root is None or not (root / sub).exists():
        where = root / sub if root else REPO_ROOT.parent / "shared" / "data" / sub
        raise FileNotFoundError(
            f"Dataset folder not found: {where}. It ships in the project's shared/data folder beside the checkout "
            "(or set NAM_SHARED_DATA to its location)."
        )
    return root / sub


def cache_dir() -> Path:
    """Cache for rendered/converted datasets: ``$NAM_CACHE_DIR`` or ``~/.cache/nam_studio``."""
    path = Path(os.environ.get("NAM_CACHE_DIR", Path.home() / ".cache" / "nam_studio"))
    path.mkdir(parents=True, exist_ok=True)
    return path
