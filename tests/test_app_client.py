"""The Gradio app served on 127.0.0.1 (a free port, in a thread) and driven through gradio_client."""

from __future__ import annotations

import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import FIXTURE_MODELS, build_tiny_checkpoints, gallery_tiles, serve_demo, sketch_payload

pytestmark = pytest.mark.slow


def map_api(method: str) -> str:
    """NAM's per-input optimisation has its own endpoint and queue."""
    return "/map_nam" if method == "nam" else "/map"


@pytest.fixture(scope="module")
def server(served: tuple[str, object]) -> str:
    return served[0]


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=True)


@pytest.fixture(scope="module")
def shared_client(server: str):
    """One client for the per-model tests (each Map replaces the session's state, so they do not interfere)."""
    return client(server)


def test_page_serves(server: str) -> None:
    with urllib.request.urlopen(server, timeout=30) as r:
        html = r.read().decode()
    assert r.status == 200 and "NAM Studio" in html


SERVED = [*FIXTURE_MODELS, ("street2mnist", "nam-ff", "glann")]  # + NAM one-pass, distilled from the fixture's NAM


@pytest.mark.parametrize("combo", SERVED, ids=["_".join(c) for c in SERVED])
def test_map_and_explore_every_model(shared_client, combo: tuple[str, str, str]) -> None:
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    task, method, gen = combo
    c = shared_client
    out = c.predict(task, method, gen, None, handle_file(str(EXAMPLES_DIR / f"{task}_1.png")), 3, 1, "input",
                    api_name=map_api(method))
    gallery, view, latency, zip_path, why = out[0], out[1], out[2], out[3], out[4]
    tiles = gallery_tiles(gallery)
    n = len(tiles)
    assert n == 3 or (n == 1 and "deterministic" in latency)  # a deterministic model shows its one solution
    assert all(t.shape[0] >= 128 for t in tiles)
    assert "loss" in gallery[0]["caption"] and "ms" in latency
    assert Path(view).exists() and len(why) == n + 1  # the input + T(G(z)) of each solution
    with zipfile.ZipFile(zip_path) as zf:
        assert sum(n.startswith("solution_") for n in zf.namelist()) == len(tiles)
    moved_gallery, lat, _ = c.predict("input", 3.0, -2.0, 0.0, 0.0, api_name="/explore")
    assert len(moved_gallery) >= 1 and "ms" in lat
    if method == "vae-nam":
        assert any(not np.array_equal(a, b) for a, b in zip(tiles, gallery_tiles(moved_gallery)))


def test_style_directions_over_http(shared_client) -> None:
    """The "Style (keeps the input)" slider kind end to end: Map with it, then move along the first direction."""
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    c = shared_client
    out = c.predict("mnist2street", "vae-nam", "glann", None, handle_file(str(EXAMPLES_DIR / "mnist2street_1.png")), 3,
                    1, "style", api_name="/map")
    assert len(gallery_tiles(out[0])) == 3 and "ms" in out[2]
    moved, lat, _ = c.predict("style", 2.0, 0.0, 0.0, 0.0, api_name="/explore")
    assert len(moved) == 3 and "ms" in lat


@pytest.mark.parametrize("combo", [("street2mnist", "vae-nam", "glann"), ("edges2shoes", "nam", "glann")])
def test_seed_strip_reset_random_kind(server: str, combo: tuple[str, str, str]) -> None:
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    task, method, gen = combo
    c = client(server)
    args = (None, handle_file(str(EXAMPLES_DIR / f"{task}_2.png")), 4, 5, "input")
    tiles = gallery_tiles(c.predict(task, method, gen, *args, api_name=map_api(method))[0])
    again = gallery_tiles(c.predict(task, method, gen, *args, api_name=map_api(method))[0])
    assert all(np.array_equal(a, b) for a, b in zip(tiles, again))  # same seed, same gallery
    strip, _ = c.predict("input", "Direction 1", api_name="/strip")
    strip = np.asarray(Image.open(strip))
    from nam_core.serving.app_logic import STRIP_LABEL_H

    assert strip.shape[1] > 6 * (strip.shape[0] - STRIP_LABEL_H)  # seven tiles in a row, their σ below them
    rnd = c.predict("input", api_name="/random")
    assert all(-3.0 <= v <= 3.0 for v in rnd[:4]) and len(rnd[4]) == 4
    reset = c.predict("input", api_name="/reset")
    assert list(reset[:4]) == [0.0, 0.0, 0.0, 0.0]
    assert all(np.array_equal(a, b) for a, b in zip(tiles, gallery_tiles(reset[4])))  # sliders at 0 = the Map result
    note, *rest = c.predict("global", api_name="/directions_kind")
    assert "training set" in note and len(rest[4]) == 4


