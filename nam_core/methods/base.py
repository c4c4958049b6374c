"""Shared piece of every trainable method: forward passes go through ``self.fwd`` so that the trainer can swap in
DistributedDataParallel-wrapped networks under ``torchrun`` (``networks`` always holds the plain modules)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class DDPWrappable:
    networks: dict[str, nn.Module]
    _fwd: dict[str, nn.Module] | None = None

    @property
    def fwd(self) -> dict[str, nn.Module]:
        """The modules to call in ``train_step`` (DDP-wrapped when distributed, else ``networks``)."""
        return self._fwd if self._fwd is not None else self.networks

    def wrap_ddp(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        self._fwd = {k: wrap(v) if any(p.requires_grad for p in v.parameters()) else v
                     for k, v in self.networks.items()}


def sample_rows(inputs: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    """A sample grid's tiles, one row per input: the input (its channels matched to the outputs') then each of
    ``outputs`` (N×C'×H×W each), flattened to (N·(1 + len(outputs)), C', H, W)."""
    c = outputs[0].shape[1]
    x = inputs
    if x.shape[1] != c:
        x = x.expand(-1, c, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    return torch.stack([x, *outputs], 1).flatten(0, 1)
