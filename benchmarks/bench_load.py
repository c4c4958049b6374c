"""Load benchmark of the app: N concurrent gradio_client users against a server this script starts on 127.0.0.1 (a
subprocess, stopped at the end), each mapping a distinct input with a distinct seed (VAE-NAM, one-pass queue), plus
one NAM request (its own queue). Every completed result is then checked, tile by tile, against a sequential run of
the same request: nothing lost, nothing mixed between users. Refusals must carry the app's "busy" message.

Prints completed / refused / failed, p50 / p95 latency of the one-pass requests, the NAM request's latency, and the
server's RSS (current and peak, from /proc). Bounded: ``--clients`` ≤ 128, ``--deadline`` seconds for the whole
concurrent phase (requests not done by then count as failed), and the server is stopped whatever happens.

    python -m benchmarks.bench_load --clients 16             # shipped checkpoints (./checkpoints), street2mnist
    python -m benchmarks.bench_load --clients 48 --nam-steps 100
    python -m benchmarks.bench_load --tiny --clients 16      # the tests' tiny checkpoints (trained if missing)
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# a browser waits for the server's answer; httpx's default 5 s read timeout would count a slow answer as a failure
HTTPX = {"timeout": 120.0}
NAM_REQUEST = "nam"  # the name of the one NAM request among the users' (a key of the results), not a method name
SERVER = r"""
import sys
import torch
torch.set_num_threads(int(sys.argv[3]))
import app
demo = app.build_demo(sys.argv[1], device="cpu")
if sys.argv[4] != "-":
    demo.registry.nam_steps = int(sys.argv[4])
