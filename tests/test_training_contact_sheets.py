"""training/contact_sheets.py: the by-class sheet of a shipped generator's samples."""

from __future__ import annotations

import numpy as np

from training.contact_sheets import generator_sheet


def test_generator_sheet_rows_are_classes_in_sampling_order() -> None:
    grid, counts = generator_sheet("gen_mnist_glann", per_class=4, n=120, seed=0)
    assert sum(counts) == 120 and len(counts) == 10
    assert grid.ndim == 3 and grid.shape[-1] == 3 and grid.dtype == np.uint8
    again, counts2 = generator_sheet("gen_mnist_glann", per_class=4, n=120, seed=0)
    assert counts2 == counts and np.array_equal(again, grid)  # seeded: the same sheet
