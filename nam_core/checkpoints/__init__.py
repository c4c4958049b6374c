"""Checkpoints: a folder with ``model.safetensors`` (weights, never pickled), ``config.json`` (what rebuilds the
object), ``training_info.json`` (how it was made) and, for an in-progress checkpoint, ``resume_state.json``.

Format version 2 (like diffusers' ``save_pretrained``): ``config.json`` holds only what rebuilds the object
(:data:`CONFIG_KEYS`: kind, method, task, networks, generator name + fingerprint, reconstruction loss, sizes, the
tensors list, stored dtype, sha256 and the inference settings a Translator reads); training history, hparams,
recipe (the command that rebuilds it) and provenance go to ``training_info.json`` (read with
:func:`read_training_info` or ``Checkpoint.info``); the optimiser/counter skeleton of a resumable checkpoint goes
to ``resume_state.json`` (its tensors stay in the weights file under ``train.``, flattened by
:func:`flatten_state`). :func:`save_checkpoint` is the one writer; it splits a mixed dict by :data:`CONFIG_KEYS`.
Format version 1 folders (everything in ``config.json``) still load: they are split the same way in memory, with
a one-line note on stderr once per process; ``nam-studio migrate`` (:func:`migrate_checkpoint`) rewrites them.

Saving is one atomic step. A *versioned* checkpoint (what the trainer keeps as ``OUT/<stage>/last``) is a symlink
``last -> .last.versions/000007``: every save writes a complete new version folder (weights and config, fsynced),
then switches the symlink with one ``os.replace``; the previous version is kept (resume falls back to it when the
newest is unreadable, :func:`checkpoint_candidates`) and older ones are removed. A kill at any point leaves ``last``
pointing at a complete version. Plain folders (shipped checkpoints, ``final``) stay plain: a rewrite builds the new
folder beside the old one and swaps the two with one atomic exchange (``renameat2``) where the system has it.

Every config is validated before anything is built (:func:`validate_config`): it must be an object of this format
with a ``networks`` table of known kinds and sane integer sizes, names without path separators, and an architecture
whose tensor shapes match the weights' safetensors header (read without loading a tensor).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..nets import build_net, check_net_config, net_config, net_shapes
from ..paths import CHECKPOINTS_DIR
from ..utils import atomic_path, get_device

FORMAT = "nam-studio-checkpoint"
WEIGHTS, CONFIG = "model.safetensors", "config.json"
INFO, RESUME = "training_info.json", "resume_state.json"
FORMAT_VERSION = 2
# what config.json keeps: what rebuilds the object and what inference reads; everything else is training info
CONFIG_KEYS = frozenset({
    "format", "format_version", "kind", "method", "task", "source", "target", "domain", "networks", "generator",
    "generator_fingerprint", "generator_method", "recon_loss", "image_size", "latent_dim", "channels", "tensors",
    "stored_dtype", "sha256", "size_bytes", "style_temperature", "sampling_temperature", "style_min_gain",
    "solver_silhouette_weight", "solver_start_spread", "deterministic"})
DEFAULT_REPO = os.environ.get("NAM_HUB_REPO", "nam-studio/checkpoints")
MAX_START_SPREAD = 16  # NAM's retrieval starts come from at most this many times K best matches
KEEP_VERSIONS = 2  # a versioned checkpoint keeps its current version and the one before it
CRASH_ENV = "NAM_CHECKPOINT_CRASH"  # tests: "<point>[:<n>]" SIGKILLs this process the n-th time a save reaches point
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # network / tensor / checkpoint names: no separators


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match its config."""


