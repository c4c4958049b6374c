"""Back-translation: fine-tune an AE-NAM / VAE-NAM mapping A→B on synthetic pairs made by the opposite model B→A.

VAE-NAM learns A→B only through T(G(z)) ≈ a: the encoder is told what reconstructs the input, never what the
analogy should be, so a G(z) of the wrong class whose T-image happens to resemble a (a street "9" read as an MNIST
"3") costs it nothing. The opposite task's model supplies what is missing without labels or an adversary: it turns
*real* B training images b into synthetic A images a' = G_A(z'), z' its best-reconstructing candidate for b. Each
(a', b) is a supervised example whose target is a real image of the output domain, so this model's encoder is
trained to satisfy

    loss(G_B(μ(a')), b)                                     (pair term, through the frozen G_B)

beside its usual objective loss(T(G_B(z)), a) + β·KL on real A inputs (which keeps it working on real inputs: a'
only resembles them). The two models' mistakes are filtered out rather than learnt: every pair is scored by the
opposite model's own reconstruction loss of b and by the round trip b → a' → G_B(μ(a')) against b under the model
being tuned, and only the ``keep`` fraction with the lowest rank sum is used (a wrong-class a' seldom maps back to
b). Refreshing the pairs with the improved models and tuning again is a second round. The result is an ordinary
``vae-nam`` / ``ae-nam`` checkpoint (same networks and config schema) whose config records the parents
(``backtranslate``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoints import CheckpointError, load_checkpoint, save_checkpoint, weights_fingerprint
from ..data import DOMAINS, load_domain
from ..losses import build_loss
from ..utils import image_grid, save_png, to_tensor, to_uint8
from .base import sample_rows
from .generators import load_generator
from .mappings import get_task, global_directions, resolve_generator_ref
from .registry import get_method
from .trainer import TrainConfig, Trainer
from .vae_nam import VAENAM, encode_sample, kl_standard_normal

METHODS = ("vae-nam", "ae-nam")  # the mappings with an encoder to tune (and partners that have one)


@torch.no_grad()
def synthesize_inputs(E_opp: nn.Module, G_src: nn.Module, T_opp: nn.Module, targets: torch.Tensor,
                      loss_fn: nn.Module, candidates: int = 16, seed: int = 0,
                      batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The opposite model's analogies of real output-domain images ``targets`` (N, C, H, W in [-1, 1]): for each,
    the lowest-loss of ``candidates`` posterior draws (the first is the posterior mean), as the served model ranks
    them. Returns the synthetic inputs G_src(z') (N, C', H', W') and their losses ``loss_fn(T_opp(G_src(z')), b)``
    (N,)."""
    outs, losses = [], []
    for i in range(0, len(targets), batch):
        b = targets[i : i + batch]
        z, _, _ = encode_sample(E_opp, b, candidates, seed=seed + i)
        k = z.shape[1]
        imgs = G_src(z.reshape(-1, z.shape[-1]))
        rec = loss_fn(T_opp(imgs), b.repeat_interleave(k, 0), reduction="none").view(len(b), k)
        best = rec.argmin(1)
        imgs = imgs.view(len(b), k, *imgs.shape[1:])[torch.arange(len(b)), best]
        outs.append(imgs)
        losses.append(rec.gather(1, best[:, None])[:, 0])
    return torch.cat(outs), torch.cat(losses)


@torch.no_grad()
def roundtrip_losses(E: nn.Module, G: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: nn.Module,
                     batch: int = 256) -> torch.Tensor:
    """The pair term per pair, ``loss_fn(G(μ(a')), b)`` (N,): how far the tuned model's analogy of a synthetic
    input is from the real image it came from (the round trip b → a' → b̂)."""
    out = []
    for i in range(0, len(inputs), batch):
        mu, _ = E(inputs[i : i + batch])
        out.append(loss_fn(G(mu), targets[i : i + batch], reduction="none"))
    return torch.cat(out)


def filter_pairs(recon: torch.Tensor, roundtrip: torch.Tensor, keep: float) -> torch.Tensor:
    """Indices (sorted) of the ``keep`` fraction of pairs with the lowest rank sum of the opposite model's
    reconstruction loss and the round-trip loss: a pair must be both well explained and consistent."""
    if not 0.0 < keep <= 1.0:
        raise ValueError("keep is a fraction: 0 < keep ≤ 1")
    if recon.shape != roundtrip.shape or recon.ndim != 1:
        raise ValueError(f"recon {tuple(recon.shape)} and roundtrip {tuple(roundtrip.shape)} must be equal (N,)")
    n = max(1, int(round(keep * len(recon))))
    pos = _mid_ranks(recon) + _mid_ranks(roundtrip)
    return pos.argsort(stable=True)[:n].sort().values


