"""Issue 16 in Chromium: live drawing fills the gallery without Map; a failed Map keeps the last good gallery with
one message and no "Error" badges; Reset drops the anchored tile's highlight; the strip says each frame's σ; a
new task clears the old results."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STROKE = [(0.5, 0.2), (0.52, 0.5), (0.5, 0.8)]  # a "1"


def draw(page, points: list[tuple[float, float]]) -> None:
    box = page.locator("#sketch canvas").first.bounding_box()
    assert box is not None
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + w * points[0][0], y0 + h * points[0][1])
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x0 + w * px, y0 + h * py, steps=3)
    page.mouse.up()


def latency_has(page, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(f"(document.querySelector('#latency')?.innerText || '').includes({text!r})",
                           timeout=timeout)


def visible_error_badges(page) -> int:
    """Status trackers showing "Error" (Gradio keeps hidden ones in the page, transparent)."""
    return page.evaluate("[...document.querySelectorAll('[data-testid=status-tracker]')].filter(t => "
                         "t.querySelector('.error') && !t.classList.contains('hide') && "
                         "getComputedStyle(t).opacity !== '0').length")


def pick(page, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} label", has_text=label).first.click()


def test_live_drawing_errors_reset_strip_and_task_switch(served, browser_page: Callable) -> None:
    url, _ = served
    with browser_page(url) as page:
        draw(page, STROKE)
        latency_has(page, "Live")  # the stroke alone translated: no Map pressed
        page.wait_for_function("document.querySelectorAll('#gallery img').length >= 8", timeout=30_000)
        page.locator("#map").click()
        latency_has(page, "Server time — Map")
        tiles = page.locator("#gallery img").count()
        # a failed Map: one message, the last good gallery kept, no badge over the outputs
        page.locator("#sketch button[aria-label='Clear canvas']").click()
        page.get_by_role("tab", name="Upload").click()
        page.wait_for_timeout(1000)  # the tab's source switch reaches the server
        page.locator("#map").click()
        latency_has(page, "Map failed")
        page.get_by_text("No uploaded image").first.wait_for(timeout=10_000)
        assert visible_error_badges(page) == 0
        assert page.locator("#gallery img").count() == tiles
        # anchor, strip labelled with σ below its frames, Reset drops the highlight
        page.get_by_role("tab", name="Draw").click()
        page.locator("#gallery img").nth(2).click()
        page.get_by_text("Anchor: solution #3").wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#strip img').length >= 1", timeout=30_000)
        assert page.locator("#strip label[data-testid=block-label]").filter(visible=True).count() == 0
        assert page.locator("#gallery .thumbnail-item.selected").count() == 1
        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("Anchor: none").wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('#gallery .thumbnail-item.selected').length === 0",
                               timeout=10_000)
        # captions sit under the tiles: the caption's top is at or below its image's bottom
        img, cap = page.locator("#gallery img").first, page.locator("#gallery .caption-label").first
        assert cap.bounding_box()["y"] >= img.bounding_box()["y"] + img.bounding_box()["height"] - 1
        # a new task: the previous model's results are gone
        page.locator("#task input").click()
        page.get_by_role("option", name="street digits → MNIST  (street2mnist)").click()
        latency_has(page, "for this model's solutions")
        assert page.locator("#gallery img").count() == 0
        assert page.locator("#strip img").count() == 0



def test_map_pressed_right_after_a_stroke_reads_that_stroke(served, browser_page: Callable) -> None:
    """A Map clicked at once after the pointer-up maps that stroke (with Gradio's ImageEditor it sent the canvas as
    it was before the stroke, whose layers were still being exported and uploaded)."""
    url, _ = served
    with browser_page(url) as page:
        for i, stroke in enumerate([STROKE, [(0.3, 0.3), (0.7, 0.3), (0.5, 0.8)], [(0.4, 0.5), (0.6, 0.5)]]):
            draw(page, stroke)
            page.locator("#map").click()  # no wait: the stroke's upload and live preview are still in flight
            page.wait_for_function("(document.querySelector('#latency')?.innerText || '').includes('Map')",
                                   timeout=60_000)
            page.wait_for_timeout(1500)  # let a live preview that lost the race land too
            assert not page.get_by_text("The canvas is empty").count(), f"stroke {i + 1}"
            assert page.locator("#gallery img").count() >= 1


def test_drawing_pad_tools(served, browser_page: Callable) -> None:
    """The canvas's own tools: a stroke is ink (and previews live), Undo takes it back to an empty canvas (Map then
    says so), the eraser removes ink, Clear empties the canvas; the tool's pressed state survives value updates."""
    url, _ = served
    with browser_page(url) as page:
        pad = page.locator("#sketch .nam-pad").first
        ink = "() => document.querySelector('#sketch [data-ink]')?.dataset.ink"
        draw(page, STROKE)
        assert page.evaluate(ink) == "1"
        latency_has(page, "Live")
        # the why-panel is closed: the stroke did not fill it; opening it shows this drawing's T(G(z))
        assert page.locator("#why img").count() == 0
        page.get_by_text("Why these solutions?").click()
        page.wait_for_function("document.querySelectorAll('#why img').length >= 2", timeout=30_000)
        page.get_by_text("Why these solutions?").click()
        page.locator("#sketch button[aria-label='Undo']").click()
        assert page.evaluate(ink) == "0"
        page.locator("#map").click()
        page.get_by_text("The canvas is empty").first.wait_for(timeout=30_000)
        draw(page, STROKE)
        assert page.evaluate(ink) == "1"
        pad.locator("button[data-tool='eraser']").click()
        page.locator("#sketch input[type=range]").fill("30")
        for dx in (-0.04, 0.0, 0.04):  # wide eraser strokes over the whole "1"
            draw(page, [(x + dx, y) for x, y in [(0.5, 0.15), (0.52, 0.5), (0.5, 0.85)]])
        assert page.evaluate(ink) == "0"
        assert pad.locator("button[data-tool='eraser']").get_attribute("aria-pressed") == "true"
        pad.locator("button[data-tool='pen']").click()
        draw(page, STROKE)
        assert page.evaluate(ink) == "1"
        page.locator("#sketch button[aria-label='Clear canvas']").click()
        assert page.evaluate(ink) == "0"


