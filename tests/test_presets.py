"""Presets are the shipped recipes: every manifest entry's rebuild command parses with its CLI and names its own
preset, the preset gives the arguments the shipped model was trained with, and a preset runs (smoke-sized)."""

from __future__ import annotations

import importlib
import json
import shlex
from pathlib import Path

import pytest

from nam_core.checkpoints import read_training_info
from nam_core.methods.registry import PRESETS, get_preset, presets
from nam_core.paths import CHECKPOINTS_DIR

MANIFEST = Path(CHECKPOINTS_DIR) / "manifest.json"
# what a recorded command may add that is not part of the recipe: where it ran and how it was logged
RUNTIME = {"out", "threads", "device", "quiet", "preset", "max_minutes", "finish_early"}
# settings only inference reads: some were chosen after training, and are checked against the config instead
INFERENCE = ("style_temperature", "sampling_temperature", "solver_silhouette_weight", "solver_start_spread")


def _manifest() -> dict:
    if not MANIFEST.exists():
        pytest.skip("no checkpoints/manifest.json")
    return json.loads(MANIFEST.read_text())["checkpoints"]


def _cli(script: str):
    return importlib.import_module(f"training.{script}")


def _parse(command: str):
    argv = shlex.split(command)
    assert argv[0] == "python" and argv[1].startswith("training/") and argv[1].endswith(".py"), command
    return Path(argv[1]).stem, _cli(Path(argv[1]).stem).parse_args(argv[2:])


def test_every_shipped_model_has_a_rebuild_command_naming_its_preset() -> None:
    entries = _manifest()
    trained = {name for name, e in entries.items() if e.get("kind") in ("mapping", "generator")}
    assert trained, "the manifest lists no mapping or generator"
    for name in sorted(trained):
        e = entries[name]
        assert "rebuild" in e, f"{name}: no rebuild command"
        script, args = _parse(e["rebuild"])
        assert args.preset == name, f"{name}: its rebuild command uses preset {args.preset!r}"
        p = get_preset(name)
        assert p.script == script
        assert bool(e.get("rebuild_note")) == bool(p.note)


def test_presets_give_the_recorded_recipe() -> None:
    """The preset's arguments equal those of the command the shipped model recorded (apart from where it ran),
    except the epochs of a time-bounded run, which equal the epochs it actually did."""
    entries = _manifest()
    for name, e in sorted(entries.items()):
        if name not in PRESETS:
            continue
        p = get_preset(name)
        recorded = Path(shlex.split(e["recipe"]["command"])[1]).stem
        assert recorded == p.script, (
            f"{name} was trained by training/{recorded}.py but its preset runs training/{p.script}.py: register its "
            "new recipe as the preset (in its method's module) and rewrite the manifest with "
            "nam_core.training_cli.update_manifest_with_rebuilds()")
        _, shipped = _parse(e["recipe"]["command"])
        _, rebuilt = _parse(p.command("/tmp/out"))
        want = {k: v for k, v in vars(shipped).items() if k not in RUNTIME and k not in INFERENCE}
        have = {k: v for k, v in vars(rebuilt).items() if k not in RUNTIME and k not in INFERENCE}
        if "time-bounded" in p.note:
            info = read_training_info(Path(CHECKPOINTS_DIR) / name)
            assert have.pop("epochs") == info["epochs_done"] < want.pop("epochs"), name
        if p.script == "train_refiner":  # the recorded command names the NAM by its folder
            want["nam"] = Path(want["nam"]).name
        assert have == want, f"{name}: preset differs from the shipped recipe"


def test_shipped_configs_carry_their_presets_inference_settings() -> None:
    """An inference setting a preset passes (the spread of the K solutions, NAM's solver terms) is what the shipped
    checkpoint's config tells the Translator: such a setting can be changed without retraining, in the config."""
    from nam_core.checkpoints import read_config

    checked = 0
    for name, e in sorted(_manifest().items()):
        if e.get("kind") != "mapping" or name not in PRESETS:
            continue
        args, cfg = get_preset(name).args, read_config(Path(CHECKPOINTS_DIR) / name)
        for key in INFERENCE:
            assert cfg.get(key) == args.get(key), f"{name}: {key} is {cfg.get(key)} in its config, {args.get(key)} " \
                "in its preset"
            checked += key in args
    assert checked >= 4


@pytest.mark.parametrize("script", ["train_mapping", "train_generator", "train_baseline", "train_refiner"])
def test_every_preset_parses_and_flags_override_it(script: str) -> None:
    names = [p.name for p in presets(script)]
    assert names
    cli = _cli(script)
    for name in names:
        a = cli.parse_args(["--preset", name, "--out", "/tmp/x", "--epochs", "1"])
        assert a.preset == name and a.epochs == 1
    with pytest.raises(SystemExit):
        cli.parse_args(["--preset", "no-such-preset", "--out", "/tmp/x"])


def test_mapping_defaults_are_the_shipped_recipe() -> None:
    """No --preset: a task and method that shipped a model start from its recipe, not from the parser's
    defaults (the CRN T with the Laplacian loss, which stays at chance on the digits)."""
    cli = _cli("train_mapping")
    a = cli.parse_args(["--task", "street2mnist", "--method", "vae-nam", "--out", "/tmp/x"])
    assert a.preset == "street2mnist_vae-nam_glann"
    assert (a.generator, a.loss, a.t_arch, a.nf) == ("gen_mnist_glann", "ncc-sides", "local", 32)
    a = cli.parse_args(["--task", "street2mnist", "--method", "ae-nam", "--generator", "gen_mnist_dcgan",
                        "--out", "/tmp/x"])
    assert a.preset == "street2mnist_ae-nam_dcgan"
    with pytest.raises(SystemExit):
        cli.parse_args(["--out", "/tmp/x"])  # neither a preset nor a task