@dataclass
class Checkpoint:
    """Loaded networks (in eval mode), extra tensors, the config (what rebuilds it) and the training info."""

    config: dict[str, Any]
    networks: dict[str, nn.Module]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None
    state: Any = None  # training state (optimisers, counters) when loaded with ``with_state=True``
    info: dict[str, Any] = field(default_factory=dict)  # training_info.json: history, hparams, recipe, provenance

    def __getitem__(self, name: str) -> nn.Module:
        return self.networks[name]

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, revision: str | None = None,
                        device: str | torch.device | None = None, with_state: bool = False) -> Checkpoint:
        """Any checkpoint (generator, classifier, mapping weights) by folder, shipped name or Hub name."""
        return load_checkpoint(resolve_checkpoint(name_or_path, revision=revision), device=device,
                               with_state=with_state)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write this checkpoint (networks, tensors, config, training info, resume state) to the folder ``path``."""
        # loaded weights are float32 whatever was stored; sha256 and size are recomputed
        config = {k: v for k, v in self.config.items() if k not in ("stored_dtype", "sha256", "size_bytes")}
        return save_checkpoint(path, self.networks, config, tensors=self.tensors, state=self.state, info=self.info)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 of a module's floating-point weights rounded to float16 (plus its other buffers), so the same trained
    network gives the same fingerprint whether its checkpoint stores float32 or float16 (:func:`store_half`).
    Mappings record their generator's fingerprint; a Translator refuses a generator that does not match."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu()
        t = t.to(torch.float16) if t.is_floating_point() else t
        h.update(name.encode())
        h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def flatten_state(obj: Any, prefix: str = "state") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested dict/list structure into a JSON skeleton and a flat dict of tensors (no pickle needed)."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(o: Any, key: str) -> Any:
        if isinstance(o, torch.Tensor):
            tensors[key] = o.detach().cpu().contiguous()
            return {"__tensor__": key}
        if isinstance(o, dict):
            return {"__dict__": [[walk(k, f"{key}.k{i}"), walk(v, f"{key}.{i}")] for i, (k, v) in enumerate(o.items())]}
        if isinstance(o, (list, tuple)):
            return {"__list__": [walk(v, f"{key}.{i}") for i, v in enumerate(o)], "tuple": isinstance(o, tuple)}
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"cannot store {type(o).__name__} at {key}")

    return walk(obj, prefix), tensors


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            items = [unflatten_state(v, tensors) for v in skeleton["__list__"]]
            return tuple(items) if skeleton.get("tuple") else items
    return skeleton


def split_config(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, training info) of a mixed dict: :data:`CONFIG_KEYS` go to the config, the rest (but the resume
    skeleton ``train_state``) to the info. A mapping on a generator (or a generator) that records no
    ``recon_loss`` gets the loss its T (its G) was trained with from ``hparams`` (``recon_loss`` there — NAM
    one-pass —, else ``loss``)."""
    config = {k: v for k, v in cfg.items() if k in CONFIG_KEYS}
    info = {k: v for k, v in cfg.items() if k not in CONFIG_KEYS and k != "train_state"}
    hp = cfg.get("hparams") if isinstance(cfg.get("hparams"), dict) else {}
    if not isinstance(config.get("recon_loss"), str) and (cfg.get("generator") or cfg.get("kind") == "generator"):
        for value in (hp.get("recon_loss"), hp.get("loss")):
            if isinstance(value, str) and value:
                config["recon_loss"] = value
                break
    return config, info


def save_checkpoint(path: str | Path, networks: dict[str, nn.Module], config: dict[str, Any] | None = None,
                    tensors: dict[str, torch.Tensor] | None = None, state: Any = None,
                    versions: int | None = None, info: dict[str, Any] | None = None) -> Path:
    """Write ``path/model.safetensors``, ``config.json``, ``training_info.json`` (and ``resume_state.json`` when
    ``state`` is given) as one atomic step: the one writer of every checkpoint (trainer, exports, zoo, tests).

    ``config`` may mix rebuild and training keys (:func:`split_config` sorts them); ``info`` adds training info.

    ``networks`` must come from :func:`nam_core.nets.build_net`; ``tensors`` are extra named tensors
    (e.g. GLO codes, PCA directions); ``state`` is any nested structure of tensors/plain values (optimisers).
    With ``versions`` (or when ``path`` already is a versioned checkpoint) ``path`` becomes a symlink to the newest
    of ``versions`` complete version folders (see the module docstring); otherwise it is a plain folder, replaced
    as a whole.
    """
    path = Path(path)
    flat: dict[str, torch.Tensor] = {}
    archs = {}
    for name, net in networks.items():
        _check_name(name, "network name")
        archs[name] = net_config(net)
        for k, v in net.state_dict().items():
            flat[f"{name}.{k}"] = v.detach().cpu().contiguous()
    for k, v in (tensors or {}).items():
        _check_name(k, "tensor name")
        flat[f"tensors.{k}"] = v.detach().cpu().contiguous()
    skeleton = None
    if state is not None:
        skeleton, st = flatten_state(state)
        flat.update({f"train.{k}": v for k, v in st.items()})
    merged = {**(config or {}), **(info or {})}
    cfg, inf = split_config(merged)
    cfg.update({"format": FORMAT, "format_version": FORMAT_VERSION, "networks": archs,
                "tensors": sorted((tensors or {}).keys())})
    inf.setdefault("library_version", __version__)
    return _commit(path, flat, cfg, versions, inf, {"train_state": skeleton} if skeleton is not None else None)


def store_half(path: str | Path) -> Path:
    """Rewrite a checkpoint folder's float32 weights as float16 (half the size; :func:`load_checkpoint` casts them
    back to float32) and update its sha256 / size; refuses checkpoints that carry training state (resume needs
    full precision). Used for shipped checkpoints; returns ``path``."""
    path = Path(path)
    cfg = read_config(path)
    if read_resume_state(path) is not None:
        raise CheckpointError(f"{path} holds training state; keep it in float32")
    flat = load_file(str(current_dir(path) / WEIGHTS))
    flat = {k: v.half() if v.dtype == torch.float32 else v for k, v in flat.items()}
    cfg["stored_dtype"] = "float16"
    return _rewrite(path, flat, cfg)


