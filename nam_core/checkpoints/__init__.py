"""Checkpoints: a folder with ``model.safetensors`` (weights, never pickled) and ``config.json``.

The config records the architecture of every network (so it can be rebuilt), the domain/task, the training
recipe (the exact command that rebuilds it), metrics, the library version and the sha256 of the weights.
Nested training state (optimisers, counters) is flattened into tensors + JSON by :func:`flatten_state`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..nets import build_net, net_config
from ..paths import CHECKPOINTS_DIR
from ..utils import atomic_path, get_device

FORMAT = "nam-studio-checkpoint"
WEIGHTS, CONFIG = "model.safetensors", "config.json"
DEFAULT_REPO = os.environ.get("NAM_HUB_REPO", "nam-studio/checkpoints")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match its config."""


@dataclass
class Checkpoint:
    """Loaded networks (in eval mode), extra tensors and the config."""

    config: dict[str, Any]
    networks: dict[str, nn.Module]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None
    state: Any = None  # training state (optimisers, counters) when loaded with ``with_state=True``

    def __getitem__(self, name: str) -> nn.Module:
        return self.networks[name]


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


def save_checkpoint(path: str | Path, networks: dict[str, nn.Module], config: dict[str, Any] | None = None,
                    tensors: dict[str, torch.Tensor] | None = None, state: Any = None) -> Path:
    """Write ``path/model.safetensors`` and ``path/config.json`` atomically (weights first, config last).

    ``networks`` must come from :func:`nam_core.nets.build_net`; ``tensors`` are extra named tensors
    (e.g. GLO codes, PCA directions); ``state`` is any nested structure of tensors/plain values (optimisers).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    flat: dict[str, torch.Tensor] = {}
    archs = {}
    for name, net in networks.items():
        archs[name] = net_config(net)
        for k, v in net.state_dict().items():
            flat[f"{name}.{k}"] = v.detach().cpu().contiguous()
    for k, v in (tensors or {}).items():
        flat[f"tensors.{k}"] = v.detach().cpu().contiguous()
    skeleton = None
    if state is not None:
        skeleton, st = flatten_state(state)
        flat.update({f"train.{k}": v for k, v in st.items()})
    with atomic_path(path / WEIGHTS) as tmp:
        save_file(flat, str(tmp), metadata={"format": FORMAT})
    cfg = dict(config or {})
    cfg.update({"format": FORMAT, "format_version": 1, "library_version": __version__, "networks": archs,
                "tensors": sorted((tensors or {}).keys()), "train_state": skeleton,
                "sha256": {WEIGHTS: sha256_file(path / WEIGHTS)},
                "size_bytes": (path / WEIGHTS).stat().st_size})
    with atomic_path(path / CONFIG) as tmp:
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return path


def store_half(path: str | Path) -> Path:
    """Rewrite a checkpoint folder's float32 weights as float16 (half the size; :func:`load_checkpoint` casts them
    back to float32) and update its sha256 / size; refuses checkpoints that carry training state (resume needs
    full precision). Used for shipped checkpoints; returns ``path``."""
    path = Path(path)
    cfg = read_config(path)
    if cfg.get("train_state") is not None:
        raise CheckpointError(f"{path} holds training state; keep it in float32")
    flat = load_file(str(path / WEIGHTS))
    flat = {k: v.half() if v.dtype == torch.float32 else v for k, v in flat.items()}
    cfg["stored_dtype"] = "float16"
    return _rewrite(path, flat, cfg)


def _rewrite(path: Path, flat: dict[str, torch.Tensor], cfg: dict[str, Any]) -> Path:
    """Replace a checkpoint folder's weights with ``flat`` and then its config with ``cfg`` (sha256 and size
    recomputed), each atomically, weights first."""
    with atomic_path(path / WEIGHTS) as tmp:
        save_file(flat, str(tmp), metadata={"format": FORMAT})
    cfg.update({"sha256": {WEIGHTS: sha256_file(path / WEIGHTS)}, "size_bytes": (path / WEIGHTS).stat().st_size})
    with atomic_path(path / CONFIG) as tmp:
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return path


def add_tensors(path: str | Path, tensors: dict[str, torch.Tensor], config_update: dict[str, Any] | None = None
                ) -> Path:
    """Add (or replace) named extra tensors in an existing checkpoint folder, in its stored precision, and merge
    ``config_update`` into its config; sha256 and size are recomputed, and both files are replaced atomically
    (weights first). The networks are untouched. Returns ``path``."""
    path = Path(path)
    cfg = read_config(path)
    try:
        flat = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path / WEIGHTS}: {exc}") from exc
    half = cfg.get("stored_dtype") == "float16"
    for k, v in tensors.items():
        v = v.detach().cpu().contiguous()
        flat[f"tensors.{k}"] = v.half() if half and v.dtype == torch.float32 else v
    cfg.update(config_update or {})
    cfg["tensors"] = sorted(set(cfg.get("tensors", [])) | set(tensors))
    return _rewrite(path, flat, cfg)


def read_config(path: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint folder (clear errors when missing or not ours)."""
    cfg_path = Path(path) / CONFIG
    if not cfg_path.exists():
        raise CheckpointError(f"not a checkpoint: {cfg_path} is missing")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt checkpoint config {cfg_path}: {exc}") from exc
    if cfg.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path} is not a {FORMAT} config")
    return cfg


