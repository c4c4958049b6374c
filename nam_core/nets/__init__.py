"""Networks, each buildable by name from a JSON-able config (so checkpoints can rebuild them).

``build_net(kind, **kwargs)`` records ``{"kind", "kwargs"}`` on the module as ``nam_config``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


__all__ = ["NETS", "DCGANDiscriminator", "DCGANGenerator", "DigitClassifier", "Encoder", "IMLEMapping", "LocalT",
           "MappingT",
           "ResnetTranslator",
           "build_net", "dcgan_init", "net_config"]