def _rewrite(path: Path, flat: dict[str, torch.Tensor], cfg: dict[str, Any],
             info_update: dict[str, Any] | None = None) -> Path:
    """Replace a checkpoint's weights with ``flat`` and its config with ``cfg`` (sha256 and size recomputed; the
    training info, updated by ``info_update``, and the resume state kept) in one atomic step: a new version of a
    versioned checkpoint, else a plain folder swapped as a whole. A format-1 folder comes out in format 2."""
    path = Path(path)
    info = {**read_training_info(path), **(info_update or {})}
    cfg = {**cfg, "format_version": FORMAT_VERSION}
    return _commit(path, flat, cfg, None, info, read_resume_state(path))


# ------------------------------------------------------------------ atomic commits
_crash_counts: dict[str, int] = {}


def _crash_point(point: str) -> None:
    """Test hook: ``$NAM_CHECKPOINT_CRASH = "<point>[:<n>]"`` kills this process (SIGKILL, no cleanup) the n-th
    (default: first) time a save reaches ``point`` ("weights": weights written, config not; "version": the new
    version is complete, the pointer not switched; "switch": switched, old versions not yet removed)."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    want, _, n = spec.partition(":")
    if want != point:
        return
    _crash_counts[point] = _crash_counts.get(point, 0) + 1
    if _crash_counts[point] >= int(n or 1):
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())


def _write_files(folder: Path, flat: dict[str, torch.Tensor] | None, cfg: dict[str, Any],
                 info: dict[str, Any] | None = None, resume: dict[str, Any] | None = None) -> None:
    """Weights (unless ``flat`` is None: a migration keeps the folder's own), then the config that records their
    sha256 and size, the training info and the resume state, all fsynced, into ``folder``."""
    weights = folder / WEIGHTS
    if flat is not None:
        save_file(flat, str(weights), metadata={"format": FORMAT})
        _fsync_file(weights)
        _crash_point("weights")
        cfg.update({"sha256": {WEIGHTS: sha256_file(weights)}, "size_bytes": weights.stat().st_size})
    _write_json(folder / CONFIG, cfg)
    _write_json(folder / INFO, info or {})
    if resume is not None:
        _write_json(folder / RESUME, resume)
    elif (folder / RESUME).exists():
        (folder / RESUME).unlink()
    _fsync_dir(folder)


def _normal_mode(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)  # mkdtemp creates 0700


def versions_dir(path: str | Path) -> Path:
    """Where the versions of the versioned checkpoint ``path`` live: ``.<name>.versions`` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}.versions"


def is_versioned(path: str | Path) -> bool:
    path = Path(path)
    return path.is_symlink() and Path(os.readlink(path)).parent.name == versions_dir(path).name


def checkpoint_versions(path: str | Path) -> list[Path]:
    """The complete version folders of the versioned checkpoint ``path``, newest first."""
    vroot = versions_dir(path)
    if not vroot.is_dir():
        return []
    found = [p for p in vroot.iterdir() if p.name.isdigit() and p.is_dir() and not p.is_symlink()]
    return sorted(found, key=lambda p: int(p.name), reverse=True)


def checkpoint_candidates(path: str | Path) -> list[Path]:
    """What a resume may load from ``path``, best first: ``path`` itself (its current version) when it has a config,
    then the older kept versions, newest first, then complete versions newer than the current one that a killed
    save wrote but never switched to (each a complete folder)."""
    path = Path(path)
    versions = checkpoint_versions(path)
    current = current_dir(path).resolve() if (path / CONFIG).exists() else None
    if current is None:
        return versions
    number = int(current.name) if current.name.isdigit() and current.parent == versions_dir(path).resolve() else None
    older = [v for v in versions if number is not None and int(v.name) < number]
    newer = [v for v in versions if v not in older and v.resolve() != current]
    return [path, *older, *newer]


