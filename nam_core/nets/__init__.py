"""Networks, each buildable by name from a JSON-able config (so checkpoints can rebuild them).

``build_net(kind, **kwargs)`` records ``{"kind", "kwargs"}`` on the module as ``nam_config``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .classifier import DigitClassifier
from .dcgan import DCGANDiscriminator, DCGANGenerator, Encoder, dcgan_init
from .imle import IMLEMapping
from .mapping import LocalT, MappingT
from .translator_nets import ResnetTranslator


def _glo_generator(**kwargs: Any) -> DCGANGenerator:
    return DCGANGenerator(sphere=True, **kwargs)


NETS: dict[str, Callable[..., nn.Module]] = {
    "dcgan_generator": DCGANGenerator,
    "glo_generator": _glo_generator,
    "discriminator": DCGANDiscriminator,
    "encoder": Encoder,
    "mapping": MappingT,
    "local_mapping": LocalT,
    "imle": IMLEMapping,
    "classifier": DigitClassifier,
    "resnet_translator": ResnetTranslator,
}


def build_net(kind: str, **kwargs: Any) -> nn.Module:
    """Build a network by registry name; the config is remembered for saving."""
    if kind not in NETS:
        raise KeyError(f"unknown network kind {kind!r}; choose from {sorted(NETS)}")
    net = NETS[kind](**kwargs)
    net.nam_config = {"kind": kind, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    return net


def net_config(net: nn.Module) -> dict[str, Any]:
    """The ``{"kind", "kwargs"}`` a network was built with (see :func:`build_net`)."""
    cfg = getattr(net, "nam_config", None)
    if cfg is None:
        raise ValueError(f"{type(net).__name__} was not created with build_net(); cannot record its architecture")
    return cfg


MAX_INT_KWARG = 1 << 16  # no width, depth or size of any network here comes near this
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_net_config(arch: Any, name: str = "network") -> tuple[str, dict[str, Any]]:
    """``(kind, kwargs)`` of a ``{"kind", "kwargs"}`` record read from a file, checked before anything is built: a
    known kind, and kwargs that are plain JSON scalars (ints between 0 and :data:`MAX_INT_KWARG`, finite floats,
    short strings). Raises ValueError saying what is wrong."""
    if not isinstance(arch, dict) or not isinstance(arch.get("kind"), str) or not isinstance(arch.get("kwargs", {}),
                                                                                             dict):
        raise ValueError(f"{name}: expected {{'kind': str, 'kwargs': object}}, got {str(arch)[:80]!r}")
    kind, kwargs = arch["kind"], dict(arch.get("kwargs", {}))
    if kind not in NETS:
        raise ValueError(f"{name}: unknown network kind {kind[:40]!r}; choose from {sorted(NETS)}")
    for k, v in kwargs.items():
        if not _NAME.fullmatch(str(k)):
            raise ValueError(f"{name}: bad argument name {str(k)[:40]!r}")
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            if not 0 <= v <= MAX_INT_KWARG:
                raise ValueError(f"{name}: {k}={v} is out of range (0..{MAX_INT_KWARG})")
        elif isinstance(v, float):
            if not math.isfinite(v) or abs(v) > 1e6:
                raise ValueError(f"{name}: {k}={v} is not a sane number")
        elif isinstance(v, str):
            if len(v) > 64:
                raise ValueError(f"{name}: {k} is a {len(v)}-character string")
        else:
            raise ValueError(f"{name}: {k} must be a number, a bool or a short string, not {type(v).__name__}")
    return kind, kwargs


class _NoRandomInit(torch.overrides.TorchFunctionMode):
    """Skip in-place random initialisation of meta tensors: it has no values to fill, and torch's meta kernel for
    ``normal_`` imports torch._dynamo (seconds, once per process) only to fill nothing."""

    SKIP = frozenset({"normal_", "uniform_", "bernoulli_", "exponential_", "log_normal_", "cauchy_", "geometric_",
                      "random_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in self.SKIP:  # Tensor.normal_(...) or nn.init.normal_(tensor=...)
            t = args[0] if args else kwargs.get("tensor")
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        return func(*args, **kwargs)


def net_shapes(kind: str, kwargs: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes ``build_net(kind, **kwargs)`` would have, computed on the ``meta`` device (nothing is
    allocated, so an absurd architecture costs nothing). Validate with :func:`check_net_config` first; raises
    ValueError when the network cannot be built with these arguments."""
    try:
        with torch.device("meta"), _NoRandomInit():
            net = NETS[kind](**kwargs)
    except Exception as exc:  # TypeError (bad argument), ValueError/AssertionError (bad size), RuntimeError (overflow)
        raise ValueError(f"cannot build {kind} with {kwargs}: {type(exc).__name__}: {exc}") from exc
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


__all__ = ["NETS", "DCGANDiscriminator", "DCGANGenerator", "DigitClassifier", "Encoder", "IMLEMapping", "LocalT",
           "MappingT",
           "ResnetTranslator",
           "build_net", "check_net_config", "dcgan_init", "net_config", "net_shapes"]
