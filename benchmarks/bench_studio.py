"""The Studio tab under load: the training worker's peak memory, and another user's Map latency while it trains.

    python -m benchmarks.bench_studio [--preset fast] [--minutes 8] [--maps 15] [--a mnist --b street]

Serves the app over the shipped checkpoints (Hub off), measures ``--maps`` one-pass Maps (VAE-NAM on mnist→street,
K=8) through gradio_client with no job, then submits a Studio job (built-in domains ``--a`` → ``--b``, through the
tab's API) and, once its worker has trained for ``--warmup`` seconds, the same Maps again. The worker's resident
memory is sampled from /proc every second (and its own peak, ``ru_maxrss``, is read from its status file). Prints
one JSON object: median / p90 latencies and their ratio, peak RSS, the job's stage at the end. The job is stopped
after its time budget (``--minutes``); the worker runs with NAM_STUDIO_THREADS (default 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path


def _maps(c, png: str, n: int) -> list[float]:
    from gradio_client import handle_file

    out = []
    for i in range(n):
        t0 = time.perf_counter()
        c.predict("mnist2street", "vae-nam", "glann", None, handle_file(png), 8, i, "input", api_name="/map")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _stats(ms: list[float]) -> dict[str, float]:
    q = sorted(ms)
    return {"median_ms": round(statistics.median(q), 1), "p90_ms": round(q[int(0.9 * (len(q) - 1))], 1),
            "n": len(q)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", default="mnist")
    p.add_argument("--b", default="street")
    p.add_argument("--preset", default="fast")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--maps", type=int, default=15)
    p.add_argument("--warmup", type=float, default=45.0, help="seconds of training before the loaded Maps")
    a = p.parse_args(argv)
    os.environ.setdefault("NAM_STUDIO_THREADS", "1")
    os.environ["NAM_STUDIO_DIR"] = tempfile.mkdtemp(prefix="bench_studio_")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import socket

    import numpy as np
    from gradio_client import Client
    from PIL import Image

    import app
    from nam_core.serving.jobs import rss_mb

    png = str(Path(os.environ["NAM_STUDIO_DIR"]) / "digit.png")
    x = np.zeros((32, 32), np.uint8)
    x[6:26, 14:18] = 255
    Image.fromarray(x).save(png)
    demo = app.build_demo(None, device="cpu")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    mgr = demo.studio_jobs
    try:
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _maps(c, png, 2)  # load the model
        idle = _maps(c, png, a.maps)
        user = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = user.predict(None, None, a.a, None, a.b, "", "32", a.preset, ["vae-nam"], a.minutes,
                           api_name="/studio_train")
        owner, job_id = out[0], out[1]["value"]
        peak = {"rss": 0.0}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                proc = mgr.procs.get(job_id)
                r = rss_mb(proc.pid) if proc is not None else None
                if r:
                    peak["rss"] = max(peak["rss"], r)
                time.sleep(1.0)

        threading.Thread(target=sample, daemon=True).start()
        t0 = time.time()
        while time.time() - t0 < a.warmup and mgr.jobs[job_id].state in ("queued", "running"):
            time.sleep(1)
        stage_at_maps = mgr.status(owner, job_id).get("stage")
        loaded = _maps(c, png, a.maps)
        running_during_maps = mgr.jobs[job_id].state == "running"
        while mgr.jobs[job_id].state in ("queued", "running", "stopping"):
            time.sleep(2)
        done.set()
        st = mgr.status(owner, job_id)
        res = {"idle": _stats(idle), "while_training": _stats(loaded),
               "median_ratio": round(statistics.median(loaded) / statistics.median(idle), 2),
               "job_running_during_maps": running_during_maps, "stage_during_maps": stage_at_maps,
               "worker_peak_rss_mb_sampled": round(peak["rss"], 1),
               "worker_peak_rss_mb_self": st.get("peak_rss_mb"), "job_state": st.get("state"),
               "job_message": st.get("message"), "job_stage": st.get("stage"), "job_epoch": st.get("epoch"),
               "job_elapsed_s": st.get("elapsed_s"), "preset": a.preset, "budget_min": a.minutes,
               "worker_threads": os.environ["NAM_STUDIO_THREADS"], "cpus": os.cpu_count(),
               "load_avg": os.getloadavg()}
        print(json.dumps(res, indent=1))
    finally:
        mgr.close()
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