def current_dir(path: str | Path) -> Path:
    """The real folder holding ``path``'s files right now (its current version for a versioned checkpoint), so
    that weights and config are read from one version even while a save switches the pointer."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def set_current_version(path: str | Path, version: str | Path) -> None:
    """Point the versioned checkpoint ``path`` at one of its versions (atomically); e.g. back to the previous good
    one when the newest is unreadable. The version it pointed at is removed by the next save."""
    path, version = Path(path), Path(version)
    if version.parent.resolve() != versions_dir(path).resolve() or not (version / CONFIG).exists():
        raise CheckpointError(f"{version} is not a version of {path}")
    _switch(path, version)


def _switch(path: Path, version: Path) -> None:
    """Make ``path`` a symlink to ``version`` (relative, so the run folder can move) with one atomic replace."""
    link = path.parent / f".{path.name}.link-{os.getpid()}-{threading.get_ident()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.join(version.parent.name, version.name), link)
    os.replace(link, path)
    _fsync_dir(path.parent)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
        return False
    raise OSError(err, os.strerror(err), str(a))


def _replace_dir(path: Path, staged: Path) -> None:
    """Put the complete folder ``staged`` at ``path`` (an existing folder or nothing) in one atomic step where the
    system allows it; the old folder is removed afterwards."""
    if not path.exists() and not path.is_symlink():
        os.rename(staged, path)
    elif _exchange(staged, path):
        shutil.rmtree(staged, ignore_errors=True)  # ``staged`` now holds the old folder
    else:  # pragma: no cover - no renameat2: two renames (the old folder stays beside it if interrupted)
        aside = path.parent / f".{path.name}.old-{os.getpid()}"
        os.rename(path, aside)
        os.rename(staged, path)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(path.parent)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _stage_plain(path: Path, flat: dict[str, torch.Tensor] | None, cfg: dict[str, Any],
                 info: dict[str, Any] | None = None, resume: dict[str, Any] | None = None) -> Path:
    """A complete copy of the plain folder ``path`` with new weights (or its own when ``flat`` is None), config,
    training info and resume state, beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    _normal_mode(staged)
    try:
        if path.is_dir():  # keep what else the folder holds (samples.png, loss.png, ...)
            for entry in path.iterdir():
                if entry.name in (CONFIG, INFO, RESUME) or entry.name.startswith(".") or \
                        (entry.name == WEIGHTS and flat is not None):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, staged / entry.name, symlinks=True, copy_function=_link_or_copy)
                else:
                    _link_or_copy(str(entry), str(staged / entry.name))
        _write_files(staged, flat, cfg, info, resume)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def _commit(path: Path, flat: dict[str, torch.Tensor] | None, cfg: dict[str, Any], versions: int | None,
            info: dict[str, Any] | None = None, resume: dict[str, Any] | None = None) -> Path:
    """Write ``flat`` + ``cfg`` + ``info`` + ``resume`` as the new content of checkpoint ``path`` in one atomic
    step (``flat`` None: keep the weights, a plain folder only)."""
    orig = path
    if versions is None and not is_versioned(path):
        path = current_dir(path)  # a symlink to a plain folder elsewhere: rewrite that folder
        staged = _stage_plain(path, flat, cfg, info, resume)
        try:
            _crash_point("version")
            _replace_dir(path, staged)
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)
        _crash_point("switch")
        return Path(orig)
    keep = max(2, int(versions or KEEP_VERSIONS))
    vroot = versions_dir(path)
    vroot.mkdir(parents=True, exist_ok=True)
    existing = checkpoint_versions(path)
    n = int(existing[0].name) + 1 if existing else 1
    if path.is_dir() and not path.is_symlink():  # a plain folder (an older run): it becomes version n, then n + 1
        _migrate_plain(path, vroot / f"{n:06d}")
        n += 1
    old = current_dir(path) if path.is_symlink() else None
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{n:06d}-", dir=vroot))
    try:
        _normal_mode(tmp)
        if flat is None:
            raise CheckpointError("a new version needs its weights")
        _write_files(tmp, flat, cfg, info, resume)
        final = vroot / f"{n:06d}"
        os.rename(tmp, final)
        _fsync_dir(vroot)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _crash_point("version")
    _switch(path, final)
    _crash_point("switch")
    _collect(path, keep_names={final.name, old.name if old is not None else ""}, keep=keep)
    return path


