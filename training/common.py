"""What every training CLI does with its parsed arguments (kept here so the CLIs stay thin and alike)."""

from __future__ import annotations

import shlex
import sys


def setup_run(script: str, threads: int | None, argv: list[str] | None) -> str:
    """Apply ``--threads`` and return the exact command line, recorded in the checkpoint as its recipe."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return f"python training/{script} " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
