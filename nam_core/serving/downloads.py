"""The "Download all" zips of a gallery: a private, bounded store per process and the zip's contents."""

from __future__ import annotations

import atexit
import collections
import contextlib
import csv
import io
import json
import logging
import os
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger("nam_studio.app_logic")

ZIP_KEEP = 64  # "Download all" zips kept on disk (see ZipStore)
ZIP_MIN_AGE_S = 120.0
ZIP_MAX_AGE_S = 3600.0


class ZipStore:
    """The "Download all" zips: one private folder per process (``tempfile.mkdtemp``, mode 0700, so no other user
    can plant or read files in it), one sub-folder per zip (the file keeps a readable name), and a record of what
    this store wrote: pruning deletes only those files and folders, never anything else, and never fails a request.

    Gradio copies each returned zip into its own cache (cleaned by ``delete_cache``), so a zip is only needed until
    that copy is made: the newest ``keep`` are kept, none younger than ``min_age_s``, none older than ``max_age_s``."""

    def __init__(self, keep: int = ZIP_KEEP, min_age_s: float = ZIP_MIN_AGE_S, max_age_s: float = ZIP_MAX_AGE_S,
                 parent: str | Path | None = None) -> None:
        self.keep, self.min_age_s, self.max_age_s = int(keep), float(min_age_s), float(max_age_s)
        self.parent = parent
        self._root: Path | None = None
        self._made: collections.deque[tuple[float, Path, Path]] = collections.deque()  # (time, folder, zip)
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None or not self._root.is_dir():
                self._root = Path(tempfile.mkdtemp(prefix="nam_studio_zips_", dir=self.parent))
                os.chmod(self._root, 0o700)
                atexit.register(self.close)
            return self._root

    def new_path(self, name: str) -> Path:
        """A fresh path ``<root>/<unique>/<name>`` (the folder is created 0700 and recorded)."""
        folder = Path(tempfile.mkdtemp(dir=self.root))
        path = folder / name
        with self._lock:
            self._made.append((time.time(), folder, path))
        return path

    def __len__(self) -> int:
        return len(self._made)

    def prune(self, now: float | None = None) -> int:
        """Delete the recorded zips beyond the bounds; returns how many were deleted. Errors are logged, not raised."""
        now = time.time() if now is None else now
        deleted = 0
        with self._lock:
            while self._made:
                t, folder, path = self._made[0]
                age = now - t
                if not (age > self.max_age_s or (len(self._made) > self.keep and age > self.min_age_s)):
                    break
                self._made.popleft()
                deleted += self._delete(folder, path)
        return deleted

    @staticmethod
    def _delete(folder: Path, path: Path) -> int:
        try:
            path.unlink(missing_ok=True)
            folder.rmdir()  # fails (and the folder stays) when something else was put in it: not ours to delete
            return 1
        except OSError as exc:
            log.warning("zip cleanup skipped %s: %s", folder.name, exc.strerror or type(exc).__name__)
            return 0

    def close(self) -> None:
        """Delete every recorded zip, then the private folder if nothing else is left in it (at exit)."""
        with self._lock:
            while self._made:
                _, folder, path = self._made.popleft()
                self._delete(folder, path)
            root, self._root = self._root, None
        if root is not None:
            with contextlib.suppress(OSError):
                root.rmdir()


ZIPS = ZipStore()


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    a = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    return buf.getvalue()


def write_zip(outputs: np.ndarray, meta: dict[str, Any], image: np.ndarray | None = None,
              reconstructions: np.ndarray | None = None, losses: np.ndarray | None = None,
              store: ZipStore | None = None) -> Path:
    """A zip of the gallery (solution_XX.png at native size), the input, T(G(z)) and losses.csv + info.json, in
    ``store`` (default: the process's :data:`ZIPS`), which then drops its zips beyond its bounds."""
    store = store if store is not None else ZIPS  # (an empty store is falsy: it has a length)
    name = f"nam_{meta.get('task', 'out')}_{meta.get('method', '')}_seed{meta.get('seed', 0)}.zip"
    path = store.new_path(name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, im in enumerate(outputs):
            zf.writestr(f"solution_{i + 1:02d}.png", _png_bytes(im))
        if image is not None:
            zf.writestr("input.png", _png_bytes(image))
        if reconstructions is not None:
            for i, im in enumerate(reconstructions):
                zf.writestr(f"why/T_of_G_z_{i + 1:02d}.png", _png_bytes(im))
        if losses is not None:
            s = io.StringIO()
            w = csv.writer(s)
            w.writerow(["solution", "loss"])
            for i, v in enumerate(np.asarray(losses).ravel()):
                w.writerow([i + 1, f"{float(v):.6f}"])
            zf.writestr("losses.csv", s.getvalue())
        zf.writestr("info.json", json.dumps(meta, indent=2, default=str))
    store.prune()
    return path

