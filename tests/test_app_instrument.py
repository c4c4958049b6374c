"""Issue 16, the app as a live instrument: the latest request paints the gallery, a stopped NAM run is not what
the next Map returns, the strip's σ labels, T(G(z)) in the input's polarity (over HTTP on the tiny fixture, and as
pure functions)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nam_core.serving import app_logic as L
from tests.helpers import build_tiny_checkpoints, gallery_tiles, sketch_payload


@pytest.mark.slow
def test_a_live_preview_finishing_after_map_does_not_overwrite_it(served, tmp_path: Path, monkeypatch) -> None:
    """The latest request wins. A slow stroke preview (K=3) still running when Map (K=5) is pressed and answered
    must not replace Map's gallery and state; a stroke drawn after Map does."""
    from gradio_client import Client

    from nam_core.serving import live as LV

    url, _ = served
    started, release = threading.Event(), threading.Event()
    fast = LV.run_live

    def slow_live(*args, **kwargs):
        started.set()
        release.wait(30)
        return fast(*args, **kwargs)

    monkeypatch.setattr(LV, "run_live", slow_live)
    c = Client(url, verbose=False)
    sketch = sketch_payload(tmp_path)
    live_job = c.submit("street2mnist", "vae-nam", "glann", sketch, 3, 5, "input", True, api_name="/live")
    assert started.wait(30), "the live preview never started"
    mapped = c.predict("street2mnist", "vae-nam", "glann", sketch, None, 5, 5, "input", api_name="/map")
    assert len(mapped[0]) == 5
    release.set()
    late = live_job.result(timeout=60)
    assert not late[0] or len(late[0]) != 3, "the stale preview was sent to the gallery"
    moved, _, _ = c.predict("input", 0.0, 0.0, 0.0, 0.0, api_name="/explore")
    assert len(moved) == 5  # the session's state is still Map's (K=5), not the preview's (K=3)
    monkeypatch.setattr(LV, "run_live", fast)
    newer = c.predict("street2mnist", "vae-nam", "glann", sketch, 3, 5, "input", True, api_name="/live")
    assert len(newer[0]) == 3  # a stroke after Map is the latest request: it paints the gallery
    moved, _, _ = c.predict("input", 0.0, 0.0, 0.0, 0.0, api_name="/explore")
    assert len(moved) == 3


@pytest.mark.slow
def test_the_map_after_a_nam_stop_optimises_afresh(served, tmp_path: Path) -> None:
    """Stop keeps the current solutions (the sliders move them); the next Map of the same drawing runs the whole
    optimisation instead of returning the stopped ones from the cache."""
    from gradio_client import Client

    url, demo = served
    reg = demo.registry  # type: ignore[attr-defined]
    c = Client(url, verbose=False)
    args = ("street2mnist", "nam", "glann", sketch_payload(tmp_path), None, 3, 31, "input")
    tr = reg.get("street2mnist", "nam", "glann")
    saved = reg.nam_steps
    tr.nam_steps = reg.nam_steps = 5000  # far longer than the test waits
    try:
        job = c.submit(*args, api_name="/map_nam")
        deadline = time.monotonic() + 60
        while not job.outputs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.outputs(), "no streamed solutions within 60 s"
        c.predict(api_name="/stop_nam")
        stopped = job.result(timeout=60)
        assert 'data-state="stopped"' in stopped[-1]
        moved, _, _ = c.predict("input", 0.0, 0.0, 0.0, 0.0, api_name="/explore")  # the stopped ones, cached
        kept = sorted(t.tobytes() for t in gallery_tiles(stopped[0]))
        assert sorted(t.tobytes() for t in gallery_tiles(moved)) == kept
    finally:
        tr.nam_steps = reg.nam_steps = saved
    job = c.submit(*args, api_name="/map_nam")  # the same drawing, K and seed: a fresh 20-step optimisation
    fresh = job.result(timeout=120)
    assert job.outputs()[:-1], "the stopped solutions came back from the cache without any optimisation"
    assert 'data-state="done"' in fresh[-1] and len(fresh[-2]["data"]) == 2 * 20
    again = c.submit(*args, api_name="/map_nam")  # a completed run is cached as before
    assert 'data-state="done"' in again.result(timeout=120)[-1] and not again.outputs()[:-1]


