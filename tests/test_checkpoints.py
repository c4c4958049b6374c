"""Checkpoint folders: round trips, training state, corruption, name/Hub resolution, manifest, no pickle."""

from __future__ import annotations

import json
import pickle
import shutil
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import nam_core.checkpoints as ckmod
from nam_core.checkpoints import (
    CheckpointError,
    flatten_state,
    load_checkpoint,
    read_config,
    resolve_checkpoint,
    save_checkpoint,
    sha256_file,
    unflatten_state,
    update_manifest,
)
from nam_core.nets import build_net

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    g = build_net("glo_generator", latent_dim=8, out_channels=1, size=32, ngf=8)
    e = build_net("encoder", in_channels=1, size=32, latent_dim=8, nef=8, variational=True)
    # move the batch-norm running statistics away from their defaults
    with torch.no_grad():
        g.train()(torch.randn(4, 8))
        e.train()(torch.rand(4, 1, 32, 32))
    return {"G": g, "E": e}


def _save(path: Path, **kw) -> dict[str, nn.Module]:
    nets = _nets()
    save_checkpoint(path, nets, {"kind": "generator", "domain": "mnist", "metrics": {"fid": 1.5}},
                    tensors={"codes": torch.randn(10, 8)}, **kw)
    return nets


def test_round_trip(tmp_path: Path) -> None:
    codes = torch.randn(10, 8)
    nets = _nets()
    out = save_checkpoint(tmp_path / "ck", nets, {"kind": "generator", "domain": "mnist"}, tensors={"codes": codes})
    assert out == tmp_path / "ck"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "training_info.json"]  # no temp files
    ck = load_checkpoint(out, device="cpu")
    assert set(ck.networks) == {"G", "E"} and ck.path == out
    assert ck.config["domain"] == "mnist" and ck.config["format"] == ckmod.FORMAT
    assert ck.config["sha256"]["model.safetensors"] == sha256_file(out / "model.safetensors")
    assert ck.config["networks"]["G"] == {"kind": "glo_generator",
                                          "kwargs": {"latent_dim": 8, "out_channels": 1, "size": 32, "ngf": 8}}
    for name, net in ck.networks.items():
        assert not net.training, f"{name} is not in eval mode"
        assert all(p.device.type == "cpu" for p in net.parameters())
    torch.testing.assert_close(ck.tensors["codes"], codes)
    z, x = torch.randn(3, 8), torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        nets["G"].eval()
        nets["E"].eval()
        torch.testing.assert_close(ck["G"](z), nets["G"](z), rtol=0, atol=0)
        for a, b in zip(ck["E"](x), nets["E"](x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert ck.state is None


def test_flatten_unflatten() -> None:
    state = {"epoch": 3, "lr": 0.5, "name": "x", "none": None, "flag": True, 7: "int key",
             "nested": [torch.arange(3), (1, torch.ones(2, 2)), {"deep": [torch.zeros(1)]}]}
    skeleton, tensors = flatten_state(state)
    json.dumps(skeleton)  # the skeleton is plain JSON
    assert all(isinstance(v, torch.Tensor) for v in tensors.values()) and len(tensors) == 3
    back = unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    assert back["epoch"] == 3 and back["lr"] == 0.5 and back["none"] is None and back["flag"] is True
    assert back[7] == "int key"
    assert isinstance(back["nested"][1], tuple) and isinstance(back["nested"], list)
    torch.testing.assert_close(back["nested"][1][1], torch.ones(2, 2))
    torch.testing.assert_close(back["nested"][2]["deep"][0], torch.zeros(1))
    with pytest.raises(TypeError, match="cannot store"):
        flatten_state({"bad": object()})


def test_optimizer_state_restored_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_net("imle", noise_dim=4, latent_dim=4, hidden=16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(8, 4)).pow(2).sum().backward()
        opt.step()
    save_checkpoint(tmp_path / "ck", {"T": net}, {"kind": "mapping"},
                    state={"optimizers": {"T": opt.state_dict()}, "epoch": 3, "history": [{"loss": 1.0}]})
    ck = load_checkpoint(tmp_path / "ck", device="cpu", with_state=True)
    assert ck.state["epoch"] == 3 and ck.state["history"] == [{"loss": 1.0}]
    net2 = ck["T"].train()
    net.train()
    opt2 = torch.optim.Adam(net2.parameters(), lr=1.0)
    opt2.load_state_dict(ck.state["optimizers"]["T"])
    assert opt2.param_groups[0]["lr"] == 1e-2 and opt2.param_groups[0]["betas"] == (0.5, 0.999)
    x = torch.randn(8, 4)
    for o, n in ((opt, net), (opt2, net2)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    # without with_state the training state is not loaded
    assert load_checkpoint(tmp_path / "ck", device="cpu").state is None


def test_no_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save(tmp_path / "ck", state={"epoch": 1, "t": torch.ones(2)})

    def forbidden(*args, **kwargs):
        raise AssertionError("checkpoints must not be unpickled")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    ck = load_checkpoint(tmp_path / "ck", device="cpu", with_state=True)
    assert ck.state["epoch"] == 1


def test_corrupt_weights_sha_mismatch(tmp_path: Path) -> None:
    _save(tmp_path / "ck")
    w = tmp_path / "ck" / "model.safetensors"
    data = bytearray(w.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(b ^ 0xFF for b in data[mid : mid + 8])
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "ck", device="cpu")


def test_truncated_weights_without_verify(tmp_path: Path) -> None:
    _save(tmp_path / "ck")
    w = tmp_path / "ck" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "ck", device="cpu")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "ck", device="cpu", verify=False)
    w.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "ck", device="cpu", verify=False)


