"""Live drawing and NAM streaming latency of the app (issue 16), on the shipped checkpoints.

Serves the real app on 127.0.0.1 and measures, for the one-pass methods at 32 px (mnist→street, street→MNIST) and
64 px (edges→shoes):

* **client**: a stroke sent through gradio_client to the live endpoint (``/live``) until its gallery is back;
* **browser**: Chromium (Playwright) draws a stroke on the canvas; from the pointer-up to the gallery's new first
  image loaded, timed in the page (``performance.now``);
* **server**: the handler's own time, as the app prints it under the gallery;

and for NAM (``/map_nam``, K = 8, 100 steps): the time to the first streamed gallery and to the final result.
Prints one Markdown table (median and p90 per row) and the machine; no assertions.

    python -m benchmarks.bench_live                     # both paths, 8 strokes per task
    python -m benchmarks.bench_live --no-browser        # gradio_client only
    python -m benchmarks.bench_live --shots /tmp/shots  # also screenshots of the live gallery and NAM mid-stream
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LIVE_TASKS = [("mnist2street", "digit"), ("street2mnist", "digit"), ("edges2shoes", "shoe")]
NAM_TASKS = [("mnist2street", "digit"), ("edges2shoes", "shoe")]
CHROMIUM = "/usr/bin/chromium"
_MS = re.compile(r"(\d+(?:\.\d+)?) ms")

# strokes in canvas fractions (x, y): a digit 7 drawn in pieces, a shoe outline in pieces
STROKES = {
    "digit": [[(0.42, 0.25), (0.58, 0.25)], [(0.58, 0.25), (0.47, 0.75)], [(0.45, 0.5), (0.56, 0.5)],
              [(0.42, 0.25), (0.42, 0.32)], [(0.47, 0.75), (0.5, 0.72)], [(0.56, 0.5), (0.57, 0.45)],
              [(0.5, 0.35), (0.53, 0.36)], [(0.44, 0.6), (0.46, 0.62)]],
    "shoe": [[(0.36, 0.6), (0.37, 0.35)], [(0.37, 0.35), (0.47, 0.32)], [(0.47, 0.32), (0.52, 0.45)],
             [(0.52, 0.45), (0.63, 0.52)], [(0.63, 0.52), (0.64, 0.66)], [(0.64, 0.66), (0.36, 0.66)],
             [(0.36, 0.66), (0.36, 0.6)], [(0.45, 0.66), (0.45, 0.5)]],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_ms(text: str) -> float | None:
    m = _MS.search(text or "")
    return float(m.group(1)) if m else None


def _stats(xs: list[float]) -> tuple[float, float]:
    """(median, p90) of ``xs`` (nearest rank)."""
    s = sorted(xs)
    return statistics.median(s), s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def _layers(kind: str, n: int, folder: Path) -> list[str]:
    """The drawing pad's values after 1..n strokes: the stroke layer (black strokes, transparent elsewhere) as a
    PNG data URL, what the browser sends with each stroke (``folder`` is unused)."""
    import base64
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    values = []
    for stroke in STROKES[kind][:n]:
        d.line([(x * 400, y * 400) for x, y in stroke], fill=(0, 0, 0, 255), width=14)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        values.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return values


def bench_client(url: str, reg, strokes: int, folder: Path) -> list[dict]:
    from gradio_client import Client

    rows = []
    c = Client(url, verbose=False)
    for task, kind in LIVE_TASKS:
        combo = _combo(reg, task)
        if combo is None:
            continue
        values = _layers(kind, strokes, folder)
        c.predict(task, *combo, values[0], 8, 99, "style", True, api_name="/live")  # warm: model load
        wall, server = [], []
        for v in values:
            t0 = time.perf_counter()
            out = c.predict(task, *combo, v, 8, 0, "style", True, api_name="/live")
            wall.append((time.perf_counter() - t0) * 1000)
            ms = _server_ms(out[2])
            if ms is not None:
                server.append(ms)
        rows.append({"task": task, "combo": combo, "path": "gradio_client", "wall": wall, "server": server})
    return rows


def _combo(reg, task: str) -> tuple[str, str] | None:
    """The model of ``task`` the app offers after its start-up choice (its default method and best generator,
    carried over to ``task`` when that model exists), else any one-pass one."""
    from nam_core.serving import app_logic as L
    from nam_core.serving.live import is_live_method

    avail = [(m, g) for t, m, g in reg.available() if t == task and is_live_method(m)]
    _, method0, gen0 = reg.default_choice()
    offered = L.choice_for_task(reg, task, method0, gen0)
    return offered if offered in avail else (avail[0] if avail else None)


def bench_browser(url: str, reg, strokes: int, shots: Path | None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from nam_core.serving import app_logic as L

    rows = []
    observe = """() => {
      window.__ups = []; window.__gal = [];
      document.addEventListener('pointerup', () => window.__ups.push(performance.now()), true);
      const gal = document.querySelector('#gallery');
      new MutationObserver(() => {
        const img = gal.querySelector('img');
        if (!img || img.src === window.__src) return;
        window.__src = img.src;
        const done = () => window.__gal.push(performance.now());
        if (img.complete && img.naturalWidth > 0) done(); else img.addEventListener('load', done, {once: true});
      }).observe(gal, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for task, kind in LIVE_TASKS:
                combo = _combo(reg, task)
                if combo is None:
                    continue
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(url)
                page.wait_for_selector("#sketch canvas")
                page.locator("#task input").click()
                page.get_by_role("option", name=re.compile(re.escape(f"({task})"))).click()
                page.locator("#method label", has_text=L.METHOD_LABEL[combo[0]]).first.click()
                page.locator("#generator label", has_text=L.GENERATOR_LABEL[combo[1]]).first.click()
                page.wait_for_timeout(500)
                page.evaluate(observe)
                box = page.locator("#sketch canvas").first.bounding_box()
                x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
                wall, server = [], []
                for stroke in STROKES[kind][:strokes]:  # the models are warm (bench_client ran first)
                    n_gal = page.evaluate("window.__gal.length")
                    page.mouse.move(x0 + w * stroke[0][0], y0 + h * stroke[0][1])
                    page.mouse.down()
                    for x, y in stroke[1:]:
                        page.mouse.move(x0 + w * x, y0 + h * y, steps=4)
                    page.mouse.up()
                    try:
                        page.wait_for_function(f"window.__gal.length > {n_gal}", timeout=60_000, polling=20)
                    except Exception:  # noqa: BLE001 - a stroke that produced no new gallery is not timed
                        continue
                    t_up, t_gal = page.evaluate("[window.__ups[window.__ups.length - 1], "
                                                "window.__gal[window.__gal.length - 1]]")
                    wall.append(t_gal - t_up)
                    ms = _server_ms(page.locator("#latency").inner_text())
                    if ms is not None:
                        server.append(ms)
                    page.wait_for_timeout(300)
                if shots:
                    page.screenshot(path=str(shots / f"live_{task}.png"), full_page=True)
                rows.append({"task": task, "combo": combo, "path": "Chromium", "wall": wall, "server": server})
                page.close()
            if shots:
                try:
                    _nam_shot(browser, url, shots)
                except Exception as exc:  # noqa: BLE001 - the screenshots are extras: the table still prints
                    print(f"NAM screenshots not taken: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            browser.close()
    return rows


def _nam_shot(browser, url: str, shots: Path) -> None:
    """A screenshot of NAM mid-stream (step bar, loss curve, gallery) and one after Stop."""
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(url)
    page.wait_for_selector("#sketch canvas")
    page.locator("#method label", has_text="NAM").first.click()
    page.locator("#map_nam").wait_for(state="visible")
    box = page.locator("#sketch canvas").first.bounding_box()
    for stroke in STROKES["digit"][:3]:
        page.mouse.move(box["x"] + box["width"] * stroke[0][0], box["y"] + box["height"] * stroke[0][1])
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * stroke[1][0], box["y"] + box["height"] * stroke[1][1], steps=4)
        page.mouse.up()
    page.locator("#map_nam").click()
    page.wait_for_function("document.querySelector('#nam_bar .nam-bar')?.dataset.step >= 20", timeout=120_000)
    page.screenshot(path=str(shots / "nam_stream.png"), full_page=True)
    page.locator("#stop_nam").click()
    page.wait_for_function("document.querySelector('#nam_bar .nam-bar')?.dataset.state === 'stopped'",
                           timeout=60_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "nam_stopped.png"), full_page=True)
    page.close()


def bench_nam(url: str, reg, folder: Path, repeats: int) -> list[dict]:
    from gradio_client import Client

    from nam_core.methods.registry import is_iterative

    rows = []
    c = Client(url, verbose=False)
    for task, kind in NAM_TASKS:
        nams = [(m, g) for t, m, g in reg.available() if t == task and is_iterative(m)]
        if not nams:
            continue
        method, gen = nams[0]  # in menu order: on the first generator when there is a NAM model on it
        value = _layers(kind, 4, folder)[-1]
        first, total = [], []
        for r in range(repeats + 1):  # the first run loads the model
            t0 = time.perf_counter()
            job = c.submit(task, method, gen, value, None, 8, 1000 + r, "input", api_name="/map_nam")
            t_first = None
            while not job.done():
                if t_first is None and job.outputs():
                    t_first = time.perf_counter()
                time.sleep(0.005)
            job.result()
            t_end = time.perf_counter()
            if r:
                total.append((t_end - t0) * 1000)
                if t_first is not None:
                    first.append((t_first - t0) * 1000)
        rows.append({"task": task, "combo": (method, gen), "path": "NAM first streamed gallery", "wall": first,
                     "server": []})
        rows.append({"task": task, "combo": (method, gen), "path": "NAM final result", "wall": total, "server": []})
    return rows


def table(rows: list[dict]) -> str:
    from nam_core.data import DOMAINS
    from nam_core.methods.mappings import TASKS

    out = ["| task | px | model | path | n | median ms | p90 ms | server median ms | server p90 ms |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        px = DOMAINS[TASKS[r["task"]].target].size
        med, p90 = _stats(r["wall"]) if r["wall"] else (float("nan"), float("nan"))
        smed, sp90 = _stats(r["server"]) if r["server"] else (None, None)
        s = f"{smed:.0f} | {sp90:.0f}" if smed is not None else "– | –"
        out.append(f"| {r['task']} | {px} | {r['combo'][0]} ({r['combo'][1]}) | {r['path']} | {len(r['wall'])} | "
                   f"{med:.0f} | {p90:.0f} | {s} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: the shipped ones)")
    p.add_argument("--device", default=None)
    p.add_argument("--strokes", type=int, default=8, help="strokes per task (at most 8)")
    p.add_argument("--nam-repeats", type=int, default=2)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--no-nam", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--shots", type=Path, default=None, help="save screenshots of the live gallery and NAM here")
    a = p.parse_args(argv)

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    import app

    demo = app.build_demo(a.checkpoints, device=a.device)
    reg = demo.registry
    port = _free_port()
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    if a.shots:
        a.shots.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_client(url, reg, min(a.strokes, 8), Path(tmp))
            if not a.no_browser and Path(CHROMIUM).exists():
                rows += bench_browser(url, reg, min(a.strokes, 8), a.shots)
            if not a.no_nam:
                rows += bench_nam(url, reg, Path(tmp), a.nam_repeats)
    finally:
        demo.close()
    dev = next(iter(reg.loaded().values())).device if reg.loaded() else "cpu"
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), device {dev}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
