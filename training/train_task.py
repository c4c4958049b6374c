"""Train a task from two image collections: a GLANN generator of B, then the A→B mappings on it.

Example::

    python training/train_task.py --a ~/horses --b ~/zebras.zip --out models --preset fast
    python training/train_task.py --a ~/horses --b ~/zebras.zip --out models --preset fast   # resumes

The same as ``nam-studio train-task`` (see nam_core/cli.py for the flags); serve with ``python app.py --checkpoints
models``.
"""

from __future__ import annotations

import sys

from nam_core.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    return cli_main(["train-task", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
