"""What a user gets from a fresh clone: every shipped checkpoint loads, and the README's library example runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nam_core.checkpoints import load_checkpoint, read_config, read_training_info, sha256_file
from nam_core.paths import CHECKPOINTS_DIR

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((CHECKPOINTS_DIR / "manifest.json").read_text())["checkpoints"]


def test_manifest_lists_every_checkpoint_folder() -> None:
    folders = {p.parent.name for p in CHECKPOINTS_DIR.glob("*/config.json")}
    assert folders == set(MANIFEST), \
        "manifest.json is out of date: run nam_core.training_cli.update_manifest_with_rebuilds()"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shipped_checkpoint_loads(name: str) -> None:
    from nam_core.serving import MappingTranslator, load_translator

    path = CHECKPOINTS_DIR / name
    cfg = read_config(path)
    assert sha256_file(path / "model.safetensors") == MANIFEST[name]["sha256"]["model.safetensors"]
    assert (read_training_info(path).get("recipe") or {}).get("command"), f"{name} does not record how to rebuild it"
    if cfg["kind"] == "mapping":
        tr = load_translator(path, device="cpu")  # a Translator, or a FeedForwardTranslator for a GAN baseline
        assert isinstance(tr, MappingTranslator) and tr.task.name == cfg["task"]
    else:
        ckpt = load_checkpoint(path, device="cpu")
        assert ckpt.networks


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    return blocks[0]


def test_readme_library_example_runs() -> None:
    scope: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), scope)  # noqa: S102 - our own README
    out = scope["out"]
    assert out.dtype == np.uint8 and out.shape[0] == 4 and out.shape[2:] == (32, 32, 1)
    assert scope["moved"].shape[1:] == (32, 32, 1)
