"""Live drawing and NAM's streamed optimisation (issue 16): nam_infer's on_step hook, the serving side
(nam_core.serving.live) on the shared tiny fixture."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from nam_core.methods.nam import nam_infer
from tests.helpers import LATENT, gallery_tiles, sketch_payload


def test_nam_infer_on_step_sees_codes_and_losses_and_stops_early(frozen_pair) -> None:
    G, T, targets = frozen_pair
    seen: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def on_step(step: int, z: torch.Tensor, losses: torch.Tensor) -> bool:
        seen.append((step, tuple(z.shape), tuple(losses.shape)))
        assert not z.requires_grad and not losses.requires_grad
        return step == 3

    z, losses = nam_infer(G, T, targets, num_solutions=2, steps=10, seed=0, on_step=on_step)
    assert seen == [(s, (2, 2, LATENT), (2, 2)) for s in (1, 2, 3)]
    z3, losses3 = nam_infer(G, T, targets, num_solutions=2, steps=3, seed=0)  # stopped at 3 = a 3-step run
    assert torch.equal(z, z3) and torch.equal(losses, losses3)


def test_nam_infer_takes_on_step_from_a_progress_callback(frozen_pair) -> None:
    """A progress callback handed down through the Translator can carry on_step (the app's NAM stream)."""
    G, T, targets = frozen_pair
    calls: list[tuple[int, int]] = []
    steps_seen: list[int] = []

    class Progress:
        def __call__(self, step: int, total: int) -> None:
            calls.append((step, total))

        def on_step(self, step: int, z: torch.Tensor, losses: torch.Tensor) -> bool:
            steps_seen.append(step)
            return step == 2

    nam_infer(G, T, targets, num_solutions=2, steps=10, seed=0, callback=Progress())
    assert calls == [(1, 10), (2, 10)] and steps_seen == [1, 2]


# ---------------------------------------------------------------- the serving side, on the shared tiny fixture
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nam_core.serving import app_logic as L  # noqa: E402
from nam_core.serving.live import LivePreview, NamSnapshot, NamStream, is_live_method, run_live  # noqa: E402


@pytest.fixture(scope="module")
def registry(request: pytest.FixtureRequest) -> L.ModelRegistry:
    from tests.helpers import build_tiny_checkpoints

    root = build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))
    return L.ModelRegistry(root, device="cpu", nam_steps=20)


def _digit() -> np.ndarray:
    ink = np.zeros((200, 200), np.float32)
    ink[40:160, 90:110] = 1.0
    return L.ink_to_input(ink, "street2mnist")


def test_live_preview_is_what_map_shows(registry: L.ModelRegistry) -> None:
    image = _digit()
    live = run_live(registry, "street2mnist", "vae-nam", "glann", image, k=4, seed=3, kind="global")
    assert isinstance(live, LivePreview) and live.outputs.shape[0] == 4 and len(live.captions) == 4
    full = L.run_map(registry, "street2mnist", "vae-nam", "glann", image, k=4, seed=3, kind="global")
    assert np.array_equal(live.outputs, full.outputs) and live.captions == full.captions
    # dataset-wide directions come with the preview, per-input ones wait for a Map
    assert live.directions is None or live.directions.kind == "global"
    assert run_live(registry, "street2mnist", "vae-nam", "glann", image, k=4, seed=3, kind="input").directions is None
    assert is_live_method("vae-nam") and is_live_method("ae-nam") and not is_live_method("nam")


def test_nam_stream_yields_snapshots_then_the_map_result(registry: L.ModelRegistry) -> None:
    image = _digit()
    stream = NamStream(registry, "street2mnist", "nam", "glann", image, k=3, seed=11, every_s=0.0, every_steps=1)
    items = list(stream)
    snaps, final = items[:-1], items[-1]
    assert isinstance(final, L.MapResult) and final.outputs.shape[0] == 3
    assert snaps and all(isinstance(s, NamSnapshot) for s in snaps)
    assert all(s.outputs.shape[0] == 3 and s.total == 20 and 1 <= s.step < 20 for s in snaps)
    assert [s.step for s in snaps] == sorted({s.step for s in snaps})  # newest only, in order
    assert all(np.all(np.diff(s.losses) >= 0) for s in snaps)  # best current loss first
    assert len(stream.curve) == 20 and stream.stopped_at is None
    assert snaps[-1].curve[-1][1] <= snaps[0].curve[0][2]  # the best loss has come down from the first mean


