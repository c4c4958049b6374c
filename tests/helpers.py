"""Builders shared by several test files (imported as ``tests.helpers``; pytest's ``pythonpath`` puts the repository
root on the path). Fixtures stay in ``conftest.py``; these are plain functions that build inputs."""

from __future__ import annotations

from nam_core.eval import report as R


def translation_row(task: str, method: str, generator: str = "glann", **kw) -> dict:
    row = {"task": task, "method": method, "generator": generator, "n": 1000, "k": 8, "mean": 0.423,
           "best_of_k": 0.5, "any_of_k": 0.871, "per_class": {"0": 0.5}, "ms_per_analogy_batched": 3.25,
           "ms_per_analogy_batch1": 12.0, "train_seconds": 1500.0}
    row.update(kw)
    return row


def sample_results() -> dict:
    """A results dict with one row of each kind the report formats (ranked, deterministic, edges; a GLANN
    generator and its GLO baseline; a speed ratio)."""
    return {
        "machine": R.machine_info("cpu"),
        "settings": {"n_test": 1000, "num_solutions": 8},
        "translations": [
            translation_row("mnist2svhn", "vae-nam", same_class=0.9375, diversity=0.01234, first=0.61,
                            rank_by="loss", oversample=32),
            translation_row("street2mnist", "nam", n=40, ms_per_analogy_batched=4000.0, ms_per_analogy_batch1=3500.0,
                            best_of_k=float("nan"), k=1, deterministic=True),
            translation_row("edges2shoes", "ae-nam", "dcgan", mean=None, best_of_k=None, any_of_k=None,
                            edge_f1=0.61234, photo_fid=12.345),
        ],
        "generators": [
            {"domain": "mnist", "method": "glann", "features": "clf_mnist", "fid": 12.345, "f8": 0.95, "f1_8": 0.9,
             "min_class_share": 0.0812, "confident": 0.7, "n": 2000, "train_seconds": 600},
            {"domain": "mnist", "method": "glo-gaussian", "features": "clf_mnist", "fid": 40.0, "f8": 0.7,
             "f1_8": 0.6, "n": 2000},
        ],
        "edge_reference": {"edges2shoes": 0.9},
        "speed": [{"task": "street2mnist", "generator": "glann", "mode": "batch-1", "nam_ms": 3500.0,
                   "vae_nam_ms": 10.0, "ratio": 350.0}],
    }