def test_a_mapping_preset_runs_smoke_sized(tmp_path: Path) -> None:
    """The street→mnist AE-NAM recipe, one epoch on 64 images, on the shipped MNIST generator."""
    if not (Path(CHECKPOINTS_DIR) / "gen_mnist_glann" / "config.json").exists():
        pytest.skip("no shipped gen_mnist_glann")
    from nam_core.checkpoints import read_config, read_training_info

    cli = _cli("train_mapping")
    assert cli.main(["--preset", "street2mnist_ae-nam_glann", "--out", str(tmp_path), "--epochs", "1",
                     "--limit", "64", "--threads", "1"]) == 0
    cfg, info = read_config(tmp_path / "final"), read_training_info(tmp_path / "final")
    assert (cfg["method"], cfg["task"], info["hparams"]["loss"], info["hparams"]["t_arch"]) == \
        ("ae-nam", "street2mnist", "ncc-sides", "local")
    assert "--preset street2mnist_ae-nam_glann" in info["recipe"]["command"]
    assert "style_temperature" not in cfg  # not given: the Translator's default


def test_a_style_temperature_given_to_training_is_what_the_translator_uses(tmp_path: Path) -> None:
    """``--style-temperature`` (an inference setting, as the mnist→street AE-NAM presets pass it) lands in the
    checkpoint's config, and a Translator loaded from it spreads its solutions by that much."""
    if not (Path(CHECKPOINTS_DIR) / "gen_street_dcgan" / "config.json").exists():
        pytest.skip("no shipped gen_street_dcgan")
    from nam_core.checkpoints import read_config
    from nam_core.serving import Translator

    assert get_preset("mnist2street_ae-nam_dcgan").args["style_temperature"] == 2.5
    cli = _cli("train_mapping")
    assert cli.main(["--preset", "mnist2street_ae-nam_dcgan", "--out", str(tmp_path), "--epochs", "1",
                     "--limit", "64", "--style-probes", "8", "--style-temperature", "1.5",
                     "--sampling-temperature", "0.7",
                     "--threads", "1"]) == 0
    assert read_config(tmp_path / "final")["style_temperature"] == 1.5
    assert Translator.from_checkpoint(tmp_path / "final", device="cpu").style_temperature == 1.5
    assert read_config(tmp_path / "final")["sampling_temperature"] == 0.7  # likewise
    assert Translator.from_checkpoint(tmp_path / "final", device="cpu").temperature == 0.7
    assert get_preset("edges2shoes_vae-nam_glann").args["sampling_temperature"] == 1.5
    with pytest.raises(SystemExit):
        cli.parse_args(["--preset", "mnist2street_ae-nam_dcgan", "--out", "/tmp/x", "--style-temperature", "hot"])


def test_a_solver_silhouette_weight_given_to_nam_training_is_what_the_translator_uses(tmp_path: Path) -> None:
    """``--solver-silhouette-weight`` (NAM on edges; an inference setting, as the edge NAM presets pass it) lands in
    the checkpoint's config and the Translator's solver; other methods and tasks refuse it."""
    if not (Path(CHECKPOINTS_DIR) / "gen_handbags_glann" / "config.json").exists():
        pytest.skip("no shipped gen_handbags_glann")
    from nam_core.checkpoints import read_config
    from nam_core.data import load_domain
    from nam_core.methods.mappings import get_task, train_mapping
    from nam_core.serving import Translator

    assert get_preset("edges2handbags_nam_glann").args["solver_silhouette_weight"] > 0
    assert get_preset("edges2shoes_nam_glann").args["solver_silhouette_weight"] > 0
    cli = _cli("train_mapping")
    assert cli.main(["--preset", "edges2handbags_nam_glann", "--out", str(tmp_path), "--epochs", "1",
                     "--n-targets", "16", "--style-probes", "4", "--solver-silhouette-weight", "0.5",
                     "--solver-start-spread", "3", "--threads", "1"]) == 0
    cfg = read_config(tmp_path / "final")
    assert cfg["solver_silhouette_weight"] == 0.5 and cfg["solver_start_spread"] == 3
    tr = Translator.from_checkpoint(tmp_path / "final", device="cpu")
    assert tr.silhouette_weight == 0.5 and tr.start_spread == 3
    assert tr.pool_thumbnails().shape == (16, 3, 16, 16)
    tr.nam_steps = 2
    out = tr.translate(load_domain(get_task("edges2handbags").source, "test").images[:2], num_solutions=3, seed=0)
    assert out.shape[:2] == (2, 3)
    with pytest.raises(ValueError, match="start spread is NAM's"):
        train_mapping("edges2handbags", "vae-nam", "gen_handbags_glann", tmp_path / "x", solver_start_spread=2)
    with pytest.raises(ValueError, match="whole number from 1"):
        train_mapping("edges2handbags", "nam", "gen_handbags_glann", tmp_path / "x", solver_start_spread=0)
    with pytest.raises(ValueError, match="NAM's, on an edge-map input"):
        train_mapping("street2mnist", "nam", "gen_mnist_glann", tmp_path / "x", solver_silhouette_weight=1.0)
    with pytest.raises(ValueError, match="NAM's, on an edge-map input"):
        train_mapping("edges2handbags", "ae-nam", "gen_handbags_glann", tmp_path / "x", solver_silhouette_weight=1.0)
