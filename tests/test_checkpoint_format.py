"""Checkpoint format 2: save_pretrained / from_pretrained, config vs training info vs resume state, format-1 folders
(still loaded, and migrated by ``nam-studio migrate`` without touching the weights, atomically)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nam_core.checkpoints as ckmod
from nam_core.checkpoints import (
    CONFIG_KEYS,
    CRASH_ENV,
    Checkpoint,
    load_checkpoint,
    read_config,
    read_resume_state,
    read_training_info,
    save_checkpoint,
    sha256_file,
)
from nam_core.cli import main as cli_main
from nam_core.methods.nam import freeze
from nam_core.methods.vae_nam import VAENAM
from nam_core.nets import build_net
from nam_core.serving.translator import Translator

LATENT = 8
REPO = Path(__file__).resolve().parent.parent


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny generator and a VAE-NAM mapping on it, saved as the trainers save them (mixed dicts, one writer)."""
    root = tmp_path_factory.mktemp("format2")
    torch.manual_seed(0)
    G = build_net("dcgan_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    G.train()
    with torch.no_grad():
        G(torch.randn(64, LATENT))
    G = freeze(G)
    gen = root / "gen_mnist"
    m = VAENAM(G, 3, 32, variational=True, nf=8, nef=8, task="street2mnist", generator_ref=str(gen))
    x = torch.from_numpy(_images(8, 0)).permute(0, 3, 1, 2).float() / 127.5 - 1
    for net in m.networks.values():
        net.train()
    for _ in range(3):
        m.train_step(torch.arange(8), x)
    G.eval()
    save_checkpoint(gen, {"G": G}, {
        "kind": "generator", "domain": "mnist", "method": "dcgan", "latent_dim": LATENT, "image_size": 32,
        "channels": 1, "hparams": {"latent_dim": LATENT, "ngf": 8}, "history": [{"epoch": 1, "loss": 0.5}],
        "recipe": {"command": "pytest gen"}, "train_seconds_total": 1.5, "epochs_done": 1})
    config = m.config()
    config.update({"source": "street", "target": "mnist", "image_size": 32, "generator_method": "dcgan",
                   "history": [{"epoch": 1, "recon": 0.3}],
                   "recipe": {"command": "pytest mapping"}, "train_seconds_total": 2.5, "epochs_done": 1,
                   "built_with": {"machine": "test"}})
    mapping = save_checkpoint(root / "street2mnist_vae-nam_dcgan", m.networks, config)
    return {"gen": gen, "mapping": mapping}


def _to_format1(folder: Path) -> None:
    """Rewrite a format-2 folder the way the format-1 writer laid it out: everything in config.json."""
    cfg = json.loads((folder / "config.json").read_text())
    info = json.loads((folder / "training_info.json").read_text())
    resume = read_resume_state(folder)
    cfg = {**info, **cfg, "format_version": 1, "train_state": (resume or {}).get("train_state")}
    cfg.pop("recon_loss", None)  # format 1 had it only inside hparams
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "training_info.json").unlink()
    if (folder / "resume_state.json").exists():
        (folder / "resume_state.json").unlink()


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_config_holds_only_what_rebuilds_the_object(folders: dict[str, Path]) -> None:
    for name in ("gen", "mapping"):
        cfg = json.loads((folders[name] / "config.json").read_text())
        assert set(cfg) <= CONFIG_KEYS and cfg["format_version"] == 2, set(cfg) - CONFIG_KEYS
        info = read_training_info(folders[name])
        assert {"history", "hparams", "recipe", "train_seconds_total", "library_version"} <= set(info)
        assert not (folders[name] / "resume_state.json").exists()
    cfg = read_config(folders["mapping"])
    assert cfg["recon_loss"] == read_training_info(folders["mapping"])["hparams"]["loss"]
    assert cfg["generator"] == str(folders["gen"]) and cfg["generator_method"] == "dcgan"


