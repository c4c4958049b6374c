"""NAM Studio: the Gradio app (a thin UI over ``nam_core.serving.app_logic``).

    python app.py                      # http://127.0.0.1:7860 (GRADIO_SERVER_PORT / --port to change)
    python app.py --checkpoints DIR    # DIR's models (e.g. from nam-studio train-task) beside the shipped ones

Draw or upload an input, pick a task, a method (NAM, AE-NAM, VAE-NAM) and a generator (GLANN, DCGAN), press Map:
a gallery of K analogies, the "why" panel (T(G(z)) against the input, loss per solution), latent-direction sliders,
a strip view, a zip download. Tabs: GLANN (sample / interpolate / invert) and Learn (methods, results, loss curves).

``build_demo`` builds the page from one function per tab (``_translate_tab``, ``_glann_tab``, ``_learn_tab`` and
the Studio tab's ``build_studio_tab``); each lays out its components and wires its own events.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from nam_core.methods.registry import is_iterative  # noqa: E402
from nam_core.serving import app_logic as L  # noqa: E402
from nam_core.serving import gradio_cache  # noqa: E402
from nam_core.serving import live as LV  # noqa: E402
from nam_core.serving.drawpad import draw_pad  # noqa: E402
from nam_core.serving.studio_tab import build_studio_tab  # noqa: E402

log = logging.getLogger("nam_studio.app")

# Map requests: the one-pass methods (VAE-NAM, AE-NAM, NAM one-pass) and NAM's per-input optimisation run in two
# queues with their own workers, so that a slow NAM request never holds a one-pass slot. A request is refused with a
# "busy" message when its queue already has this many waiting; QUEUE_MAX_SIZE bounds all events together.
MAP_CONCURRENCY, MAP_MAX_WAITING = 2, 24
LIVE_CONCURRENCY = 2  # live-drawing previews (one pending per browser tab: each new stroke replaces the waiting one)
NAM_CONCURRENCY, NAM_MAX_WAITING = 1, 4
# the two queues' concurrency ids (Gradio's, seen by tests and by anything reading the queue): names of queues, not
# of methods; which requests go to NAM_QUEUE is decided by is_iterative(method)
MAP_QUEUE, NAM_QUEUE = "map", "nam"
QUEUE_MAX_SIZE = 64
ADMIT_WINDOW_S = 2.0
CACHE_CLEANUP = (600, 1800)  # Gradio's delete_cache: every 10 min, delete cached files older than 30 min
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:]+){2,}")

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#latency { font-size: 0.9em; opacity: 0.85; }
.nam-bar { height: 10px; border-radius: 5px; background: var(--neutral-200); overflow: hidden; }
.nam-fill { height: 100%; background: var(--color-accent); transition: width 0.2s; }
.nam-text { font-size: 0.9em; margin-top: 2px; }
#availability p { margin: 0.2em 0; }
#results_compact table, #full_results table { word-break: normal; overflow-wrap: normal; }
#results_compact td, #results_compact th, #full_results td, #full_results th { white-space: nowrap; }
#full_results { overflow-x: auto; }
.tour-figure img { object-fit: contain; }
/* captions under the tiles, not over them (Gradio lays them over the image's bottom: a shoe's toe, a sole) */
#gallery .thumbnail-item, #why .thumbnail-item { display: flex; flex-direction: column; }
#gallery .thumbnail-item img, #why .thumbnail-item img { flex: 1 1 auto; min-height: 0; height: auto; }
#gallery .caption-label, #why .caption-label { position: static; transform: none; max-width: 100%; border: none;
  background: none; padding: 1px 2px 0; font-size: var(--text-sm); text-align: center; white-space: normal;
  overflow: visible; text-overflow: clip; line-height: 1.15; }
#gallery .caption-label { min-height: 2.3em; }  /* two lines for every tile: #1's longer caption, same image size */
.nav-holder { display: none; }  /* the results page is reached from the Learn tab's link (gr.Navbar(visible=False)
                                   still shows a bar with "Home" in Gradio 6.31) */
"""
HEADER = """# NAM Studio
Non-adversarial unsupervised image-to-image mapping: **NAM**, **AE-NAM**, **VAE-NAM** on **GLANN** (or DCGAN)
generators. Draw or upload an input, pick a task and a method, press **Map**. Click a solution to anchor the strip
view; move the sliders to walk the latent space."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """AppError → gr.Error with the user's message; any other exception → a short gr.Error without server paths
    (logged in full), so a failed request never takes the server down."""
    try:
        yield
    except L.AppError as exc:
        raise gr.Error(str(exc), print_exception=False) from exc
    except gr.Error:
        raise
    except Exception as exc:  # noqa: BLE001 - keep serving, tell the user
        log.exception("request failed")
        raise gr.Error(f"Unexpected error ({type(exc).__name__}: {scrub_paths(str(exc))[:200]}). The server is "
                       "still running.", print_exception=False) from exc


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AppError into gr.Error (the user's message) and unexpected exceptions into a short gr.Error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper


def guarded_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`guarded` for a generator handler (it stays a generator function, so Gradio streams its yields)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            yield from fn(*args, **kwargs)

    return wrapper


def scrub_paths(message: str) -> str:
    """``message`` with every absolute file path replaced by its last component (no server layout in the UI)."""
    return _PATH.sub(lambda m: re.split(r"[\\/]", m.group(0))[-1], message)


def queue_waiting(demo: gr.Blocks, concurrency_id: str) -> int:
    """How many events wait in ``concurrency_id``'s queue (0 before the first one; Gradio's queue internals)."""
    queues = getattr(getattr(demo, "_queue", None), "event_queue_per_concurrency_id", None) or {}
    q = queues.get(concurrency_id)
    return len(getattr(q, "queue", ())) if q is not None else 0


class Admission:
    """The Map requests admitted to one queue and not started yet, for the "busy" refusal.

    Validators run before Gradio queues a request, so during a burst Gradio's queue length lags behind the requests
    already admitted; our own count is exact then. A request cancelled while waiting never starts and stays in our
    count, so the estimate is capped by Gradio's queue plus the requests admitted in the last ADMIT_WINDOW_S."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = int(max_waiting)
        self._pending: collections.deque[float] = collections.deque()  # admission times, oldest first
        self._lock = threading.Lock()

    def admit(self, gradio_waiting: int) -> int | None:
        """Admit one request (None), or refuse it: returns how many are waiting."""
        with self._lock:
            now = time.monotonic()
            while self._pending and now - self._pending[0] > 3600:  # cancelled long ago
                self._pending.popleft()
            recent = sum(1 for t in self._pending if now - t <= ADMIT_WINDOW_S)
            waiting = min(len(self._pending), gradio_waiting + recent)
            if waiting >= self.max_waiting:
                return waiting
            self._pending.append(now)
            return None

    def started(self) -> None:
        """A request of this queue has started running (queues are first in, first out)."""
        with self._lock:
            if self._pending:
                self._pending.popleft()

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()