def test_nam_streams_and_stop_keeps_its_solutions(served, browser_page: Callable) -> None:
    """NAM in Chromium: the gallery and the step bar stream while it optimises; Stop ends it and keeps the
    solutions it had (the bar says where it stopped)."""
    url, demo = served
    reg = demo.registry  # type: ignore[attr-defined]
    tr = reg.get("street2mnist", "nam", "glann")
    saved = reg.nam_steps
    tr.nam_steps = reg.nam_steps = 5000  # runs until Stop
    try:
        with browser_page(url) as page:
            page.locator("#task input").click()
            page.get_by_role("option", name="street digits → MNIST  (street2mnist)").click()
            pick(page, "method", "NAM")
            page.locator("#map_nam").wait_for(state="visible", timeout=30_000)
            draw(page, STROKE)
            page.locator("#map_nam").click()
            page.wait_for_function("document.querySelector('#nam_bar .nam-bar')?.dataset.state === 'running' && "
                                   "document.querySelectorAll('#gallery img').length >= 1", timeout=60_000)
            page.locator("#stop_nam").click()
            page.wait_for_function("document.querySelector('#nam_bar .nam-bar')?.dataset.state === 'stopped'",
                                   timeout=60_000)
            step = int(page.evaluate("document.querySelector('#nam_bar .nam-bar').dataset.step"))
            assert 1 <= step < 5000
            assert "stopped at step" in page.locator("#nam_bar").inner_text()
            assert page.locator("#gallery img").count() >= 1
            assert visible_error_badges(page) == 0
    finally:
        tr.nam_steps = reg.nam_steps = saved
