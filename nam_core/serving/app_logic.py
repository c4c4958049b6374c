"""The app's logic as one namespace (no Gradio import): ``from nam_core.serving import app_logic as L``.

The UI (``app.py``, the Studio tab, the live preview) wires components to these functions, turns :class:`AppError`
into ``gr.Error`` and the returned warnings into ``gr.Warning``. Each name lives in one module, by concern (imports
go one way, top to bottom):

* :mod:`.inputs`: the choices and labels, parsing of UI/API values, the task list, draw hints, ZeroGPU helpers;
* :mod:`.images`: decoding uploads within a memory budget, a drawing's strokes → a task's input, display tiles;
* :mod:`.downloads`: the "Download all" zips;
* :mod:`.models`: the evaluation's results rows and the :class:`ModelRegistry` of checkpoints;
* :mod:`.actions`: map / compare / explore / strip, baseline notes, the GLANN tab's sample, interpolate, invert;
* :mod:`.content`: the Learn tab's tour, loss curves and results tables, the examples.

This module only re-exports them: state (the task list, the decoding budget, the zip store) lives in, and is
patched in, its defining module.
"""

# ruff: noqa: I001  (grouped by defining module, in import order, rather than alphabetically)
from ..data import DOMAINS
from ..methods.mappings import TASKS
from ..methods.registry import default_method
from ..paths import CHECKPOINTS_DIR
from .inputs import (
    METHOD_CHOICES, GENERATOR_CHOICES, GENERATOR_KINDS, DIRECTION_KINDS, METHOD_LABEL, GENERATOR_LABEL, TASK_ORDER,
    N_DIRECTIONS, MAX_K, SPAN, MAX_SEED, AppError, parse_int, parse_seed, check_choices, domain_label, task_label,
    TASK_CHOICES, draw_hint, GPU_BASE_S, GPU_MAX_S, NAM_DEFAULT_STEPS, gpu_seconds, gpu, checkpoints_dir,
)
from .images import (
    WORK_SIDE, MAX_UPLOAD_BYTES, DECODE_BUDGET_BYTES, DecodeBudget, UPLOAD_LIMITS_MD, load_image,
    pad_value, ink_to_input, sketch_to_input, upload_to_input, choose_input, to_display,
    in_input_polarity, STRIP_PAD, STRIP_LABEL_H, strip_image,
)
from .downloads import (
    ZipStore, ZIPS, write_zip,
)
from .models import (
    ALL_METHOD_LABEL, load_results, best_result, ModelRegistry,
)
from .actions import (
    DirectionInfo, MapResult, resolve_kind, direction_info, check_input, run_map, rank_captions, run_compare,
    baseline_note, run_explore, run_strip, random_coefficients, has_baselines, generator_kinds, glann_sample,
    glann_interpolate, glann_invert,
)
from .content import (
    EXAMPLES_DIR, TOUR_INTRO, TourIdea, TOUR_IDEAS, compact_results_markdown, RESULTS_NOTE, full_results_markdown,
    tour_combos, tour_figures, loss_curve_panels, loss_curve_figures, results_markdown, results_figure,
    example_paths, servable_tasks, choice_for_task, example_caption,
)

__all__ = [
    "ALL_METHOD_LABEL", "AppError", "baseline_note", "best_result", "check_choices", "check_input", "CHECKPOINTS_DIR",
    "checkpoints_dir", "choice_for_task", "choose_input", "compact_results_markdown", "DECODE_BUDGET_BYTES",
    "DecodeBudget", "default_method", "direction_info", "DIRECTION_KINDS",
    "DirectionInfo", "domain_label", "DOMAINS", "draw_hint", "example_caption", "example_paths", "EXAMPLES_DIR",
    "full_results_markdown", "GENERATOR_CHOICES", "GENERATOR_KINDS", "generator_kinds", "GENERATOR_LABEL",
    "glann_interpolate", "glann_invert", "glann_sample", "gpu", "GPU_BASE_S", "GPU_MAX_S", "gpu_seconds",
    "has_baselines", "in_input_polarity", "ink_to_input", "load_image", "load_results", "loss_curve_figures",
    "loss_curve_panels", "MapResult", "MAX_K", "MAX_SEED", "MAX_UPLOAD_BYTES", "METHOD_CHOICES", "METHOD_LABEL",
    "ModelRegistry", "N_DIRECTIONS", "NAM_DEFAULT_STEPS", "pad_value", "parse_int", "parse_seed", "random_coefficients",
    "rank_captions", "resolve_kind", "results_figure", "results_markdown", "RESULTS_NOTE", "run_compare", "run_explore",
    "run_map", "run_strip", "servable_tasks", "sketch_to_input", "SPAN", "strip_image", "STRIP_LABEL_H", "STRIP_PAD",
    "TASK_CHOICES", "task_label", "TASK_ORDER", "TASKS", "to_display", "tour_combos", "tour_figures", "TourIdea",
    "TOUR_IDEAS", "TOUR_INTRO", "UPLOAD_LIMITS_MD", "upload_to_input", "WORK_SIDE", "write_zip", "ZIPS", "ZipStore",
]