def test_save_pretrained_from_pretrained_round_trip(folders: dict[str, Path], tmp_path: Path) -> None:
    gen = Checkpoint.from_pretrained(folders["gen"], device="cpu")
    gcopy = Checkpoint.from_pretrained(gen.save_pretrained(tmp_path / "gen_mnist"), device="cpu")
    for k, v in gen["G"].state_dict().items():
        assert torch.equal(v, gcopy["G"].state_dict()[k])
    assert gcopy.info["history"] == gen.info["history"] and gcopy.config["domain"] == "mnist"
    tr = Translator.from_pretrained(folders["mapping"], device="cpu")
    copy = tr.save_pretrained(tmp_path / "street2mnist_vae-nam_dcgan")  # beside the generator it names
    again = Translator.from_pretrained(copy, device="cpu")
    x = _images(3, 1)
    assert np.array_equal(tr.translate(x, num_solutions=2, seed=0), again.translate(x, num_solutions=2, seed=0))
    assert again.config["recon_loss"] == tr.config["recon_loss"] and again.info["recipe"] == tr.info["recipe"]


def test_resume_state_has_its_own_file(tmp_path: Path) -> None:
    net = build_net("dcgan_generator", latent_dim=LATENT, out_channels=1, size=32, ngf=8)
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(2, LATENT)).mean().backward()
    opt.step()
    save_checkpoint(tmp_path / "last", {"G": net}, {"kind": "generator", "domain": "mnist", "epochs_done": 1},
                    state={"epoch": 1, "opt": opt.state_dict()}, versions=2)
    assert "train_state" not in read_config(tmp_path / "last")
    assert read_resume_state(tmp_path / "last")["train_state"] is not None
    ck = load_checkpoint(tmp_path / "last", device="cpu", with_state=True)
    assert ck.state["epoch"] == 1 and ck.info["epochs_done"] == 1


def test_a_format1_folder_loads_and_migrates_with_identical_weights_outputs_and_info(
        folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    new = folders["mapping"]
    old = _copy(new, tmp_path / "street2mnist_vae-nam_dcgan")
    gen = _copy(folders["gen"], tmp_path / "gen_mnist")  # the generator it names, beside it (also format 1)
    _to_format1(old)
    _to_format1(gen)
    sha = sha256_file(old / "model.safetensors")
    monkeypatch.setattr(ckmod, "_v1_noted", False)
    x = _images(3, 2)
    want = Translator.from_pretrained(new, device="cpu").translate(x, num_solutions=2, seed=0)
    v1 = Translator.from_pretrained(old, device="cpu")  # loads as it is ...
    assert "nam-studio migrate" in capsys.readouterr().err  # ... with a note
    assert np.array_equal(v1.translate(x, num_solutions=2, seed=0), want)
    assert v1.info == read_training_info(new) and v1.config["recon_loss"] == read_config(new)["recon_loss"]
    assert cli_main(["migrate", str(tmp_path)]) == 0
    assert sha256_file(old / "model.safetensors") == sha  # weights untouched
    assert json.loads((old / "config.json").read_text()) == json.loads((new / "config.json").read_text())
    assert read_training_info(old) == read_training_info(new)
    assert np.array_equal(Translator.from_pretrained(old, device="cpu").translate(x, num_solutions=2, seed=0), want)
    assert cli_main(["migrate", str(old)]) == 0  # already format 2: left alone
    assert read_config(gen)["format_version"] == 2 and read_training_info(gen) == read_training_info(folders["gen"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [gen.name, old.name]  # no staged copy left


@pytest.mark.parametrize("point", ["version", "switch"])
def test_a_kill_during_migration_leaves_a_loadable_folder(folders: dict[str, Path], tmp_path: Path,
                                                          point: str) -> None:
    old = _copy(folders["mapping"], tmp_path / "ck")
    _to_format1(old)
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "nam_core.cli", "migrate", str(old)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == -9, r.stderr[-2000:]
    ck = load_checkpoint(old, device="cpu")  # the old folder ("version") or the new one ("switch"), complete
    assert json.loads((old / "config.json").read_text())["format_version"] == (1 if point == "version" else 2)
    assert ck.info["recipe"] == {"command": "pytest mapping"}
    assert cli_main(["migrate", str(tmp_path)]) == 0
    assert read_config(old)["format_version"] == 2
