"""Train the digit classifier of a domain (used to judge translations and as the FID/PRD feature space)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data import DOMAINS, load_domain
from ..nets import build_net
from ..utils import get_device, seed_everything, to_tensor


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random translations (±2 px) and contrast jitter."""
    n = len(x)
    shifts = torch.randint(-2, 3, (2,), generator=gen).tolist()
    x = torch.roll(x, shifts=shifts, dims=(2, 3))
    scale = 1.0 + 0.2 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    return (x * scale.to(x)).clamp(-1, 1)


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray | torch.Tensor, batch: int = 500) -> np.ndarray:
    """Class predictions for uint8 N×H×W×C images (or a [-1, 1] tensor)."""
    model.eval()
    dev = next(model.parameters()).device
    x = to_tensor(images, dev) if isinstance(images, np.ndarray) else images.to(dev)
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)]).cpu().numpy()


def train_classifier(domain: str, out_dir: str | Path, epochs: int = 8, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, device: str | None = None, progress: bool = True, recipe: str = "") -> Path:
    """Train a :class:`DigitClassifier` on the domain's train split; its test accuracy goes in the config."""
    spec = DOMAINS[domain]
    if not spec.labelled:
        raise ValueError(f"{domain} has no labels")
    dev = get_device(device)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    train, test = load_domain(domain, "train"), load_domain(domain, "test")
    x, y = to_tensor(np.asarray(train.images), dev), torch.from_numpy(np.asarray(train.labels)).long().to(dev)
    model = build_net("classifier", in_channels=spec.channels).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen).to(dev)
        total = 0.0
        for i in range(0, len(x), batch_size):
            b = perm[i : i + batch_size]
            loss = F.cross_entropy(model(_augment(x[b], gen)), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        if progress:
            print(f"classifier {domain} epoch {ep + 1}/{epochs} loss={total / len(x):.4f}", file=sys.stderr)
    seconds = time.time() - t0
    acc = float((predict(model, np.asarray(test.images)) == np.asarray(test.labels)).mean())
    config = {"kind": "classifier", "domain": domain, "metrics": {"test_accuracy": round(acc, 4)},
              "train_images": len(x), "test_images": len(test), "train_seconds_total": round(seconds, 1),
              "data_source": train.info.get("source", ""), "device": str(dev),
              "recipe": {"command": recipe, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}}
    if progress:
        print(f"classifier {domain}: test accuracy {acc:.4f} ({seconds:.0f}s)", file=sys.stderr)
    return save_checkpoint(out_dir, {"classifier": model.eval()}, config)


def load_classifier(ref: str | Path, device: str | torch.device | None = None) -> torch.nn.Module:
    ckpt = load_checkpoint(ref, device=device)
    if ckpt.config.get("kind") != "classifier":
        raise ValueError(f"{ref} is not a classifier checkpoint")
    return ckpt["classifier"].eval()
