"""Train a generator G of one domain: GLANN (GLO + IMLE, no adversary) or DCGAN (the NAM papers' G).

Example::

    python training/train_generator.py --preset gen_mnist_glann --out runs/mnist_glann   # the shipped recipe
    python training/train_generator.py --preset gen_mnist_glann --out runs/mnist_glann   # resumes
    python training/train_generator.py --domain mnist --method glann --epochs 10 --out runs/mnist_glann_short

Without ``--preset``, a domain and method that shipped a generator start from its recipe.

The finished checkpoint is ``OUT/final`` (copy it into ``checkpoints/`` to ship it).
"""

from __future__ import annotations

import argparse

from nam_core.data import list_domains
from nam_core.data.folder import FolderDataError, is_folder_name, parse_folder_name
from nam_core.methods.generators import train_generator
from nam_core.methods.registry import method_names
from nam_core.training_cli import add_preset_argument, add_run_arguments, parse_with_preset, setup_run

SCRIPT = "train_generator"


def domain_arg(value: str) -> str:
    """A built-in domain, or a ``folder:PATH`` name of the user's images (:mod:`nam_core.data.folder`), recorded as
    its canonical name with the size and channels written in (so the checkpoint alone rebuilds the domain)."""
    if is_folder_name(value):  # first: folder domains loaded before are listed by list_domains too
        from nam_core.studio import resolve_domain

        try:
            return resolve_domain(value, parse_folder_name(value)[2].size)
        except (FolderDataError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if value in list_domains():
        return value
    raise argparse.ArgumentTypeError(f"unknown domain {value!r}: choose from {', '.join(list_domains())}, or "
                                     "folder:PATH (a folder or .zip of images; folder:PATH?size=64 for 64 px)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_argument(p, SCRIPT)
    p.add_argument("--domain", type=domain_arg, metavar="DOMAIN",
                   help=f"{', '.join(list_domains())} or folder:PATH (your images); required unless --preset gives it")
    p.add_argument("--method", choices=method_names("generator"), help="required unless --preset gives it")
    p.add_argument("--out", required=True, help="run folder (resumes from OUT/<method>/last when present)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imle-epochs", type=int)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--ngf", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--loss", help="laplacian | laplacian-flat | l1 | vgg-hed | vgg-imagenet | vgg-auto")
    p.add_argument("--init", choices=["pca", "random"], help="GLO's initial codes (default: pca, as in GLO)")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    add_run_arguments(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_with_preset(build_parser(), SCRIPT, argv, required=("domain", "method"),
                             implicit=lambda a: f"gen_{a.domain}_{a.method}" if a.domain and a.method else None)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    recipe = setup_run("train_generator.py", a.threads, argv)
    final = train_generator(a.domain, a.method, a.out, epochs=a.epochs, latent_dim=a.latent_dim, ngf=a.ngf,
                            batch_size=a.batch_size, loss=a.loss, imle_epochs=a.imle_epochs, init=a.init,
                            limit=a.limit,
                            seed=a.seed, device=a.device, max_minutes=a.max_minutes,
                            finish_early=a.finish_early, recipe=recipe)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
