"""Rebuild a set of models from one plan: training jobs with dependencies run N at a time under one deadline,
candidates are compared on training inputs, and the winners are packed for shipping.

A plan is a list of :class:`Job` s (``PLANS``), each the preset (the shipped recipe, ``--preset NAME``) of one
model, sometimes with a flag overriding it. Each job runs one of the training CLIs in a subprocess (its log in
``OUT/logs``); a job whose CLI finished copies its ``final`` folder to ``--ship-dir/<ship>``, where later jobs find
it (``{ship}`` in a job's arguments is replaced by ``--ship-dir``). Every job gets ``--max-minutes`` from what is
left of ``--deadline-min``, so the whole plan ends in time; a job stopped early leaves its resumable ``last`` run
folder (rerun the plan, or the job's command, to finish it). Candidates that share a ``group`` (e.g. two KL
weights) are scored on the first ``--select-n`` *training* inputs of the task (never the test split, which
``training/evaluate.py`` reports on) and the best mean-over-solutions accuracy wins the group's name.

Example (what built the GPU-trained checkpoints; ``--smoke`` runs the same plan in a few minutes on a CPU)::

    python training/zoo.py --plan digits-gpu --out runs/zoo --ship-dir runs/zoo/ship --jobs 6 --deadline-min 8 \\
        --device cuda --pack runs/zoo/pack
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nam_core.checkpoints import update_training_info
from nam_core.methods.registry import default_first, get_method, get_preset, method_names, methods

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Job:
    name: str
    script: str  # training/<script>.py
    args: list[str]
    after: tuple[str, ...] = ()  # jobs whose shipped output this one needs
    ship: str | None = None  # copy OUT/.../final to SHIP_DIR/<ship>
    group: str | None = None  # candidates of one group compete; the winner is renamed to the group
    cap_min: float | None = None  # at most this many minutes (besides the plan deadline)
    status: str = "waiting"
    seconds: float = 0.0
    result: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _preset(name: str, ship: str | None = None, after: tuple[str, ...] = (), group: str | None = None,
            extra: tuple[str, ...] = (), smoke: bool = False, cap_min: float | None = None) -> Job:
    """The job that trains preset ``name`` (a shipped model's recipe, :mod:`nam_core.methods.registry`), with
    ``extra`` flags overriding it (e.g. a generator built earlier in the plan, or a candidate's KL weight)."""
    p = get_preset(name)
    ship = ship or name
    return Job(ship, p.script, _smoke(["--preset", name, *extra], smoke), after=after, ship=ship, group=group,
               cap_min=cap_min)


def _smoke(args: list[str], smoke: bool) -> list[str]:
    """The same job, tiny: 1 epoch (IMLE too) on at most 256 images (NAM: 256 targets)."""
    if not smoke:
        return args
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("--epochs", "--imle-epochs", "--limit", "--n-targets", "--f-epochs"):
            skip = True
            continue
        out.append(a)
    method = args[args.index("--method") + 1] if "--method" in args else None
    if method is None and "--preset" in args:
        method = get_preset(args[args.index("--preset") + 1]).args.get("method")
    has_imle = method is not None and "imle_epochs" in get_method(method).defaults  # GLANN's second stage
    return out + ["--epochs", "1", "--limit", "256"] + (["--imle-epochs", "1"] if has_imle else [])


def plan_digits_gpu(smoke: bool = False) -> list[Job]:
    """The shipped recipes (presets) of the street generators, the handbag GLANN, the mappings on GLANN and DCGAN
    Gs for both digit directions and both edge tasks (VAE-NAM's KL weight 1e-3 against 1e-2 as candidates on the
    digits), and the three GAN baselines on both digit directions.

    Listed in priority order: a free slot goes to the first job whose dependencies are done."""
    S = smoke
    jobs = [_preset("gen_street_glann", smoke=S, cap_min=3.5), _preset("gen_street_dcgan", smoke=S, cap_min=3.5),
            _preset("gen_handbags_glann", smoke=S, cap_min=3.0)]
    # mnist → street on the new street generators (first: they wait for the generators)
    for gname in method_names("generator"):
        gen, dep = ("--generator", "{ship}/gen_street_" + gname), (f"gen_street_{gname}",)
        for beta in ("1e-3", "1e-2"):
            jobs.append(_preset(f"mnist2street_vae-nam_{gname}", f"mnist2street_vae-nam_{gname}@b{beta}", dep,
                                f"mnist2street_vae-nam_{gname}", (*gen, "--beta", beta), S))
        jobs.append(_preset(f"mnist2street_nam_{gname}", after=dep, extra=gen, smoke=S))
        jobs.append(_preset(f"mnist2street_ae-nam_{gname}", after=dep, extra=gen, smoke=S))
    # edges → handbags / shoes (64 px): the new handbag G, the shipped shoe G
    for task, gen, dep in (("edges2handbags", ("--generator", "{ship}/gen_handbags_glann"), ("gen_handbags_glann",)),
                           ("edges2shoes", (), ())):
        for method in default_first(m.name for m in methods() if m.script == "train_mapping"):
            jobs.append(_preset(f"{task}_{method}_glann", after=dep, extra=gen, smoke=S))
    # street → mnist on the shipped MNIST generators
    for gname in method_names("generator"):
        for beta in ("1e-3", "1e-2"):
            jobs.append(_preset(f"street2mnist_vae-nam_{gname}", f"street2mnist_vae-nam_{gname}@b{beta}",
                                group=f"street2mnist_vae-nam_{gname}", extra=("--beta", beta), smoke=S))
        jobs.append(_preset(f"street2mnist_nam_{gname}", smoke=S))
        jobs.append(_preset(f"street2mnist_ae-nam_{gname}", smoke=S))
    jobs += plan_baselines(smoke)
    return jobs


BASELINE_METHODS = method_names(feed_forward=True)


def plan_baselines(smoke: bool = False) -> list[Job]:
    """The shipped recipes of DistanceGAN, DTN and CycleGAN on both digit directions (5,000 random images of each
    domain, 20 epochs; DTN's f: the project's classifier of the source domain)."""
    return [_preset(f"{task}_{method}", smoke=smoke) for method in BASELINE_METHODS
            for task in ("street2mnist", "mnist2street")]


def plan_baselines_cpu(smoke: bool = False) -> list[Job]:
    """The GAN baselines sized for the 2-core CPU (each under 30 minutes with one thread): 2,000 random images per
    domain; CycleGAN 5 epochs, DTN 12, DistanceGAN 20."""
    epochs = {"distancegan": "20", "dtn": "12", "cyclegan": "5"}
    jobs = []
    for job in plan_baselines(smoke):
        method = get_preset(job.args[job.args.index("--preset") + 1]).args["method"]
        args = list(job.args) + ([] if smoke else ["--epochs", epochs[method], "--limit", "2000"])
        jobs.append(Job(job.name, job.script, args, ship=job.ship, cap_min=30.0))
    return jobs


PLANS = {"digits-gpu": plan_digits_gpu, "baselines": plan_baselines, "baselines-cpu": plan_baselines_cpu}


# ---------------------------------------------------------------------------------------------------- running
def _command(job: Job, out: Path, ship_dir: Path, minutes: float, device: str | None, threads: int) -> list[str]:
    args = [a.replace("{ship}", str(ship_dir)) for a in job.args]
    cmd = [sys.executable, str(REPO / "training" / f"{job.script}.py"), *args, "--out", str(out / "runs" / job.name),
           "--max-minutes", f"{minutes:.2f}", "--finish-early", "--threads", str(threads)]
    if device:
        cmd += ["--device", device]
    return cmd


def run_plan(jobs: list[Job], out: Path, ship_dir: Path, concurrency: int, deadline_min: float,
             device: str | None = None, threads: int = 2, reserve_min: float = 0.5) -> list[Job]:
    """Run ``jobs`` (dependencies first, ``concurrency`` at a time) so that all end by ``deadline_min``."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    ship_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    by_name = {j.name: j for j in jobs}
    running: dict[str, tuple[subprocess.Popen, float, Any]] = {}

    def left() -> float:
        return deadline_min - (time.time() - start) / 60

    while True:
        for name, (proc, t0, fh) in list(running.items()):
            if proc.poll() is None:
                continue
            fh.close()
            job = by_name[name]
            job.seconds = round(time.time() - t0, 1)
            lines = (out / "logs" / f"{name}.log").read_text(errors="replace").strip().splitlines()
            last = Path(lines[-1].strip()) if lines else Path("")
            if proc.returncode == 0 and last.name == "final" and last.is_dir():
                if job.ship:
                    dest = ship_dir / job.ship
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(last, dest)
                job.status, job.result = "done", str(last)
            elif proc.returncode == 0:
                job.status, job.result = "stopped", str(last)  # max-minutes: resumable
            else:
                job.status, job.result = "failed", f"exit {proc.returncode}"
            del running[name]
            print(f"[{(time.time() - start) / 60:5.1f} min] {name}: {job.status} in {job.seconds:.0f}s", flush=True)
        for job in jobs:
            if job.status != "waiting" or len(running) >= concurrency:
                continue
            deps = [by_name[d] for d in job.after if d in by_name]
            if any(d.status in ("failed", "stopped", "skipped") for d in deps):
                job.status, job.result = "skipped", "a dependency did not finish"
                print(f"{job.name}: skipped ({job.result})", flush=True)
                continue
            if any(d.status != "done" for d in deps):
                continue
            minutes = min(job.cap_min or 1e9, left() - reserve_min)
            if minutes < 0.2:
                job.status, job.result = "skipped", "no time left"
                continue
            fh = open(out / "logs" / f"{job.name}.log", "w")  # noqa: SIM115 - closed when the job ends
            cmd = _command(job, out, ship_dir, minutes, device, threads)
            fh.write(" ".join(cmd) + "\n")
            fh.flush()
            running[job.name] = (subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO), time.time(),
                                 fh)
            job.status = "running"
            print(f"[{(time.time() - start) / 60:5.1f} min] start {job.name} (≤ {minutes:.1f} min)", flush=True)
        if not running and all(j.status != "waiting" for j in jobs):
            break
        if not running and not any(j.status == "waiting" and all(by_name[d].status == "done" for d in j.after
                                                                   if d in by_name) for j in jobs):
            for j in jobs:  # nothing runnable is left
                if j.status == "waiting":
                    j.status, j.result = "skipped", "a dependency did not finish"
            break
        time.sleep(1.0)
    return jobs


def select_candidates(jobs: list[Job], ship_dir: Path, n: int, device: str | None, seed: int = 0) -> list[dict]:
    """Score every group's finished candidates on the first ``n`` training inputs of the task (mean accuracy over
    8 solutions, classifier of the output domain); the best is copied to the group's name."""
    import numpy as np

    from nam_core.data import load_domain
    from nam_core.eval.classifier import load_classifier
    from nam_core.eval.metrics import evaluate_translator
    from nam_core.methods.mappings import get_task
    from nam_core.serving import load_translator

    groups: dict[str, list[Job]] = {}
    for j in jobs:
        if j.group and j.status == "done":
            groups.setdefault(j.group, []).append(j)
    report = []
    for group, cands in groups.items():
        task = get_task(cands[0].args[cands[0].args.index("--task") + 1])
        ds = load_domain(task.source, "train")
        idx = np.random.default_rng(seed).permutation(len(ds))[:n]
        clf = load_classifier(f"clf_{task.target}", device=device)
        scored = []
        for c in cands:
            tr = load_translator(ship_dir / c.ship, device=device)
            res = evaluate_translator(tr, ds.images[idx], ds.labels[idx], clf, num_solutions=8, seed=seed,
                                      latency_images=1, latency_repeats=1)
            scored.append((res["mean"], c.ship))
            c.extra["select_mean"] = res["mean"]
        best = max(scored)[1]
        dest = ship_dir / group
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(ship_dir / best, dest)
        update_training_info(dest, {"selection": {
            "candidates": {name: round(acc, 4) for acc, name in scored}, "chosen": best,
            "scored_on": f"{n} training inputs of {task.source} (seed {seed}), mean over 8 solutions"}})
        report.append({"group": group, "chosen": best, "candidates": dict((nm, a) for a, nm in scored)})
        print(f"select {group}: {best} ({', '.join(f'{nm} {100 * a:.1f}%' for a, nm in scored)})", flush=True)
    return report


def pack(names: list[str], ship_dir: Path, dest: Path, max_bytes: int = 15 * 2**20, half: bool = True,
         max_files: int = 7, max_total: int | None = None) -> list[Path]:
    """Tar the shipped folders ``names`` (in priority order) into at most ``max_files`` archives of at most
    ``max_bytes`` each and ``max_total`` bytes together (weights as float16 when ``half``); returns the archives.
    Folders that do not fit are left out (and listed)."""
    from nam_core.checkpoints import store_half

    dest.mkdir(parents=True, exist_ok=True)
    staged = dest / "_stage"
    shutil.rmtree(staged, ignore_errors=True)
    sizes = []
    for n in names:
        src = ship_dir / n
        if not src.is_dir():
            continue
        shutil.copytree(src, staged / n)
        if half:
            store_half(staged / n)
        size = sum(f.stat().st_size for f in (staged / n).rglob("*") if f.is_file())
        if max_total is not None and sum(sz for sz, _ in sizes) + size > max_total:
            print(f"left out of the pack (over the total): {n}", flush=True)
            continue
        sizes.append((size, n))
    bins: list[list[tuple[int, str]]] = []
    for size, n in sorted(sizes, reverse=True):  # first-fit decreasing
        for b in bins:
            if sum(s for s, _ in b) + size <= max_bytes:
                b.append((size, n))
                break
        else:
            bins.append([(size, n)])
    archives, left_out = [], [n for b in bins[max_files:] for _, n in b]
    for i, b in enumerate(bins[:max_files]):
        path = dest / f"models{i}.tar"
        with tarfile.open(path, "w") as tar:
            for _, n in b:
                tar.add(staged / n, arcname=n)
        archives.append(path)
    shutil.rmtree(staged, ignore_errors=True)
    if left_out:
        print(f"left out of the pack (no room): {left_out}", flush=True)
    return archives


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plan", required=True, choices=sorted(PLANS))
    p.add_argument("--out", required=True, help="run folders and logs")
    p.add_argument("--ship-dir", help="where finished models go (default OUT/ship)")
    p.add_argument("--only", nargs="+", help="run only these jobs (and nothing they depend on)")
    p.add_argument("--jobs", type=int, default=2, help="jobs at a time")
    p.add_argument("--deadline-min", type=float, default=60.0)
    p.add_argument("--select-n", type=int, default=500)
    p.add_argument("--device")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads per job")
    p.add_argument("--smoke", action="store_true", help="every job tiny (checks the plan end to end)")
    p.add_argument("--pack", help="folder for the tar archives of the winners and logs")
    p.add_argument("--pack-mb", type=float, default=56.0, help="at most this many MiB of models in the pack")
    a = p.parse_args(argv)
    out = Path(a.out)
    ship_dir = Path(a.ship_dir) if a.ship_dir else out / "ship"
    jobs = PLANS[a.plan](smoke=a.smoke)
    if a.only:
        jobs = [j for j in jobs if j.name in a.only]
    t0 = time.time()
    run_plan(jobs, out, ship_dir, a.jobs, a.deadline_min, a.device, a.threads)
    selection = []
    try:
        selection = select_candidates(jobs, ship_dir, 64 if a.smoke else a.select_n, a.device)
    except Exception as exc:  # keep what trained even if scoring fails
        print(f"selection failed: {type(exc).__name__}: {exc}", flush=True)
    summary = {"plan": a.plan, "smoke": a.smoke, "minutes": round((time.time() - t0) / 60, 2),
               "jobs": [asdict(j) for j in jobs], "selection": selection}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for j in jobs:
        print(f"{j.name:40s} {j.status:8s} {j.seconds:7.0f}s {j.extra or ''}")
    if a.pack:
        names: list[str] = []
        for j in jobs:  # plan order = priority
            n = j.group if j.group and (ship_dir / j.group).is_dir() else j.ship
            if j.status == "done" and n and n not in names:
                names.append(n)
        archives = pack(names, ship_dir, Path(a.pack), max_total=int(a.pack_mb * 2**20))
        logs = Path(a.pack) / "logs.tar.gz"
        with tarfile.open(logs, "w:gz") as tar:
            tar.add(out / "summary.json", arcname="summary.json")
            tar.add(out / "logs", arcname="logs")
            for png in (out / "runs").rglob("*.png"):
                if "epoch" not in png.name:
                    tar.add(png, arcname=str(png.relative_to(out)))
            for hist in (out / "runs").rglob("history.json"):
                tar.add(hist, arcname=str(hist.relative_to(out)))
        print("packed:", [str(x) for x in archives + [logs]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
