"""The app's image cache writer (nam_core/serving/gradio_cache.py): the same image returned again, as a streamed
NAM result does at every step, must never be rewritten under a download of its earlier copy."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from nam_core.serving import gradio_cache


def _img(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8))


def test_same_path_as_gradio_and_an_existing_copy_is_left_alone(tmp_path: Path) -> None:
    from gradio import processing_utils as pu

    original = pu.save_pil_to_cache
    ref = original(_img(), str(tmp_path / "ref"), format="png")
    ours = gradio_cache.save_pil_to_cache(_img(), str(tmp_path / "ours"), format="png")
    assert Path(ref).relative_to(tmp_path / "ref") == Path(ours).relative_to(tmp_path / "ours")
    inode = Path(ours).stat().st_ino
    assert gradio_cache.save_pil_to_cache(_img(), str(tmp_path / "ours"), format="png") == ours
    assert Path(ours).stat().st_ino == inode  # not rewritten
    assert Image.open(ours).tobytes() == _img().tobytes()
    assert not [p for p in Path(ours).parent.iterdir() if p.name.startswith(".")]  # no staging file left


def test_readers_never_see_a_short_file_while_the_same_image_is_saved_again(tmp_path: Path) -> None:
    path = Path(gradio_cache.save_pil_to_cache(_img(1), str(tmp_path)))
    size, short, stop = path.stat().st_size, [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            n = len(path.read_bytes())
            if n != size:
                short.append(n)

    t = threading.Thread(target=read)
    t.start()
    for _ in range(300):
        gradio_cache.save_pil_to_cache(_img(1), str(tmp_path))
    stop.set()
    t.join()
    assert not short


def test_install_patches_gradio_once() -> None:
    from gradio import processing_utils as pu

    gradio_cache.install()
    gradio_cache.install()
    assert pu.save_pil_to_cache is gradio_cache.save_pil_to_cache