def test_compare_with_gans(server: str) -> None:
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    c = client(server)
    with pytest.raises(Exception, match="Press Map first"):
        c.predict(api_name="/compare")
    c.predict("street2mnist", "vae-nam", "glann", None, handle_file(str(EXAMPLES_DIR / "street2mnist_1.png")), 2, 0,
              "input", api_name="/map")
    gallery, note, lat = c.predict(api_name="/compare")
    assert [item["caption"] for item in gallery] == ["DistanceGAN"] and gallery_tiles(gallery)[0].shape[0] >= 128
    assert "Not shipped for this task: CycleGAN, DTN" in note and "Compare with GANs" in lat


def test_errors_are_clear_and_server_keeps_serving(server: str, tmp_path: Path) -> None:
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    c = client(server)
    with pytest.raises(Exception, match="canvas is empty"):
        c.predict("edges2shoes", "vae-nam", "glann", None, None, 4, 0, "input", api_name="/map")
    with pytest.raises(Exception, match="Unavailable"):
        c.predict("edges2handbags", "vae-nam", "glann", None, handle_file(str(EXAMPLES_DIR / "edges2handbags_1.png")),
                  4, 0, "input", api_name="/map")
    with pytest.raises(Exception, match="Press Map first"):
        c.predict("input", 1.0, 0.0, 0.0, 0.0, api_name="/explore")
    fake = tmp_path / "fake.png"
    fake.write_text("not an image at all")
    with pytest.raises(Exception, match="as an image") as info:  # our message: Gradio does not decode uploads
        c.predict("edges2shoes", "vae-nam", "glann", None, handle_file(str(fake)), 4, 0, "input", api_name="/map")
    assert "ComponentProcessingError" not in str(info.value) and str(tmp_path) not in str(info.value)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), (255, 255, 255)).save(blank)
    with pytest.raises(Exception, match="blank"):
        c.predict("street2mnist", "vae-nam", "glann", None, handle_file(str(blank)), 4, 0, "input", api_name="/map")
    huge = tmp_path / "huge.png"  # 8000×8000, downscaled safely server-side
    im = Image.new("L", (8000, 8000), 255)
    ImageDraw.Draw(im).line([(1500, 1200), (6500, 1200), (3500, 7000)], fill=0, width=150)
    im.save(huge)
    out = c.predict("mnist2street", "vae-nam", "glann", None, handle_file(str(huge)), 3, 0, "input", api_name="/map")
    assert len(out[0]) == 3
    # still serving: a normal request after all the failures
    ok = c.predict("street2mnist", "vae-nam", "glann", None, handle_file(str(EXAMPLES_DIR / "street2mnist_2.png")),
                   2, 0, "input", api_name="/map")
    assert len(ok[0]) == 2


def test_sketch_through_the_api_and_glann_tab(server: str, tmp_path: Path) -> None:
    sketch = sketch_payload(tmp_path, "edges", (255, 255, 255, 255))  # white strokes (dark theme): read by alpha
    c = client(server)
    out = c.predict("edges2shoes", "vae-nam", "glann", sketch, None, 3, 0, "input", api_name="/map")
    view = np.asarray(Image.open(out[1]))
    assert len(out[0]) == 3 and view.min() < 200 and np.median(view) == 255  # white background, dark strokes
    samples, lat = c.predict("shoes", "glann", 5, 3, api_name="/glann_sample")
    assert len(samples) == 5 and "ms" in lat
    interp, _ = c.predict("mnist", "glann", 1, 2, 4, api_name="/glann_interpolate")
    assert len(interp) == 4


def test_nam_has_its_own_queue(served: tuple[str, object]) -> None:
    """Two slow NAM requests at once do not hold a one-pass slot: a VAE-NAM Map submitted after them finishes while
    both are still queued or running (with one shared group of two workers it waited for a NAM request to end)."""
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    url, demo = served
    reg = demo.registry  # type: ignore[attr-defined]
    ex = handle_file(str(EXAMPLES_DIR / "street2mnist_1.png"))
    c = client(url)
    with pytest.raises(Exception, match="own queue"):
        c.predict("street2mnist", "nam", "glann", None, ex, 2, 0, "input", api_name="/map")
    with pytest.raises(Exception, match="for NAM only"):
        c.predict("street2mnist", "vae-nam", "glann", None, ex, 2, 0, "input", api_name="/map_nam")
    c.predict("street2mnist", "vae-nam", "glann", None, ex, 2, 0, "input", api_name="/map")  # warm
    saved = reg.nam_steps
    tr = reg.get("street2mnist", "nam", "glann")
    tr.nam_steps = reg.nam_steps = 5000  # far longer than the test needs: it is stopped, no race with the clock
    try:
        owners = [client(url) for _ in range(2)]
        slow = [o.submit("street2mnist", "nam", "glann", None, ex, 8, 100 + i, "input", api_name="/map_nam")
                for i, o in enumerate(owners)]
        deadline = time.monotonic() + 60
        # one NAM request is optimising (either may be first: they come from two clients)
        while not any(j.outputs() for j in slow) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(j.outputs() for j in slow), "NAM streamed nothing within 60 s"
        fast = c.predict("street2mnist", "vae-nam", "glann", None, ex, 4, 3, "input", api_name="/map")
        assert len(fast[0]) == 4
        assert not any(j.done() for j in slow), "a NAM request ended before the one-pass Map"
    finally:
        tr.nam_steps = reg.nam_steps = saved  # a NAM request still queued starts with the short budget
        # Stop is per running request: one still being set up (or queued) when the first Stop arrives would run on,
        # so Stop is repeated until both have ended
        deadline = time.monotonic() + 240
        while not all(j.done() for j in slow) and time.monotonic() < deadline:
            for o, j in zip(owners, slow):
                if not j.done():
                    o.predict(api_name="/stop_nam")
            time.sleep(0.5)
    for j in slow:
        assert len(j.result(timeout=10)[0]) == 8