def _migrate_plain(path: Path, version: Path) -> None:
    """Turn the plain checkpoint folder ``path`` into the first version of a versioned one: copy it to ``version``,
    then swap ``path`` for a symlink to it (atomically where ``renameat2`` exists)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version.name}-", dir=version.parent))
    shutil.rmtree(tmp)
    shutil.copytree(path, tmp, symlinks=True, copy_function=_link_or_copy)
    os.rename(tmp, version)
    _fsync_dir(version.parent)
    link = path.parent / f".{path.name}.link-{os.getpid()}-{threading.get_ident()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.join(version.parent.name, version.name), link)
    if _exchange(link, path):
        shutil.rmtree(link, ignore_errors=True)  # ``link`` now names the old plain folder
    else:  # pragma: no cover
        shutil.rmtree(path)
        os.replace(link, path)
    _fsync_dir(path.parent)


def _collect(path: Path, keep_names: set[str], keep: int) -> None:
    """Remove the versions of ``path`` other than ``keep_names`` (the current one and the one it replaced) and, up
    to ``keep`` in all, the newest others; and what killed saves left behind (temp folders, temp links)."""
    numbered = checkpoint_versions(path)
    keepset = {n for n in keep_names if n}
    for v in numbered:  # newest first
        if len(keepset) >= keep:
            break
        keepset.add(v.name)
    for v in numbered:
        if v.name not in keepset:
            shutil.rmtree(v, ignore_errors=True)
    for p in versions_dir(path).glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in path.parent.glob(f".{path.name}.link-*"):
        if p.is_symlink():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def add_tensors(path: str | Path, tensors: dict[str, torch.Tensor], config_update: dict[str, Any] | None = None
                ) -> Path:
    """Add (or replace) named extra tensors in an existing checkpoint folder, in its stored precision, and merge
    ``config_update`` into its config; sha256 and size are recomputed, and both files are replaced in one atomic
    step (:func:`_rewrite`). The networks are untouched. Returns ``path``."""
    path = Path(path)
    cfg = read_config(path)
    weights = current_dir(path) / WEIGHTS
    try:
        flat = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    half = cfg.get("stored_dtype") == "float16"
    for k, v in tensors.items():
        _check_name(k, "tensor name")
        v = v.detach().cpu().contiguous()
        flat[f"tensors.{k}"] = v.half() if half and v.dtype == torch.float32 else v
    upd_cfg, upd_info = split_config(dict(config_update or {}))
    cfg.update(upd_cfg)
    cfg["tensors"] = sorted(set(cfg.get("tensors", [])) | set(tensors))
    return _rewrite(path, flat, cfg, upd_info)


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise CheckpointError(f"bad {what} {str(name)[:60]!r}: use letters, digits, '_', '-', '.' (no path separators)")
    return name


def validate_config(cfg: Any, where: str | Path = "config") -> dict[str, Any]:
    """Check a parsed checkpoint config before anything is built from it: an object of this format whose
    ``networks`` is a table of ``{"kind", "kwargs"}`` records of known kinds and sane sizes
    (:func:`nam_core.nets.check_net_config`), with names free of path separators, and well-formed ``tensors``,
    ``sha256`` and ``generator`` fields. Returns ``cfg``; raises :class:`CheckpointError` saying what is wrong."""
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{where}: a checkpoint config must be a JSON object, not {type(cfg).__name__}")
    if cfg.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a {FORMAT} config")
    version = cfg.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{where}: format_version {str(version)[:20]!r} is not one this library reads "
                              f"(1 to {FORMAT_VERSION}); a newer nam-studio wrote it")
    nets = cfg.get("networks")
    if not isinstance(nets, dict) or not nets:
        raise CheckpointError(f"{where}: 'networks' must be a non-empty object of network records")
    if len(nets) > 64:
        raise CheckpointError(f"{where}: {len(nets)} networks is more than any checkpoint holds")
    for name, arch in nets.items():
        _check_name(name, "network name")
        if name in ("tensors", "train"):
            raise CheckpointError(f"{where}: {name!r} is reserved and cannot name a network")
        try:
            check_net_config(arch, name)
        except ValueError as exc:
            raise CheckpointError(f"{where}: {exc}") from exc
    tensors = cfg.get("tensors", [])
    if not isinstance(tensors, list):
        raise CheckpointError(f"{where}: 'tensors' must be a list of names")
    for t in tensors:
        _check_name(t, "tensor name")
    sha = cfg.get("sha256", {})
    if not isinstance(sha, dict) or not all(isinstance(v, str) for v in sha.values()):
        raise CheckpointError(f"{where}: 'sha256' must map file names to hex digests")
    gen = cfg.get("generator")
    if gen is not None and not isinstance(gen, str):
        raise CheckpointError(f"{where}: 'generator' must be a checkpoint name")
    for key in ("style_temperature", "sampling_temperature", "style_min_gain",
                "solver_silhouette_weight"):  # inference settings
        v = cfg.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e3):
            raise CheckpointError(f"{where}: {key!r} must be a number from 0 to 1000, not {str(v)[:20]!r}")
    v = cfg.get("solver_start_spread")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_START_SPREAD):
        raise CheckpointError(f"{where}: 'solver_start_spread' must be a whole number from 1 to {MAX_START_SPREAD}, "
                              f"not {str(v)[:20]!r}")
    return cfg


def check_weights(cfg: dict[str, Any], weights: str | Path) -> None:
    """Refuse (cheaply) weights that do not fit the config: the shapes of every network's tensors as its config
    would build it (on the ``meta`` device, :func:`nam_core.nets.net_shapes`) must equal those in the safetensors
    header (read without loading a tensor), with no tensor missing or left over."""
    try:
        with safe_open(str(weights), framework="pt") as fh:
            stored = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    for name, arch in cfg["networks"].items():
        kind, kwargs = check_net_config(arch, name)
        try:
            want = net_shapes(kind, kwargs)
        except ValueError as exc:
            raise CheckpointError(f"{weights.parent if isinstance(weights, Path) else weights}: network {name!r}: "
                                  f"{exc}") from exc
        have = {k[len(name) + 1:]: v for k, v in stored.items() if k.startswith(f"{name}.")}
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if missing or extra:
            raise CheckpointError(f"{weights}: weights of {name!r} do not fit its architecture ({kind} {kwargs}): "
                                  f"missing {missing[:3]}, unexpected {extra[:3]}")
        bad = [(k, want[k], have[k]) for k in want if want[k] != have[k]]
        if bad:
            k, w, h = bad[0]
            raise CheckpointError(f"{weights}: weights of {name!r} do not fit its architecture ({kind} {kwargs}): "
                                  f"{k} should be {list(w)} but is {list(h)} ({len(bad)} tensors differ)")


_v1_noted = False


def _note_v1(where: Path) -> None:
    global _v1_noted
    if not _v1_noted:
        _v1_noted = True
        print(f"note: {where} is an old-format (format_version 1) checkpoint, read as format 2; convert it with "
              "`nam-studio migrate`", file=sys.stderr)


def _read_raw(path: str | Path) -> dict[str, Any]:
    """The parsed and validated ``config.json`` of a checkpoint folder, exactly as stored (either format)."""
    cfg_path = current_dir(path) / CONFIG
    if not cfg_path.exists():
        raise CheckpointError(f"not a checkpoint: {Path(path) / CONFIG} is missing")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
        raise CheckpointError(f"corrupt checkpoint config {cfg_path}: {exc}") from exc
    return validate_config(cfg, cfg_path)


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A checkpoint's side file (training info, resume state) parsed; CheckpointError when corrupt or not an
    object."""
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
        raise CheckpointError(f"corrupt {what} {path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: {what} must be a JSON object")
    return obj


