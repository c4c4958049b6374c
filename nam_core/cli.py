"""The ``nam-studio`` command.

    nam-studio train-task --a A_PATH --b B_PATH --out OUT [--name NAME] [--size 32|64|128]
                          [--preset smoke|fast|quality] [--methods vae-nam,ae-nam,nam] [--max-minutes M]
    nam-studio export-domain --domain mnist --out DIR [--limit N] [--splits train test]
    nam-studio migrate [PATHS ...]
    nam-studio evaluate [--tasks T ...] [--methods M ...] [--n-test N] [--out DIR] ...

``train-task`` trains a GLANN generator of B and the A→B mappings on it (:func:`nam_core.studio.train_task`);
rerun the same command to resume. Exit status: 0 done, 3 stopped by ``--max-minutes`` (rerun to resume), 2 bad
input. ``export-domain`` writes a built-in domain as PNG folders (:mod:`nam_core.data.export`). ``migrate``
converts format-1 checkpoint folders (PATHS: checkpoint folders, or folders of them; default the shipped
``checkpoints/``) to format 2, each in one atomic step, weights untouched
(:func:`nam_core.checkpoints.migrate_checkpoint`). ``evaluate`` scores checkpoints and writes the results tables
(:mod:`nam_core.eval.harness`; the flags of ``python training/evaluate.py``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings

EXIT_STOPPED = 3


def _train_task(a: argparse.Namespace, argv: list[str]) -> int:
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    from .data.folder import SkippedFilesWarning
    from .studio import train_task

    warnings.simplefilter("always", SkippedFilesWarning)
    warnings.showwarning = lambda msg, *_, **__: print(f"warning: {msg}", file=sys.stderr)
    command = "nam-studio " + " ".join(shlex.quote(x) for x in argv)
    methods = [m for m in a.methods.split(",") if m.strip()]
    try:
        res = train_task(a.a, a.b, a.out, name=a.name, size=a.size, preset=a.preset, methods=methods,
                         max_minutes=a.max_minutes, device=a.device, progress=not a.quiet, seed=a.seed,
                         command=command)
    except (ValueError, FileNotFoundError, KeyError) as exc:  # FolderDataError, StudioError: messages of ours
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if not res.finished:
        print(f"stopped in the {res.stopped_in} stage (time limit); run the same command again to resume",
              file=sys.stderr)
        return EXIT_STOPPED
    for p in [res.generator, *res.mappings.values()]:
        print(p)
    return 0


def _migrate(paths: list[str]) -> int:
    from pathlib import Path

    from .checkpoints import CONFIG, CheckpointError, migrate_checkpoint
    from .methods.registry import find_method
    from .paths import CHECKPOINTS_DIR

    def recon_loss(cfg: dict) -> str | None:  # the method's own rule (NAM one-pass: not hparams["loss"])
        spec = find_method(cfg.get("method"))
        return spec.recon_loss(cfg) if spec is not None and not spec.feed_forward else None

    folders: list[Path] = []
    for raw in paths or [str(CHECKPOINTS_DIR)]:
        p = Path(raw)
        if (p / CONFIG).exists():
            folders.append(p)
        elif p.is_dir():
            folders += sorted(c.parent for c in p.glob(f"*/{CONFIG}") if not c.parent.name.startswith("."))
        else:
            print(f"error: {raw} is not a checkpoint folder or a folder of them", file=sys.stderr)
            return 2
    failed = 0
    for folder in folders:
        try:
            done = migrate_checkpoint(folder, recon_loss=recon_loss)
        except CheckpointError as exc:
            print(f"error: {folder.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{folder}: {'migrated to format 2' if done else 'already format 2'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="nam-studio", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-task", help="train a generator of B and A→B mappings from two image collections")
    t.add_argument("--a", required=True, metavar="A_PATH",
                   help="input collection: a folder or .zip of images (PATH#A / PATH#B for one side of a paired "
                        "download), a folder: domain name, or a built-in domain")
    t.add_argument("--b", required=True, metavar="B_PATH", help="output collection (as --a)")
    t.add_argument("--out", required=True, help="folder for the checkpoints (and runs/, for resuming)")
    t.add_argument("--name", help="task name (default <a>2<b>; letters, digits, '-', '.')")
    t.add_argument("--size", type=int, default=32, choices=[32, 64, 128])
    t.add_argument("--preset", default="fast", choices=["smoke", "fast", "quality"],
                   help="smoke: a check in minutes; fast: a usable 32-px model on a CPU; quality: the shipped models' "
                        "schedule (for a GPU)")
    t.add_argument("--methods", default="vae-nam", help="comma-separated: vae-nam, ae-nam, nam")
    t.add_argument("--max-minutes", type=float, help="stop cleanly after this long (rerun to resume)")
    t.add_argument("--device", help="cuda | mps | cpu (default: auto)")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress output")
    e = sub.add_parser("export-domain", help="write a built-in domain as PNG folders (+ labels.csv)")
    e.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of python -m nam_core.data.export")
    sub.add_parser("evaluate", help="score checkpoints: accuracy, speed, FID/PRD (the flags of training/evaluate.py)",
                   add_help=False)
    m = sub.add_parser("migrate", help="convert format-1 checkpoint folders to format 2 (atomically)")
    m.add_argument("paths", nargs="*", help="checkpoint folders or folders of them (default: checkpoints/)")
    if argv[:1] == ["export-domain"]:  # its own parser (one definition of its flags)
        from .data.export import main as export_main

        return export_main(argv[1:])
    if argv[:1] == ["evaluate"]:
        from .eval.harness import main as evaluate_main

        return evaluate_main(argv[1:], command="nam-studio evaluate", prog="nam-studio evaluate")
    a = p.parse_args(argv)
    if a.command == "train-task":
        return _train_task(a, argv)
    if a.command == "migrate":
        return _migrate(a.paths)
    return 2


if __name__ == "__main__":
    sys.exit(main())
