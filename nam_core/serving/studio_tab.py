"""The app's Studio tab: train a task from two collections of images (or built-in domains) and use it at once.

    with gr.Tab("Studio", id="studio"):
        build_studio_tab(registry, task=task, method=method, generator=generator, tabs=main_tabs)

Upload two zips of images (or pick a built-in domain for either side), choose the size, preset, methods and a time
budget, press Train. The training runs in a worker process of :class:`~nam_core.serving.jobs.JobManager` (one job
at a time per server; later jobs wait in a queue and see their position); the tab shows its stage, epoch, a loss
plot, the newest sample grid and the time left, refreshed by a timer. Stop keeps the progress, Resume goes on; when
done the task is added to this browser's task list in the Translate tab (``task``), and the model can be
downloaded as a zip or published to the Hugging Face Hub.

Isolation: a browser gets a random owner token (kept in its localStorage, :class:`gradio.BrowserState`); jobs,
uploads and models belong to it, and the tasks it trained are served (``ModelRegistry.add_private_root``) but never
listed for anyone else. API clients pass the token they got back from their first call.

Settings (environment): ``NAM_STUDIO_DIR`` (job folders; default a folder in the system temp dir),
``NAM_STUDIO_MAX_MINUTES`` (time-budget cap, default 30), ``NAM_STUDIO_TTL_H`` (hours a job is kept after its owner
last looked at it, default 24), ``NAM_STUDIO_THREADS`` (torch threads of the worker, default half the cores).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import gradio as gr

from ..data import DOMAINS
from ..data.folder import IMAGE_EXTS
from ..studio import METHODS, PRESETS, SIZES, StudioError, default_name
from . import app_logic as L
from .jobs import ACTIVE, Job, JobError, JobManager, JobSpec, new_owner, scrub

MAX_ZIP_BYTES = L.MAX_UPLOAD_BYTES  # Gradio's max_file_size for the app bounds every upload; ours for API callers
MAX_IMAGES = 20_000  # per collection
MAX_UNPACKED_BYTES = 2 * 2**30  # all members of one zip together
MIN_IMAGES = 100  # the folder loader's minimum
REFRESH_S = 2.0
SERIES = {"GLO (generator)": "#1f77b4", "IMLE (generator)": "#9467bd", "vae-nam (mapping)": "#ff7f0e",
          "ae-nam (mapping)": "#2ca02c", "nam (mapping)": "#d62728"}
BUILTIN = [(L.domain_label(d), d) for d in DOMAINS if not str(d).startswith("folder:")]
UPLOAD = "(my zip)"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,39}")
PRESET_NOTE = ("**smoke**: a check of the whole path in a few minutes (not a usable model) · **fast**: a usable 32-px "
               "model in about ten minutes on a CPU · **quality**: the shipped models' schedule, meant for a GPU.")
INTRO = f"""Train a mapping **A → B** from two collections of images that need not be paired: a GLANN generator of
B first, then the mapping(s) on it. Upload each side as a **.zip of images** (PNG, JPEG, WebP or BMP, at least
{MIN_IMAGES}, at most {MAX_IMAGES:,}; up to {MAX_ZIP_BYTES // 2**20} MB per zip), or pick a built-in domain. One job
trains at a time on this server; yours waits in a queue otherwise. Your uploads and models are visible to this
browser only (unless you publish them) and are deleted after a day without a visit."""


class StudioUIError(ValueError):
    """A request of the tab that cannot be done; the message is for the user."""


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (StudioUIError, JobError, StudioError, L.AppError) as exc:
            raise gr.Error(scrub(str(exc)), print_exception=False) from exc

    return wrapper


def check_zip(path: str | Path) -> int:
    """The number of images in an uploaded zip; StudioUIError when it is not one we take."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StudioUIError("The upload did not arrive: upload the zip again.") from exc
    if size > MAX_ZIP_BYTES:
        raise StudioUIError(f"{path.name} is {size / 2**20:.0f} MB: the limit is {MAX_ZIP_BYTES // 2**20} MB per zip. "
                            "Use fewer or smaller images (they are trained at 32–128 px).")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise StudioUIError(f"{path.name} is not a readable .zip file: zip a folder of images and upload that.") \
            from exc
    images = [i for i in infos if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() in IMAGE_EXTS]
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise StudioUIError(f"{path.name} unpacks to more than {MAX_UNPACKED_BYTES // 2**30} GB: upload a smaller "
                            "collection.")
    if len(images) > MAX_IMAGES:
        raise StudioUIError(f"{path.name} holds {len(images):,} images: the limit is {MAX_IMAGES:,} per side.")
    if len(images) < MIN_IMAGES:
        raise StudioUIError(f"{path.name} holds {len(images)} images (png/jpg/jpeg/webp/bmp): at least {MIN_IMAGES} "
                            "are needed per side.")
    return len(images)


def _safe_stem(name: str) -> str:
    stem = re.sub(r"\.zip$", "", Path(str(name)).name, flags=re.I)
    return re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:40] or "images"


def _upload_path(upload: Any) -> str | None:
    if upload is None:
        return None
    if isinstance(upload, dict):  # FileData from an API client
        return upload.get("path")
    return str(getattr(upload, "name", upload))


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def status_markdown(st: dict[str, Any]) -> str:
    """One job's status for the tab."""
    spec = st.get("spec", {})
    head = (f"**{st.get('name')}** · {spec.get('labels', {}).get('a', spec.get('a'))} → "
            f"{spec.get('labels', {}).get('b', spec.get('b'))} · {spec.get('size')} px · preset {spec.get('preset')}"
            f" · {', '.join(spec.get('methods', []))} · budget {spec.get('max_minutes'):g} min")
    state = st.get("state")
    if state == "queued":
        body = (f"**Queued:** position {st.get('position')} of {st.get('waiting')} waiting (one job trains at a time "
                "on this server; yours starts when the ones before it end).")
    elif state in ("running", "stopping"):
        what = "Stopping" if state == "stopping" else "Training"
        ep = f", epoch {st['epoch']}/{st['epochs']}" if st.get("epochs") else ""
        stage = (f"stage {st.get('stage_index') or 1}/{st['stages']} · {st.get('stage')}{ep}" if st.get("stages")
                 else "starting the worker")
        mem = f" · worker memory peak {st['peak_rss_mb']:.0f} MB" if st.get("peak_rss_mb") else ""
        left = f" · about {_fmt_s(st['eta_s'])} left" if st.get("eta_s") is not None else ""
        body = f"**{what}:** {stage} · elapsed {_fmt_s(st.get('elapsed_s'))}{left}{mem}"
    else:
        label = {"done": "Done", "stopped": "Stopped", "failed": "Failed"}.get(str(state), str(state))
        body = f"**{label}:** {st.get('message') or ''}"
    return head + "  \n" + body


def loss_png(st: dict[str, Any], path: Path) -> Path | None:
    """The worker's loss history as a PNG (one line per stage, one point per epoch), written atomically; None
    while there is none. Drawn on the server: a Gradio plot that was first rendered in a hidden tab stayed blank."""
    hist = [h for h in st.get("history") or [] if isinstance(h, dict) and isinstance(h.get("loss"), (int, float))]
    if not hist:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lines: dict[str, tuple[list[int], list[float]]] = {}
    for i, h in enumerate(hist, 1):
        xs, ys = lines.setdefault(_series(h["stage"]), ([], []))
        xs.append(i)
        ys.append(float(h["loss"]))
    for label, (xs, ys) in lines.items():
        ax.plot(xs, ys, marker="o", ms=2, label=label, color=SERIES.get(label))
    if all(v > 0 for _, ys in lines.values() for v in ys):
        ax.set_yscale("log")
    ax.set_xlabel("epoch (all stages, in order)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path


def _series(stage: str) -> str:
    """A stage's line in the loss plot: one of SERIES (the plot's colours are fixed to them)."""
    kind = str(stage).split(": ")[-1]
    return {"GLO": "GLO (generator)", "IMLE": "IMLE (generator)"}.get(kind, f"{kind} (mapping)")


def newest_samples(job: Job) -> Path | None:
    """The newest sample grid the job's training wrote (a stage's periodic grid or a published checkpoint's)."""
    cands = [*job.out.glob("runs/*/*/samples.png"), *job.out.glob("*/samples.png")]
    best, best_t = None, -1.0
    for p in cands:
        try:
            t = p.stat().st_mtime
        except OSError:
            continue
        if t > best_t:
            best, best_t = p, t
    return best


def model_zip(job: Job) -> Path:
    """A zip of the job's servable checkpoints (not its resumable runs), built once."""
    dest = job.folder / f"{job.spec.name}.zip"
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in sorted(p for p in job.out.iterdir() if p.is_dir() and (p / "config.json").exists()):
            for f in sorted(folder.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    zf.write(f, f"{job.spec.name}/{folder.name}/{f.name}")
    os.replace(tmp, dest)
    return dest


def publish_job(job: Job, token: str | None, repo: str | None = None, private: bool = False, api: Any = None) -> str:
    """Upload the job's checkpoints (with their model cards) to one Hub model repo; returns its id. Offline, or
    without ``huggingface_hub``, it fails at once with a clear message (publish.PublishError)."""
    from .publish import REPO_PREFIX, PublishError, _check_online

    if job.state != "done":
        raise PublishError("Only a finished model can be published: train it to the end first.")
    token = (token or "").strip() or None
    if api is None:
        try:
            from huggingface_hub import HfApi
        except ImportError as exc:
            raise PublishError("huggingface_hub is not installed on this server: publishing is off.") from exc
        api = HfApi()
    user = _check_online(api, token)
    repo = (repo or "").strip() or f"{user}/{REPO_PREFIX}{job.spec.name}"
    if "/" not in repo:
        repo = f"{user}/{repo}"
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}", repo):
        raise PublishError(f"{repo[:100]!r} is not a Hub repo id (user/name: letters, digits, '-', '_', '.').")
    with tempfile.TemporaryDirectory(prefix="nam_studio_publish_") as tmp:
        stage = Path(tmp)
        cards = []
        for folder in sorted(p for p in job.out.iterdir() if p.is_dir() and (p / "config.json").exists()):
            shutil.copytree(folder, stage / folder.name, ignore=shutil.ignore_patterns(".*"))
            if (folder / "README.md").exists():
                cards.append((folder.name, (folder / "README.md").read_text()))
        mapping = next((c for n, c in cards if not n.startswith("gen_")), cards[0][1] if cards else "")
        (stage / "README.md").write_text(
            "---\nlibrary_name: nam-studio\ntags: [unsupervised-domain-mapping, nam, glann]\n---\n"
            f"{mapping}\n\nFolders: " + ", ".join(f"`{n}`" for n, _ in cards)
            + " (load a mapping with `nam_core.serving.translator.Translator.from_checkpoint(folder)`; the generator "
              "it needs is the `gen_*` folder beside it).\n")
        try:
            api.create_repo(repo, token=token, private=private, repo_type="model", exist_ok=True)
            api.upload_folder(repo_id=repo, folder_path=str(stage), repo_type="model", token=token,
                              commit_message=f"Upload {job.spec.name} (NAM Studio)")
        except Exception as exc:  # noqa: BLE001 - network, auth and HTTP errors: one message
            raise PublishError(f"{repo}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return repo


def _browser_secret(root: Path) -> str:
    """The key of the owner tokens in the browsers' localStorage, kept with the jobs so that a restarted server
    still knows its browsers (a new key would orphan every job)."""
    path = root / ".browser_secret"
    try:
        return path.read_text().strip()
    except OSError:
        pass
    secret = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
    except FileExistsError:
        return path.read_text().strip()
    return secret


def default_manager(registry: L.ModelRegistry) -> JobManager:
    """The server's job manager, configured from the environment (see the module docstring), serving finished
    jobs through ``registry``."""
    root = Path(os.environ.get("NAM_STUDIO_DIR") or Path(tempfile.gettempdir()) / "nam_studio_jobs")
    threads = os.environ.get("NAM_STUDIO_THREADS")

    def served(job: Job) -> None:
        job.tasks = registry.add_private_root(job.out) or job.tasks

    def forget(job: Job) -> None:
        for t in job.tasks:
            registry.forget_private(t)

    mgr = JobManager(root, max_minutes=float(os.environ.get("NAM_STUDIO_MAX_MINUTES", "30")),
                     ttl_s=float(os.environ.get("NAM_STUDIO_TTL_H", "24")) * 3600,
                     threads=int(threads) if threads else None, on_done=served, on_delete=forget)
    for job in list(mgr.jobs.values()):  # an earlier run's finished models
        if job.state == "done":
            try:
                served(job)
            except (KeyError, ValueError, OSError):
                continue
    return mgr


@dataclass
class StudioTab:
    manager: JobManager
    owner: Any
    job: Any
    timer: Any


def build_studio_tab(registry: L.ModelRegistry, task: Any = None, method: Any = None, generator: Any = None,
                     tabs: Any = None, manager: JobManager | None = None) -> StudioTab:
    """The Studio tab's components and events, inside the current Blocks (call it in a ``gr.Tab``). ``task``,
    ``method``, ``generator`` and ``tabs`` are the Translate tab's components (the finished task is added to
    ``task``'s choices, and "Use it" selects it there); the manager is also kept as ``demo.studio_jobs``."""
    mgr = manager or default_manager(registry)
    demo = gr.context.Context.root_block
    if demo is not None:
        demo.studio_jobs = mgr  # type: ignore[attr-defined]  # for tests, benchmarks and closing
    cap = mgr.max_minutes

    # ---------------------------------------------------------------- handlers
    def _owner(owner: Any) -> str:
        return owner if isinstance(owner, str) and len(owner) >= 16 and owner.replace("-", "").replace(
            "_", "").isalnum() and len(owner) <= 64 else new_owner()

    def _choices(owner: str) -> list[tuple[str, str]]:
        return [(f"{j.spec.name} · {j.state}", j.id) for j in mgr.jobs_of(owner)]

    def _my_tasks(owner: str) -> list[str]:
        return sorted({t for j in mgr.jobs_of(owner) if j.state == "done" for t in j.tasks
                       if t in registry.private_roots})

    def _view(owner: str, job_id: str | None, seen: dict[str, Any] | None) -> list[Any]:
        """Everything the tab shows for ``job_id`` (the owner's newest job when None); unchanged pictures are
        skipped, so a timer tick sends little."""
        seen = dict(seen or {})
        jobs = mgr.jobs_of(owner)
        job = next((j for j in jobs if j.id == job_id), jobs[0] if jobs else None)
        mine = _my_tasks(owner)
        task_update = gr.skip()
        if task is not None and mine != seen.get("tasks", []):
            base = [c for c in L.TASK_CHOICES]
            task_update = gr.Dropdown(choices=base + [(f"{L.task_label(t)}  (yours: {t})", t) for t in mine])
            seen["tasks"] = mine
        if job is None:
            return [owner, gr.Dropdown(choices=[], value=None), "No job yet: upload two collections and press Train.",
                    gr.skip(), gr.skip(), gr.Timer(active=False), seen, task_update,
                    gr.Button(interactive=False), gr.Button(interactive=False), gr.Button(interactive=False)]
        st = mgr.status(owner, job.id)
        hist_n = len(st.get("history") or [])
        plot = gr.skip()
        if seen.get("job") != job.id or seen.get("hist") != hist_n:
            drawn = loss_png(st, job.folder / "loss_live.png")
            plot = str(drawn) if drawn is not None else None
            seen["hist"] = hist_n
        samples = gr.skip()
        grid = newest_samples(job)
        key = f"{grid}:{grid.stat().st_mtime}" if grid is not None and grid.exists() else None
        if seen.get("job") != job.id or seen.get("grid") != key:
            samples = str(grid) if grid is not None else None
            seen["grid"] = key
        seen["job"] = job.id
        active = job.state in ACTIVE
        return [owner, gr.Dropdown(choices=_choices(owner), value=job.id), status_markdown(st), plot, samples,
                gr.Timer(active=active), seen, task_update,
                gr.Button(interactive=job.state in ("queued", "running")),
                gr.Button(interactive=job.state in ("stopped", "failed")),
                gr.Button(interactive=job.state == "done")]

    def on_refresh(owner: Any, job_id: Any, seen: Any) -> list[Any]:
        return _view(_owner(owner), job_id if isinstance(job_id, str) else None, seen if isinstance(seen, dict)
                     else None)

    def _side(upload: Any, builtin: Any, job_folder: Path, side: str) -> tuple[str, str]:
        path = _upload_path(upload)
        if builtin not in (None, "", UPLOAD):
            if builtin not in dict((v, k) for k, v in BUILTIN):
                raise StudioUIError(f"Unknown built-in domain {str(builtin)[:40]!r}.")
            return str(builtin), L.domain_label(str(builtin))
        if not path:
            raise StudioUIError(f"Side {side}: upload a .zip of images, or pick a built-in domain.")
        check_zip(path)
        original = getattr(upload, "orig_name", None) or (upload.get("orig_name") if isinstance(upload, dict)
                                                           else None) or Path(path).name
        dest = job_folder / "data" / f"{_safe_stem(original) or side.lower()}.zip"
        if dest.exists():
            dest = dest.with_name(f"{dest.stem}-{side.lower()}.zip")
        shutil.copyfile(path, dest)  # Gradio's upload cache is cleaned on its own schedule
        return str(dest), dest.name

    @_guard
    def on_train(owner: Any, a_zip: Any, a_builtin: Any, b_zip: Any, b_builtin: Any, name: Any, size: Any,
                 preset: Any, methods: Any, minutes: Any, seen: Any) -> list[Any]:
        owner = _owner(owner)
        size = L.parse_int(size, "Size", min(SIZES), max(SIZES), default=32, clamp=False)
        minutes = float(minutes) if isinstance(minutes, (int, float)) else 0.0
        methods = [m for m in (methods or []) if m in METHODS] if isinstance(methods, list) else []
        name = str(name or "").strip()
        if name and not NAME.fullmatch(name):
            raise StudioUIError("Name: letters, digits, '-' and '.', at most 40 characters (or leave it empty).")
        spec = JobSpec("", "", "", size=size, preset=str(preset), methods=methods, max_minutes=minutes)
        spec.check(cap)  # before anything is copied
        job_id, folder = mgr.new_folder()
        try:
            a, a_label = _side(a_zip, a_builtin, folder, "A")
            b, b_label = _side(b_zip, b_builtin, folder, "B")
            if a == b:
                raise StudioUIError("A and B are the same domain: pick two different ones.")
            # a unique task name: tasks are registered process-wide, and two browsers may both upload "photos.zip"
            base = name or default_name(a if a in DOMAINS else a_label, b if b in DOMAINS else b_label)
            spec.a, spec.b, spec.name = a, b, f"{base[:40]}-{job_id[:8]}"
            spec.labels = {"a": a_label, "b": b_label}
            mgr.submit(owner, spec, job_id=job_id)
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _view(owner, job_id, None)

    @_guard
    def on_stop(owner: Any, job_id: Any, seen: Any) -> list[Any]:
        owner = _owner(owner)
        mgr.stop(owner, job_id)
        return _view(owner, job_id, seen)

    @_guard
    def on_resume(owner: Any, job_id: Any, minutes: Any, seen: Any) -> list[Any]:
        owner = _owner(owner)
        mgr.resume(owner, job_id, float(minutes) if isinstance(minutes, (int, float)) else None)
        return _view(owner, job_id, seen)

    @_guard
    def on_download(owner: Any, job_id: Any) -> str:
        job = mgr.get(_owner(owner), job_id)
        if job.state != "done":
            raise StudioUIError("The model is not finished yet: download it when the job is done.")
        return str(model_zip(job))

    @_guard
    def on_publish(owner: Any, job_id: Any, token: Any, repo: Any, private: Any) -> str:
        from .publish import PublishError

        job = mgr.get(_owner(owner), job_id)
        try:
            rid = publish_job(job, str(token or ""), str(repo or ""), bool(private))
        except PublishError as exc:
            raise StudioUIError(f"Not published: {exc}") from exc
        return f"Published: [{rid}](https://huggingface.co/{rid})"

    @_guard
    def on_use(owner: Any, job_id: Any) -> tuple[Any, ...]:
        job = mgr.get(_owner(owner), job_id)
        if job.state != "done" or not job.tasks:
            raise StudioUIError("The model is not finished yet.")
        out: list[Any] = [job.tasks[0]] if task is not None else []
        if method is not None:
            out.append(job.spec.methods[0])
        if generator is not None:
            out.append("glann")
        if tabs is not None:
            out.append(gr.Tabs(selected="translate"))
        return tuple(out)

    # ---------------------------------------------------------------- layout
    gr.Markdown(INTRO, elem_id="studio_intro")
    owner = gr.BrowserState(None, storage_key="nam_studio_owner", secret=_browser_secret(mgr.root))
    seen = gr.State(None)
    with gr.Row():
        with gr.Column():
            a_zip = gr.File(label="A (input): a .zip of images", file_types=[".zip"], type="filepath",
                            elem_id="studio_a")
            a_builtin = gr.Dropdown([UPLOAD, *BUILTIN], value=UPLOAD, label="… or a built-in domain for A",
                                    elem_id="studio_a_builtin")
        with gr.Column():
            b_zip = gr.File(label="B (output): a .zip of images", file_types=[".zip"], type="filepath",
                            elem_id="studio_b")
            b_builtin = gr.Dropdown([UPLOAD, *BUILTIN], value=UPLOAD, label="… or a built-in domain for B",
                                    elem_id="studio_b_builtin")
    with gr.Row():
        name = gr.Textbox(label="Name (optional)", placeholder="e.g. horses2zebras", max_lines=1, elem_id="studio_name")
        size = gr.Radio([str(s) for s in SIZES], value="32", label="Size (px)", elem_id="studio_size")
        preset = gr.Radio(list(PRESETS), value="fast", label="Preset", elem_id="studio_preset")
        methods = gr.CheckboxGroup(list(METHODS), value=[L.default_method()], label="Methods", elem_id="studio_methods")
        minutes = gr.Slider(1, cap, value=min(10.0, cap), step=1, label=f"Time budget (minutes, at most {cap:g})",
                            elem_id="studio_minutes")
    gr.Markdown(PRESET_NOTE)
    train_btn = gr.Button("Train", variant="primary", elem_id="studio_train")
    with gr.Row():
        # custom values: a job id from an API client whose session never had it listed (ownership is checked)
        job = gr.Dropdown([], value=None, label="Your jobs", allow_custom_value=True, elem_id="studio_job")
        stop_btn = gr.Button("Stop", interactive=False, elem_id="studio_stop")
        resume_btn = gr.Button("Resume", interactive=False, elem_id="studio_resume")
        use_btn = gr.Button("Use it in Translate", interactive=False, elem_id="studio_use")
    status = gr.Markdown("No job yet: upload two collections and press Train.", elem_id="studio_status")
    with gr.Row():
        plot = gr.Image(label="Training loss (one point per epoch)", interactive=False, type="filepath", height=260,
                        elem_id="studio_plot")
        samples = gr.Image(label="Newest sample grid of the training", interactive=False, type="filepath",
                           height=260, elem_classes=["pixelated"], elem_id="studio_samples")
    with gr.Accordion("Download or publish the model", open=False):
        with gr.Row():
            dl_btn = gr.Button("Prepare the download (zip)", size="sm", elem_id="studio_download")
            dl_file = gr.File(label="Model zip", interactive=False, elem_id="studio_zip")
        with gr.Row():
            token = gr.Textbox(label="Hugging Face token (write access; used once, never stored)", type="password",
                               max_lines=1)
            repo = gr.Textbox(label="Repo (user/name; empty: <you>/nam-studio-<name>)", max_lines=1)
            private = gr.Checkbox(label="Private repo", value=False)
            pub_btn = gr.Button("Publish to the Hub", size="sm")
        pub_md = gr.Markdown("")
    timer = gr.Timer(REFRESH_S, active=False)

    # ---------------------------------------------------------------- events
    view = [owner, job, status, plot, samples, timer, seen]
    view_all = [*view, task if task is not None else gr.State(None), stop_btn, resume_btn, use_btn]
    train_btn.click(on_train, [owner, a_zip, a_builtin, b_zip, b_builtin, name, size, preset, methods, minutes, seen],
                    view_all, api_name="studio_train", concurrency_id="studio", concurrency_limit=4)
    timer.tick(on_refresh, [owner, job, seen], view_all, api_name=False, queue=False, show_progress="hidden")
    job.input(on_refresh, [owner, job, seen], view_all, api_name=False, queue=False)
    stop_btn.click(on_stop, [owner, job, seen], view_all, api_name="studio_stop")
    resume_btn.click(on_resume, [owner, job, minutes, seen], view_all, api_name="studio_resume")
    dl_btn.click(on_download, [owner, job], dl_file, api_name="studio_download")
    pub_btn.click(on_publish, [owner, job, token, repo, private], pub_md, api_name="studio_publish")
    use_outputs = [c for c in (task, method, generator, tabs) if c is not None]
    if use_outputs:
        use_btn.click(on_use, [owner, job], use_outputs, api_name=False)
    if demo is not None:
        demo.load(on_refresh, [owner, job, seen], view_all, api_name="studio_status", queue=False)
    return StudioTab(mgr, owner, job, timer)


__all__ = ["build_studio_tab", "StudioTab", "check_zip", "model_zip", "publish_job", "status_markdown",
           "default_manager", "MAX_ZIP_BYTES", "MAX_IMAGES"]