def test_missing_and_corrupt_config(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "empty", device="cpu")
    with pytest.raises(CheckpointError, match="missing"):
        read_config(tmp_path / "empty")
    _save(tmp_path / "ck")
    cfg = tmp_path / "ck" / "config.json"
    good = cfg.read_text()
    cfg.write_text(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "ck", device="cpu")
    cfg.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        read_config(tmp_path / "ck")
    cfg.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a"):
        load_checkpoint(tmp_path / "ck", device="cpu")
    cfg.write_text(good)
    (tmp_path / "ck" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path / "ck", device="cpu")


def _edit_config(folder: Path, edit) -> None:
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    edit(cfg)
    cfg_path.write_text(json.dumps(cfg))


def test_wrong_architecture(tmp_path: Path) -> None:
    _save(tmp_path / "ck")
    _edit_config(tmp_path / "ck", lambda c: c["networks"]["G"]["kwargs"].update(ngf=16))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "ck", device="cpu")


def test_unknown_architecture_is_checkpoint_error(tmp_path: Path) -> None:
    """A config naming a network kind (or arguments) this library does not know is a checkpoint problem too."""
    _save(tmp_path / "ck")
    _edit_config(tmp_path / "ck", lambda c: c["networks"]["G"].update(kind="future_generator"))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "ck", device="cpu")
    _save(tmp_path / "ck2")
    _edit_config(tmp_path / "ck2", lambda c: c["networks"]["G"]["kwargs"].update(new_option=1))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "ck2", device="cpu")


def test_save_needs_build_net(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="build_net"):
        save_checkpoint(tmp_path / "ck", {"x": nn.Linear(2, 2)})


def test_resolve_local_path_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save(tmp_path / "somewhere" / "ck")
    assert resolve_checkpoint(tmp_path / "somewhere" / "ck") == tmp_path / "somewhere" / "ck"
    assert resolve_checkpoint(str(tmp_path / "somewhere" / "ck")) == tmp_path / "somewhere" / "ck"
    shipped = tmp_path / "checkpoints"
    _save(shipped / "mnist_glann")
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", shipped)
    monkeypatch.chdir(tmp_path / "somewhere")  # the name is not a path relative to the working directory
    assert resolve_checkpoint("mnist_glann") == shipped / "mnist_glann"
    ck = load_checkpoint("mnist_glann", device="cpu")
    assert ck.path == shipped / "mnist_glann" and "G" in ck.networks


