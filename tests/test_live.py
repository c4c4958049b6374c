"""Live drawing and NAM's streamed optimisation (issue 16): nam_infer's on_step hook, the serving side
(nam_core.serving.live) on the shared tiny fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared fixtures

from test_methods_mapping import LATENT, frozen_pair  # noqa: E402,F401  (frozen_pair is a fixture)

from nam_core.methods.nam import nam_infer  # noqa: E402


def test_nam_infer_on_step_sees_codes_and_losses_and_stops_early(frozen_pair) -> None:  # noqa: F811
    G, T, targets = frozen_pair
    seen: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def on_step(step: int, z: torch.Tensor, losses: torch.Tensor) -> bool:
        seen.append((step, tuple(z.shape), tuple(losses.shape)))
        assert not z.requires_grad and not losses.requires_grad
        return step == 3

    z, losses = nam_infer(G, T, targets, num_solutions=2, steps=10, seed=0, on_step=on_step)
    assert seen == [(s, (2, 2, LATENT), (2, 2)) for s in (1, 2, 3)]
    z3, losses3 = nam_infer(G, T, targets, num_solutions=2, steps=3, seed=0)  # stopped at 3 = a 3-step run
    assert torch.equal(z, z3) and torch.equal(losses, losses3)


def test_nam_infer_takes_on_step_from_a_progress_callback(frozen_pair) -> None:  # noqa: F811
    """A progress callback handed down through the Translator can carry on_step (the app's NAM stream)."""
    G, T, targets = frozen_pair
    calls: list[tuple[int, int]] = []
    steps_seen: list[int] = []

    class Progress:
        def __call__(self, step: int, total: int) -> None:
            calls.append((step, total))

        def on_step(self, step: int, z: torch.Tensor, losses: torch.Tensor) -> bool:
            steps_seen.append(step)
            return step == 2

    nam_infer(G, T, targets, num_solutions=2, steps=10, seed=0, callback=Progress())
    assert calls == [(1, 10), (2, 10)] and steps_seen == [1, 2]
