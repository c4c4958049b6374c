"""Gradio writes every image it serves to a content-addressed cache file, and rewrites that file in place
(truncate, then write) each time the same image is returned again. A streamed NAM result returns the same
images at every step (the input in the why-panel, converged tiles), so a browser or client still downloading
the previous step's copy gets a short file ("Too little data for declared Content-Length", a broken tile).

:func:`install` swaps in a writer that leaves an existing copy alone and writes a new one under a temporary
name before renaming it into place, the way Gradio already caches uploaded files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

_installed = False


def save_pil_to_cache(img: Any, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    from gradio import processing_utils as pu

    data = pu.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / pu.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.exists():
        try:
            os.utime(path)  # Gradio's cache cleaner ages files by ctime: a reused copy stays as new
        except OSError:
            pass
        return str(path)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return str(path)


def install() -> None:
    """Patch Gradio's image cache writer (once per process); its callers look it up by module global."""
    global _installed
    if _installed:
        return
    from gradio import processing_utils as pu

    pu.save_pil_to_cache = save_pil_to_cache
    _installed = True
