"""Train a servable task from two unpaired image collections in one call: :func:`train_task`.

    from nam_core.studio import train_task
    result = train_task("~/horses", "~/zebras.zip", "models", preset="fast")   # rerun the same call to resume

trains a GLANN generator of B (GLO, then IMLE), then each mapping method A→B on it, and writes, under ``out``,
the checkpoints the app serves (``python app.py --checkpoints OUT``):

* ``OUT/gen_<name>_glann``        the generator of B
* ``OUT/<name>_<method>_glann``   one per method (``vae-nam``, ``ae-nam``, ``nam``)

each with ``samples.png``, ``loss.png`` and a model card ``README.md`` (data, counts, recipe, metrics, time,
licence). The stages run in ``OUT/runs/`` (the :class:`~nam_core.methods.trainer.Trainer`'s resumable folders): a
killed or time-limited run resumes from the last epoch, and finished stages are skipped. ``OUT/runs/studio.json``
records the data and preset, so a rerun with other data into the same ``out`` is refused instead of mixing them.

``a`` and ``b`` are folders or zips of images, paths of one side of a paired download (``horse2zebra.zip#A``),
``folder:`` domain names (:mod:`nam_core.data.folder`) or built-in domain names (``mnist``). Folder domains are
recorded by a name that carries their size and channels, so a new process rebuilds the task from the checkpoint
alone (:func:`~nam_core.methods.mappings.get_task` with the mapping's config).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import DOMAINS, load_domain
from .data.folder import PREFIX, FolderDataError, folder_domain_name, is_folder_name, parse_folder_name
from .methods.registry import get_method

# The recipes by preset. The architecture and losses come from the data (see ``recipe``); a preset sets how long
# each stage trains and on how many images. ``quality`` is the shipped models' schedule (checkpoints/gen_street_glann
# and mnist2street_vae-nam_glann: 30 GLO + 100 IMLE epochs on 10k images, 24 mapping epochs on the whole set),
# meant for a GPU; ``fast`` aims at a usable 32-px model within minutes on a CPU; ``smoke`` only checks the path.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"generator": {"epochs": 2, "imle_epochs": 3, "limit": 200, "ngf": 16, "batch_size": 32},
              "mapping": {"epochs": 2, "limit": 200, "batch_size": 32, "nf": 8, "nef": 16, "n_targets": 100},
              "eval_images": 32},
    "fast": {"generator": {"epochs": 15, "imle_epochs": 50, "limit": 5000},
             "mapping": {"epochs": 12, "limit": 10000, "n_targets": 1000},
             "eval_images": 256},
    "quality": {"generator": {"epochs": 30, "imle_epochs": 100, "limit": 10000},
                "mapping": {"epochs": 24},
                "eval_images": 1000},
}
METHODS = ("vae-nam", "ae-nam", "nam")
SIZES = (32, 64, 128)
STAMP_KEYS = ("a", "b", "name", "size", "preset", "seed")
LICENCE_NOTE = ("Your data, your licence: these weights were trained on the images listed above, so they carry "
                "whatever terms those images come with. The code that trained them is MIT-licensed.")


class StudioError(ValueError):
    """A request :func:`train_task` cannot run; the message says what to do."""


@dataclass
class TaskResult:
    """What :func:`train_task` left in ``out``: ``finished`` is False when a time limit stopped it (rerun)."""

    name: str
    out: Path
    finished: bool
    generator: Path | None = None
    mappings: dict[str, Path] = field(default_factory=dict)
    stopped_in: str | None = None  # the stage a time limit stopped, when not finished


def recipe(size: int, target_channels: int) -> dict[str, dict[str, Any]]:
    """Architecture and losses from the data, as in the shipped models: at 32 px the digit recipe (an NCC loss on a
    weak local T with width 32, so the codes must carry the shape; a flat Laplacian-pyramid loss for a colour G),
    at 64 px and up the photo recipe (flat Laplacian loss, the CRN T, a 64-d latent)."""
    photo = size >= 64
    gen = {"loss": "laplacian-flat" if (photo or target_channels == 3) else "laplacian", "init": "pca",
           "latent_dim": 64 if photo else 32}
    mapping = {"loss": "laplacian-flat" if photo else "ncc", "t_arch": "crn" if photo else "local", "nf": 32}
    return {"generator": gen, "mapping": mapping}


def default_name(a: str, b: str) -> str:
    """``<a>2<b>`` from the collections' file or folder names (letters, digits and '-' only)."""
    def stem(x: str) -> str:
        if is_folder_name(x):
            x = x[len(PREFIX):]
        x, _, side = x.partition("#")
        base = Path(x.split("?")[0].rstrip("/")).name
        base = re.sub(r"\.zip$", "", base, flags=re.I)
        base = re.sub(r"[^A-Za-z0-9]+", "-", base).strip("-").lower() or "images"
        return base + (f"-{side.lower()}" if side else "")

    return f"{stem(a)}2{stem(b)}"


