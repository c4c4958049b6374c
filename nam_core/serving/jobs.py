"""Training jobs of the Studio tab: a queue, one worker process at a time, a folder and status files per job.

    jobs = JobManager(root)                       # root: where the job folders live
    job = jobs.submit(owner, JobSpec(a, b, ...))  # queued; starts when no other job runs
    jobs.status(owner, job.id)                    # state, queue position, the worker's progress
    jobs.stop(owner, job.id); jobs.resume(owner, job.id)

Each job trains in its own process (``python -m nam_core.serving.jobs worker JOB_DIR``, running
:func:`nam_core.studio.train_task`), so a crash or an out-of-memory kill in training ends that process only: the
server goes on serving and the job is marked failed with a message of its own. The worker runs at a lower CPU
priority and is the kernel's first choice when memory runs out, so the app's requests keep their share.

A job folder holds ``job.json`` (the spec and the state, written by the manager), ``status.json`` (progress:
stage, epoch, losses, time left, peak memory; written by the worker, each write a temp file and an
``os.replace``), ``worker.log`` (its stderr), ``data/`` (the uploaded zips) and ``out/`` (what ``train_task``
writes: resumable runs and the servable checkpoints). Stop ends the worker; its progress stays in ``out/runs``
(the Trainer checkpoints every epoch), and Resume queues the same training again, which carries on from there.

Jobs belong to an owner token (the browser's, see :mod:`nam_core.serving.studio_tab`): every call names it, and a
job of another owner is "not found". Jobs whose owner has not looked at them for ``ttl_s`` are stopped and
deleted, with their files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..studio import METHODS, PRESETS, SIZES

ACTIVE = ("queued", "running", "stopping")
JOB_ID = re.compile(r"[0-9a-f]{12}")
OWNER = re.compile(r"[A-Za-z0-9_-]{16,64}")
EXIT_DONE, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 2, 3
STOP_GRACE_S = 10.0  # after SIGTERM, the worker is killed when it has not ended by then
# a worker still running this far past its time budget is killed (the budget is checked between epochs, and the
# final scoring of a mapping comes after it; a hung worker must not hold the one slot for ever)
OVERRUN = (1.5, 300.0)  # × budget + seconds
ORPHAN_AGE_S = 3600.0  # folders without a job.json (an interrupted submit) are deleted after this
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:]+){2,}")


class JobError(ValueError):
    """A request about a job that cannot be done (unknown job, a full queue, a job in the wrong state)."""


@dataclass
class JobSpec:
    """What to train: ``a``/``b`` are paths of zips or folders (inside the job folder) or built-in domain names."""

    a: str
    b: str
    name: str
    size: int = 32
    preset: str = "fast"
    methods: list[str] = field(default_factory=lambda: ["vae-nam"])
    max_minutes: float = 10.0
    labels: dict[str, str] = field(default_factory=dict)  # what the user called A and B (file names), for the UI

    def check(self, max_minutes: float) -> None:
        if self.size not in SIZES:
            raise JobError(f"Size must be one of {', '.join(map(str, SIZES))} px.")
        if self.preset not in PRESETS:
            raise JobError(f"Preset must be one of {', '.join(PRESETS)}.")
        if not self.methods or any(m not in METHODS for m in self.methods):
            raise JobError(f"Choose one or more methods of {', '.join(METHODS)}.")
        if not 0 < float(self.max_minutes) <= max_minutes:
            raise JobError(f"The time budget must be between 0 and {max_minutes:g} minutes.")


@dataclass
class Job:
    id: str
    owner: str
    spec: JobSpec
    folder: Path
    state: str = "queued"  # queued | running | stopping | stopped | done | failed
    message: str = ""
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)  # the owner's last look (for the TTL)
    started: float | None = None
    ended: float | None = None
    runs: int = 0  # worker processes started (the first run and each resume)
    returncode: int | None = None
    tasks: list[str] = field(default_factory=list)  # servable tasks it produced (when done)

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d["folder"] = str(self.folder)
        return d


def scrub(message: str, folder: Path | None = None) -> str:
    """``message`` without server paths: the job folder dropped, any other absolute path cut to its last part."""
    if folder is not None:
        message = message.replace(str(folder) + os.sep, "").replace(str(folder), "")
    return _PATH.sub(lambda m: re.split(r"[\\/]", m.group(0))[-1], message)


def write_json(path: Path, data: Any) -> None:
    """Atomically (a reader sees the old file or the new one, never a part)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc; None elsewhere or when it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class JobManager:
    """The queue and the worker processes of one server (see the module docstring). ``on_done(job)`` runs when a
    job has finished (e.g. to register its models with the app), ``on_delete(job)`` before a job's files go."""

    def __init__(self, root: str | Path, max_minutes: float = 60.0, ttl_s: float = 24 * 3600.0,
                 max_queue: int = 8, max_jobs_per_owner: int = 5, threads: int | None = None,
                 on_done: Callable[[Job], None] | None = None, on_delete: Callable[[Job], None] | None = None,
                 poll_s: float = 0.5, python: str = sys.executable) -> None:
        self.root = self._claim(Path(root))
        self.max_minutes, self.ttl_s, self.max_queue = float(max_minutes), float(ttl_s), int(max_queue)
        self.max_jobs_per_owner = int(max_jobs_per_owner)
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.on_done, self.on_delete = on_done, on_delete
        self.poll_s, self.python = poll_s, python
        self.jobs: dict[str, Job] = {}
        self.queue: list[str] = []
        self.procs: dict[str, subprocess.Popen] = {}
        self._stop_at: dict[str, float] = {}  # job id → when a stopping worker gets SIGKILL
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._last_cleanup = 0.0
        self._load()
        self._thread = threading.Thread(target=self._loop, name="studio-jobs", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ persistence
    def _claim(self, root: Path) -> Path:
        """``root``, locked for this process; when another live server holds it, a fresh folder of our own (two
        managers over one folder would take each other's running jobs for interrupted ones)."""
        root.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl

            self._lock_file = open(root / ".lock", "a")  # noqa: SIM115 - held for the manager's life
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock (Windows): one server per folder is the user's business
            return root
        except OSError:
            import tempfile

            own = Path(tempfile.mkdtemp(prefix="nam_studio_jobs_"))
            print(f"studio jobs: {root} is used by another server; this one keeps its jobs in {own}", file=sys.stderr)
            return self._claim(own)
        return root

    def _load(self) -> None:
        """Jobs of an earlier server run: finished ones as they were; interrupted ones stopped (Resume goes on)."""
        for path in sorted(self.root.glob("*/job.json")):
            rec = read_json(path)
            try:
                spec = JobSpec(**rec.pop("spec"))
                rec.pop("folder", None)
                job = Job(spec=spec, folder=path.parent, **rec)
            except (KeyError, TypeError):
                continue
            if job.state in ACTIVE:
                job.state, job.message = "stopped", "The server restarted during this job: press Resume to go on."
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        write_json(job.folder / "job.json", job.record())

    # ------------------------------------------------------------------ requests
    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (empty) folder, for the uploads to be copied into before :meth:`submit`."""
        job_id = secrets.token_hex(6)
        folder = self.root / job_id
        (folder / "data").mkdir(parents=True)
        return job_id, folder

    def submit(self, owner: str, spec: JobSpec, job_id: str | None = None) -> Job:
        """Queue a new job (its folder from :meth:`new_folder`, or a new one)."""
        _check_owner(owner)
        spec.check(self.max_minutes)
        with self._lock:
            mine = [j for j in self.jobs.values() if j.owner == owner]
            if any(j.state in ACTIVE for j in mine):
                raise JobError("You already have a job queued or training: stop it, or wait until it ends.")
            if len(self.queue) >= self.max_queue:
                raise JobError(f"The training queue is full ({len(self.queue)} jobs waiting): try again later.")
            if job_id is None:
                job_id, folder = self.new_folder()
            else:
                folder = self.root / job_id
            job = Job(job_id, owner, spec, folder)
            self._save(job)
            self.jobs[job_id] = job
            self.queue.append(job_id)
            # the oldest of this owner's finished jobs make room (with their files)
            finished = sorted((j for j in mine if j.state not in ACTIVE), key=lambda j: j.created)
            for old in finished[: max(0, len(mine) + 1 - self.max_jobs_per_owner)]:
                self._delete(old)
        self._pump()
        return job

    def get(self, owner: str, job_id: str) -> Job:
        """The owner's job ``job_id``; JobError for any other (another owner's job is not found either)."""
        with self._lock:
            job = self.jobs.get(str(job_id)) if isinstance(job_id, str) and JOB_ID.fullmatch(job_id) else None
            if job is None or not isinstance(owner, str) or not secrets.compare_digest(job.owner, owner):
                raise JobError("No such job (it may have expired): train a new one.")
            job.seen = time.time()
            return job

    def jobs_of(self, owner: str) -> list[Job]:
        """The owner's jobs, newest first (each marked as seen)."""
        now = time.time()
        with self._lock:
            mine = [j for j in self.jobs.values() if isinstance(owner, str) and j.owner == owner]
            for j in mine:
                j.seen = now
            return sorted(mine, key=lambda j: -j.created)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start, 2 for the one after it …; None when not queued."""
        with self._lock:
            return self.queue.index(job.id) + 1 if job.id in self.queue else None

    def status(self, owner: str, job_id: str) -> dict[str, Any]:
        """The job's state and queue position merged with its worker's progress (``status.json``)."""
        job = self.get(owner, job_id)
        st = read_json(job.folder / "status.json") if job.runs else {}
        st.update({"id": job.id, "state": job.state, "message": job.message, "position": self.position(job),
                   "waiting": len(self.queue), "name": job.spec.name, "tasks": list(job.tasks), "runs": job.runs,
                   "spec": asdict(job.spec)})
        return st

    def stop(self, owner: str, job_id: str) -> Job:
        """Stop a running job (its progress is kept) or take a queued one out of the queue."""
        job = self.get(owner, job_id)
        with self._lock:
            if job.state == "queued":
                self.queue.remove(job.id)
                self._finish(job, "stopped", "Stopped before it started: press Resume to queue it again.")
            elif job.state == "running":
                job.state = "stopping"
                self._save(job)
                self._signal(job.id, signal.SIGTERM)
                self._stop_at[job.id] = time.monotonic() + STOP_GRACE_S
            elif job.state != "stopping":
                raise JobError(f"This job is not training (it is {job.state}).")
        return job

    def resume(self, owner: str, job_id: str, max_minutes: float | None = None) -> Job:
        """Queue a stopped or failed job again: it goes on from its last saved epoch (a new time budget)."""
        job = self.get(owner, job_id)
        with self._lock:
            if job.state not in ("stopped", "failed"):
                raise JobError(f"Only a stopped or failed job can be resumed (this one is {job.state}).")
            if any(j.state in ACTIVE for j in self.jobs.values() if j.owner == owner):
                raise JobError("You already have a job queued or training: stop it, or wait until it ends.")
            if len(self.queue) >= self.max_queue:
                raise JobError(f"The training queue is full ({len(self.queue)} jobs waiting): try again later.")
            if max_minutes is not None:
                job.spec.max_minutes = float(max_minutes)
                job.spec.check(self.max_minutes)
            job.state, job.message, job.returncode = "queued", "", None
            self._save(job)
            self.queue.append(job.id)
        self._pump()
        return job

    def close(self) -> None:
        """Stop the monitor and end the running workers (their progress is kept)."""
        self._closed.set()
        with self._lock:
            for job_id in list(self.procs):
                self._signal(job_id, signal.SIGTERM)
            procs = dict(self.procs)
        for job_id, proc in procs.items():
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal(job_id, signal.SIGKILL)
                proc.wait(5)
        self._thread.join(5)
        lock_file = getattr(self, "_lock_file", None)
        if lock_file is not None:
            lock_file.close()
        with self._lock:
            for job_id in procs:
                job = self.jobs.get(job_id)
                if job is not None and job.state in ACTIVE:
                    self._finish(job, "stopped", "The server stopped during this job: press Resume to go on.")
            self.procs.clear()

    # ------------------------------------------------------------------ workers
    def _signal(self, job_id: str, sig: int) -> None:
        proc = self.procs.get(job_id)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # the worker and anything it started (its own session)
        except (ProcessLookupError, PermissionError, AttributeError):
            proc.send_signal(sig)

    def _pump(self) -> None:
        """Start the next queued job when none runs (one at a time per server)."""
        with self._lock:
            if self._closed.is_set() or self.procs or not self.queue:
                return
            job = self.jobs[self.queue.pop(0)]
            job.runs += 1
            job.state, job.message, job.started, job.ended = "running", "", time.time(), None
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                                os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   "NAM_STUDIO_THREADS": str(self.threads)}
            log = open(job.folder / "worker.log", "ab")  # noqa: SIM115 - the child keeps it; closed below
            try:
                proc = subprocess.Popen([self.python, "-m", "nam_core.serving.jobs", "worker", str(job.folder)],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                        start_new_session=True)
            except OSError as exc:
                self._finish(job, "failed", f"Could not start the training worker ({type(exc).__name__}).")
                return
            finally:
                log.close()
            self.procs[job.id] = proc
            self._save(job)

    def _finish(self, job: Job, state: str, message: str) -> None:
        job.state, job.message, job.ended = state, message, time.time()
        self._save(job)

    def _reap(self) -> None:
        """Turn ended workers into job states; kill overrunning or unstoppable ones."""
        now = time.monotonic()
        for job_id, proc in list(self.procs.items()):
            job = self.jobs[job_id]
            rc = proc.poll()
            if rc is None:
                budget = job.spec.max_minutes * 60 * OVERRUN[0] + OVERRUN[1]
                if job_id in self._stop_at and now > self._stop_at[job_id]:
                    self._signal(job_id, signal.SIGKILL)
                elif job.started is not None and time.time() - job.started > budget and job_id not in self._stop_at:
                    job.state = "stopping"
                    job.message = "It ran far past its time budget, so it was stopped."
                    self._signal(job_id, signal.SIGTERM)
                    self._stop_at[job_id] = now + STOP_GRACE_S
                continue
            del self.procs[job_id]
            stopping = self._stop_at.pop(job_id, None) is not None
            job.returncode = rc
            st = read_json(job.folder / "status.json")
            if rc == EXIT_DONE:
                job.tasks = [job.spec.name]
                self._finish(job, "done", "the model is in your task list in the Translate tab.")
                if self.on_done is not None:
                    try:
                        self.on_done(job)
                    except Exception as exc:  # noqa: BLE001 - the job stays done; say what failed
                        self._finish(job, "done", f"Trained, but it could not be served: {scrub(str(exc))[:200]}")
            elif stopping or rc == EXIT_STOPPED:
                why = job.message if stopping and job.message else (
                    "Stopped." if stopping else st.get("message") or "The time budget is used up.")
                self._finish(job, "stopped", f"{why} The progress is kept: press Resume to go on.")
            elif rc == EXIT_BAD_INPUT:
                self._finish(job, "failed", st.get("message") or "The data could not be used.")
            else:
                killed = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
                oom = " (likely out of memory)" if rc in (-signal.SIGKILL, 137) else ""
                detail = st.get("message") if st.get("state") == "failed" else ""
                self._finish(job, "failed", (detail or f"The training worker ended unexpectedly ({killed}{oom}).")
                             + " The server is fine; progress up to the last saved epoch is kept: press Resume to "
                               "try again, perhaps with a smaller size or preset.")

    def _loop(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                with self._lock:
                    self._reap()
                self._pump()
                if time.time() - self._last_cleanup > min(60.0, self.ttl_s / 4):
                    self.cleanup()
            except Exception as exc:  # noqa: BLE001 - the monitor must keep running
                print(f"studio jobs: {type(exc).__name__}: {exc}", file=sys.stderr)

    # ------------------------------------------------------------------ cleanup
    def _delete(self, job: Job) -> None:
        if job.id in self.queue:
            self.queue.remove(job.id)
        if self.on_delete is not None:
            try:
                self.on_delete(job)
            except Exception:  # noqa: BLE001, S110 - the files go anyway
                pass
        self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def cleanup(self, now: float | None = None) -> list[str]:
        """Delete the jobs (and files) whose owner has not looked at them for ``ttl_s`` (running ones are stopped
        first) and stray folders of interrupted submits; returns the deleted job ids."""
        now = time.time() if now is None else now
        self._last_cleanup = now
        gone = []
        with self._lock:
            for job in list(self.jobs.values()):
                if now - job.seen <= self.ttl_s:
                    continue
                if job.id in self.procs:
                    if job.state != "stopping":
                        job.state, job.message = "stopping", "Abandoned: nobody looked at it for too long."
                        self._signal(job.id, signal.SIGTERM)
                        self._stop_at[job.id] = time.monotonic() + STOP_GRACE_S
                    continue  # deleted once its worker has ended
                self._delete(job)
                gone.append(job.id)
            known = {j.folder for j in self.jobs.values()}
            for folder in self.root.iterdir():
                if folder.is_dir() and folder not in known and JOB_ID.fullmatch(folder.name):
                    try:
                        old = now - folder.stat().st_mtime > ORPHAN_AGE_S
                    except OSError:
                        continue
                    if old and not (folder / "job.json").exists():
                        shutil.rmtree(folder, ignore_errors=True)
                        gone.append(folder.name)
        return gone


def _check_owner(owner: Any) -> None:
    if not isinstance(owner, str) or not OWNER.fullmatch(owner):
        raise JobError("This browser has no Studio session yet: reload the page.")


def new_owner() -> str:
    return secrets.token_urlsafe(24)


# ---------------------------------------------------------------------------------------------------- the worker
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+) ((?:[\w.-]+=(?:[-+\d.eE]+|nan|inf) ?)+)\((\d+)s\)$")
IMLE_LINE = re.compile(r"^imle epoch (\d+)/(\d+) loss=([-+\d.eE]+|nan|inf)$")
STAGE_LINE = re.compile(r"^\[nam-studio\] stage (\d+)/(\d+): (.*)$")
RESUMED_LINE = re.compile(r"^resumed from .* at epoch (\d+)$")
MAIN_LOSS = ("recon", "loss")  # plotted: the reconstruction loss of GLO and the mappings, IMLE's loss


class Progress:
    """The worker's progress, parsed from the training's own stderr lines and written to ``status.json``."""

    def __init__(self, folder: Path, spec: JobSpec) -> None:
        self.path = folder / "status.json"
        self.folder = folder
        self.spec = spec
        old = read_json(self.path)
        self.history: list[dict[str, Any]] = old.get("history", []) if isinstance(old.get("history"), list) else []
        self.t0 = time.time()
        self.stage, self.stage_i, self.stages = "starting", 0, 1 + len(spec.methods)
        self.epoch, self.epochs = 0, 0
        self.stage_started = self.t0
        self.stage_epoch0 = 0  # the epoch a (resumed) stage started from
        self.rates: dict[str, float] = {}  # seconds per epoch, by stage kind
        self.state, self.message = "running", ""
        self._lock = threading.Lock()
        self._buf = ""
        self.write()

    def feed(self, text: str) -> None:
        with self._lock:
            self._buf += text
            *lines, self._buf = re.split(r"[\r\n]", self._buf)
        changed = False
        for line in lines:
            changed |= self._line(line.strip())
        if changed:
            self.write()

    def _begin(self, stage: str, epochs: int) -> None:
        self.stage, self.epochs, self.epoch = stage, epochs, 0
        self.stage_started, self.stage_epoch0 = time.time(), 0

    def _line(self, line: str) -> bool:
        if m := STAGE_LINE.match(line):
            self.stage_i = int(m.group(1))
            self.stages = int(m.group(2))
            what = m.group(3)
            if self.stage_i == 1:
                self._begin("generator: GLO", PRESETS[self.spec.preset]["generator"]["epochs"])
            else:
                method = what.split(" ")[0]
                self._begin(f"mapping: {method}", PRESETS[self.spec.preset]["mapping"]["epochs"])
            return True
        if m := RESUMED_LINE.match(line):
            self.epoch = self.stage_epoch0 = int(m.group(1))
            self.stage_started = time.time()
            return True
        if m := EPOCH_LINE.match(line):
            self.epoch, self.epochs = int(m.group(1)), int(m.group(2))
            losses = dict(kv.split("=") for kv in m.group(3).split())
            self._add(losses)
            return True
        if m := IMLE_LINE.match(line):
            if not self.stage.startswith("generator: IMLE"):
                self._begin("generator: IMLE", int(m.group(2)))
            self.epoch = int(m.group(1))
            self._add({"loss": m.group(3)})
            return True
        return False

    def _add(self, losses: dict[str, str]) -> None:
        key = next((k for k in MAIN_LOSS if k in losses), next(iter(losses), None))
        if key is None:
            return
        try:
            value = float(losses[key])
        except ValueError:
            return
        self.history.append({"stage": self.stage, "epoch": self.epoch, "loss": value, "key": key})
        done = self.epoch - self.stage_epoch0
        if done > 0:
            self.rates[self.stage.split(":")[0] if "IMLE" not in self.stage else "imle"] = (
                (time.time() - self.stage_started) / done)

    def eta_s(self) -> float | None:
        """Seconds left, from the epochs left in this and the later stages at the speeds seen so far (a later stage
        at the current stage's speed until it is seen), capped by the time budget."""
        if self.state != "running" or not self.rates:
            return None
        p = PRESETS[self.spec.preset]
        cur = self.rates.get("imle" if "IMLE" in self.stage else self.stage.split(":")[0])
        rate = cur if cur is not None else next(iter(self.rates.values()))
        left = max(0, self.epochs - self.epoch) * rate
        if self.stage.startswith("generator: GLO"):
            left += p["generator"]["imle_epochs"] * self.rates.get("imle", rate / 4)
        mapping_rate = self.rates.get("mapping", rate)
        later = self.stages - max(self.stage_i, 1)
        left += later * p["mapping"]["epochs"] * mapping_rate
        budget_left = self.spec.max_minutes * 60 - (time.time() - self.t0)
        return max(0.0, min(left, budget_left))

    def write(self) -> None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        write_json(self.path, {"state": self.state, "stage": self.stage, "stage_index": self.stage_i,
                               "stages": self.stages, "epoch": self.epoch, "epochs": self.epochs,
                               "history": self.history[-2000:], "eta_s": self.eta_s(),
                               "elapsed_s": round(time.time() - self.t0, 1), "peak_rss_mb": round(peak, 1),
                               "message": self.message, "updated": time.time(), "pid": os.getpid()})

    def finish(self, state: str, message: str = "") -> None:
        self.state, self.message = state, scrub(message, self.folder)
        self.write()


class _Tee:
    """A text stream that writes to the log and feeds the progress parser (what the training prints to stderr)."""

    def __init__(self, log: Any, progress: Progress) -> None:
        self.log, self.progress = log, progress

    def write(self, text: str) -> int:
        self.log.write(text)
        self.log.flush()
        try:
            self.progress.feed(text)
        except Exception:  # noqa: BLE001, S110 - progress reports never stop the training
            pass
        return len(text)

    def flush(self) -> None:
        self.log.flush()

    def isatty(self) -> bool:
        return False


def _watch_parent(progress: Progress) -> None:
    """End the worker when the server that started it is gone (the progress stays in its checkpoints)."""
    parent = os.getppid()
    while True:
        time.sleep(2.0)
        if os.getppid() != parent:
            progress.finish("stopped", "The server stopped during this job.")
            os._exit(EXIT_STOPPED)
        try:
            progress.write()  # elapsed time, memory and time left move on between epochs too
        except OSError:
            pass


def worker_main(folder: str | Path) -> int:
    """Run one job's training (the subprocess the manager starts); exit status as ``nam-studio train-task``."""
    folder = Path(folder)
    rec = read_json(folder / "job.json")
    spec = JobSpec(**rec["spec"])
    try:  # the server's requests first: a lower CPU priority, and the first to go when memory runs out
        os.nice(10)
        Path("/proc/self/oom_score_adj").write_text("1000")
    except (OSError, AttributeError):
        pass
    import torch

    torch.set_num_threads(int(os.environ.get("NAM_STUDIO_THREADS", "1")))
    progress = Progress(folder, spec)
    sys.stderr = _Tee(sys.stderr, progress)  # type: ignore[assignment]
    threading.Thread(target=_watch_parent, args=(progress,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: (progress.finish("stopped", "Stopped."), os._exit(EXIT_STOPPED)))
    from ..data.folder import FolderDataError
    from ..studio import StudioError, train_task

    try:
        res = train_task(spec.a, spec.b, folder / "out", name=spec.name, size=spec.size, preset=spec.preset,
                         methods=spec.methods, max_minutes=spec.max_minutes, progress=True,
                         command=f"NAM Studio tab (preset {spec.preset}, {spec.size} px)")
    except (FolderDataError, StudioError, FileNotFoundError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        progress.finish("failed", f"{msg}")
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        progress.finish("failed", "Training ran out of memory: try a smaller size or preset.")
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the UI; the traceback goes to the log
        import traceback

        traceback.print_exc()
        progress.finish("failed", f"Training failed: {type(exc).__name__}: {str(exc)[:300]}")
        return 1
    if not res.finished:
        progress.finish("stopped", f"The time budget is used up (in the {res.stopped_in} stage).")
        return EXIT_STOPPED
    progress.finish("done")
    return EXIT_DONE


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"] and len(sys.argv) == 3:
        sys.exit(worker_main(sys.argv[2]))
    print("usage: python -m nam_core.serving.jobs worker JOB_DIR", file=sys.stderr)
    sys.exit(2)
