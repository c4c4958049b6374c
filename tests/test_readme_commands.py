"""Every training command that the README and the training CLIs' docstrings show runs, smoke-sized.

The commands are read from the documents themselves (so an edited README is what gets tested), their ``--out`` is
sent to a temporary folder and a few flags shrink the run (one epoch on a few images). What is checked is that a
user who copies a command gets a finished, loadable checkpoint with the recipe recorded, not the model's quality
(the evaluation does that).
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Flags that make each CLI's run smoke-sized; a script missing here is not a training command we run.
SMOKE = {
    "train_mapping": ["--epochs", "1", "--limit", "64", "--n-targets", "64", "--style-probes", "4"],
    "train_generator": ["--epochs", "1", "--imle-epochs", "1", "--limit", "256"],
    "train_baseline": ["--epochs", "1", "--limit", "64"],
}
COMMAND = re.compile(r"python training/(\w+)\.py((?:[^`\n\\]|\\\n)*)")


def _commands(text: str) -> list[str]:
    out = []
    for m in COMMAND.finditer(text):
        if m.group(1) in SMOKE:
            args = m.group(2).replace("\\\n", " ").split("#")[0]
            out.append(f"{m.group(1)} {args.strip()}")
    return out


def _readme_text() -> str:
    """README.md with each inline code span on one line (Markdown lets a span wrap; a fenced block must not)."""
    parts = (ROOT / "README.md").read_text().split("```")
    for i in range(0, len(parts), 2):  # outside the fences
        parts[i] = re.sub(r"`([^`]+)`", lambda m: "`" + m.group(1).replace("\n", " ") + "`", parts[i])
    return "```".join(parts)


def _key(command: str) -> str:
    """A command without the flags the smoke run replaces anyway (where it writes, how many threads)."""
    words, out = iter(shlex.split(command)), []
    for w in words:
        if w in ("--out", "--threads"):
            next(words, None)  # and its value
        else:
            out.append(w)
    return " ".join(out)


def documented_commands() -> list[str]:
    found = _commands(_readme_text())
    for script in sorted(SMOKE):
        doc = importlib.import_module(f"training.{script}").__doc__ or ""
        found += _commands(doc)
    seen: dict[str, str] = {}
    for c in found:  # one run per distinct command, in document order
        seen.setdefault(_key(c), c)
    return list(seen.values())


def test_the_documents_show_training_commands() -> None:
    scripts = {c.split()[0] for c in documented_commands()}
    assert {"train_mapping", "train_generator", "train_baseline"} <= scripts


def _smoke_argv(command: str, out: Path) -> tuple[str, list[str]]:
    script, *argv = shlex.split(command)
    if "--out" in argv:
        i = argv.index("--out")
        argv[i + 1] = str(out)
    else:
        argv += ["--out", str(out)]
    return script, argv + SMOKE[script] + ["--threads", "1"]


@pytest.mark.parametrize("command", documented_commands())
def test_documented_training_command_runs(command: str, tmp_path: Path) -> None:
    from nam_core.checkpoints import read_config, read_training_info

    script, argv = _smoke_argv(command, tmp_path / "run")
    cli = importlib.import_module(f"training.{script}")
    assert cli.main(argv) == 0, command
    finals = sorted((tmp_path / "run").rglob("final/config.json"))
    assert finals, f"{command}: no final checkpoint written"
    for cfg_path in finals:
        cfg, info = read_config(cfg_path.parent), read_training_info(cfg_path.parent)
        assert cfg.get("kind") in {"mapping", "generator", "baseline"}, cfg_path
        assert info.get("recipe", {}).get("command"), f"{command}: the checkpoint does not record its recipe"