def _fake_hub_cache(cache: Path, repo_id: str, ref: str, source: Path) -> Path:
    """The layout huggingface_hub's cache uses: models--ORG--NAME/{refs/main, snapshots/<commit>/<files>}."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    snap = storage / "snapshots" / COMMIT / ref
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy(source / f, snap / f)
    return snap


def test_resolve_from_hub_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", tmp_path / "no_shipped")
    _save(tmp_path / "src")
    cache = tmp_path / "hf_cache"
    snap = _fake_hub_cache(cache, "ORG/NAME", "mnist_glann", tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    t0 = time.time()
    got = resolve_checkpoint("mnist_glann", repo_id="ORG/NAME", cache_dir=cache, local_only=True)
    assert time.time() - t0 < 5
    assert got.resolve() == snap.resolve()
    ck = load_checkpoint(got, device="cpu")
    assert set(ck.networks) == {"G", "E"}
    # a file missing from the snapshot is a CheckpointError, not a hub exception
    (snap / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="Hub"):
        resolve_checkpoint("mnist_glann", repo_id="ORG/NAME", cache_dir=cache, local_only=True)


def test_unknown_name_local_only_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", tmp_path / "no_shipped")
    monkeypatch.chdir(tmp_path)
    t0 = time.time()
    with pytest.raises(CheckpointError, match="not found locally"):
        resolve_checkpoint("no_such_checkpoint", local_only=True)
    with pytest.raises(CheckpointError, match="not found"):
        resolve_checkpoint("no_such_checkpoint", repo_id="ORG/NAME", cache_dir=tmp_path / "empty_cache",
                           local_only=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint("no_such_checkpoint", device="cpu")
    assert time.time() - t0 < 5


def test_update_manifest(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    _save(root / "mnist_glann")
    _save(root / "mappings" / "mnist2svhn")
    (root / "junk").mkdir()
    (root / "junk" / "config.json").write_text("{not json")
    out = update_manifest(root)
    assert out == root / "manifest.json"
    manifest = json.loads(out.read_text())
    assert manifest["format"] == ckmod.FORMAT
    entries = manifest["checkpoints"]
    assert set(entries) == {"mnist_glann", "mappings/mnist2svhn"}
    e = entries["mnist_glann"]
    assert e["kind"] == "generator" and e["domain"] == "mnist" and e["metrics"] == {"fid": 1.5}
    assert e["sha256"]["model.safetensors"] == sha256_file(root / "mnist_glann" / "model.safetensors")
    assert e["size_bytes"] == (root / "mnist_glann" / "model.safetensors").stat().st_size


def test_find_checkpoints_by_kind(tmp_path: Path) -> None:
    from nam_core.checkpoints import find_checkpoints

    _save(tmp_path / "gen_a")
    save_checkpoint(tmp_path / "map_b", _nets(), {"kind": "mapping", "task": "street2mnist"})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    gens = find_checkpoints(tmp_path, "generator")
    maps = find_checkpoints(tmp_path, "mapping")
    assert [p.name for p, _ in gens] == ["gen_a"] and gens[0][1]["domain"] == "mnist"
    assert [p.name for p, _ in maps] == ["map_b"] and maps[0][1]["task"] == "street2mnist"
    assert find_checkpoints(tmp_path, "classifier") == []


def test_store_half_halves_the_file_and_loads_as_float32(tmp_path: Path) -> None:
    nets = _save(tmp_path / "ck")
    full = load_checkpoint(tmp_path / "ck", device="cpu")
    size = (tmp_path / "ck" / "model.safetensors").stat().st_size
    ckmod.store_half(tmp_path / "ck")
    cfg = read_config(tmp_path / "ck")
    assert cfg["stored_dtype"] == "float16" and cfg["size_bytes"] < 0.6 * size
    assert cfg["sha256"]["model.safetensors"] == sha256_file(tmp_path / "ck" / "model.safetensors")
    half = load_checkpoint(tmp_path / "ck", device="cpu")  # sha256 verified, weights cast back to float32
    assert all(p.dtype == torch.float32 for p in half["G"].parameters())
    assert half.tensors["codes"].dtype == torch.float32
    torch.testing.assert_close(half.tensors["codes"], full.tensors["codes"], rtol=1e-3, atol=1e-3)
    z = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(half["G"](z), full["G"](z), rtol=0, atol=2e-2)
    assert set(half.networks) == set(nets)


def test_add_tensors_keeps_networks_and_stored_precision(tmp_path: Path) -> None:
    _save(tmp_path / "ck")
    ckmod.store_half(tmp_path / "ck")
    before = load_checkpoint(tmp_path / "ck", device="cpu")
    extra = {"style_vectors": torch.randn(2, 8), "style_std": torch.tensor([2.0, 1.0])}
    ckmod.add_tensors(tmp_path / "ck", extra, {"style_directions": {"k": 2}})
    cfg = read_config(tmp_path / "ck")
    assert {"codes", "style_vectors", "style_std"} <= set(cfg["tensors"])
    assert ckmod.read_training_info(tmp_path / "ck")["style_directions"] == {"k": 2}
    assert cfg["sha256"]["model.safetensors"] == sha256_file(tmp_path / "ck" / "model.safetensors")
    after = load_checkpoint(tmp_path / "ck", device="cpu")  # verified against the new sha256
    torch.testing.assert_close(after.tensors["style_vectors"], extra["style_vectors"], atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(after.tensors["codes"], before.tensors["codes"])
    for (_, a), (_, b) in zip(after["G"].state_dict().items(), before["G"].state_dict().items()):
        torch.testing.assert_close(a, b)
    from safetensors.torch import load_file

    assert load_file(str(tmp_path / "ck" / "model.safetensors"))["tensors.style_std"].dtype == torch.float16
    ckmod.add_tensors(tmp_path / "ck", {"style_std": torch.tensor([5.0, 4.0])})  # replacing works too
    assert load_checkpoint(tmp_path / "ck", device="cpu").tensors["style_std"].tolist() == [5.0, 4.0]


def test_store_half_refuses_training_state(tmp_path: Path) -> None:
    _save(tmp_path / "ck", state={"epoch": 3, "w": torch.ones(2)})
    with pytest.raises(CheckpointError, match="training state"):
        ckmod.store_half(tmp_path / "ck")


# ------------------------------------------------------------------ versioned (atomic) saves
def test_versioned_save_switches_one_pointer_and_keeps_the_previous_version(tmp_path: Path) -> None:
    last = tmp_path / "run" / "last"
    for epoch in range(1, 5):
        _save(last, versions=2, state={"epoch": epoch})
        assert last.is_symlink() and ckmod.is_versioned(last)
        assert load_checkpoint(last, device="cpu", with_state=True).state["epoch"] == epoch
    versions = ckmod.checkpoint_versions(last)
    assert [v.name for v in versions] == ["000004", "000003"]  # the current one and the one before; older removed
    assert ckmod.current_dir(last) == versions[0].resolve()
    assert read_config(last)["format"] == ckmod.FORMAT and (last / "config.json").exists()  # callers see a folder
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".last.versions", "last"]  # no temp leftovers
    assert ckmod.checkpoint_candidates(last) == [last, versions[1]]
    # a save of a versioned checkpoint stays versioned without being asked; the relative link survives a move
    _save(last, state={"epoch": 5})
    assert [v.name for v in ckmod.checkpoint_versions(last)] == ["000005", "000004"]
    moved = shutil.move(str(tmp_path / "run"), str(tmp_path / "moved"))
    assert load_checkpoint(Path(moved) / "last", device="cpu", with_state=True).state["epoch"] == 5



def test_resume_candidates_put_older_versions_before_an_unswitched_newer_one(tmp_path: Path) -> None:
    """A save killed after writing its version but before switching ``last`` leaves a complete, never-committed
    version: a resume tries the current version, then the older ones, and only then that one."""
    last = tmp_path / "last"
    for epoch in (1, 2):
        _save(last, versions=2, state={"epoch": epoch})
    current, previous = ckmod.checkpoint_versions(last)
    orphan = shutil.copytree(current, current.parent / "000003")
    assert ckmod.checkpoint_candidates(last) == [last, previous, Path(orphan)]
    last.unlink()  # no pointer at all (e.g. killed while migrating): newest first
    assert ckmod.checkpoint_candidates(last) == [Path(orphan), current, previous]

def test_versioned_rewrites_and_migration_from_a_plain_folder(tmp_path: Path) -> None:
    last = tmp_path / "last"
    _save(last)  # a plain folder, as older runs left it
    (last / "notes.txt").write_text("kept")
    _save(last, versions=2, state={"epoch": 2})  # becomes version 1 (the old folder) and version 2
    assert last.is_symlink() and [v.name for v in ckmod.checkpoint_versions(last)] == ["000002", "000001"]
    assert (ckmod.checkpoint_versions(last)[1] / "notes.txt").read_text() == "kept"
    ckmod.add_tensors(last, {"extra": torch.ones(3)})  # _rewrite: a new version, never an in-place edit
    assert [v.name for v in ckmod.checkpoint_versions(last)] == ["000003", "000002"]
    assert load_checkpoint(last, device="cpu").tensors["extra"].tolist() == [1.0, 1.0, 1.0]
    ckmod.set_current_version(last, ckmod.checkpoint_versions(last)[1])
    assert "extra" not in load_checkpoint(last, device="cpu").tensors
    with pytest.raises(CheckpointError, match="not a version"):
        ckmod.set_current_version(last, tmp_path)


def test_plain_rewrite_is_one_swap_and_an_interrupted_one_leaves_the_folder_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save(tmp_path / "ck")
    (tmp_path / "ck" / "samples.png").write_bytes(b"png")
    before = (tmp_path / "ck" / "config.json").read_text()

    def boom(point: str) -> None:
        if point == "weights":
            raise KeyboardInterrupt  # stands in for a kill between the weights and the config
    monkeypatch.setattr(ckmod, "_crash_point", boom)
    with pytest.raises(KeyboardInterrupt):
        ckmod.store_half(tmp_path / "ck")
    assert (tmp_path / "ck" / "config.json").read_text() == before
    load_checkpoint(tmp_path / "ck", device="cpu")  # still consistent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # the staged copy is gone
    monkeypatch.undo()
    ckmod.store_half(tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "model.safetensors", "samples.png",
                                                                    "training_info.json"]
    assert read_config(tmp_path / "ck")["stored_dtype"] == "float16"


# ------------------------------------------------------------------ config validation
@pytest.mark.parametrize("edit, match", [
    (lambda c: ["a", "list"], "JSON object"),
    (lambda c: {k: v for k, v in c.items() if k != "networks"}, "networks"),
    (lambda c: {**c, "networks": []}, "networks"),
    (lambda c: {**c, "networks": {"G": "glo_generator"}}, "kind"),
    (lambda c: {**c, "networks": {**c["networks"], "G": {**c["networks"]["G"], "kind": "evil"}}}, "unknown"),
    (lambda c: {**c, "networks": {"../G": c["networks"]["G"]}}, "path separators"),
    (lambda c: {**c, "networks": {"a/b": c["networks"]["G"]}}, "path separators"),
    (lambda c: {**c, "tensors": ["../../x"]}, "path separators"),
    (lambda c: {**c, "generator": ["x"]}, "generator"),
    (lambda c: {**c, "networks": {**c["networks"], "G": {"kind": "glo_generator", "kwargs": {
        **c["networks"]["G"]["kwargs"], "ngf": 10**9}}}}, "out of range"),
    (lambda c: {**c, "networks": {**c["networks"], "E": {"kind": "encoder", "kwargs": {
        **c["networks"]["E"]["kwargs"], "latent_dim": -1}}}}, "out of range"),
    (lambda c: {**c, "networks": {**c["networks"], "E": {"kind": "encoder", "kwargs": {
        **c["networks"]["E"]["kwargs"], "nef": "64"}}}}, "do not fit|cannot build"),
    (lambda c: {**c, "networks": {**c["networks"], "E": {"kind": "encoder", "kwargs": {
        **c["networks"]["E"]["kwargs"], "nef": [64]}}}}, "must be a number"),
    (lambda c: {**c, "style_temperature": "hot"}, "'style_temperature' must be a number from 0"),
    (lambda c: {**c, "sampling_temperature": -1}, "'sampling_temperature' must be a number from 0"),
    (lambda c: {**c, "style_min_gain": True}, "'style_min_gain' must be a number from 0"),
    (lambda c: {**c, "solver_silhouette_weight": 5000}, "'solver_silhouette_weight' must be a number from 0"),
    (lambda c: {**c, "solver_start_spread": 2.5}, "'solver_start_spread' must be a whole number from 1"),
    (lambda c: {**c, "solver_start_spread": 0}, "'solver_start_spread' must be a whole number from 1"),
])
def test_bad_configs_are_refused_before_anything_is_built(tmp_path: Path, edit, match: str) -> None:
    _save(tmp_path / "ck")
    cfg_path = tmp_path / "ck" / "config.json"
    cfg_path.write_text(json.dumps(edit(json.loads(cfg_path.read_text()))))
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(tmp_path / "ck", device="cpu")


@pytest.mark.parametrize("size", [2048, 60000])
def test_a_huge_architecture_is_refused_from_the_weights_header_without_allocating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """``nef`` 2048 used to allocate 3.3 GB and take 13 s before being refused: now the shapes it would have (built
    on the meta device) are compared with the safetensors header, and no network is built at all."""
    _save(tmp_path / "ck")
    _edit_config(tmp_path / "ck", lambda c: c["networks"]["E"]["kwargs"].update(nef=size, latent_dim=size))
    built: list[str] = []
    monkeypatch.setattr(ckmod, "build_net", lambda kind, **kw: built.append(kind))
    t0 = time.time()
    with pytest.raises(CheckpointError, match="do not fit its architecture"):
        load_checkpoint(tmp_path / "ck", device="cpu")
    assert time.time() - t0 < 2 and built == []


def test_every_shipped_checkpoint_passes_validation() -> None:
    shipped = sorted(p.parent for p in ckmod.CHECKPOINTS_DIR.glob("*/config.json"))
    assert len(shipped) >= 30
    for folder in shipped:
        cfg = read_config(folder)
        ckmod.check_weights(cfg, folder / "model.safetensors")


def test_find_checkpoints_skips_configs_that_are_not_objects(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text("[1, 2]")
    assert ckmod.find_checkpoints(tmp_path, "generator") == []


# ------------------------------------------------------------------ Hub lookups fail fast
class _SilentServer:
    """A 127.0.0.1 port that accepts connections and never answers (a black-holed network)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    hf_constants = pytest.importorskip("huggingface_hub.constants")
    server = _SilentServer()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)  # read at its import, maybe under another test's env
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("NAM_HUB_TIMEOUT", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", tmp_path / "no_shipped")
    monkeypatch.chdir(tmp_path)
    ckmod.forget_hub_failures()
    yield server
    ckmod.forget_hub_failures()
    server.close()


def test_an_unanswering_hub_fails_within_seconds_and_the_failure_is_remembered(silent_hub: _SilentServer,
                                                                                tmp_path: Path) -> None:
    """Before: with the network down, huggingface_hub's five retries with back-off took ~24 s per lookup (and much
    longer on a black-holed network, each retry waiting 60 s), every time. Now: one request with a short timeout,
    a clear CheckpointError, and the next lookup of the same name fails at once."""
    t0 = time.time()
    with pytest.raises(CheckpointError, match="did not answer within 1 s"):
        resolve_checkpoint("missing_name", cache_dir=tmp_path / "cache")
    first = time.time() - t0
    assert first < 6, first
    t0 = time.time()
    with pytest.raises(CheckpointError, match="remembered"):
        resolve_checkpoint("missing_name", cache_dir=tmp_path / "cache")
    assert time.time() - t0 < 0.2
    ckmod.forget_hub_failures()
    silent_hub.close()  # now a closed port: refused at once, not retried
    t0 = time.time()
    with pytest.raises(CheckpointError, match="Hub"):
        resolve_checkpoint("missing_name", cache_dir=tmp_path / "cache")
    assert time.time() - t0 < 3


def test_only_plain_names_go_to_the_hub(silent_hub: _SilentServer) -> None:
    for ref in ("../../etc", "/abs/elsewhere/ck", "a/../../b"):
        t0 = time.time()
        with pytest.raises(CheckpointError, match="plain names"):
            resolve_checkpoint(ref)
        assert time.time() - t0 < 0.2


def test_validating_against_the_header_costs_no_import_of_torch_dynamo(tmp_path: Path) -> None:
    """Meta-device builds skip random init: torch's meta ``normal_`` would import torch._dynamo (seconds, once per
    process) on the first load of every app or CLI process."""
    import subprocess
    import sys

    _save(tmp_path / "ck")
    code = ("import sys; from nam_core.checkpoints import load_checkpoint; "
            f"load_checkpoint({str(tmp_path / 'ck')!r}, device='cpu'); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ckmod.CHECKPOINTS_DIR.parent))
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]
