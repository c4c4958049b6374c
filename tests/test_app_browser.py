"""One end-to-end browser test: Chromium (Debian's, driven by Playwright) draws on the canvas, presses Map, waits for
the gallery, anchors a solution, and saves a screenshot (also to docs/app_screenshot.png when that is missing, or
always with NAM_UPDATE_SCREENSHOT=1; NAM_SCREENSHOT_CHECKPOINTS=checkpoints uses real checkpoints for it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import build_tiny_checkpoints, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    root = os.environ.get("NAM_SCREENSHOT_CHECKPOINTS") or build_tiny_checkpoints(
        request.config.cache.mkdir("nam_app_checkpoints"))
    with serve_app(root) as url:
        yield url


def test_draw_map_gallery_screenshot(server: str, tmp_path: Path, browser_page: Callable) -> None:
    with browser_page(server) as page:
        assert "MNIST" in page.locator("#task input").input_value()  # the tour's task opens the app
        box = page.locator("#sketch canvas").first.bounding_box()
        assert box is not None
        x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
        seven = [(0.3, 0.25), (0.68, 0.25), (0.58, 0.45), (0.46, 0.8)]  # the opening task's input: a digit
        page.mouse.move(x0 + w * seven[0][0], y0 + h * seven[0][1])
        page.mouse.down()
        for px, py in seven[1:]:
            page.mouse.move(x0 + w * px, y0 + h * py, steps=2)
        page.mouse.up()
        # live drawing: the stroke alone fills the gallery (a one-pass method, no Map pressed)
        page.wait_for_function("(document.querySelector('#latency')?.innerText || '').includes('Live')",
                               timeout=60_000)
        page.locator("#map").click()  # Map adds the per-input directions and the zip
        page.wait_for_function("(() => { const t = document.querySelector('#latency')?.innerText || '';"
                               " return t.includes('ms') && !t.includes('Live'); })()", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('#gallery img').length >= 8", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('#model_view img').length >= 1", timeout=30_000)
        page.locator("#dir0").wait_for(state="visible", timeout=30_000)  # sliders appear with their scale
        assert "1σ" in page.locator("#dir0").inner_text()
        page.locator("#gallery img").nth(2).click()  # anchor solution #3: the strip view walks around it
        page.get_by_text("Anchor: solution #3").wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#strip img').length >= 1", timeout=30_000)
        page.evaluate("window.scrollTo(0, 0)")
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        docs = REPO / "docs" / "app_screenshot.png"
        if not docs.exists() or os.environ.get("NAM_UPDATE_SCREENSHOT") == "1":
            docs.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, docs)


@pytest.fixture(scope="module")
def tour_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over the fixture's models plus the shipped evaluation (results.md / results.json), in a folder of
    links so that the shared fixture stays as it is."""
    fixture = build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))
    root = tmp_path_factory.mktemp("tour_ckpt")
    for sub in fixture.iterdir():
        if sub.is_dir():
            (root / sub.name).symlink_to(sub, target_is_directory=True)
    for f in ("results.md", "results.json"):
        shutil.copy(REPO / "checkpoints" / f, root / f)
    with serve_app(root) as url:
        yield url


def test_learn_glann_examples_compare_download(tour_server: str, browser_page: Callable) -> None:
    """Issue 16's checks in Chromium: the Learn tab shows at once with one compact table and the full one behind a
    link (clf_<domain> not swallowed, no mid-word wrapping); the GLANN tab offers only existing generators; the
    Examples tab shows only servable tasks, unclipped; no GAN panel where there are no GANs; Download before Map
    says why nothing comes."""
    import time

    with browser_page(tour_server, height=1000) as page:
        assert not page.locator("#compare_box").is_visible()  # mnist2street has no GAN in the fixture
        page.locator("#download").click()
        page.get_by_text("Nothing to download yet").wait_for(timeout=10_000)
        page.get_by_role("tab", name="Examples").click()
        gal = page.locator("#examples")
        gal.locator("img").first.wait_for()
        caps = gal.locator(".caption-label").all_inner_texts()
        assert caps and not any("handbags" in c for c in caps)  # no model: no example
        assert page.evaluate("e => e.scrollWidth <= e.clientWidth", gal.element_handle())
        gal.locator("img").nth(caps.index("street → MNIST")).click()
        page.locator("#compare_box").wait_for(state="visible", timeout=10_000)  # street2mnist has one GAN
        seconds = []
        for _ in range(2):  # the first visit and a return: static content, no request
            page.get_by_role("tab", name="Translate").click()
            t0 = time.perf_counter()
            page.get_by_role("tab", name="Learn").click()
            page.wait_for_selector("#results_compact table", state="visible")
            page.wait_for_function("() => [...document.querySelectorAll('.tour-figure img')].every("
                                   "i => i.complete && i.naturalWidth > 0) && "
                                   "document.querySelectorAll('.tour-figure img').length === 3")
            seconds.append(time.perf_counter() - t0)
        assert min(seconds) < 1.0, seconds
        assert page.locator("#results_compact tr").count() <= 10  # one compact table: a row per method
        cell = page.locator("#results_compact td").first
        assert cell.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
        assert page.locator("[id^=try_]").count() == 4
        page.locator("#try_nam").click()
        page.get_by_text("Ready: NAM").wait_for(timeout=10_000)
        page.goto(tour_server + "results")
        full = page.locator("#full_results")
        full.locator("table").first.wait_for()
        assert "(clf_<domain>:" in full.inner_text()
        page.goto(tour_server)
        page.get_by_role("tab", name="GLANN").click()
        page.wait_for_function("document.querySelectorAll('#g_gallery img').length >= 4", timeout=60_000)
        assert "street digits" in page.locator("#g_domain input").input_value()  # the default task's target
        page.locator("#g_domain input").click()
        page.get_by_role("option", name="shoes", exact=True).click()
        page.wait_for_function("!document.querySelector('#g_kind').innerText.includes('DCGAN')", timeout=30_000)