def test_strip_frames_carry_their_sigma_below_them() -> None:
    frames = np.zeros((7, 32, 32, 1), np.uint8)
    caps = [f"{c:+.1f}σ" for c in np.linspace(-3, 3, 7)]
    plain, labelled = L.strip_image(frames), L.strip_image(frames, captions=caps)
    assert labelled.shape[0] == plain.shape[0] + L.STRIP_LABEL_H and labelled.shape[1] == plain.shape[1]
    gray = plain if plain.ndim == 2 else plain[..., 0]
    assert np.array_equal(labelled[: plain.shape[0], :, 0], gray)  # the frames themselves untouched
    band = labelled[plain.shape[0]:, :, 0] < 128
    inked = np.flatnonzero(band.any(0))
    tile = plain.shape[1] // 7
    # text under every frame, centred on it
    assert all(((inked >= i * tile) & (inked < (i + 1) * tile)).any() for i in range(7))
    first = inked[inked < tile]
    assert abs((first.min() + first.max()) / 2 - (L.STRIP_PAD + 96 / 2)) < 4


def test_reconstructions_are_shown_in_the_inputs_polarity() -> None:
    x = np.zeros((28, 28, 1), np.uint8)
    x[6:22, 12:16] = 255  # a white stroke on black, like MNIST
    same, inverted = x.copy(), 255 - x  # T drew it dark on white: NCC does not tell them apart
    shown, flipped = L.in_input_polarity(x, np.stack([same, inverted]))
    assert flipped == [False, True]
    assert np.array_equal(shown[0], x) and np.array_equal(shown[1], x)
    flat = np.full_like(x, 128)  # nothing to correlate with: left as it is
    assert L.in_input_polarity(x, flat[None])[1] == [False]


def test_zerogpu_durations_fit_each_call() -> None:
    one_pass = L.gpu_seconds(0)
    nam_default, nam_long = L.gpu_seconds(None), L.gpu_seconds(1000)
    assert one_pass == L.GPU_BASE_S
    assert one_pass < L.gpu_seconds(20) < nam_default < nam_long <= L.GPU_MAX_S  # grows with NAM's step budget
    assert nam_default == L.gpu_seconds(L.NAM_DEFAULT_STEPS)
    assert L.gpu_seconds(10**6) == L.GPU_MAX_S and L.gpu_seconds(-5) == one_pass
    assert L.gpu_seconds(100, restarts=4) == L.gpu_seconds(400)


def test_gpu_decorator_is_a_no_op_without_spaces_and_passes_the_duration(monkeypatch) -> None:
    import sys
    import types

    def fn(a: int) -> int:
        return a + 1

    monkeypatch.setitem(sys.modules, "spaces", None)  # `import spaces` raises ImportError
    assert L.gpu(duration=lambda *a: 5)(fn) is fn
    asked: list[object] = []
    fake = types.ModuleType("spaces")

    def GPU(duration):  # noqa: N802 - spaces' own name
        asked.append(duration)
        return lambda f: f

    fake.GPU = GPU  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spaces", fake)
    budget = lambda task, method, generator, *rest, **kw: 42  # noqa: E731
    assert L.gpu(duration=budget)(fn)(1) == 2 and L.gpu()(fn)(1) == 2
    assert asked == [budget, L.GPU_BASE_S]


def test_translators_use_cuda_when_present(request: pytest.FixtureRequest) -> None:
    """The registry's models sit on get_device()'s choice: CUDA when torch sees one, else the CPU."""
    from nam_core.utils import get_device

    reg = L.ModelRegistry(build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints")))
    tr = reg.get("street2mnist", "vae-nam", "glann")
    assert tr.device.type == get_device().type
    assert next(tr.G.parameters()).device.type == get_device().type


def test_a_deterministic_encoders_per_input_note_says_what_the_axes_are() -> None:
    """AE-NAM with "Per input": its one code has no axes of its own, so the note must not read as if these were
    the input's axes (nor as a plain global choice): it says they are the training set's, and why."""
    from types import SimpleNamespace

    class Encoder:
        method, global_dirs, style_dirs = "ae-nam", object(), None
        spec = SimpleNamespace(iterative=False, deterministic=True, feed_forward=False)

        def directions(self, image, n, kind, k, seed):
            return SimpleNamespace(kind="global", scales=[1.0, 0.5], vectors=[None, None])

    image = np.zeros((28, 28, 1), np.uint8)
    per_input, warns = L.direction_info(Encoder(), image, 4, 0, "input")
    assert not warns and per_input.kind == "global"
    assert "AE-NAM" in per_input.note and "no per-input axes" in per_input.note and "training set" in per_input.note
    chosen, _ = L.direction_info(Encoder(), image, 4, 0, "global")
    assert "no per-input axes" not in chosen.note and "training set" in chosen.note