def _is_v1(cfg: dict[str, Any]) -> bool:
    return int(cfg.get("format_version") or 1) < FORMAT_VERSION


def read_config(path: str | Path) -> dict[str, Any]:
    """The validated (:func:`validate_config`) config of a checkpoint folder: only what rebuilds the object (a
    format-1 folder's config split in memory, :func:`split_config`). Clear errors when missing, corrupt or not
    ours. Training history, hparams, recipe and provenance: :func:`read_training_info`."""
    cfg = _read_raw(path)
    if _is_v1(cfg):
        _note_v1(Path(path))
        cfg = split_config(cfg)[0]
    return cfg


def read_training_info(path: str | Path) -> dict[str, Any]:
    """A checkpoint folder's training info (history, hparams, recipe, provenance: ``training_info.json``, or the
    training keys of a format-1 ``config.json``); ``{}`` when it records none. Validates the config too."""
    cfg = _read_raw(path)
    if _is_v1(cfg):
        return split_config(cfg)[1]
    info_path = current_dir(path) / INFO
    return _read_json_object(info_path, "training info") if info_path.exists() else {}


def read_resume_state(path: str | Path) -> dict[str, Any] | None:
    """``{"train_state": skeleton}`` of a resumable (in-progress) checkpoint (``resume_state.json``, or a format-1
    config's ``train_state``); None for a finished one."""
    cfg = _read_raw(path)
    if _is_v1(cfg):
        return {"train_state": cfg["train_state"]} if cfg.get("train_state") is not None else None
    res_path = current_dir(path) / RESUME
    return _read_json_object(res_path, "resume state") if res_path.exists() else None


def update_training_info(path: str | Path, update: dict[str, Any]) -> Path:
    """Merge ``update`` into a plain checkpoint folder's training info in one atomic step (weights untouched; a
    format-1 folder comes out in format 2)."""
    path = Path(path)
    cfg = {**read_config(path), "format_version": FORMAT_VERSION}
    info = {**read_training_info(path), **update}
    return _commit(path, None, cfg, None, info, read_resume_state(path))


def migrate_checkpoint(path: str | Path, recon_loss: Callable[[dict[str, Any]], str | None] | None = None) -> bool:
    """Convert a format-1 checkpoint folder to format 2 in one atomic step (the new files are written in a copy of
    the folder, weights hard-linked, then the two folders are swapped): the weights file is untouched, so its
    sha256 is unchanged. ``recon_loss(old_config)`` (the method registry's) names T's reconstruction loss where
    ``hparams`` alone cannot. Returns False when ``path`` already is format 2."""
    path = Path(path)
    raw = _read_raw(path)
    if not _is_v1(raw):
        return False
    cfg, info = split_config(raw)
    if recon_loss is not None and cfg.get("generator"):
        loss = recon_loss(raw)
        if loss:
            cfg["recon_loss"] = loss
    cfg["format_version"] = FORMAT_VERSION
    resume = {"train_state": raw["train_state"]} if raw.get("train_state") is not None else None
    _commit(path, None, cfg, None, info, resume)
    return True