def test_nam_stream_stop_keeps_the_current_solutions_for_explore(registry: L.ModelRegistry) -> None:
    image = _digit()
    stream = NamStream(registry, "street2mnist", "nam", "glann", image, k=3, seed=12, every_s=0.0, every_steps=1)
    for item in stream:
        if isinstance(item, NamSnapshot) and item.step >= 3:
            stream.stop()
        final = item
    assert isinstance(final, L.MapResult)
    assert stream.stopped_at is not None and stream.stopped_at < 20 and len(stream.curve) == stream.stopped_at
    # the sliders move exactly these solutions (the Translator cached the stopped ones: no new optimisation)
    moved = L.run_explore(registry, "street2mnist", "nam", "glann", image, 3, 12, [0.0] * L.N_DIRECTIONS)
    assert np.array_equal(np.sort(moved.outputs.reshape(3, -1), 0), np.sort(final.outputs.reshape(3, -1), 0))


# ---------------------------------------------------------------- over HTTP (the real app, gradio_client)
def test_live_endpoint_previews_what_map_shows(served, tmp_path: Path) -> None:
    from gradio_client import Client

    url, _ = served
    c = Client(url, verbose=False)
    sketch = sketch_payload(tmp_path)
    out = c.predict("street2mnist", "vae-nam", "glann", sketch, 3, 5, "input", True, api_name="/live")
    gallery, latency, download, why, dir_note = out[0], out[2], out[3], out[4], out[6]
    assert len(gallery) == 3 and "Live" in latency and "ms" in latency and download is None
    # per-input directions wait for Map; the why-panel is filled only while it is open (a browser's accordion)
    assert not why and "press **Map**" in dir_note
    full = c.predict("street2mnist", "vae-nam", "glann", sketch, None, 3, 5, "input", api_name="/map")
    assert len(full[4]) == 4
    assert all(np.array_equal(a, b) for a, b in zip(gallery_tiles(gallery), gallery_tiles(full[0])))
    # the sliders then move the live drawing's solutions (no Map needed)
    c.predict("street2mnist", "vae-nam", "glann", sketch, 3, 6, "input", True, api_name="/live")
    moved, lat, _ = c.predict("input", 2.0, 0.0, 0.0, 0.0, api_name="/explore")
    assert len(moved) == 3 and "ms" in lat


def test_nam_streams_its_solutions_and_stops_keeping_them(served, tmp_path: Path) -> None:
    from gradio_client import Client

    url, demo = served
    reg = demo.registry  # type: ignore[attr-defined]
    c = Client(url, verbose=False)
    sketch = sketch_payload(tmp_path)
    args = ("street2mnist", "nam", "glann", sketch, None, 3)
    job = c.submit(*args, 21, "input", api_name="/map_nam")
    final = job.result(timeout=120)
    streamed = job.outputs()[:-1]
    assert streamed and all("step" in o[2] for o in streamed)  # latency line: "NAM optimising: step s/20"
    assert all(len(o[0]) == 3 for o in streamed) and "ms" in final[2]
    assert 'data-state="done"' in final[-1] and len(final[-2]["data"]) == 2 * 20  # bar; curve: best + mean

    tr = reg.get("street2mnist", "nam", "glann")
    saved = reg.nam_steps
    tr.nam_steps = reg.nam_steps = 5000  # far longer than the test waits
    try:
        job = c.submit(*args, 22, "input", api_name="/map_nam")
        deadline = time.monotonic() + 60
        while not job.outputs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job.outputs(), "no streamed solutions within 60 s"
        c.predict(api_name="/stop_nam")
        stopped = job.result(timeout=60)
        assert "stopped at step" in stopped[2] and 'data-state="stopped"' in stopped[-1]
        moved, _, _ = c.predict("input", 0.0, 0.0, 0.0, 0.0, api_name="/explore")  # no new optimisation
        kept = sorted(t.tobytes() for t in gallery_tiles(stopped[0]))
        assert sorted(t.tobytes() for t in gallery_tiles(moved)) == kept
    finally:
        tr.nam_steps = reg.nam_steps = saved


def test_slider_labels_name_every_direction_kind() -> None:
    """Issue 16: the style sliders read "Direction 1 · · 1σ = …" (the kind's name was missing)."""
    for kind in ("style", "global", "posterior", "restarts"):
        label = L.DirectionInfo(kind, [0.5]).labels(2)[0]
        assert " ·  · " not in label and label.split(" · ")[1].strip(), label