def _mid_ranks(x: torch.Tensor) -> torch.Tensor:
    """Rank of every entry, tied entries sharing their mean rank (a criterion that does not tell pairs apart then
    leaves the decision to the other one instead of to the pairs' order)."""
    s = x.sort().values
    return (torch.searchsorted(s, x, right=False) + torch.searchsorted(s, x, right=True) - 1).float() / 2


class BackTranslateVAENAM(VAENAM):
    """VAE-NAM / AE-NAM trainer-protocol method with the pair term: each step takes the usual batch of real inputs
    and a random batch of the same size from the kept pairs (``pair_inputs`` a', ``pair_targets`` b)."""

    def __init__(self, generator: nn.Module, pair_inputs: torch.Tensor, pair_targets: torch.Tensor,
                 pair_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(generator, **kwargs)
        if len(pair_inputs) != len(pair_targets) or not len(pair_inputs):
            raise ValueError("pair_inputs and pair_targets must be non-empty and of one length")
        self.pair_inputs = pair_inputs.detach().float().to(self.device)
        self.pair_targets = pair_targets.detach().float().to(self.device)
        self.pair_weight = float(pair_weight)
        self.hparams.update({"pair_weight": self.pair_weight, "pairs": len(self.pair_inputs)})

    def pair_loss(self, rows: torch.Tensor) -> torch.Tensor:
        """The pair term (mean) on the pairs at ``rows``."""
        mu, _ = self.fwd["E"](self.pair_inputs[rows])
        return self.loss_fn(self.G(mu), self.pair_targets[rows])

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        if self._fixed is None:
            self._fixed = images[:10].detach().clone()
        mu, logvar = self.fwd["E"](images)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.variational else mu
        rec = self.loss_fn(self.fwd["T"](self.G(z)), images)
        kl = kl_standard_normal(mu, logvar).mean() if self.variational else torch.zeros((), device=mu.device)
        rows = torch.randint(len(self.pair_inputs), (len(images),), device=self.pair_inputs.device)
        pair = self.pair_loss(rows)
        loss = rec + self.beta * kl + self.pair_weight * pair
        if self.prior_weight:
            loss = loss + self.prior_weight * mu.pow(2).sum(1).mean()
        self.optimizers["ET"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["ET"].step()
        return {"recon": rec.item(), "kl": kl.item(), "pair": pair.item(),
                "code_norm": mu.detach().norm(dim=1).mean().item()}

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Rows: a synthetic input a', its real target b, this model's analogy G(μ(a'))."""
        self.E.eval()
        a, b = self.pair_inputs[:5], self.pair_targets[:5]
        out = self.G(self.E(a)[0])
        self.E.train()
        return sample_rows(a, [b, out])


def _parent(path: str | Path, device: torch.device) -> tuple[Any, nn.Module, dict[str, Any]]:
    """A mapping checkpoint with an encoder, its generator (checked by fingerprint) and that generator's config."""
    ck = load_checkpoint(path, device=device)
    if ck.config.get("kind") != "mapping" or ck.config.get("method") not in METHODS:
        raise CheckpointError(f"{path}: back-translation needs an AE-NAM or VAE-NAM mapping checkpoint")
    G, gcfg = load_generator(resolve_generator_ref(ck.config["generator"], ck.path), device=device)
    want = ck.config.get("generator_fingerprint")
    if want and weights_fingerprint(G) != want:
        raise CheckpointError(f"{path} was trained on a different {ck.config['generator']}")
    return ck, G, gcfg


def finetune_backtranslate(checkpoint: str | Path, partner: str | Path, out_dir: str | Path, epochs: int = 4,
                           n_pairs: int = 10000, keep: float = 0.5, candidates: int = 16, pair_weight: float = 1.0,
                           lr: float = 3e-4, batch_size: int = 64, limit: int | None = None, seed: int = 0,
                           device: str | torch.device = "cpu", max_minutes: float | None = None,
                           finish_early: bool = False, progress: bool = True, recipe: str = "") -> Path:
    """Tune ``checkpoint`` (task A→B) on pairs from ``partner`` (task B→A): the first ``n_pairs`` real B training
    images, their synthetic A analogies, the ``keep`` fraction by :func:`filter_pairs`; ``epochs`` over the first
    ``limit`` real A training images (all when None) with the pair term. Starts from the parent's E and T (its
    β fully warmed up). Resumable. Returns ``out_dir/final``."""
    dev = torch.device(device)
    ck, G, gcfg = _parent(checkpoint, dev)
    opp, G_src, _ = _parent(partner, dev)
    cfg, ocfg = ck.config, opp.config
    task, otask = get_task(cfg["task"], cfg), get_task(ocfg["task"], ocfg)
    if (otask.source, otask.target) != (task.target, task.source):
        raise CheckpointError(f"{partner} maps {otask.source}→{otask.target}, not {task.target}→{task.source}")
    info, oinfo = ck.info, opp.info
    hp = info.get("hparams", {})
    out = Path(out_dir)
    t0 = time.time()
    loss_fn = build_loss(cfg.get("recon_loss") or hp.get("loss", "laplacian")).to(dev)
    opp_loss = build_loss(ocfg.get("recon_loss") or oinfo.get("hparams", {}).get("loss", "laplacian")).to(dev)
    targets_np = load_domain(task.target, "train").images[:n_pairs]
    targets = torch.cat([to_tensor(np.asarray(targets_np[i : i + 1000]), dev) for i in range(0, len(targets_np), 1000)])
    inputs, recon = synthesize_inputs(opp.networks["E"], G_src, opp.networks["T"], targets, opp_loss, candidates,
                                      seed)
    rt = roundtrip_losses(ck.networks["E"], G, inputs, targets, loss_fn)
    kept = filter_pairs(recon, rt, keep)
    pair_seconds = time.time() - t0
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "pairs_kept.npy", kept.cpu().numpy())  # which target images were used (for inspection)
    spec = DOMAINS[task.source]
    ds = load_domain(task.source, "train").subset(limit)
    variational = get_method(cfg["method"]).variational
    m = BackTranslateVAENAM(G, inputs[kept], targets[kept], pair_weight, in_channels=spec.channels, size=spec.size,
                            variational=variational, beta=hp.get("beta", 0.0), beta_warmup_epochs=0,
                            nf=hp.get("nf", 64), nef=hp.get("nef", 64), loss=hp.get("loss", "laplacian"), lr=lr,
                            seed=seed, device=dev, task=task.name, generator_ref=cfg["generator"],
                            t_arch=hp.get("t_arch", "crn"), prior_weight=hp.get("prior_weight", 0.0),
                            t_affine=hp.get("t_affine", "none"), t_zoom=hp.get("t_zoom", 1.0))
    m.E.load_state_dict(ck.networks["E"].state_dict())
    m.T.load_state_dict(ck.networks["T"].state_dict())
    tcfg = TrainConfig(out_dir=str(out / "bt"), epochs=epochs, batch_size=batch_size, seed=seed,
                       max_minutes=max_minutes, progress=progress, finish_early=finish_early)
    trainer = Trainer(m, ds.images, tcfg, device=dev)
    if not trainer.fit_to_end("backtranslate"):
        return out / "bt" / "last"
    m.E.eval()
    after = roundtrip_losses(m.E, G, m.pair_inputs, m.pair_targets, loss_fn)
    config = m.config()
    for k in ("pair_weight", "pairs"):  # the served schema is the parent's; the tuning settings go below
        config["hparams"].pop(k, None)
    parents = {"parent": cfg.get("sha256", {}), "partner": ocfg.get("sha256", {})}
    config.update({"source": task.source, "target": task.target, "image_size": spec.size,
                   "generator_method": gcfg.get("method"), "generator_fingerprint": weights_fingerprint(G),
                   "train_images": len(ds), "epochs_done": trainer.epoch, "device": str(dev),
                   "train_seconds_total": round(float(info.get("train_seconds_total") or 0.0) + trainer.train_seconds
                                                + pair_seconds, 1),
                   "backtranslate": {"parent": str(checkpoint), "partner": str(partner),
                                     "parents_sha256": parents, "parent_recipe": info.get("recipe"),
                                     "parent_backtranslate": info.get("backtranslate"),
                                     "pairs_made": len(targets), "pairs_kept": len(kept), "keep": keep,
                                     "candidates": candidates, "pair_weight": pair_weight, "lr": lr,
                                     "epochs": epochs, "seconds": round(trainer.train_seconds + pair_seconds, 1),
                                     "pair_loss_before": round(float(rt[kept].mean()), 4),
                                     "pair_loss_after": round(float(after.mean()), 4)},
                   "recipe": {"command": recipe, "hparams": {"epochs": epochs, "batch_size": batch_size, "lr": lr},
                              "seed": seed, "loss": hp.get("loss")},
                   "history": trainer.history})
    tensors = global_directions(m, ds.images[:5000], dev)
    final = save_checkpoint(out / "final", m.networks, config, tensors=tensors)
    save_png(image_grid(to_uint8(m.samples()), cols=3), final / "samples.png", scale=2)
    return final