def load_checkpoint(path: str | Path, device: str | torch.device | None = None, verify: bool = True,
                    with_state: bool = False) -> Checkpoint:
    """Load a checkpoint folder (or a name/Hub reference, see :func:`resolve_checkpoint`): rebuild every network
    from its config, load weights strictly, put them in eval mode on ``device`` (auto when None)."""
    path = resolve_checkpoint(path)
    cfg = read_config(path)
    weights = path / WEIGHTS
    if not weights.exists():
        raise CheckpointError(f"checkpoint {path} has no {WEIGHTS}")
    if verify:
        expected = cfg.get("sha256", {}).get(WEIGHTS)
        if expected is None or sha256_file(weights) != expected:
            raise CheckpointError(f"{weights} does not match the sha256 in its config (corrupt or modified file)")
    try:
        flat = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {weights}: {exc}") from exc
    dev = get_device(device)
    nets: dict[str, nn.Module] = {}
    for name, arch in cfg["networks"].items():
        try:
            net = build_net(arch["kind"], **arch["kwargs"])
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
    if with_state and cfg.get("train_state") is not None:
        st = {k[len("train."):]: v for k, v in flat.items() if k.startswith("train.")}
        state = unflatten_state(cfg["train_state"], st)
    return Checkpoint(cfg, nets, tensors, path, state)


def resolve_checkpoint(ref: str | Path, repo_id: str | None = None, cache_dir: str | Path | None = None,
                       local_only: bool | None = None) -> Path:
    """Find a checkpoint folder: an existing path; else ``checkpoints/<ref>`` in the repo; else the Hugging Face Hub
    (``repo_id``/``<ref>/{config.json,model.safetensors}`` via ``hf_hub_download``, into ``cache_dir``).

    ``local_only`` (default: ``$HF_HUB_OFFLINE``) skips the Hub; Hub failures raise :class:`CheckpointError`
    quickly with the reason.
    """
    p = Path(ref)
    if (p / CONFIG).exists():
        return p
    local = CHECKPOINTS_DIR / str(ref)
    if (local / CONFIG).exists():
        return local
    if local_only is None:
        local_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    repo = repo_id or DEFAULT_REPO
    if local_only and cache_dir is None:
        raise CheckpointError(f"checkpoint {ref!r} not found locally (looked in {p} and {local}); Hub lookup is off")
    try:
        from huggingface_hub import hf_hub_download

        files = {}
        for fname in (CONFIG, WEIGHTS):
            files[fname] = hf_hub_download(repo, f"{ref}/{fname}", cache_dir=str(cache_dir) if cache_dir else None,
                                           local_files_only=bool(local_only), etag_timeout=5)
    except Exception as exc:  # network errors, missing repo/file, offline cache miss
        raise CheckpointError(
            f"checkpoint {ref!r} not found locally ({local}) and not fetched from the Hub repo {repo!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return Path(files[CONFIG]).parent


def find_checkpoints(root: str | Path, kind: str) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, config) of every checkpoint of ``kind`` ("generator", "mapping", "classifier") directly under
    ``root``; unreadable configs are skipped."""
    found = []
    for cfg_path in sorted(Path(root).glob(f"*/{CONFIG}")):
        try:
            cfg = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if cfg.get("kind") == kind:
            found.append((cfg_path.parent, cfg))
    return found


def update_manifest(root: str | Path = CHECKPOINTS_DIR) -> Path:
    """Rewrite ``root/manifest.json``: every checkpoint folder under ``root`` with its kind, size, sha256, metrics."""
    root = Path(root)
    entries = {}
    for cfg_path in sorted(root.rglob(CONFIG)):
        folder = cfg_path.parent
        try:
            cfg = read_config(folder)
        except CheckpointError:
            continue
        entries[str(folder.relative_to(root))] = {
            k: cfg.get(k) for k in ("kind", "method", "task", "domain", "metrics", "sha256", "size_bytes", "recipe")
        }
    out = root / "manifest.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "library_version": __version__, "checkpoints": entries},
                                  indent=2, sort_keys=True))
    return out


__all__ = ["Checkpoint", "CheckpointError", "find_checkpoints", "weights_fingerprint",
           "flatten_state", "load_checkpoint", "read_config", "resolve_checkpoint",
           "save_checkpoint", "sha256_file", "store_half", "unflatten_state", "update_manifest"]