def resolve_domain(ref: str | Path, size: int) -> str:
    """The domain name a collection is trained and recorded under: built-in names as they are; a path (or
    ``folder:`` name) as its canonical folder name at ``size`` px with the channels written in, decided from the
    data when not given, so the name alone rebuilds the domain later."""
    ref = str(ref)
    if not is_folder_name(ref) and ref in DOMAINS:
        return ref
    name = ref if is_folder_name(ref) else PREFIX + ref
    path, side, opts = parse_folder_name(name, size=size)
    options = {"size": size, "test_fraction": opts.test_fraction, "min_images": opts.min_images}
    channels = opts.channels
    if not channels:
        channels = load_domain(folder_domain_name(path, side, **options), "train").shape[2]
    return folder_domain_name(path, side, channels=channels, **options)


def _counts(domain: str) -> dict[str, Any]:
    train, test = load_domain(domain, "train"), load_domain(domain, "test")
    info = train.info or {}
    return {"domain": domain, "source": info.get("source", domain), "train": len(train), "test": len(test),
            "skipped": sum(len(v) for v in (info.get("skipped") or {}).values()) if info.get("skipped") else 0,
            "size": train.shape[0], "channels": train.shape[2]}


def _publish(final: Path, dest: Path, loss_png: Path | None, card: str) -> Path:
    """Copy a stage's final checkpoint to ``dest`` with its loss curve and model card, as one rename (a reader
    never sees a half-copied folder)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(final, tmp, symlinks=False)
    if loss_png is not None and loss_png.exists():
        shutil.copy2(loss_png, tmp / "loss.png")
    (tmp / "README.md").write_text(card)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


def _last_loss(history: list[dict[str, Any]] | None) -> dict[str, float]:
    if not history:
        return {}
    return {k: round(float(v), 5) for k, v in history[-1].items() if k not in ("epoch", "seconds")}


def _data_md(title: str, c: dict[str, Any]) -> str:
    skipped = f", {c['skipped']} unreadable file(s) skipped" if c.get("skipped") else ""
    return (f"- **{title}**: `{c['source']}` — {c['train']} train / {c['test']} test images, {c['size']} px, "
            f"{'gray' if c['channels'] == 1 else 'RGB'}{skipped}\n  (domain `{c['domain']}`)")


def model_card(kind: str, name: str, cfg: dict[str, Any], data: dict[str, dict[str, Any]], preset: str,
               metrics: dict[str, Any], command: str) -> str:
    """The README.md of a trained checkpoint."""
    title = (f"GLANN generator of B for task `{name}`" if kind == "generator"
             else f"{cfg.get('method', '').upper()} mapping `{name}`: A → B")
    lines = [f"# {title}", "", "Trained with NAM Studio (`nam-studio train-task`).", "", "## Data", ""]
    if kind == "mapping":
        lines.append(_data_md("A (input)", data["a"]))
    lines += [_data_md("B (output)", data["b"]), "", "## Recipe", "",
              f"- preset `{preset}`; command: `{command}`",
              f"- schedule: `{json.dumps(cfg.get('recipe', {}).get('hparams', {}))}`",
              f"- model: `{json.dumps({k: v for k, v in (cfg.get('hparams') or {}).items() if k != 'n_images'})}`",
              f"- epochs done: {cfg.get('epochs_done')}; training time: {cfg.get('train_seconds_total')} s on "
              f"{cfg.get('device')}", "", "## Metrics", ""]
    lines += [f"- {k}: {v}" for k, v in metrics.items()] or ["- (none)"]
    lines += ["", "## Licence", "", LICENCE_NOTE, ""]
    return "\n".join(lines)


def _mapping_metrics(path: Path, source: str, n: int, method: str, device: str | None) -> dict[str, Any]:
    """Reconstruction loss ‖T(G(z)) − x‖ (the mapping's own loss) on held-out A images: cheap, and it rises when
    the mapping fails to explain inputs it did not see."""
    import numpy as np

    from .serving.translator import Translator

    tr = Translator.from_checkpoint(path, device=device)
    test = load_domain(source, "test")
    iterative = get_method(method).iterative
    k = min(min(n, 16) if iterative else n, len(test))  # NAM optimises every input: a few only
    if iterative:
        tr.nam_steps = 50
    res = tr.translate_full(np.asarray(test.images[:k]), num_solutions=1, seed=0)
    return {"test images scored": k, "test reconstruction loss (mean, best of 1)": round(float(res.losses.mean()), 5)}


def train_task(a: str | Path, b: str | Path, out: str | Path, name: str | None = None, size: int = 32,
               preset: str = "fast", methods: tuple[str, ...] | list[str] = ("vae-nam",),
               max_minutes: float | None = None, device: str | None = None, progress: bool = True,
               seed: int = 0, command: str | None = None) -> TaskResult:
    """Train the task ``name`` (default ``<a>2<b>``) from the collections ``a`` (input) and ``b`` (output) into
    ``out``; see the module docstring. Stops cleanly after ``max_minutes`` (all stages together, each stage doing at
    least one epoch) with ``finished=False``; the same call again resumes."""
    from .methods.generators import train_generator
    from .methods.mappings import Task, register_task, train_mapping

    t_start = time.time()
    if preset not in PRESETS:
        raise StudioError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if size not in SIZES:
        raise StudioError(f"size must be one of {SIZES}, got {size}")
    methods = tuple(dict.fromkeys(m.strip().lower() for m in methods if m.strip()))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise StudioError(f"methods must be some of {', '.join(METHODS)} (got {', '.join(bad) or 'none'})")
    if max_minutes is not None and max_minutes <= 0:
        raise StudioError("max_minutes must be positive")
    name = name or default_name(str(a), str(b))
    out = Path(out).expanduser()
    say = (lambda msg: print(f"[nam-studio] {msg}", file=sys.stderr)) if progress else (lambda msg: None)
    src, tgt = resolve_domain(a, size), resolve_domain(b, size)
    if src == tgt:
        raise StudioError("A and B are the same collection: give two different ones")
    try:
        task = register_task(Task(name, src, tgt))
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    runs = out / "runs"
    stamp = {"a": src, "b": tgt, "name": name, "size": size, "preset": preset, "seed": seed}
    stamp_path = runs / "studio.json"
    if stamp_path.exists():
        old = json.loads(stamp_path.read_text())
        diff = [k for k in STAMP_KEYS if old.get(k) != stamp[k]]
        if diff:
            raise StudioError(f"{out} already holds a run with other settings ({', '.join(diff)}): use another --out, "
                              "or delete that folder to start over")
    runs.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps(stamp, indent=1))
    data = {"a": _counts(src), "b": _counts(tgt)}
    p = PRESETS[preset]
    rec = recipe(size, data["b"]["channels"])
    command = command or f"nam_core.studio.train_task({str(a)!r}, {str(b)!r}, {str(out)!r}, preset={preset!r})"
    result = TaskResult(name, out, False)

    def remaining() -> float | None:
        return None if max_minutes is None else max(1e-3, max_minutes - (time.time() - t_start) / 60)

    def out_of_time() -> bool:
        return max_minutes is not None and (time.time() - t_start) / 60 >= max_minutes

    # ---- stage 1: the generator of B
    gen_dir = out / f"gen_{name}_glann"
    if (gen_dir / "config.json").exists():
        say(f"generator {gen_dir.name}: done before, kept")
    else:
        run = runs / "generator"
        final = run / "final"
        if not (final / "config.json").exists():
            say(f"stage 1/{1 + len(methods)}: GLANN generator of B ({data['b']['train']} images, preset {preset})")
            hp = {**rec["generator"], **p["generator"]}
            final = train_generator(tgt, "glann", run, seed=seed, device=device, max_minutes=remaining(),
                                    progress=progress, recipe=command, **hp)
            if final.name != "final":
                result.stopped_in = "generator"
                say("stopped by the time limit in the generator stage; run the same command again to resume")
                return result
        from .checkpoints import read_config, read_training_info

        cfg = {**read_training_info(final), **read_config(final)}  # the card shows both
        metrics = {f"final GLO training loss ({k})": v for k, v in _last_loss(cfg.get("history")).items()}
        if cfg.get("imle_history"):
            metrics["final IMLE loss"] = round(float(cfg["imle_history"][-1]), 5)
        card = model_card("generator", name, cfg, data, preset, metrics, command)
        _publish(final, gen_dir, run / "glann" / "loss.png", card)
        say(f"wrote {gen_dir}")
    result.generator = gen_dir

    # ---- stage 2: the mappings A → B on it
    for i, method in enumerate(methods):
        dest = out / f"{name}_{method}_glann"
        if (dest / "config.json").exists():
            say(f"mapping {dest.name}: done before, kept")
            result.mappings[method] = dest
            continue
        if out_of_time():
            result.stopped_in = method
            say(f"time limit reached before {method}; run the same command again to resume")
            return result
        run = runs / method
        final = run / "final"
        if not (final / "config.json").exists():
            say(f"stage {2 + i}/{1 + len(methods)}: {method} mapping A → B ({data['a']['train']} images)")
            hp = {**rec["mapping"], **p["mapping"]}
            if not get_method(method).iterative:  # n_targets: NAM's per-target codes
                hp.pop("n_targets", None)
            final = train_mapping(task.name, method, gen_dir, run, seed=seed, device=device, max_minutes=remaining(),
                                  progress=progress, recipe=command, **hp)
            if final.name != "final":
                result.stopped_in = method
                say(f"stopped by the time limit in the {method} stage; run the same command again to resume")
                return result
        from .checkpoints import read_config, read_training_info

        cfg = {**read_training_info(final), **read_config(final)}  # the card shows both
        metrics = {f"final training loss ({k})": v for k, v in _last_loss(cfg.get("history")).items()}
        # scored in place (the generator is found beside the published one once copied; here by path)
        shutil.rmtree(dest.with_name(f".{dest.name}.tmp"), ignore_errors=True)
        card_metrics = dict(metrics)
        tmp_dest = _publish(final, dest, run / method / "loss.png", model_card("mapping", name, cfg, data, preset,
                                                                                 card_metrics, command))
        try:
            card_metrics.update(_mapping_metrics(tmp_dest, src, p["eval_images"], method, device))
        except Exception as exc:  # a metric that cannot be computed must not lose the trained model
            card_metrics["test reconstruction loss"] = f"not computed ({type(exc).__name__}: {exc})"
        (dest / "README.md").write_text(model_card("mapping", name, cfg, data, preset, card_metrics, command))
        say(f"wrote {dest}")
        result.mappings[method] = dest
    result.finished = True
    say(f"done in {time.time() - t_start:.0f}s: serve with  python app.py --checkpoints {out}")
    return result


__all__ = ["PRESETS", "METHODS", "StudioError", "TaskResult", "train_task", "recipe", "resolve_domain",
           "default_name", "FolderDataError"]