def load_checkpoint(path: str | Path, device: str | torch.device | None = None, verify: bool = True,
                    with_state: bool = False) -> Checkpoint:
    """Load a checkpoint folder (or a name/Hub reference, see :func:`resolve_checkpoint`): validate its config
    against its weights' header, rebuild every network from its config, load weights strictly, put them in eval mode
    on ``device`` (auto when None)."""
    path = resolve_checkpoint(path)
    real = current_dir(path)  # one version, even if a save switches ``path`` meanwhile
    cfg = read_config(real)
    info = read_training_info(real)
    weights = real / WEIGHTS
    if not weights.exists():
        raise CheckpointError(f"checkpoint {path} has no {WEIGHTS}")
    if verify:
        expected = cfg.get("sha256", {}).get(WEIGHTS)
        if expected is None or sha256_file(weights) != expected:
            raise CheckpointError(f"{weights} does not match the sha256 in its config (corrupt or modified file)")
    check_weights(cfg, weights)
    try:
        flat = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    dev = get_device(device)
    nets: dict[str, nn.Module] = {}
    for name, arch in cfg["networks"].items():
        try:
            net = build_net(arch["kind"], **arch.get("kwargs", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot build network {name!r} from its config: {exc}") from exc
        sd = {k[len(name) + 1:]: v for k, v in flat.items() if k.startswith(f"{name}.")}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: weights of {name!r} do not fit its architecture: {exc}") from exc
        nets[name] = net.to(dev).eval()
    tensors = {k[len("tensors."):]: v.to(dev, torch.float32) if v.is_floating_point() else v.to(dev)
               for k, v in flat.items() if k.startswith("tensors.")}  # float16-stored (shipped) → float32
    state = None
    resume = read_resume_state(real) if with_state else None
    if resume is not None and resume.get("train_state") is not None:
        st = {k[len("train."):]: v for k, v in flat.items() if k.startswith("train.")}
        try:
            state = unflatten_state(resume["train_state"], st)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: its training state does not match its weights: {exc}") from exc
    return Checkpoint(cfg, nets, tensors, path, state, info)


def hub_timeout() -> float:
    """Seconds a Hub request may take before the lookup gives up: ``$NAM_HUB_TIMEOUT`` (default 4)."""
    try:
        return max(0.1, float(os.environ.get("NAM_HUB_TIMEOUT", "4")))
    except ValueError:
        return 4.0


def hub_failure_ttl() -> float:
    """How long a failed Hub lookup is remembered (answered at once): ``$NAM_HUB_FAILURE_TTL`` s (default 300)."""
    try:
        return max(0.0, float(os.environ.get("NAM_HUB_FAILURE_TTL", "300")))
    except ValueError:
        return 300.0


_hub_failures: dict[tuple[str, str, str, str], tuple[float, str]] = {}  # (endpoint, repo, ref, cache) → (when, why)
_hub_lock = threading.Lock()


def forget_hub_failures() -> None:
    """Forget the remembered Hub failures (e.g. once the network is back)."""
    with _hub_lock:
        _hub_failures.clear()


def _hub_fetch(ref: str, repo: str, cache_dir: str | None, local_only: bool, revision: str | None = None) -> Path:
    """``repo/<ref>/{config.json, model.safetensors}`` from the Hub cache or the Hub. One HEAD request with a short
    timeout (:func:`hub_timeout`) and no retries comes first: huggingface_hub's ``hf_hub_download`` retries a
    failed metadata request five times with back-off (about 24 s when the network is down), so it is only called
    once the Hub has answered. Offline or unreachable, files already in the Hub cache are still used."""
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
    from huggingface_hub.file_download import get_hf_file_metadata

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, not at huggingface_hub's import
    timeout = hub_timeout()
    reachable = False
    network_error: Exception | None = None
    if not local_only:
        try:
            get_hf_file_metadata(hf_hub_url(repo, f"{ref}/{CONFIG}", endpoint=endpoint, revision=revision),
                                 timeout=timeout,
                                 endpoint=endpoint, retry_on_errors=False)
            reachable = True
        except (EntryNotFoundError, RepositoryNotFoundError):
            raise
        except Exception as exc:  # unreachable (DNS, refused, timeout) or a server error: try the cache only
            network_error = exc
    files = {}
    try:
        for fname in (CONFIG, WEIGHTS):
            files[fname] = hf_hub_download(repo, f"{ref}/{fname}", cache_dir=cache_dir, endpoint=endpoint,
                                           local_files_only=not reachable, etag_timeout=timeout, revision=revision)
    except Exception as exc:
        if type(network_error).__name__ == "OfflineModeIsEnabled":
            raise ConnectionError(f"huggingface_hub is in offline mode and {ref}/{fname} is not in the Hub cache"
                                  ) from exc
        if not local_only and not reachable and network_error is not None:
            raise ConnectionError(f"the Hub did not answer within {timeout:g} s "
                                  f"({type(network_error).__name__}: {str(network_error)[:200]}) and "
                                  f"{ref}/{fname} is not in the Hub cache") from exc
        raise
    try:  # format 2: the training info beside them (absent from format-1 uploads)
        hf_hub_download(repo, f"{ref}/{INFO}", cache_dir=cache_dir, endpoint=endpoint,
                        local_files_only=not reachable, etag_timeout=timeout, revision=revision)
    except Exception:  # noqa: BLE001 - optional file
        pass
    return Path(files[CONFIG]).parent


def resolve_checkpoint(ref: str | Path, repo_id: str | None = None, cache_dir: str | Path | None = None,
                       local_only: bool | None = None, revision: str | None = None) -> Path:
    """Find a checkpoint folder: an existing path; else ``checkpoints/<ref>`` in the repo; else the Hugging Face Hub
    (``repo_id``/``<ref>/{config.json,model.safetensors}`` via ``hf_hub_download``, into ``cache_dir``).

    ``local_only`` (default: ``$HF_HUB_OFFLINE``) skips the Hub; Hub failures raise :class:`CheckpointError`
    quickly with the reason: one request with a short timeout (:func:`hub_timeout`), no retries, and a failure is
    remembered for :func:`hub_failure_ttl` seconds, during which the same lookup fails at once.
    """
    p = Path(ref)
    if (p / CONFIG).exists():
        return p
    local = CHECKPOINTS_DIR / str(ref)
    if (local / CONFIG).exists():
        return local
    if local_only is None:
        local_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if local_only and cache_dir is None:
        raise CheckpointError(f"checkpoint {ref!r} not found locally (looked in {p} and {local}); Hub lookup is off")
    return fetch_checkpoint(str(ref), repo_id, cache_dir, local_only, local=local, revision=revision)


def fetch_checkpoint(name: str, repo_id: str | None = None, cache_dir: str | Path | None = None,
                     local_only: bool | None = None, local: Path | None = None,
                     revision: str | None = None) -> Path:
    """The checkpoint ``name`` (a plain name, never a path) from the Hub cache or the Hub (see
    :func:`resolve_checkpoint`): one request with a short timeout, no retries, failures remembered for a while."""
    if local_only is None:
        local_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    repo = repo_id or DEFAULT_REPO
    where = f"locally ({local})" if local is not None else "locally"
    if local_only and cache_dir is None:
        raise CheckpointError(f"checkpoint {name!r} not found {where}; Hub lookup is off")
    if Path(name).is_absolute() or not NAME_RE.fullmatch(name.replace("/", "_")) or ".." in Path(name).parts:
        raise CheckpointError(f"checkpoint {name!r} not found {where}; only plain names are looked up on the Hub")
    key = (os.environ.get("HF_ENDPOINT", ""), repo, f"{name}@{revision or ''}", str(cache_dir or ""))
    ttl = hub_failure_ttl()
    with _hub_lock:
        seen = _hub_failures.get(key)
    if not local_only and seen is not None and time.monotonic() - seen[0] < ttl:
        raise CheckpointError(f"{seen[1]} (remembered from {time.monotonic() - seen[0]:.0f} s ago; the Hub is "
                              f"asked again after {ttl:g} s)")
    try:
        return _hub_fetch(name, repo, str(cache_dir) if cache_dir else None, bool(local_only), revision)
    except Exception as exc:  # network errors, missing repo/file, offline cache miss
        msg = (f"checkpoint {name!r} not found {where} and not fetched from the Hub repo {repo!r}: "
               f"{type(exc).__name__}: {str(exc)[:400]}")
        if not local_only:
            with _hub_lock:
                _hub_failures[key] = (time.monotonic(), msg)
        raise CheckpointError(msg) from exc


def find_checkpoints(root: str | Path, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, config) of every checkpoint of ``kind`` ("generator", "mapping", "classifier") directly under
    ``root`` (the config only, as :func:`read_config` gives it); unreadable configs are skipped."""
    found = []
    for cfg_path in sorted(Path(root).glob(f"*/{CONFIG}")):
        try:
            cfg = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(cfg, dict) and cfg.get("kind") == kind:
            found.append((cfg_path.parent, split_config(cfg)[0] if _is_v1(cfg) else cfg))
    return found


def update_manifest(root: str | Path = CHECKPOINTS_DIR,
                    extra: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None) -> Path:
    """Rewrite ``root/manifest.json``: every checkpoint folder under ``root`` with its kind, size, sha256, metrics;
    ``extra(name, config)`` (config and training info together) adds fields of its own
    (``nam_core.training_cli.update_manifest_with_rebuilds``: the
    command that rebuilds each model from its preset)."""
    root = Path(root)
    entries = {}
    for cfg_path in sorted(root.rglob(CONFIG)):
        folder = cfg_path.parent
        try:
            cfg = {**read_training_info(folder), **read_config(folder)}
        except CheckpointError:
            continue
        entries[str(folder.relative_to(root))] = {
            k: cfg.get(k) for k in ("kind", "method", "task", "domain", "metrics", "sha256", "size_bytes", "recipe")
        }
        if extra is not None:
            entries[str(folder.relative_to(root))].update(extra(folder.name, cfg))
    out = root / "manifest.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "library_version": __version__, "checkpoints": entries},
                                  indent=2, sort_keys=True))
    return out


__all__ = ["CONFIG_KEYS", "Checkpoint", "CheckpointError", "migrate_checkpoint", "read_resume_state",
           "read_training_info", "split_config", "update_training_info",
           "check_weights", "checkpoint_candidates", "checkpoint_versions",
           "current_dir", "fetch_checkpoint", "find_checkpoints", "forget_hub_failures", "weights_fingerprint",
           "flatten_state", "is_versioned", "load_checkpoint", "read_config", "resolve_checkpoint", "save_checkpoint",
           "set_current_version", "sha256_file", "store_half", "unflatten_state", "update_manifest",
           "validate_config", "versions_dir"]
