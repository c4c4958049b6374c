"""One end-to-end browser test: Chromium (Debian's, driven by Playwright) draws on the canvas, presses Map, waits for
the gallery, anchors a solution, and saves a screenshot (also to docs/app_screenshot.png when that is missing, or
always with NAM_UPDATE_SCREENSHOT=1; NAM_SCREENSHOT_CHECKPOINTS=checkpoints uses real checkpoints for it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # app.py lives at the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared fixture builder

from test_app_client import serve_app  # noqa: E402
from test_serving_app_logic import build_tiny_checkpoints  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    root = os.environ.get("NAM_SCREENSHOT_CHECKPOINTS") or build_tiny_checkpoints(
        request.config.cache.mkdir("nam_app_checkpoints"))
    with serve_app(root) as url:
        yield url


def test_draw_map_gallery_screenshot(server: str, tmp_path: Path) -> None:
    chromium = ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server)
            page.wait_for_selector("#map")
            assert "shoe edges" in page.locator("#task").inner_text() or page.locator("#task input").input_value()
            page.locator("#sketch button[aria-label='Brush']").click()
            box = page.locator("#sketch canvas").first.bounding_box()
            assert box is not None
            x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
            shoe = [(0.3, 0.6), (0.33, 0.4), (0.42, 0.37), (0.48, 0.47), (0.66, 0.53), (0.7, 0.62), (0.3, 0.62),
                    (0.3, 0.6)]
            page.mouse.move(x0 + w * shoe[0][0], y0 + h * shoe[0][1])
            page.mouse.down()
            for px, py in shoe[1:]:
                page.mouse.move(x0 + w * px, y0 + h * py, steps=2)
            page.mouse.up()
            page.locator("#map").click()
            page.wait_for_function("document.querySelectorAll('#gallery img').length >= 8", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('#model_view img').length >= 1", timeout=30_000)
            assert "ms" in page.locator("#latency").inner_text()
            assert page.locator("#dir0").is_visible()  # direction sliders appear with their scale
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
        finally:
            browser.close()