def test_busy_queue_is_refused_with_a_clear_message(served: tuple[str, object], monkeypatch) -> None:
    """The Map validators admit up to the maximum waiting, then refuse with a "busy" message; requests that never
    started (cancelled while waiting) stop counting once Gradio's queue no longer holds them. Gradio's queue is faked
    here: filling it for real takes minutes."""
    import types

    import app

    _, demo = served
    fns = {f.api_name: f for f in demo.fns.values() if f.api_name in ("map", "map_nam")}  # type: ignore[attr-defined]
    assert set(fns) == {"map", "map_nam"} and all(f.validator for f in fns.values())
    assert {f.concurrency_id for f in fns.values()} == {"map", "nam"}
    limits = {"map": app.MAP_MAX_WAITING, "map_nam": app.NAM_MAX_WAITING}
    queues = {"map": types.SimpleNamespace(queue=[None] * app.MAP_MAX_WAITING),
              "nam": types.SimpleNamespace(queue=[None] * app.NAM_MAX_WAITING)}
    monkeypatch.setattr(demo._queue, "event_queue_per_concurrency_id", queues)  # type: ignore[attr-defined]
    args = ("street2mnist", "vae-nam", "glann", "upload", None, None, 2)
    request = types.SimpleNamespace(request=None, session_hash="t")  # what the validator stamps its ticket on
    try:
        for api, f in fns.items():
            for _ in range(limits[api]):
                assert all(c["is_valid"] for c in f.validator(*args, 0, "input", request))
            checks = f.validator(*args, 0, "input", request)
            assert checks[0]["is_valid"] is False and "busy" in checks[0]["message"], checks[0]
            bad_seed = f.validator(*args, 2**70, "input", request)
            assert bad_seed[7]["is_valid"] is False and "Seed must be" in bad_seed[7]["message"]
        queues["map"].queue.clear()  # the admitted ones were cancelled: Gradio no longer holds them
        monkeypatch.setattr(app, "ADMIT_WINDOW_S", 0.0)  # ... and they are no longer recent
        assert all(c["is_valid"] for c in fns["map"].validator(*args, 0, "input", request))
    finally:
        for admission in demo.admissions.values():  # type: ignore[attr-defined]
            admission.reset()  # the admitted-but-never-run requests above would count for the next tests


def test_gradio_cache_is_cleaned(request: pytest.FixtureRequest) -> None:
    """delete_cache is set: the files a Map leaves in Gradio's cache (uploads, gallery PNGs, the zip copy) are
    deleted once older than the age (5 s here, checked every second: long enough for the client to fetch the
    Map's files first on a loaded machine)."""
    from gradio_client import handle_file

    from nam_core.serving.app_logic import EXAMPLES_DIR

    root = build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))
    with serve_demo(root, cache_cleanup=(1, 5)) as (url, demo):
        c = client(url)
        c.predict("street2mnist", "vae-nam", "glann", None, handle_file(str(EXAMPLES_DIR / "street2mnist_1.png")), 4,
                  0, "input", api_name="/map")

        keep = {f for b in demo.blocks.values() for f in getattr(b, "keep_in_cache", ())}  # type: ignore[attr-defined]

        def cached() -> list[str]:  # what requests left (the page's own files, e.g. the examples, are kept)
            return [f for s in demo.temp_file_sets for f in s  # type: ignore[attr-defined]
                    if f not in keep and Path(f).exists()]

        assert len(cached()) >= 5
        deadline = time.time() + 20
        while cached() and time.time() < deadline:
            time.sleep(0.5)
        assert not cached()
