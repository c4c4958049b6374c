"""Server-side latency of the app: VAE-NAM gallery of 8 + one slider update (32 px task), NAM with 8 solutions, and
the first page load after start. Prints the figures (median of ``--repeats``); no assertions.

    python -m benchmarks.bench_app                      # shipped checkpoints (./checkpoints or $NAM_CHECKPOINTS_DIR)
    python -m benchmarks.bench_app --tiny               # tiny test checkpoints (what the tests train), for a smoke run
    python -m benchmarks.bench_app --quick-real         # full-size mappings (nf=64, 1 epoch on 64 images) trained in a
                                                        # temp folder on the shipped gen_<target>_glann: true latency
                                                        # before the shipped mappings exist
    python -m benchmarks.bench_app --device cuda --task street2mnist
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    """(median, min) of the server time (ms) that ``fn`` reports."""
    times = [fn() for _ in range(repeats)]
    return statistics.median(times), min(times)


def _bench_methods() -> tuple[str, ...]:
    """The mappings measured, in this order: the app's default method, the other one-pass ones, then NAM's
    per-input optimisation (the slowest)."""
    from nam_core.methods.mappings import METHODS
    from nam_core.methods.registry import default_first, is_iterative

    return default_first(sorted(METHODS, key=is_iterative))


def _quick_real(task: str) -> Path:
    """Full-size (nf=64) mappings for ``task``, 1 epoch on 64 images, on the shipped GLANN generator."""
    import shutil

    from nam_core.methods.mappings import TASKS, train_mapping
    from nam_core.paths import CHECKPOINTS_DIR

    gen = CHECKPOINTS_DIR / f"gen_{TASKS[task].target}_glann"
    if not (gen / "config.json").exists():
        raise SystemExit(f"--quick-real needs the shipped generator {gen}")
    root = Path(tempfile.mkdtemp(prefix="nam_bench_ckpt_"))
    shutil.copytree(gen, root / gen.name)
    for method in _bench_methods():
        final = train_mapping(task, method, root / gen.name, root / "_runs" / method, epochs=1, limit=64,
                              n_targets=64, progress=False)
        shutil.move(str(final), root / f"{task}_{method}_glann")
    shutil.rmtree(root / "_runs", ignore_errors=True)
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=None)
    p.add_argument("--tiny", action="store_true", help="train/use the tiny test checkpoints instead")
    p.add_argument("--quick-real", action="store_true",
                   help="full-size mappings trained for 1 epoch on the shipped generator, in a temp folder")
    p.add_argument("--task", default="street2mnist", help="a 32 px task (default street2mnist)")
    p.add_argument("--device", default=None)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--nam-steps", type=int, default=None, help="NAM optimisation steps (default: the Translator's)")
    a = p.parse_args(argv)

    import numpy as np
    import torch

    from nam_core.methods.registry import default_method, is_iterative
    from nam_core.serving import app_logic as L

    root = a.checkpoints
    if a.tiny:
        from tests.test_serving_app_logic import build_tiny_checkpoints

        cache = REPO / ".pytest_cache" / "d" / "nam_app_checkpoints"
        cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("NAM_CACHE_DIR", tempfile.mkdtemp(prefix="nam_bench_cache_"))
        root = str(build_tiny_checkpoints(cache))
    if a.quick_real:
        root = str(_quick_real(a.task))
    reg = L.ModelRegistry(root, device=a.device, nam_steps=a.nam_steps)
    print(f"checkpoints: {reg.root}   device: {a.device or 'auto'}   torch threads: {torch.get_num_threads()}")
    example = L.EXAMPLES_DIR / f"{a.task}_1.png"
    image = L.upload_to_input(str(example), a.task)
    rows = []
    gen, k = L.GENERATOR_KINDS[0], 8  # the tiny and the --quick-real mappings are all on the first generator (GLANN)

    for method in _bench_methods():
        st = reg.status(a.task, method, gen)
        if not st.available:
            print(f"skip {method}: {st.message}")
            continue
        t0 = time.perf_counter()
        reg.get(a.task, method, gen)
        load_ms = (time.perf_counter() - t0) * 1000
        L.run_map(reg, a.task, method, gen, image, k, 0)  # warm-up
        reps = max(1, a.repeats // 3) if is_iterative(method) else a.repeats  # NAM: seconds per call
        seeds = iter(range(1, 10_000))  # a new seed each time: no cached solutions (NAM re-optimises)
        med, best = _median_ms(lambda m=method, s=seeds: L.run_map(reg, a.task, m, gen, image, k, next(s)).ms, reps)
        rows.append((f"{method} Map, gallery of {k}", med, best, f"first load {load_ms:.0f} ms"))
        coefs = [1.5, -1.0, 0.0, 0.0]
        med_s, best_s = _median_ms(
            lambda m=method, c=coefs: L.run_explore(reg, a.task, m, gen, image, k, 0, c).ms, a.repeats)
        rows.append((f"{method} slider update ({k} tiles)", med_s, best_s, "one batched forward pass"))

    # first page load after start
    import app

    t0 = time.perf_counter()
    demo = app.build_demo(reg.root, device=a.device)
    port = _free_port()
    app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    t_up = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
        r.read()
    t_page = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=60) as r:
        r.read()
    t_cfg = (time.perf_counter() - t2) * 1000
    rows.append(("start (build + launch)", t_up, t_up, ""))
    rows.append(("first page load (GET /)", t_page, t_page, f"+ GET /config {t_cfg:.0f} ms"))
    try:
        from gradio_client import Client, handle_file

        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        method = default_method()
        if reg.status(a.task, method, gen).available:
            times = []
            for _ in range(max(3, a.repeats // 2)):
                t = time.perf_counter()
                c.predict(a.task, method, gen, None, handle_file(str(example)), 8, 0, "input", api_name="/map")
                times.append((time.perf_counter() - t) * 1000)
            rows.append((f"{method} Map via HTTP (client round trip)", statistics.median(times), min(times),
                         "upload + queue + 8 PNGs back"))
    finally:
        demo.close()

    print(f"\n{'measurement':44s} {'median ms':>10s} {'min ms':>8s}  note")
    for name, med, best, note in rows:
        print(f"{name:44s} {med:10.1f} {best:8.1f}  {note}")
    print(f"\n(image {image.shape}, output {L.DOMAINS[L.TASKS[a.task].target].size} px, "
          f"numpy {np.__version__}, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