class Tickets:
    """The order in which one browser session submitted its Map and live-preview requests, so that only the latest
    one paints the gallery: a live preview that finishes after Map was pressed (or a Map overtaken by a newer
    stroke) is dropped instead of overwriting the newer result.

    A ticket is taken when the request is submitted (in its validator, stamped on the HTTP request that the handler
    sees again), not when it starts: a preview waiting in its queue must not overtake a Map pressed after it."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    def issue(self, session: str) -> int:
        with self._lock:
            ticket = next(self._counter)
            self._latest[session] = ticket
            if len(self._latest) > 10_000:  # sessions long gone: keep the newest half
                for key in list(self._latest)[: len(self._latest) // 2]:
                    del self._latest[key]
            return ticket

    def is_latest(self, session: str, ticket: int) -> bool:
        with self._lock:
            return self._latest.get(session, ticket) <= ticket

    def stamp(self, request: Any) -> None:
        """Take a ticket for this submission (called by the event's validator)."""
        http = getattr(request, "request", None)
        if http is not None:
            http.state.nam_ticket = self.issue(_session(request))

    def of(self, request: Any) -> int:
        """The ticket stamped on this request at submission, else a new one (a call without the validator)."""
        http = getattr(request, "request", None)
        ticket = getattr(getattr(http, "state", None), "nam_ticket", None)
        return int(ticket) if ticket is not None else self.issue(_session(request))


def _session(request: Any) -> str:
    return str(getattr(request, "session_hash", None) or "")


MAPPING_NOTE = "Mapping… (the gallery updates when the solutions are ready)"
MAP_FAILED = ("⚠ Map failed (the message is at the top right); the gallery still shows the last good result.")
def _latency(what: str, ms: float, extra: str = "") -> str:
    return f"Server time — {what}: **{ms:.0f} ms**{(' · ' + extra) if extra else ''}"


def _gallery(images: np.ndarray, captions: list[str] | None = None) -> list[tuple[np.ndarray, str]]:
    caps = captions or [f"#{i + 1}" for i in range(len(images))]
    return [(L.to_display(im), c) for im, c in zip(images, caps)]


def _slider_updates(info: L.DirectionInfo | None, values: list[float] | None = None) -> list[Any]:
    labels = info.labels() if info is not None else [f"Direction {i + 1}" for i in range(L.N_DIRECTIONS)]
    count = info.count if info is not None else 0
    vals = values or [0.0] * L.N_DIRECTIONS
    return [gr.Slider(value=vals[i], label=labels[i], visible=i < count) for i in range(L.N_DIRECTIONS)]


def _shown_kind(kind: str) -> str:
    """The Directions radio's value for the directions actually shown (a posterior's or the restarts' axes are
    "Per input"), so the radio never names a kind the checkpoint lacks."""
    return kind if kind in ("global", "style") else "input"


def _anchor_md(anchor: int | None) -> str:
    if anchor is None:
        return "Anchor: none — click a solution in the gallery to anchor the strip view on it."
    return f"Anchor: **solution #{anchor + 1}** (the strip view walks around it; Reset clears it)."


def _why_panel(image: np.ndarray, recs: np.ndarray, losses: np.ndarray) -> tuple[list[Any], str]:
    """The why-panel: the input beside T(G(z)) of each solution (in the input's polarity), and one line about
    their losses. Captions are short: five tiles a row leave room for "#3 · 0.041", not for more."""
    shown, flipped = L.in_input_polarity(image, recs)
    why = [(L.to_display(image), "input x")] + [(L.to_display(r), f"#{i + 1} · {float(v):.3f}")
                                                for i, (r, v) in enumerate(zip(shown, losses))]
    order = np.argsort(losses)
    md = ("Tiles: the input x, then T(G(z)) of each solution and its loss between T(G(z)) and the input (lower "
          f"explains the input better). Best: #{order[0] + 1} ({float(losses[order[0]]):.3f}), worst: "
          f"#{order[-1] + 1} ({float(losses[order[-1]]):.3f}), mean {float(losses.mean()):.3f}.")
    if any(flipped):
        md += (" T(G(z)) is shown in the input's polarity: this model's T draws it inverted (dark on light for a "
               "light-on-dark input, or the reverse), which its loss does not penalise.")
    return why, md


def _curve_frame(curve: list[tuple[int, float, float]]) -> Any:
    """NAM's loss curve so far, for gr.LinePlot: the best and the mean loss of the K solutions per step."""
    import pandas as pd

    rows = [(s, b, "best of K") for s, b, _ in curve] + [(s, m, "mean of K") for s, _, m in curve]
    return pd.DataFrame(rows, columns=["step", "loss", "solutions"])


def _nam_bar(step: int, total: int, best: float | None, state: str = "running") -> str:
    """NAM's step/loss progress bar (HTML: a Markdown progress element is not rendered)."""
    pct = 100.0 * step / max(1, total)
    what = {"running": f"NAM: step {step}/{total}", "stopped": f"NAM stopped at step {step}/{total}",
            "done": f"NAM: {total} steps done"}[state]
    loss = f" · best loss {best:.3f}" if best is not None else ""
    return (f'<div class="nam-bar" data-step="{step}" data-state="{state}"><div class="nam-fill" '
            f'style="width:{pct:.0f}%"></div></div><div class="nam-text">{what}{loss}</div>')


def _need_state(state: dict[str, Any] | None) -> dict[str, Any]:
    if not state or state.get("input") is None:
        raise L.AppError("Press Map first: the sliders move the solutions of the last mapped input.")
    return state


@dataclass
class AppContext:
    """What the tabs' handlers share: the models, the start-up choices and pictures, and the Map requests'
    bookkeeping (queue admissions, the latest-request tickets, the NAM run of each browser session)."""

    reg: L.ModelRegistry
    demo: gr.Blocks
    main_tabs: gr.Tabs
    task0: str
    method0: str
    gen0: str
    kind0: str
    examples: list[tuple[Path, str]]
    tour: dict[str, tuple[str, str, str] | None]
    tour_figs: dict[str, str | None]
    loss_figs: list[tuple[str, str, str]]
    admissions: dict[str, Admission] = field(default_factory=dict)
    # Map and live previews of a session: the latest submitted one paints the gallery
    tickets: Tickets = field(default_factory=Tickets)
    streams: dict[str, LV.NamStream] = field(default_factory=dict)  # each session's NAM run, for its Stop button


@dataclass
class TranslateTab:
    """The Translate tab's components that other tabs and the page's events use."""

    task: Any
    method: Any
    generator: Any
    upload: Any
    avail: Any
    matrix: Any
    hint: Any
    buttons: list[Any]
    availability: Callable[..., Any]

    @property
    def sel(self) -> list[Any]:
        return [self.task, self.method, self.generator]


@dataclass
class GlannTab:
    """The GLANN tab's components that the Learn tab's "try it" button sets, and its refresh handler."""

    doms: list[str]
    dom0: str | None
    domain: Any
    kind: Any
    n: Any
    seed: Any
    refresh: list[Any]
    on_domain: Callable[..., Any]


def _translate_layout(ctx: AppContext, state: Any, source: Any) -> SimpleNamespace:
    """The Translate tab's components (inside its ``gr.Tab``)."""
    reg, task0, method0, gen0, kind0, examples = ctx.reg, ctx.task0, ctx.method0, ctx.gen0, ctx.kind0, ctx.examples
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            task = gr.Dropdown(L.TASK_CHOICES, value=task0, label="Task", elem_id="task")
            with gr.Row():
                method = gr.Radio(L.METHOD_CHOICES, value=method0, label="Method", elem_id="method")
                generator = gr.Radio(L.GENERATOR_CHOICES, value=gen0, label="Generator",
                                     elem_id="generator")
            st0 = reg.status(task0, method0, gen0)
            avail = gr.Markdown(st0.message, elem_id="availability")
            with gr.Accordion("Which models are available?", open=False):
                matrix = gr.Markdown(reg.matrix_markdown())
            with gr.Tabs(selected="draw") as input_tabs:
                with gr.Tab("Draw", id="draw") as tab_draw:
                    hint = gr.Markdown(L.draw_hint(task0))
                    # our own light canvas (not gr.Sketchpad): a stroke reaches the server with its event
                    sketch = draw_pad(elem_id="sketch")
                with gr.Tab("Upload", id="upload") as tab_upload:
                    # decoded by L.load_image, not by Gradio (events below use preprocess=False):
                    # our own limits and messages for huge, broken and non-image files
                    upload = gr.Image(label="Upload an image", type="filepath", image_mode=None,
                                      sources=["upload", "clipboard"], format="png", height=260,
                                      elem_id="upload")
                    gr.Markdown(L.UPLOAD_LIMITS_MD, elem_id="upload_limits")
                with gr.Tab("Examples", id="examples"):
                    ex_gallery = gr.Gallery(
                        value=[(str(p), L.example_caption(t)) for p, t in examples],
                        label="Click an example: it sets the task and the input (then press Map)",
                        # every row in view (no inner scrolling): about 160 px per row of 3
                        columns=3, height=max(1, -(-len(examples) // 3)) * 160 + 40,
                        allow_preview=False, object_fit="contain",
                        elem_classes=["pixelated"], elem_id="examples", interactive=False)
            with gr.Row():
                k = gr.Slider(1, L.MAX_K, value=8, step=1, label="Solutions K", elem_id="k")
                seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=L.MAX_SEED,
                                 elem_id="seed")
            label0 = "Map" if st0.available else "Map (model unavailable)"
            map_btn = gr.Button(label0, variant="primary", interactive=st0.available,
                                visible=not is_iterative(method0), elem_id="map")
            map_nam_btn = gr.Button(label0, variant="primary", interactive=st0.available,
                                    visible=is_iterative(method0), elem_id="map_nam")
            with gr.Row():
                live = gr.Checkbox(True, label="Live: translate as you draw (one-pass methods)",
                                   visible=LV.is_live_method(method0), elem_id="live")
                stop_btn = gr.Button("Stop NAM (keep the current solutions)", size="sm",
                                     variant="stop", visible=not LV.is_live_method(method0),
                                     elem_id="stop_nam")
            gr.Markdown(f"NAM optimises each input and runs in its own queue ({NAM_CONCURRENCY} at a "
                        f"time); the one-pass methods have {MAP_CONCURRENCY} workers of their own. "
                        "Your place in the queue is shown while you wait.", elem_id="queue_note")
            model_view = gr.Image(label="Model's view of the input", interactive=False, height=150,
                                  format="png", elem_classes=["pixelated"], elem_id="model_view")
        with gr.Column(scale=3, min_width=380):
            gallery = gr.Gallery(label="Solutions G(z) — click one to anchor", columns=4, height=420,
                                 format="png", allow_preview=False, object_fit="contain",
                                 elem_classes=["pixelated"], elem_id="gallery", interactive=False)
            latency = gr.Markdown("", elem_id="latency")
            with gr.Group(visible=not LV.is_live_method(method0), elem_id="nam_box") as nam_box:
                nam_bar = gr.HTML("", elem_id="nam_bar")
                loss_plot = gr.LinePlot(x="step", y="loss", color="solutions", height=180,
                                        label="NAM: reconstruction loss per step", x_title="step",
                                        y_title="loss", elem_id="loss_plot")
            download = gr.DownloadButton("Download all (zip of PNGs)", size="sm", elem_id="download")
            with gr.Accordion("Latent directions", open=True):
                kind = gr.Radio(L.DIRECTION_KINDS, value=kind0, label="Directions")
                dir_note = gr.Markdown("Press Map to get the directions of your input.")
                sliders = [gr.Slider(-L.SPAN, L.SPAN, value=0.0, step=0.1, label=f"Direction {i + 1}",
                                     visible=False, elem_id=f"dir{i}") for i in range(L.N_DIRECTIONS)]
                with gr.Row():
                    reset_btn = gr.Button("Reset", size="sm")
                    random_btn = gr.Button("Random", size="sm")
                anchor_md = gr.Markdown(_anchor_md(None))
                with gr.Row():
                    strip_dir = gr.Dropdown([f"Direction {i + 1}" for i in range(L.N_DIRECTIONS)],
                                            value="Direction 1", label="Strip: one direction, −3σ…+3σ")
                    strip_btn = gr.Button("Show strip", size="sm")
                # no label over the image: it hid the first frames (each frame says its σ below it)
                strip = gr.Image(label="Strip view: one direction from −3σ to +3σ", show_label=False,
                                 interactive=False, format="png", elem_classes=["pixelated"],
                                 elem_id="strip")
            # its state: a live stroke fills the panel only while it is open (nine tiles fewer per stroke)
            why_open = gr.State(False)
            with gr.Accordion("Why these solutions? (T(G(z)) vs the input)", open=False,
                              elem_id="why_box") as why_box:
                # no label over the tiles (it hid the input's corner): the accordion says what they are
                why = gr.Gallery(label="Input and T(G(z)) of each solution", show_label=False,
                                 columns=5, height=300,
                                 format="png", allow_preview=False, elem_classes=["pixelated"],
                                 object_fit="contain", interactive=False, elem_id="why")
                why_md = gr.Markdown("")
            with gr.Accordion("Compare with GANs (CycleGAN, DistanceGAN, DTN)", open=False,
                              visible=L.has_baselines(reg, task0), elem_id="compare_box") as compare_box:
                compare_btn = gr.Button("Compare the last mapped input", size="sm")
                compare = gr.Gallery(label="GAN baselines' analogies", columns=3, height="auto",
                                     format="png", allow_preview=False, object_fit="contain",
                                     elem_classes=["pixelated"], interactive=False)
                compare_md = gr.Markdown("")
    return SimpleNamespace(
        state=state, source=source, task=task, method=method, generator=generator, avail=avail, matrix=matrix,
        input_tabs=input_tabs, tab_draw=tab_draw, hint=hint, sketch=sketch, tab_upload=tab_upload, upload=upload,
        ex_gallery=ex_gallery, k=k, seed=seed, map_btn=map_btn, map_nam_btn=map_nam_btn, live=live,
        stop_btn=stop_btn, model_view=model_view, gallery=gallery, latency=latency, nam_box=nam_box,
        why_open=why_open, why_box=why_box,
        nam_bar=nam_bar, loss_plot=loss_plot, download=download, kind=kind, dir_note=dir_note, sliders=sliders,
        reset_btn=reset_btn, random_btn=random_btn, anchor_md=anchor_md, strip_dir=strip_dir, strip_btn=strip_btn,
        strip=strip, why=why, why_md=why_md, compare_box=compare_box, compare_btn=compare_btn, compare=compare,
        compare_md=compare_md)


def _map_events(ctx: AppContext, ui: SimpleNamespace) -> Callable[..., Any]:
    """The model choice, the input and Map (one-pass, NAM streamed, live preview): handlers and events. Returns
    the availability handler (the page's load event calls it too)."""
    reg, examples = ctx.reg, ctx.examples
    admissions, tickets, streams = ctx.admissions, ctx.tickets, ctx.streams

    def availability(task: str, method: str, generator: str) -> tuple[str, Any, Any, str]:
        """Availability note, the two Map buttons (one-pass queue / NAM queue: only the method's one is shown)."""
        st = reg.status(task, method, generator)
        label = "Map" if st.available else "Map (model unavailable)"
        nam = is_iterative(method)
        return (st.message, gr.Button(value=label, interactive=st.available, visible=not nam),
                gr.Button(value=label, interactive=st.available, visible=nam), L.draw_hint(task))

    @guarded
    def on_upload(task: str, upload: Any) -> tuple[Any, ...]:
        if upload is None:
            return "draw", gr.Tabs(), None
        view = L.to_display(L.upload_to_input(upload, task))
        return "upload", gr.Tabs(selected="upload"), view

    def on_example(method: str, generator: str, evt: gr.SelectData) -> tuple[str, str, str, str]:
        """The example's file and task, and a model of that task (the current one when it has it)."""
        path, task_name = examples[int(evt.index)]
        return (str(path), task_name, *L.choice_for_task(reg, task_name, method, generator))

    @guarded
    def on_task(task: str, method: str, generator: str, source: str, upload: Any) -> tuple[Any, ...]:
        L.check_choices(task, method, generator)
        msg, btn, nam_btn, hint = availability(task, method, generator)
        view = None  # the drawing as the previous task's model saw it
        if source == "upload" and upload is not None:
            try:
                view = L.to_display(L.upload_to_input(upload, task))
            except L.AppError as exc:
                gr.Warning(str(exc))
        return msg, btn, nam_btn, hint, view

    def cleared(task: str, method: str, generator: str) -> list[Any]:
        """A new task, method or generator: the gallery and everything derived from it belonged to the previous
        model, so they are emptied (and the state dropped: the sliders would move the old model's solutions)."""
        st = reg.status(task, method, generator)
        what = ("Press **Map** (or draw, with Live on) for this model's solutions." if st.available
                else "No solutions: this model is unavailable (see the note on the left).")
        # the model's view of the input is on_task's (it depends on the task only)
        return [None, None, gr.skip(), what, None, None, "", "Press Map to get the directions of your input.",
                _anchor_md(None), None, *_slider_updates(None), gr.skip(), None, ""]

    def map_validator(queue_id: str, max_waiting: int, what: str) -> Callable[..., list[Any]]:
        """Runs when a Map request is submitted, before it joins its queue: refuses it at once (a clear message
        instead of a long wait) when the queue is full (see Admission) or the seed is invalid."""
        admission = admissions[queue_id] = Admission(max_waiting)

        def validate(task: Any, method: Any, generator: Any, source: Any, sketch: Any, upload: Any, k: Any,
                     seed: Any, kind: Any, request: gr.Request) -> list[Any]:
            checks = [gr.validate(True, "") for _ in range(9)]
            try:
                L.parse_seed(seed)
            except L.AppError as exc:
                checks[7] = gr.validate(False, str(exc))
                return checks
            waiting = admission.admit(queue_waiting(ctx.demo, queue_id))
            if waiting is not None:
                checks[0] = gr.validate(False, f"The server is busy: {waiting} {what} requests are already "
                                               "waiting. Try again in a minute.")
            else:
                tickets.stamp(request)
            return checks

        return validate

    def _map(task: Any, method: Any, generator: Any, source: str, sketch: Any, upload: Any, k: Any, seed: Any,
             kind: Any, progress: gr.Progress) -> list[Any]:
        L.check_choices(task, method, generator, kind)
        k = L.parse_int(k, "Solutions K", 1, L.MAX_K, default=8)
        seed = L.parse_seed(seed)
        image = L.choose_input(task, source, L.pad_value(sketch), upload)
        res = L.run_map(reg, task, method, generator, image, k, seed, kind,
                        progress=lambda f, d: progress(f, desc=d))
        return _map_outputs(task, method, generator, image, k, seed, kind, res)

    def _map_outputs(task: str, method: str, generator: str, image: np.ndarray, k: int, seed: int, kind: str,
                     res: L.MapResult, extra: str = "") -> list[Any]:
        for w in res.warnings:
            gr.Warning(w)
        state = {"task": task, "method": method, "generator": generator, "input": image, "k": k,
                 "seed": seed, "kind": kind, "anchor": None, "count": res.directions.count,
                 "coefs": [0.0] * L.N_DIRECTIONS}
        caps = [f"{c} · loss {float(v):.3f}" for c, v in zip(res.captions, res.losses)]  # in rank order
        why, why_md = _why_panel(image, res.reconstructions, res.losses)
        lat = (_latency(f"Map ({L.METHOD_LABEL[method]}, K={k})", res.ms, res.device) + extra
               + f"  \n{res.rank_note}")
        state["kind"] = _shown_kind(res.directions.kind)
        return [state, _gallery(res.outputs, caps), L.to_display(image), lat,
                str(res.zip_path), why, why_md, res.directions.note,
                _anchor_md(None), None, *_slider_updates(res.directions), gr.Radio(value=state["kind"])]

    def live_validator(task: Any, method: Any, generator: Any, sketch: Any, k: Any, seed: Any, kind: Any,
                       live_on: Any, why_open: Any, request: gr.Request) -> list[Any]:
        """A stroke's preview takes its ticket when submitted (see Tickets); it is never refused."""
        if live_on and LV.is_live_method(str(method)):
            tickets.stamp(request)
        return [gr.validate(True, "") for _ in (task, method, generator, sketch, k, seed, kind, live_on, why_open)]

    def on_live(task: Any, method: Any, generator: Any, sketch: Any, k: Any, seed: Any, kind: Any,
                live_on: Any, why_open: Any, request: gr.Request) -> list[Any]:
        """One stroke of a one-pass method: the gallery and the why-panel of the drawing so far (no zip; per-input
        directions wait for Map). Nothing changes while the canvas is empty or the input is not servable: no
        message per stroke (Map says what is wrong)."""
        skip = [gr.skip()] * (11 + L.N_DIRECTIONS)
        if not live_on or not LV.is_live_method(str(method)):
            return skip
        ticket = tickets.of(request)
        try:
            L.check_choices(task, method, generator, kind)
            k = L.parse_int(k, "Solutions K", 1, L.MAX_K, default=8)
            image = L.sketch_to_input(L.pad_value(sketch), task)
            res = LV.run_live(reg, task, method, generator, image, k, L.parse_seed(seed), kind)
        except L.AppError:
            return skip
        except Exception:  # noqa: BLE001 - a preview must never break drawing
            log.exception("live preview failed")
            return skip
        if not tickets.is_latest(_session(request), ticket):  # a Map (or a newer stroke) came after this one
            return skip
        info = res.directions
        state = {"task": task, "method": method, "generator": generator, "input": image, "k": k,
                 "seed": L.parse_seed(seed), "kind": kind, "anchor": None, "count": info.count if info else 0,
                 "coefs": [0.0] * L.N_DIRECTIONS, "live": True}
        caps = [f"{c} · loss {float(v):.3f}" for c, v in zip(res.captions, res.losses)]
        if why_open:
            why, why_md = _why_panel(image, res.reconstructions, res.losses)
        else:  # filled when the panel is opened (on_why_open)
            why, why_md, state["why_stale"] = [], "", True
        lat = _latency(f"Live ({L.METHOD_LABEL[method]}, K={k})", res.ms, res.device) + f"  \n{res.rank_note}"
        note = (info.note if info is not None else "Live preview: press **Map** for this drawing's per-input "
                "directions (and the zip).")
        shown, fallback = L.resolve_kind(reg.get(task, method, generator), str(kind))
        if fallback:  # said here, not in a toast per stroke
            note = f"{fallback[0]} {note}"
        state["kind"] = _shown_kind(shown)
        return [state, _gallery(res.outputs, caps), L.to_display(image), lat, None, why, why_md, note,
                _anchor_md(None), None, *_slider_updates(info), gr.Radio(value=state["kind"])]

    @L.gpu()
    @guarded
    def on_map(task: Any, method: Any, generator: Any, source: str, sketch: Any, upload: Any, k: Any, seed: Any,
               kind: Any, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        """Map with a one-pass method (its own queue: see MAP_CONCURRENCY). Its result is dropped when a stroke
        drawn meanwhile has a newer live preview (latest request wins, see Tickets)."""
        if MAP_QUEUE in admissions:
            admissions[MAP_QUEUE].started()
        if is_iterative(method):
            raise L.AppError("NAM optimises every input and runs in its own queue: use the NAM Map button "
                             "(API: /map_nam).")
        ticket = tickets.of(request)
        out = _map(task, method, generator, source, sketch, upload, k, seed, kind, progress)
        if not tickets.is_latest(_session(request), ticket):
            return [gr.skip()] * len(out)
        return out

    def nam_gpu_seconds(task: Any, method: Any, generator: Any, *_: Any, **__: Any) -> int:
        """ZeroGPU's duration for a NAM Map (the call's own arguments): its optimisation's step budget."""
        steps = reg.nam_steps
        if steps is None:
            try:
                steps = int(getattr(reg.get(str(task), str(method), str(generator)), "nam_steps", 0)) or None
            except Exception:  # noqa: BLE001 - the call itself says what is wrong; ask for the default budget
                steps = None
        return L.gpu_seconds(steps)

    @L.gpu(duration=nam_gpu_seconds)
    @guarded_stream
    def on_map_nam(task: Any, method: Any, generator: Any, source: str, sketch: Any, upload: Any, k: Any,
                   seed: Any, kind: Any, request: gr.Request) -> Iterator[list[Any]]:
        """Map with NAM's per-input optimisation (its own queue: see NAM_CONCURRENCY), streamed: the K current
        solutions, T(G(z)), the loss curve and a step bar every few steps, then the ranked result as a Map."""
        if NAM_QUEUE in admissions:
            admissions[NAM_QUEUE].started()
        if not is_iterative(method):
            raise L.AppError("This queue is for NAM only: map one-pass methods with the Map button (API: /map).")
        L.check_choices(task, method, generator, kind)
        k = L.parse_int(k, "Solutions K", 1, L.MAX_K, default=8)
        seed = L.parse_seed(seed)
        image = L.choose_input(task, source, L.pad_value(sketch), upload)
        stream = LV.NamStream(reg, task, method, generator, image, k, seed, kind)
        sid = getattr(request, "session_hash", None) or ""
        streams[sid] = stream
        view: Any = L.to_display(image)
        keep = [gr.skip()] * (4 + L.N_DIRECTIONS)  # dir_note, anchor, strip, sliders, kind: by the final result
        try:
            for item in stream:
                if isinstance(item, LV.NamSnapshot):
                    caps = [f"#{i + 1} · loss {float(v):.3f}" for i, v in enumerate(item.losses)]
                    why, why_md = _why_panel(image, item.reconstructions, item.losses)
                    lat = f"NAM optimising: step {item.step}/{item.total} (the K current solutions, best first)"
                    yield [gr.skip(), _gallery(item.outputs, caps), view, lat, gr.skip(), why, why_md, *keep,
                           _curve_frame(item.curve), _nam_bar(item.step, item.total, float(item.losses[0]))]
                    view = gr.skip()
                else:  # cached solutions (the same drawing again) come without any step
                    total = int(getattr(stream.tr, "nam_steps", 0) or 0) or max(1, len(stream.curve))
                    extra = f" · stopped at step {stream.stopped_at}/{total}" if stream.stopped_at else ""
                    yield [*_map_outputs(task, method, generator, image, k, seed, kind, item, extra),
                           _curve_frame(stream.curve),
                           _nam_bar(stream.stopped_at or total, total, float(item.losses.min()),
                                    "stopped" if stream.stopped_at else "done")]
        finally:
            if streams.get(sid) is stream:
                del streams[sid]

    def on_stop_nam(request: gr.Request) -> None:
        """Stop: NAM ends after its current step and shows (and caches, for the sliders) the solutions so far."""
        stream = streams.get(getattr(request, "session_hash", None) or "")
        if stream is not None:
            stream.stop()

    def on_why_open(state: dict[str, Any] | None) -> tuple[Any, ...]:
        """The why-panel opened: fill it for the live drawing when the strokes skipped it (the Translator has those
        solutions cached: no new translation)."""
        if not state or not state.get("why_stale") or state.get("input") is None:
            return True, gr.skip(), gr.skip(), gr.skip()
        try:
            res = LV.run_live(reg, state["task"], state["method"], state["generator"], state["input"],
                              int(state["k"]), int(state["seed"]), str(state["kind"]))
        except Exception:  # noqa: BLE001 - the panel stays empty; the next Map fills it
            log.exception("why-panel refresh failed")
            return True, gr.skip(), gr.skip(), gr.skip()
        why, why_md = _why_panel(state["input"], res.reconstructions, res.losses)
        return True, {**state, "why_stale": False}, why, why_md

    def on_download_click(state: dict[str, Any] | None) -> None:
        if not state or state.get("input") is None:
            gr.Warning("Nothing to download yet: press Map first, then Download all saves the gallery as PNGs.")
        elif state.get("live"):
            gr.Warning("The live preview has no zip: press Map, then Download all saves the gallery as PNGs.")

    sel = [ui.task, ui.method, ui.generator]
    buttons = [ui.map_btn, ui.map_nam_btn]
    for comp in (ui.method, ui.generator):
        comp.change(availability, sel, [ui.avail, *buttons, ui.hint], api_name=False, queue=False)
    ui.task.change(on_task, [*sel, ui.source, ui.upload], [ui.avail, *buttons, ui.hint, ui.model_view],
                   api_name=False, preprocess=False)
    ui.upload.change(on_upload, [ui.task, ui.upload], [ui.source, ui.input_tabs, ui.model_view],
                     api_name="preview_upload", preprocess=False)
    ui.ex_gallery.select(on_example, [ui.method, ui.generator], [ui.upload, ui.task, ui.method, ui.generator],
                         api_name=False, queue=False)
    ui.tab_draw.select(lambda: "draw", None, ui.source, api_name=False, queue=False)
    ui.tab_upload.select(lambda: "upload", None, ui.source, api_name=False, queue=False)
    map_outputs = _map_outputs_of(ui)
    map_inputs = [*sel, ui.source, ui.sketch, ui.upload, ui.k, ui.seed, ui.kind]
    # preprocess=False: the sketch and the upload arrive as FileData (already checked and moved into Gradio's
    # cache) and are decoded by L.load_image; seeds and K are parsed by L.parse_seed / L.parse_int
    # a failed one-pass Map says so once (the toast, then the status line) and keeps the last good gallery:
    # no progress overlay on its outputs, since Gradio paints an "Error" badge over every overlaid component
    # the first, browser-only step says "Mapping…" at once (the pad has set its value at the pointer-up already)
    ui.map_btn.click(None, None, ui.latency, js=f"() => {MAPPING_NOTE!r}", api_name=False, queue=False).then(
        on_map, map_inputs, map_outputs, api_name="map", concurrency_id=MAP_QUEUE, concurrency_limit=MAP_CONCURRENCY,
        preprocess=False, show_progress="hidden", validator=map_validator(MAP_QUEUE, MAP_MAX_WAITING, "Map")).failure(
        lambda: MAP_FAILED, None, ui.latency, api_name=False, queue=False)
    # NAM streams into the gallery: its place in the queue and any error show on the step bar only
    ui.map_nam_btn.click(
        on_map_nam, map_inputs, [*map_outputs, ui.loss_plot, ui.nam_bar], api_name="map_nam",
        concurrency_id=NAM_QUEUE, concurrency_limit=NAM_CONCURRENCY, preprocess=False, show_progress="full",
        show_progress_on=[ui.nam_bar], validator=map_validator(NAM_QUEUE, NAM_MAX_WAITING, "NAM"))
    ui.stop_btn.click(on_stop_nam, None, None, api_name="stop_nam", queue=False)
    # live drawing: every stroke (the latest one: a request waiting behind a running one is replaced)
    live_inputs = [*sel, ui.sketch, ui.k, ui.seed, ui.kind, ui.live, ui.why_open]
    ui.sketch.change(on_live, live_inputs, map_outputs, api_name="live", concurrency_id="live",
                     concurrency_limit=LIVE_CONCURRENCY, preprocess=False, show_progress="hidden",
                     trigger_mode="always_last", validator=live_validator)
    ui.why_box.expand(on_why_open, ui.state, [ui.why_open, ui.state, ui.why, ui.why_md], api_name=False,
                      show_progress="hidden")
    ui.why_box.collapse(lambda: False, None, ui.why_open, api_name=False, queue=False)
    ui.method.change(lambda m: (gr.Checkbox(visible=LV.is_live_method(m)),
                                gr.Button(visible=not LV.is_live_method(m)),
                                gr.Group(visible=not LV.is_live_method(m))),
                     ui.method, [ui.live, ui.stop_btn, ui.nam_box], api_name=False, queue=False)
    # after Map's outputs exist: the previous model's results are cleared on every change of model
    for comp in sel:
        comp.change(cleared, sel, [*map_outputs, ui.loss_plot, ui.nam_bar], api_name=False, queue=False,
                    show_progress="hidden")
    ui.download.click(on_download_click, ui.state, None, api_name=False)  # queued: toasts need the queue
    return availability


def _map_outputs_of(ui: SimpleNamespace) -> list[Any]:
    """What Map (and the live preview, and a change of model) writes: the state, the gallery and all derived."""
    return [ui.state, ui.gallery, ui.model_view, ui.latency, ui.download, ui.why, ui.why_md, ui.dir_note,
            ui.anchor_md, ui.strip, *ui.sliders, ui.kind]


def _direction_events(ctx: AppContext, ui: SimpleNamespace) -> None:
    """The latent directions (sliders, reset, random, kind, strip, anchor) and the GAN comparison of the last
    mapped input: handlers and events."""
    reg = ctx.reg

    @guarded
    def on_compare(state: dict[str, Any] | None) -> tuple[Any, str, str]:
        state = _need_state(state)
        res = L.run_compare(reg, state["task"], state["input"])
        return ([(L.to_display(img), label) for img, label in res.outputs], res.message,
                _latency("Compare with GANs", res.ms))

    def _render(state: dict[str, Any], kind: str, coefs: list[float]) -> tuple[list[Any], str, Any]:
        res = L.run_explore(reg, state["task"], state["method"], state["generator"], state["input"], state["k"],
                            state["seed"], coefs, kind, None)
        for w in res.warnings:
            gr.Warning(w)
        state["coefs"] = list(coefs)
        anchor = state.get("anchor")
        caps = [f"#{i + 1}" + (" (anchor)" if anchor == i else "") for i in range(len(res.outputs))]
        return (_gallery(res.outputs, caps), _latency("Directions update", res.ms, "one batched forward pass"),
                str(res.zip_path))

    @L.gpu()
    @guarded
    def on_explore(state: dict[str, Any] | None, kind: str, *coefs: float) -> tuple[Any, ...]:
        state = _need_state(state)
        gal, lat, dl = _render(state, kind, [float(c) for c in coefs])
        return gal, lat, dl, state

    @L.gpu()
    @guarded
    def on_reset(state: dict[str, Any] | None, kind: str) -> tuple[Any, ...]:
        state = _need_state(state)
        state["anchor"] = None
        zeros = [0.0] * L.N_DIRECTIONS
        gal, lat, dl = _render(state, kind, zeros)
        return (*zeros, gal, lat, dl, state, _anchor_md(None), None)

    @L.gpu()
    @guarded
    def on_random(state: dict[str, Any] | None, kind: str) -> tuple[Any, ...]:
        state = _need_state(state)
        rng = np.random.default_rng(time.time_ns() % (2**32))
        coefs = L.random_coefficients(rng, count=state.get("count"))
        gal, lat, dl = _render(state, kind, coefs)
        return (*coefs, gal, lat, dl, state)

    @L.gpu()
    @guarded
    def on_kind(state: dict[str, Any] | None, kind: str) -> tuple[Any, ...]:
        """A new kind of directions: its sliders, the gallery at 0, and the strip redrawn along it (when a solution
        is anchored; else emptied). A kind the checkpoint lacks is said once and the radio moves to what is shown."""
        if not state or state.get("input") is None:
            return (gr.skip(),) * (L.N_DIRECTIONS + 7)
        key = (state["task"], state["method"], state["generator"])
        tr = reg.get(*key)
        with reg.lock(*key):
            info, warns = L.direction_info(tr, state["input"], state["k"], state["seed"], kind)
        for w in warns:
            gr.Warning(w)
        shown = _shown_kind(info.kind)
        state["count"], state["kind"] = info.count, shown
        gal, lat, dl = _render(state, shown, [0.0] * L.N_DIRECTIONS)  # resolved: no second warning
        strip = None
        if state.get("anchor") is not None and info.count:
            strip, lat = _strip(state, shown, state.get("strip_dir") or "Direction 1")
        return (info.note, *_slider_updates(info), gal, lat, dl, state, gr.Radio(value=shown), strip)

    def _strip(state: dict[str, Any], kind: str, direction: str) -> tuple[np.ndarray, str]:
        state["strip_dir"] = direction  # a new kind of directions redraws this strip
        d = int(str(direction).split()[-1]) - 1 if direction else 0
        anchor = state.get("anchor") or 0
        imgs, caps, ms = L.run_strip(reg, state["task"], state["method"], state["generator"], state["input"],
                                     state["k"], state["seed"], d, kind, anchor)
        what = f"Strip of direction {d + 1} around solution #{anchor + 1} ({caps[0]} … {caps[-1]})"
        return L.strip_image(imgs, captions=caps), _latency(what, ms)

    @L.gpu()
    @guarded
    def on_strip(state: dict[str, Any] | None, kind: str, direction: str) -> tuple[Any, ...]:
        state = _need_state(state)
        if not state.get("count"):
            raise L.AppError("No latent direction is available for this input (see the note above the sliders).")
        return _strip(state, kind, direction)

    @L.gpu()
    @guarded
    def on_select(state: dict[str, Any] | None, kind: str, direction: str, evt: gr.SelectData) -> tuple[Any, ...]:
        state = _need_state(state)
        idx = evt.index if isinstance(evt.index, int) else int(np.ravel(evt.index)[0])
        state["anchor"] = idx
        if state.get("count"):
            strip, lat = _strip(state, kind, direction)
        else:
            strip, lat = None, gr.skip()
        return state, _anchor_md(idx), strip, lat

    state, kind, sliders = ui.state, ui.kind, ui.sliders
    gallery, latency, download = ui.gallery, ui.latency, ui.download
    for i, s in enumerate(sliders):
        s.release(on_explore, [state, kind, *sliders], [gallery, latency, download, state],
                  api_name="explore" if i == 0 else f"explore_{i}", show_progress="hidden",
                  api_visibility="public" if i == 0 else "undocumented", trigger_mode="always_last")
    # the direction controls are quick: their errors ("press Map first") are a toast, not badges on the gallery
    ui.reset_btn.click(on_reset, [state, kind], [*sliders, gallery, latency, download, state, ui.anchor_md, ui.strip],
                       api_name="reset", show_progress="hidden").success(
        # the anchored tile loses its highlight with the anchor (a separate update: /reset's output stays
        # the gallery's images for API clients)
        lambda: gr.Gallery(selected_index=None), None, gallery, api_name=False, queue=False,
        show_progress="hidden")
    ui.random_btn.click(on_random, [state, kind], [*sliders, gallery, latency, download, state], api_name="random",
                        show_progress="hidden")
    # .input: the radio set by Map to the kind it shows does not start another round of directions
    kind.input(on_kind, [state, kind], [ui.dir_note, *sliders, gallery, latency, download, state, kind, ui.strip],
               api_name="directions_kind", show_progress="hidden")
    ui.strip_btn.click(on_strip, [state, kind, ui.strip_dir], [ui.strip, latency], api_name="strip",
                       show_progress_on=[ui.strip])
    ui.compare_btn.click(on_compare, [state], [ui.compare, ui.compare_md, latency], api_name="compare")
    gallery.select(on_select, [state, kind, ui.strip_dir], [state, ui.anchor_md, ui.strip, latency],
                   api_name=False, show_progress_on=[ui.strip])
    # a new task: no GAN panel where no GAN baseline exists; its old results belonged to the previous task
    ui.task.change(lambda t: (gr.Accordion(visible=L.has_baselines(reg, t)), None, ""), ui.task,
                   [ui.compare_box, ui.compare, ui.compare_md], api_name=False, queue=False)
    for b in (ui.map_btn, ui.map_nam_btn):  # the GAN results belong to the previous input
        b.click(lambda: (None, ""), None, [ui.compare, ui.compare_md], api_name=False, queue=False)


def _translate_tab(ctx: AppContext, state: Any, source: Any) -> TranslateTab:
    """Translate: draw or upload an input, Map it with the chosen model, explore the solutions."""
    ui = _translate_layout(ctx, state, source)
    availability = _map_events(ctx, ui)
    _direction_events(ctx, ui)
    return TranslateTab(ui.task, ui.method, ui.generator, ui.upload, ui.avail, ui.matrix, ui.hint,
                        [ui.map_btn, ui.map_nam_btn], availability)


def _glann_tab(ctx: AppContext, tab_glann: Any) -> GlannTab:
    """GLANN: sample, interpolate and invert the generators (inside its ``gr.Tab``, given as ``tab_glann``)."""
    reg, task0 = ctx.reg, ctx.task0

    def invert_gpu_seconds(domain: Any, image: Any, steps: Any, *_: Any, **__: Any) -> int:
        try:
            n = L.parse_int(steps, "Optimisation steps", 10, 1000, default=150)
        except L.AppError:
            n = 1000
        return L.gpu_seconds(n)  # its 4 restarts run side by side in each step

    @L.gpu()
    @guarded
    def on_sample(domain: str, kind: str, n: float, seed: float) -> tuple[Any, str]:
        imgs, ms = L.glann_sample(reg, domain, kind, n, seed)
        return _gallery(imgs), _latency(f"{int(n)} samples", ms)

    @L.gpu()
    @guarded
    def on_interp(domain: str, kind: str, a: float, b: float, steps: float) -> tuple[Any, str]:
        imgs, ms = L.glann_interpolate(reg, domain, a, b, L.parse_int(steps, "Steps", 2, 16, default=8), kind)
        caps = [f"t = {t:.2f}" for t in np.linspace(0, 1, len(imgs))]
        return _gallery(imgs, caps), _latency("Interpolation", ms)

    @L.gpu(duration=invert_gpu_seconds)
    @guarded
    def on_invert(domain: str, image: Any, steps: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
        steps = L.parse_int(steps, "Optimisation steps", 10, 1000, default=150)
        x, rec, loss, ms = L.glann_invert(reg, domain, image, steps, progress=lambda f, d: progress(f, desc=d))
        return ([(L.to_display(x), "input (model size)"), (L.to_display(rec), f"G(T(e*)) · loss {loss:.3f}")],
                _latency("Inversion", ms, f"{steps} steps × 4 restarts"))

    def glann_domains(current: str | None) -> Any:
        doms = reg.generator_domains()
        value = current if current in doms else (doms[0] if doms else None)
        return gr.Dropdown(choices=[(L.domain_label(d), d) for d in doms], value=value)

    def glann_kinds(domain: str | None, current: str | None = None) -> Any:
        """The Generator radio offers only the kinds that exist for ``domain`` (no DCGAN of shoes or handbags)."""
        kinds = L.generator_kinds(reg, domain) if domain else []
        return gr.Radio(choices=[(L.GENERATOR_LABEL[g], g) for g in kinds],
                        value=current if current in kinds else (kinds[0] if kinds else None))

    @L.gpu()
    @guarded
    def on_glann_domain(domain: str | None, kind: str | None, n: float, seed: float) -> tuple[Any, ...]:
        """New domain or kind: fresh samples of it, and the other galleries cleared (they showed the old one)."""
        radio = glann_kinds(domain, kind)
        kinds = L.generator_kinds(reg, domain) if domain else []
        kind = kind if kind in kinds else (kinds[0] if kinds else None)
        if domain is None or kind is None:
            return radio, [], "", [], []
        gal, lat = on_sample(domain, kind, n, seed)
        return radio, gal, lat, [], []

    gr.Markdown("GLANN samples images from noise without an adversary: G(T(e)), e ~ N(0, I).")
    doms = reg.generator_domains()
    dom0 = L.TASKS[task0].target if L.TASKS[task0].target in doms else (doms[0] if doms else None)
    kinds0 = L.generator_kinds(reg, dom0) if dom0 else []
    with gr.Row():
        g_domain = gr.Dropdown([(L.domain_label(d), d) for d in doms], value=dom0, label="Domain",
                               elem_id="g_domain")
        g_kind = gr.Radio([(L.GENERATOR_LABEL[g], g) for g in kinds0],
                          value=kinds0[0] if kinds0 else None,  # in menu order: the first generator when present
                          label="Generator", elem_id="g_kind")
    g_latency = gr.Markdown("")
    with gr.Accordion("Sample", open=True):
        with gr.Row():
            g_n = gr.Slider(1, 64, value=16, step=1, label="Images")
            g_seed = gr.Number(0, precision=0, label="Seed", minimum=0, maximum=L.MAX_SEED)
            g_btn = gr.Button("Sample", variant="primary")
        g_gallery = gr.Gallery(columns=8, height="auto", format="png", allow_preview=False,
                               object_fit="contain", elem_classes=["pixelated"], label="Samples",
                               interactive=False, elem_id="g_gallery")
    with gr.Accordion("Interpolate between two seeds", open=False):
        with gr.Row():
            i_a = gr.Number(1, precision=0, label="Seed A", minimum=0, maximum=L.MAX_SEED)
            i_b = gr.Number(2, precision=0, label="Seed B", minimum=0, maximum=L.MAX_SEED)
            i_steps = gr.Slider(2, 16, value=8, step=1, label="Steps")
            i_btn = gr.Button("Interpolate")
        i_gallery = gr.Gallery(columns=8, height="auto", format="png", allow_preview=False,
                               object_fit="contain", elem_classes=["pixelated"], label="Interpolation",
                               interactive=False)
    with gr.Accordion("Invert an image (find e with G(T(e)) ≈ image)", open=False):
        with gr.Row():
            v_img = gr.Image(label="Image", type="filepath", image_mode=None, height=200,
                             sources=["upload", "clipboard"])  # decoded by L.load_image
            v_steps = gr.Slider(20, 500, value=150, step=10, label="Optimisation steps")
            v_btn = gr.Button("Invert")
        # whole images: tiles no taller than the gallery (2 columns of the full width were taller,
        # so only their top showed) and "contain" (Gradio's default "cover" crops to the tile)
        v_gallery = gr.Gallery(columns=4, height=330, fit_columns=False, format="png", allow_preview=False,
                               object_fit="contain", elem_classes=["pixelated"], label="Inversion",
                               interactive=False, elem_id="v_gallery")
        gr.Markdown(L.UPLOAD_LIMITS_MD)
    g_btn.click(on_sample, [g_domain, g_kind, g_n, g_seed], [g_gallery, g_latency], api_name="glann_sample")
    i_btn.click(on_interp, [g_domain, g_kind, i_a, i_b, i_steps], [i_gallery, g_latency],
                api_name="glann_interpolate")
    v_btn.click(on_invert, [g_domain, v_img, v_steps], [v_gallery, g_latency], api_name="glann_invert",
                preprocess=False)
    glann_refresh = [g_kind, g_gallery, g_latency, i_gallery, v_gallery]
    tab_glann.select(glann_domains, g_domain, g_domain, api_name=False, queue=False).then(
        on_glann_domain, [g_domain, g_kind, g_n, g_seed], glann_refresh, api_name=False)
    g_domain.input(on_glann_domain, [g_domain, g_kind, g_n, g_seed], glann_refresh, api_name=False)
    g_kind.input(on_glann_domain, [g_domain, g_kind, g_n, g_seed], glann_refresh, api_name=False)
    return GlannTab(doms, dom0, g_domain, g_kind, g_n, g_seed, glann_refresh, on_glann_domain)


SAMPLE_TAB = "glann_tab"  # the key (and ``try_<key>`` element id) of the tour's button that opens the GLANN tab


def _learn_tab(ctx: AppContext, doms: list[str]) -> dict[str, list[gr.Button]]:
    """Learn: the tour (static pictures drawn at start-up), the results, the loss curves, the models. Returns the
    tour's "try it" buttons by idea key (SAMPLE_TAB: the GLANN tab's), wired by :func:`_try_events`."""
    reg, tour, tour_figs, loss_figs = ctx.reg, ctx.tour, ctx.tour_figs, ctx.loss_figs
    # static content only (pictures drawn at start-up): the tab shows at once, with no request
    gr.Markdown(L.TOUR_INTRO, elem_id="tour_intro")
    try_btns: dict[str, list[gr.Button]] = {}
    for idea in L.TOUR_IDEAS:
        key = idea.key
        gr.Markdown(f"#### {idea.title}\n\n{idea.text}", elem_classes=["tour-text"])
        if tour_figs.get(key):
            gr.Image(tour_figs[key], show_label=False, interactive=False, format="png",
                     buttons=["fullscreen"], elem_id=f"tour_{key}", elem_classes=["tour-figure"])
        with gr.Row():
            combo = tour.get(key)
            if combo is not None:
                what = f"{L.METHOD_LABEL[combo[1]]} on {L.task_label(combo[0])}"
                if idea.generator is not None:
                    what = f"{L.METHOD_LABEL[combo[1]]} with a {L.GENERATOR_LABEL[idea.generator]} generator"
                try_btns.setdefault(key, []).append(gr.Button(f"Try it: {what}", size="sm",
                                                              elem_id=f"try_{key}"))
            if idea.sample_tab and doms:
                try_btns.setdefault(SAMPLE_TAB, []).append(gr.Button(
                    f"Try it: sample {L.GENERATOR_LABEL[idea.generator]} in the GLANN tab", size="sm",
                    elem_id=f"try_{SAMPLE_TAB}"))
    gr.Markdown("### Results", elem_id="results_head")
    gr.Markdown(L.compact_results_markdown(reg.root), elem_id="results_compact")
    gr.Markdown(L.RESULTS_NOTE + " [The full table: every generator and metric →](results)",
                elem_id="results_note")
    with gr.Accordion("Loss curves, grouped", open=False, elem_id="loss_curves"):
        for title, text, path in loss_figs:
            gr.Markdown(f"**{title}.** {text}")
            gr.Image(path, show_label=False, interactive=False, format="png", buttons=[])
        if not loss_figs:
            gr.Markdown("No training history in the checkpoints folder.")
    with gr.Accordion("Available models", open=False):
        gr.Markdown(reg.matrix_markdown())
    return try_btns


def _try_events(ctx: AppContext, try_btns: dict[str, list[gr.Button]], tr: TranslateTab, gl: GlannTab) -> None:
    """The tour's "try it" buttons: the Translate tab set to the idea's model, or the GLANN tab sampling."""
    tour, main_tabs = ctx.tour, ctx.main_tabs
    task, method, generator, upload = tr.task, tr.method, tr.generator, tr.upload

    def on_try(idea: str) -> tuple[Any, ...]:
        """A tour idea's "try it": the Translate tab set to its model, with the task's first example loaded."""
        t, m, g = tour[idea]  # type: ignore[misc]
        ex = L.EXAMPLES_DIR / f"{t}_1.png"
        return gr.Tabs(selected="translate"), t, m, g, (str(ex) if ex.exists() else gr.skip())

    for key, btns in try_btns.items():
        for b in btns:
            if key == SAMPLE_TAB:
                b.click(lambda: (gr.Tabs(selected="glann"), gl.dom0), None, [main_tabs, gl.domain],
                        api_name=False, queue=False).then(
                    gl.on_domain, [gl.domain, gl.kind, gl.n, gl.seed], gl.refresh, api_name=False)
            else:
                b.click(functools.partial(on_try, key), None, [main_tabs, task, method, generator, upload],
                        api_name=False, queue=False)


def _results_page(reg: L.ModelRegistry) -> None:
    """The whole evaluation on a page of its own (inside its ``demo.route``)."""
    gr.Markdown("# NAM Studio: the full evaluation\n[← back to the app](./)")
    gr.Markdown(L.full_results_markdown(reg.root), elem_id="full_results")
    fig0 = L.results_figure(reg.root)
    if fig0:
        gr.Image(fig0, label="Evaluation figure", interactive=False, buttons=["fullscreen"])


def build_demo(checkpoints_dir: str | Path | None = None, device: str | None = None,
               cache_cleanup: tuple[int, int] | None = CACHE_CLEANUP,
               extra_roots: tuple[str | Path, ...] = ()) -> gr.Blocks:
    """The Blocks app; ``checkpoints_dir`` (else ``$NAM_CHECKPOINTS_DIR``, else ./checkpoints) holds the models,
    ``extra_roots`` are searched after it (the shipped models beside a user's own); ``cache_cleanup`` is Gradio's
    ``delete_cache`` (frequency, age) in seconds."""
    gradio_cache.install()  # streamed results re-send the same images: no rewrite under a download
    reg = L.ModelRegistry(checkpoints_dir, device=device, extra_roots=extra_roots)
    task0, method0, gen0 = reg.default_choice()
    examples = L.example_paths(tasks=L.servable_tasks(reg))  # no example that leads to a disabled Map button
    # the Learn tab's pictures: drawn once from the models and cached on disk, so the tab only shows files
    tour_figs, tour = L.tour_figures(reg), L.tour_combos(reg)
    loss_figs = L.loss_curve_figures(reg.root)
    try:
        kind0 = "style" if len(reg.get(task0, method0, gen0).style_dirs.vectors) else "input"
    except (L.AppError, AttributeError, TypeError):  # no such model, or no style directions in it
        kind0 = "input"

    with gr.Blocks(title="NAM Studio", analytics_enabled=False, delete_cache=cache_cleanup) as demo:
        gr.Markdown(HEADER)
        state = gr.State(None)
        source = gr.State("draw")
        with gr.Tabs() as main_tabs:
            ctx = AppContext(reg, demo, main_tabs, task0, method0, gen0, kind0, examples, tour, tour_figs,
                             loss_figs)
            with gr.Tab("Translate", id="translate"):
                tr = _translate_tab(ctx, state, source)
            with gr.Tab("GLANN", id="glann") as tab_glann:
                gl = _glann_tab(ctx, tab_glann)
            with gr.Tab("Learn", id="learn"):
                try_btns = _learn_tab(ctx, gl.doms)
            with gr.Tab("Studio", id="studio"):  # train on your own images (nam_core/serving/studio_tab.py)
                build_studio_tab(reg, task=tr.task, method=tr.method, generator=tr.generator, tabs=main_tabs)
        _try_events(ctx, try_btns, tr, gl)
        demo.load(tr.availability, tr.sel, [tr.avail, *tr.buttons, tr.hint], api_name=False, queue=False)
        demo.load(lambda: reg.matrix_markdown(), None, tr.matrix, api_name=False, queue=False)

    # the whole evaluation on a page of its own (linked from the Learn tab), where its wide table has room
    with demo.route("Full results", "results", show_in_navbar=False):
        _results_page(reg)

    demo.registry = reg  # type: ignore[attr-defined]  # for tests and benchmarks
    demo.admissions = ctx.admissions  # type: ignore[attr-defined]
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           prevent_thread_lock: bool = False, quiet: bool = False) -> Any:
    """Queue and serve ``demo`` (uploads up to L.MAX_UPLOAD_BYTES); returns Gradio's (app, local_url, share_url)."""
    demo.queue(max_size=QUEUE_MAX_SIZE)
    return demo.launch(server_name=host, server_port=port, share=share, show_error=True, css=CSS,
                       allowed_paths=[str(L.EXAMPLES_DIR)], ssr_mode=False, quiet=quiet,
                       prevent_thread_lock=prevent_thread_lock, max_file_size=L.MAX_UPLOAD_BYTES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--checkpoints", default=None,
                   help="checkpoint folder (default: $NAM_CHECKPOINTS_DIR or ./checkpoints); tasks trained with "
                        "nam-studio train-task there are listed beside the shipped ones")
    p.add_argument("--no-shipped", action="store_true",
                   help="with --checkpoints: serve only that folder, not the shipped ./checkpoints as well")
    p.add_argument("--device", default=None, help="cuda / cpu / mps (default: CUDA when present, else CPU)")
    p.add_argument("--share", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    extra = (L.CHECKPOINTS_DIR,) if a.checkpoints and not a.no_shipped else ()
    launch(build_demo(a.checkpoints, a.device, extra_roots=extra), a.host, a.port, a.share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
