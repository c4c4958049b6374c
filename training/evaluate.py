"""Evaluate the shipped checkpoints: translated-digit accuracy, speed, edge agreement, generator FID/PRD.

    python training/evaluate.py --help

The command line of :func:`nam_core.eval.harness.main`, which holds the evaluation (``nam-studio evaluate`` is the
same command).
"""

from nam_core.eval.harness import main

if __name__ == "__main__":
    raise SystemExit(main())
