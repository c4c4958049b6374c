"""``nam-studio train-task`` end to end on two tiny folders the tests write: a stop by the time limit and the
resume, the model card, a fresh process loading the result, and the app's registry (and HTTP API) serving it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nam_core.checkpoints import read_training_info
from tests.helpers import N_DIGIT_IMAGES, digit_images

REPO = Path(__file__).resolve().parent.parent



@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("studio_data")
    digit_images(root / "digits", colour=False, seed=0)
    digit_images(root / "plates", colour=True, seed=1)
    return root / "digits", root / "plates"


@pytest.fixture(scope="module")
def user_tasks() -> Iterator[None]:
    """Tasks registered by these tests do not leak into other test modules."""
    from nam_core.methods.mappings import TASKS
    from nam_core.serving import app_logic as L

    tasks, order, choices = dict(TASKS), list(L.TASK_ORDER), list(L.TASK_CHOICES)
    yield
    TASKS.clear()
    TASKS.update(tasks)
    L.TASK_ORDER[:] = order
    L.TASK_CHOICES[:] = choices


@pytest.fixture(scope="module")
def trained(collections: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory,
            user_tasks: None) -> dict[str, object]:
    """One smoke run, stopped by a tiny time limit in the generator stage, then resumed to the end (the CLI)."""
    from nam_core.cli import EXIT_STOPPED, main

    a, b = collections
    out = tmp_path_factory.mktemp("studio_out")
    args = ["train-task", "--a", str(a), "--b", str(b), "--out", str(out), "--name", "digits2plates",
            "--preset", "smoke", "--quiet"]
    first = main([*args, "--max-minutes", "0.0001"])  # every stage does one epoch before it looks at the clock
    stopped = read_training_info(out / "runs/generator/glann/last")["epochs_done"]
    second = main(args)
    return {"out": out, "first": first, "stopped_at": stopped, "second": second, "stopped_code": EXIT_STOPPED}


def test_stop_then_resume_finishes(trained: dict[str, object]) -> None:
    out = trained["out"]
    assert trained["first"] == trained["stopped_code"] and trained["second"] == 0
    gen = read_training_info(out / "gen_digits2plates_glann")
    from nam_core.studio import PRESETS

    epochs = PRESETS["smoke"]["generator"]["epochs"]
    assert trained["stopped_at"] == 1 < epochs  # stopped after its first epoch ...
    # ... and the rerun went on from there instead of starting over: one history, epochs 1..N
    assert [h["epoch"] for h in gen["history"]] == list(range(1, epochs + 1)) and gen["epochs_done"] == epochs


def test_servable_layout_and_model_card(trained: dict[str, object], collections: tuple[Path, Path]) -> None:
    out = trained["out"]
    for name in ("gen_digits2plates_glann", "digits2plates_vae-nam_glann"):
        for f in ("config.json", "model.safetensors", "samples.png", "loss.png", "README.md"):
            assert (out / name / f).is_file(), f"{name}/{f}"
    card = (out / "digits2plates_vae-nam_glann/README.md").read_text()
    a, b = collections
    assert str(a) in card and str(b) in card and "preset `smoke`" in card
    assert "your data, your licence" in card.lower()
    n_train, n_test = (int(v) for v in card.split(f"`{a}` — ")[1].split(" test")[0].split(" train / "))
    assert n_train + n_test == N_DIGIT_IMAGES and n_test > 0  # the hash split of a folder without split folders
    loss = float(card.split("test reconstruction loss (mean, best of 1): ")[1].split()[0])
    assert np.isfinite(loss) and loss > 0
    cfg = json.loads((out / "digits2plates_vae-nam_glann/config.json").read_text())
    assert cfg["task"] == "digits2plates" and cfg["source"].endswith("?channels=1")
    assert cfg["target"].endswith("?channels=3")


def test_loads_and_translates_in_a_fresh_process(trained: dict[str, object], collections: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    """A new process knows nothing of the task: the checkpoint's config alone rebuilds it (and its domains' specs,
    so the data folders need not be there: they are moved away)."""
    out = trained["out"]
    a, b = collections
    moved = [p.rename(tmp_path / p.name) for p in (a, b)]
    code = (
        "import sys, numpy as np\n"
        "from nam_core.serving.translator import Translator\n"
        "tr = Translator.from_checkpoint(sys.argv[1], device='cpu')\n"
        "x = np.zeros((2, 32, 32, 1), np.uint8); x[:, 8:24, 14:18] = 255\n"
        "y = tr.translate(x, num_solutions=3)\n"
        "print(tr.task.name, y.shape, y.dtype)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    try:
        res = subprocess.run([sys.executable, "-c", code, str(out / "digits2plates_vae-nam_glann")], env=env,
                             capture_output=True, text=True, timeout=240)
    finally:
        for src, dst in zip(moved, (a, b)):
            src.rename(dst)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["digits2plates", "(2,", "3,", "32,", "32,", "3)", "uint8"]


def test_registry_lists_and_serves_the_task(trained: dict[str, object], tmp_path: Path) -> None:
    from nam_core.serving import app_logic as L

    reg = L.ModelRegistry(trained["out"], device="cpu", extra_roots=(L.CHECKPOINTS_DIR,))
    assert reg.user_tasks == ["digits2plates"]
    assert ("digits2plates" in [v for _, v in L.TASK_CHOICES]) and "mnist2street" in [v for _, v in L.TASK_CHOICES]
    assert reg.status("digits2plates", "vae-nam", "glann").where == "local"
    # the shipped models are served beside it (found in the shipped folder)
    assert reg.local_path("mnist2street", "vae-nam", "glann").parent == L.CHECKPOINTS_DIR
    assert "digits → plates" in L.task_label("digits2plates")
    png = tmp_path / "seven.png"
    im = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(im).line([(16, 12), (48, 12), (28, 54)], fill=255, width=6)
    im.save(png)
    x = L.upload_to_input(str(png), "digits2plates")
    assert x.shape == (32, 32, 1)
    y = reg.get("digits2plates", "vae-nam", "glann").translate(x[None], num_solutions=2)
    assert y.shape == (1, 2, 32, 32, 3)
    assert reg.generator(reg.get("digits2plates", "vae-nam", "glann").target)[1]["kind"] == "generator"


@pytest.mark.slow
def test_app_serves_the_task_over_http(trained: dict[str, object], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from tests.helpers import serve_demo

    png = tmp_path / "one.png"
    im = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(im).line([(16, 6), (16, 26)], fill=255, width=3)
    im.save(png)
    with serve_demo(trained["out"]) as (url, _):
        c = Client(url, verbose=False, download_files=True)
        out = c.predict("digits2plates", "vae-nam", "glann", None, handle_file(str(png)), 3, 1, "input",
                        api_name="/map")
    gallery, latency = out[0], out[2]
    assert len(gallery) == 3 and "ms" in latency


def test_refuses_other_data_in_the_same_out(trained: dict[str, object], collections: tuple[Path, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from nam_core.cli import main

    a, b = collections
    code = main(["train-task", "--a", str(b), "--b", str(a), "--out", str(trained["out"]), "--name", "digits2plates",
                 "--preset", "smoke", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nam_core.cli import main

    few = tmp_path / "few"
    few.mkdir()
    for i in range(5):
        Image.new("L", (32, 32), i * 40).save(few / f"{i}.png")
    assert main(["train-task", "--a", str(few), "--b", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 "--preset", "smoke"]) == 2
    assert main(["train-task", "--a", "mnist", "--b", "street", "--out", str(tmp_path / "o"), "--methods", "gan",
                 "--preset", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "methods must be some of" in err and "Traceback" not in err and err.count("error:") == 2


def test_register_task_rules(user_tasks: None) -> None:
    from nam_core.methods.mappings import Task, get_task, register_task
    from nam_core.studio import default_name

    with pytest.raises(ValueError, match="already maps"):
        register_task(Task("mnist2street", "street", "mnist"))
    with pytest.raises(ValueError, match="without '_'"):
        register_task(Task("my_task", "folder:/a", "folder:/b"))
    with pytest.raises(KeyError):
        get_task("never-trained")
    t = get_task("x2y", {"source": "folder:/x?channels=1", "target": "folder:/y?channels=3"})
    assert (t.source, t.target) == ("folder:/x?channels=1", "folder:/y?channels=3") and get_task("x2y") == t
    assert default_name("/data/Horses Photos/", "folder:/d/h2z.zip#B") == "horses-photos2h2z-b"


def test_train_generator_script_takes_folder_domains(collections: tuple[Path, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """training/train_generator.py --domain folder:PATH: recorded by its canonical name (size, channels)."""
    from training.train_generator import build_parser

    a, b = collections
    args = build_parser().parse_args(["--domain", f"folder:{b}", "--method", "glann", "--out", "x"])
    assert args.domain.startswith(f"folder:{b}") and args.domain.endswith("?channels=3")
    assert build_parser().parse_args(["--domain", "mnist", "--method", "glann", "--out", "x"]).domain == "mnist"
    for bad in ("nope", f"folder:{a}/missing"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--domain", bad, "--method", "glann", "--out", "x"])
    err = capsys.readouterr().err
    assert "unknown domain 'nope'" in err and "no such folder or zip" in err and "Traceback" not in err