app.launch(demo, host="127.0.0.1", port=int(sys.argv[2]), quiet=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB (HWM: the peak resident set since it started)."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                vals[line.split(":")[0]] = int(line.split()[1]) / 1024
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def make_inputs(n: int, folder: Path, seed: int = 0) -> list[Path]:
    """``n`` distinct street-number-like photos (a random dark digit-ish stroke on a light plate), 96 px PNGs."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        bg = tuple(int(v) for v in rng.integers(150, 240, 3))
        im = Image.new("RGB", (96, 96), bg)
        pts = [tuple(int(v) for v in rng.integers(15, 81, 2)) for _ in range(4)]
        ImageDraw.Draw(im).line(pts, fill=tuple(int(v) for v in rng.integers(0, 80, 3)), width=int(rng.integers(6, 14)))
        p = folder / f"input_{i:03d}.png"
        im.save(p)
        paths.append(p)
    return paths


def _tiles(gallery: list[dict]) -> list[bytes]:
    """The gallery's pixels, fetched like a browser shows them (only the gallery: gradio_client's download_files
    would also fetch every other output file, one by one, and the benchmark would mostly measure that)."""
    import io

    import numpy as np
    from PIL import Image

    out = []
    for item in gallery:
        img = item["image"]
        src = img.get("url") if isinstance(img, dict) else img
        if isinstance(src, str) and src.startswith("http"):
            with urllib.request.urlopen(src, timeout=60) as r:
                src = io.BytesIO(r.read())
        out.append(np.asarray(Image.open(src)).tobytes())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=16, help="concurrent one-pass users (≤ 128)")
    p.add_argument("--checkpoints", default=None, help="default: ./checkpoints (or --tiny)")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny checkpoints")
    p.add_argument("--task", default="street2mnist")
    p.add_argument("--method", default="vae-nam", help="the one-pass method the users map with")
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--no-nam", action="store_true", help="leave out the NAM request")
    p.add_argument("--nam-steps", type=int, default=None, help="NAM optimisation steps (default: the Translator's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    p.add_argument("--deadline", type=float, default=300.0, help="seconds for the concurrent phase")
    a = p.parse_args(argv)
    if not 1 <= a.clients <= 128:
        raise SystemExit("--clients must be 1..128")

    from gradio_client import Client, handle_file

    from nam_core.methods.registry import is_iterative

    root = a.checkpoints or str(REPO / "checkpoints")
    if a.tiny:
        from tests.test_serving_app_logic import build_tiny_checkpoints

        os.environ.setdefault("NAM_CACHE_DIR", tempfile.mkdtemp(prefix="nam_bench_cache_"))
        cache = REPO / ".pytest_cache" / "d" / "nam_app_checkpoints"
        cache.mkdir(parents=True, exist_ok=True)
        root = str(build_tiny_checkpoints(cache))
    work = Path(tempfile.mkdtemp(prefix="nam_bench_load_"))
    inputs = make_inputs(a.clients + 1, work)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, root, str(port), str(a.threads),
                               str(a.nam_steps) if a.nam_steps else "-"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"rss": 0.0, "hwm": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set() and server.poll() is None:
            try:
                rss, hwm = _proc_mb(server.pid)
                peak["rss"], peak["hwm"] = max(peak["rss"], rss), max(peak["hwm"], hwm)
            except OSError:
                pass
            stop.wait(0.2)

    try:
        t0 = time.time()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {server.stderr.read()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if time.time() - t0 > 120:
                    raise SystemExit("the server did not start within 120 s") from None
                time.sleep(0.5)
        rss0, _ = _proc_mb(server.pid)
        threading.Thread(target=sample, daemon=True).start()
        warm = Client(url, verbose=False, download_files=False, httpx_kwargs=HTTPX)
        warm.predict(a.task, a.method, "glann", None, handle_file(str(inputs[0])), a.k, 1, "input", api_name="/map")
        if not a.no_nam:
            warm.predict(a.task, "nam", "glann", None, handle_file(str(inputs[0])), 2, 1, "input", api_name="/map_nam")
        rss_warm, _ = _proc_mb(server.pid)
        print(f"server up at {url} (pid {server.pid}); RSS {rss0:.0f} MiB at start, {rss_warm:.0f} MiB warm; "
              f"{a.clients} {a.method} users" + ("" if a.no_nam else " + 1 NAM request"), flush=True)

        # (name, method, api, input, seed); the users' clients are made before the clock starts
        reqs = [(f"user{i:02d}", a.method, "/map", inputs[i], 1000 + 7 * i) for i in range(a.clients)]
        if not a.no_nam:
            reqs.append((NAM_REQUEST, "nam", "/map_nam", inputs[a.clients], 99))
        clients = [Client(url, verbose=False, download_files=False, httpx_kwargs=HTTPX) for _ in reqs]
        barrier = threading.Barrier(len(reqs))
        results: dict[str, tuple[str, object, float]] = {}
        server_ms: dict[str, float] = {}

        def run(i: int) -> None:
            name, method, api, img, seed = reqs[i]
            barrier.wait()
            t = time.perf_counter()
            try:
                job = clients[i].submit(a.task, method, "glann", None, handle_file(str(img)), a.k, seed, "input",
                                        api_name=api)
                out = job.result(timeout=max(1.0, a.deadline - (time.perf_counter() - t)))
                m = re.search(r"\*\*([0-9.]+) ms\*\*", str(out[2]))
                results[name] = ("ok", _tiles(out[0]), time.perf_counter() - t)
                server_ms[name] = float(m.group(1)) if m else float("nan")
            except Exception as exc:  # noqa: BLE001 - every outcome is counted
                results[name] = ("refused" if "busy" in str(exc) else "failed", f"{type(exc).__name__}: {exc}",
                                 time.perf_counter() - t)

        t_start = time.perf_counter()
        with cf.ThreadPoolExecutor(len(reqs)) as ex:
            list(ex.map(run, range(len(reqs))))
        wall = time.perf_counter() - t_start
        rss_after, hwm = _proc_mb(server.pid)

        # sequential reference run of every completed request (one client, one at a time)
        ref = Client(url, verbose=False, download_files=False, httpx_kwargs=HTTPX)
        mismatched = []
        alone: dict[str, float] = {}
        for name, method, api, img, seed in reqs:
            if results[name][0] != "ok":
                continue
            t = time.perf_counter()
            out = ref.predict(a.task, method, "glann", None, handle_file(str(img)), a.k, seed, "input", api_name=api)
            alone[name] = time.perf_counter() - t
            if _tiles(out[0]) != results[name][1]:
                mismatched.append(name)
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    user_names = {r[0] for r in reqs if not is_iterative(r[1])}  # the one-pass users, not the NAM request
    users = [results[r[0]] for r in reqs if r[0] in user_names]
    ok = [r for r in users if r[0] == "ok"]
    refused = [r for r in users if r[0] == "refused"]
    failed = [r for r in users if r[0] == "failed"]
    lat = sorted(r[2] for r in ok)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))] if lat else float("nan")

    print(f"\n{a.method} users: {len(ok)} completed, {len(refused)} refused (busy), {len(failed)} failed, "
          f"{len(mismatched)} results different from the sequential run  (wall {wall:.1f} s)")
    if lat:
        print(f"  latency of completed requests: p50 {pct(0.5):.2f} s, p95 {pct(0.95):.2f} s, max {lat[-1]:.2f} s "
              f"(refusals answered in ≤ {max((r[2] for r in refused), default=0):.2f} s)")
        solo = sorted(v for k, v in alone.items() if k in user_names)
        print(f"  the same requests one at a time: median {solo[len(solo) // 2]:.2f} s")
        srv = sorted(v for k, v in server_ms.items() if k in user_names)
        if srv:
            print(f"  server time per request (inside the handler): median {srv[len(srv) // 2]:.0f} ms, "
                  f"max {srv[-1]:.0f} ms; first completion after {lat[0]:.2f} s")
    if refused:
        print(f"  refusal message: {refused[0][1][:200]}")
    for r in failed[:3]:
        print(f"  FAILED: {str(r[1])[:300]}")
    if not a.no_nam:
        st, val, sec = results[NAM_REQUEST]
        srv_ms, alone_s = server_ms.get(NAM_REQUEST, float("nan")), alone.get(NAM_REQUEST, float("nan"))
        print(f"NAM request: {st} in {sec:.2f} s" + (f" (server time {srv_ms:.0f} ms; alone {alone_s:.2f} s)"
                                                      if st == "ok" else f" ({str(val)[:200]})"))
    print(f"server RSS: {rss_warm:.0f} MiB warm, {rss_after:.0f} MiB after, peak {max(hwm, peak['hwm']):.0f} MiB")
    if mismatched:
        print(f"MISMATCHED: {', '.join(mismatched)}")
    bad = bool(mismatched or failed or (not a.no_nam and results[NAM_REQUEST][0] != "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
