"""What every training CLI in ``training/`` shares: named presets (the shipped models' recipes, registered by each
method's module in :mod:`nam_core.methods`) and the run set-up (threads, the recorded command line).

    python training/train_mapping.py --preset street2mnist_vae-nam_glann --out runs/s2m_vae

A preset fills in the arguments of its recipe; flags given on the command line override them. Without
``--preset``, a mapping for a task and method that shipped a model starts from that model's recipe (so the
defaults are a configuration known to work, not one that stays at chance)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence

from .methods.registry import Preset, get_preset, presets


def setup_run(script: str, threads: int | None, argv: Sequence[str] | None) -> str:
    """Apply ``--threads`` and return the exact command line, recorded in the checkpoint as its recipe."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return f"python training/{script} " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags every training CLI shares: seed, device, a time budget (resumable, or exported early), threads."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cuda | mps | cpu (default: auto)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly (checkpointed) after this long; rerun to resume")
    p.add_argument("--finish-early", action="store_true",
                   help="with --max-minutes: export the final model from the epochs done instead of stopping to resume")
    p.add_argument("--threads", type=int, help="torch CPU threads")


def add_preset_argument(p: argparse.ArgumentParser, script: str) -> None:
    names = [x.name for x in presets(script)]
    p.add_argument("--preset", metavar="NAME", choices=names,
                   help="start from a shipped model's recipe (flags given here override it): " + ", ".join(names))


def parse_with_preset(p: argparse.ArgumentParser, script: str, argv: Sequence[str] | None,
                      required: Sequence[str] = (),
                      implicit: Callable[[argparse.Namespace], str | None] | None = None) -> argparse.Namespace:
    """Parse ``argv`` with the ``--preset``'s arguments as defaults. ``required`` (``dest`` names) must come from
    the command line or the preset. ``implicit(args)`` names the preset used when none is given (None or a name
    with no preset: the parser's own defaults)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset")
    known, _ = pre.parse_known_args(argv)
    chosen: Preset | None = None
    if known.preset:
        try:
            chosen = get_preset(known.preset)
        except KeyError as exc:
            p.error(str(exc.args[0]))
    elif implicit:
        name = implicit(p.parse_args(argv))
        chosen = next((x for x in presets(script) if x.name == name), None)
    if chosen is not None:
        if chosen.script != script:
            p.error(f"preset {chosen.name!r} is a recipe for training/{chosen.script}.py")
        unknown = sorted(set(chosen.args) - {a.dest for a in p._actions})
        if unknown:
            p.error(f"preset {chosen.name!r} sets unknown arguments {unknown}")
        p.set_defaults(**chosen.args)
    a = p.parse_args(argv)
    a.preset = chosen.name if chosen is not None else None
    missing = [d for d in required if getattr(a, d, None) is None]
    if missing:
        p.error("the following arguments are required (or give --preset NAME): "
                + ", ".join("--" + d.replace("_", "-") for d in missing))
    if chosen is not None and chosen.note and not known.preset:
        print(f"using the recipe of {chosen.name} (--preset {chosen.name}); {chosen.note}", file=sys.stderr)
    elif chosen is not None and not known.preset:
        print(f"using the recipe of {chosen.name} (--preset {chosen.name})", file=sys.stderr)
    return a


def rebuild_entry(name: str) -> dict[str, str]:
    """The manifest fields that say how checkpoint ``name`` is rebuilt: ``rebuild`` (the preset's command) and,
    when the recipe cannot promise the same model everywhere (a time-bounded or GPU run), ``rebuild_note``."""
    p = next((x for x in presets() if x.name == name), None)
    if p is None:
        return {}
    return {"rebuild": p.command(), **({"rebuild_note": p.note} if p.note else {})}


def update_manifest_with_rebuilds(root: str | None = None) -> str:
    """:func:`~nam_core.checkpoints.update_manifest` with every entry's :func:`rebuild_entry`."""
    from .checkpoints import CHECKPOINTS_DIR, update_manifest

    return str(update_manifest(root or CHECKPOINTS_DIR, extra=lambda name, cfg: rebuild_entry(name)))
