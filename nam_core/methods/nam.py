"""NAM (Hoshen & Wolf, ECCV 2018): a frozen generator G of the output domain, a learned mapping T back to the input
domain, and one latent code per target image, so that T(G(z_y)) ≈ y. The translation of y is G(z_y).

Task naming follows the papers: in ``A2B`` the input is an A image, G generates B, and T maps B → A.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..data.edges import edge_silhouette
from ..losses import build_loss, silhouette_gap, soft_foreground
from ..nets import build_net
from ..utils import per_image_noise
from .base import DDPWrappable
from .directions import restart_directions
from .registry import GPU_NOTE, Method, Preset, register, register_presets, stopped_early_note


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients (G is never trained by a mapping method)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def build_mapping_t(t_arch: str, in_channels: int, out_channels: int, size: int, nf: int, affine: str = "none",
                    zoom: float = 1.0) -> nn.Module:
    """T: the paper's CRN (``t_arch="crn"``) or the weak local map (``"local"``), the latter optionally behind a
    global learned zoom and shift (``affine="global"``, see :class:`~nam_core.nets.LocalT`)."""
    if t_arch == "crn":
        if affine != "none":
            raise ValueError("a global affine front is only available for the local T (t_arch='local')")
        return build_net("mapping", in_channels=in_channels, out_channels=out_channels, size=size, nf=nf)
    if t_arch != "local":
        raise ValueError(f"t_arch must be 'crn' or 'local', got {t_arch!r}")
    if affine == "none":  # the kwargs of older checkpoints, unchanged
        return build_net("local_mapping", in_channels=in_channels, out_channels=out_channels, size=size, nf=nf)
    return build_net("local_mapping", in_channels=in_channels, out_channels=out_channels, size=size, nf=nf,
                     affine=affine, zoom=zoom)


class NAM(DDPWrappable):
    """Trainer-protocol method: T and per-target codes trained jointly (codes at a higher learning rate)."""

    def __init__(self, generator: nn.Module, n_targets: int, in_channels: int, size: int, nf: int = 64,
                 loss: str = "laplacian", lr_t: float = 1e-3, lr_z: float = 1e-2, prior_weight: float = 1e-3,
                 decay_every: int = 20, decay: float = 0.5, seed: int = 0, device: torch.device | str = "cpu",
                 task: str = "", generator_ref: str = "", loss_kwargs: dict | None = None,
                 t_arch: str = "crn") -> None:
        self.device = torch.device(device)
        self.G = freeze(generator.to(self.device))
        self.latent_dim = generator.latent_dim
        out_ch = self._probe_channels()
        self.T = build_mapping_t(t_arch, out_ch, in_channels, size, nf).to(self.device)
        gen = torch.Generator().manual_seed(seed)
        self.codes = nn.Embedding(n_targets, self.latent_dim, sparse=True).to(self.device)
        with torch.no_grad():
            self.codes.weight.copy_(torch.randn(n_targets, self.latent_dim, generator=gen) * 0.5)
        self.loss_fn = build_loss(loss, **(loss_kwargs or {})).to(self.device)
        self.prior_weight = prior_weight
        self.networks: dict[str, nn.Module] = {"T": self.T}
        self.optimizers = {"T": torch.optim.Adam(self.T.parameters(), lr=lr_t, betas=(0.5, 0.999)),
                           "z": torch.optim.SparseAdam(list(self.codes.parameters()), lr=lr_z)}
        self.schedulers = [torch.optim.lr_scheduler.StepLR(o, decay_every, decay) for o in self.optimizers.values()]
        self.hparams = {"n_targets": n_targets, "in_channels": in_channels, "size": size, "nf": nf, "loss": loss,
                        "lr_t": lr_t, "lr_z": lr_z, "prior_weight": prior_weight, "decay_every": decay_every,
                        "decay": decay, "seed": seed, "t_arch": t_arch}
        self.task, self.generator_ref = task, generator_ref
        self._fixed = torch.linspace(0, n_targets - 1, min(n_targets, 50)).long().to(self.device)

    @torch.no_grad()
    def _probe_channels(self) -> int:
        return self.G(torch.zeros(2, self.latent_dim, device=self.device)).shape[1]

    def train_step(self, index: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        z = self.codes(index)
        rec = self.loss_fn(self.fwd["T"](self.G(z)), images)
        loss = rec + self.prior_weight * z.pow(2).sum(1).mean()
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in self.optimizers.values():
            o.step()
        return {"recon": rec.item()}

    def on_epoch_end(self, epoch: int) -> None:
        for s in self.schedulers:
            s.step()

    def config(self) -> dict[str, Any]:
        return {"kind": "mapping", "method": "nam", "task": self.task, "generator": self.generator_ref,
                "latent_dim": self.latent_dim, "hparams": self.hparams}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"codes": self.codes.weight.detach()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "codes" in tensors:
            with torch.no_grad():
                self.codes.weight.copy_(tensors["codes"].to(self.device))

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """Top row block: G(z_y) (the translations) for the first targets."""
        self.T.eval()
        out = self.G(self.codes(self._fixed))
        self.T.train()
        return out


def nam_infer(G: nn.Module, T: nn.Module, targets: torch.Tensor, num_solutions: int = 8, steps: int = 100,
              lr: float = 0.05, loss: nn.Module | None = None, prior_weight: float = 1e-3, seed: int = 0,
              init: torch.Tensor | None = None,
              callback: Callable[[int, int], None] | None = None,
              on_step: Callable[[int, torch.Tensor, torch.Tensor], bool | None] | None = None,
              silhouettes: torch.Tensor | None = None, silhouette_weight: float = 0.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimise ``num_solutions`` codes per target from random starts, all in one batch, with T and G frozen.

    The loss is summed over targets and Adam works per coordinate, so each target's solutions do not depend on the
    rest of its batch. Returns codes (N, K, latent) and final per-solution losses (N, K). ``callback(step, steps)``
    reports progress. ``on_step(step, z, losses)`` (or ``callback.on_step``, so that a progress callback handed
    down through the Translator can carry it) sees the codes (N, K, latent) after each step and the per-solution
    losses (N, K) of that step, detached; returning True stops the optimisation early with the current codes.
    ``silhouettes`` (N, H, W) in [0, 1] with ``silhouette_weight`` > 0 add, per solution, that weight × the mean
    |soft_foreground(G(z)) − silhouette|: the object drawn where the input's outline encloses it (edge inputs,
    see :func:`silhouette_targets`); the returned losses include it.
    """
    loss_fn = loss if loss is not None else build_loss("laplacian")
    on_step = on_step if on_step is not None else getattr(callback, "on_step", None)
    n, k, d = len(targets), num_solutions, G.latent_dim
    dev = targets.device
    if init is None:
        init = per_image_noise(targets, k, d, seed)  # each target's starts depend on it and the seed only
    z = init.reshape(n * k, d).to(dev).clone().requires_grad_(True)
    tgt = targets.repeat_interleave(k, dim=0)
    sil = None
    if silhouettes is not None and silhouette_weight > 0:
        sil = silhouettes.to(dev).float().repeat_interleave(k, dim=0)

    def objective(codes: torch.Tensor) -> torch.Tensor:
        photo = G(codes)
        per = loss_fn(T(photo), tgt, reduction="none")
        if sil is not None:
            per = per + silhouette_weight * silhouette_gap(soft_foreground(photo), sil)
        return per

    opt = torch.optim.Adam([z], lr=lr)
    T.eval()
    G.eval()
    with torch.enable_grad():
        for s in range(steps):
            per = objective(z)
            total = per.sum() + prior_weight * z.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if callback is not None:
                callback(s + 1, steps)
            if on_step is not None and on_step(s + 1, z.detach().view(n, k, d), per.detach().view(n, k)):
                break
    with torch.no_grad():
        per = objective(z)
    return z.detach().view(n, k, d), per.view(n, k)


def silhouette_targets(edges: torch.Tensor) -> torch.Tensor:
    """The object region each edge-map input outlines (:func:`~nam_core.data.edges.edge_silhouette`: strokes
    closed and filled), from edge maps in [-1, 1] (N, 1, H, W): float (N, H, W) in {0, 1}. A drawn outline has
    no inner lines for T(G(z)) to match, so this is what tells the solver where the object is."""
    u8 = ((edges.detach().float().cpu()[:, 0] + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    return torch.from_numpy(edge_silhouette(u8)).float().to(edges.device)


@torch.no_grad()
def retrieval_starts(codes: torch.Tensor, pool: torch.Tensor, targets: torch.Tensor, num_solutions: int,
                     loss: nn.Module, seed: int = 0, noise: float = 0.1,
                     exclude: torch.Tensor | None = None, pool_silhouettes: torch.Tensor | None = None,
                     silhouettes: torch.Tensor | None = None, silhouette_weight: float = 0.0,
                     pool_thumbs: torch.Tensor | None = None, spread: int = 1) -> torch.Tensor:
    """NAM starts from the training codes: for each target, the K codes whose reconstructions ``pool`` = T(G(codes))
    match it best under ``loss``, plus ``noise`` × seeded per-image Gaussian noise (so the K solutions can differ).
    ``exclude[i]`` (a code index, or −1) is never chosen for target i: leave-one-out when the targets are the
    training images themselves. With ``pool_silhouettes`` (soft_foreground(G(codes))), ``silhouettes`` of the
    targets and ``silhouette_weight`` > 0, the match also counts the silhouette term of :func:`nam_infer`.
    With ``pool_thumbs`` (small G(codes), (N, ...)) and ``spread`` > 1, the K starts are picked among the
    ``spread``·K best matches so that their photos differ most (:func:`farthest_first`): the best match and then,
    one by one, the candidate farthest from those picked. The silhouette term makes the best matches share one
    shape, and the solver keeps each start's colour, so this is what gives an edge input K different colourings.
    Returns (N·K, d)."""
    k = num_solutions
    eps = per_image_noise(targets, k, codes.shape[1], seed).to(codes)
    use_sil = pool_silhouettes is not None and silhouettes is not None and silhouette_weight > 0
    wide = pool_thumbs is not None and spread > 1
    starts = []
    for i, (xi, ni) in enumerate(zip(targets, eps)):
        losses = torch.cat([loss(pool[j : j + 512], xi[None].expand(len(pool[j : j + 512]), -1, -1, -1),
                                 reduction="none") for j in range(0, len(pool), 512)])
        if use_sil:
            gap = silhouette_gap(pool_silhouettes, silhouettes[i].expand_as(pool_silhouettes))
            losses = losses + silhouette_weight * gap.to(losses)
        if exclude is not None and exclude[i] >= 0:
            losses[exclude[i]] = float("inf")
        best = losses.topk(min(k * spread if wide else k, len(losses)), largest=False).indices
        if wide and len(best) > k:
            best = best[farthest_first(pool_thumbs[best], k)]
        best = best[torch.arange(k) % len(best)]
        starts.append(codes[best] + noise * ni)
    return torch.cat(starts)


def farthest_first(items: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` of ``items`` (M, ...) in greedy farthest-point order under mean L1: item 0 first, then each
    time the item whose distance to the nearest one picked is largest."""
    flat = items.reshape(len(items), -1).float()
    picked = [0]
    near = (flat - flat[0]).abs().mean(1)
    for _ in range(1, min(k, len(flat))):
        near[picked] = -1.0
        j = int(near.argmax())
        picked.append(j)
        near = torch.minimum(near, (flat - flat[j]).abs().mean(1))
    return torch.tensor(picked, dtype=torch.long)


# ------------------------------------------------------------------------------------------- test time, registry
def solver_silhouettes(tr: Any, x: torch.Tensor) -> torch.Tensor | None:
    """The inputs' outlined silhouettes when the checkpoint's solver uses the silhouette term (an edge-map input
    and ``tr.silhouette_weight`` > 0), else None."""
    if not getattr(tr, "silhouette_weight", 0.0) or not str(getattr(tr, "source", "")).endswith("_edges"):
        return None
    return silhouette_targets(x)


@torch.no_grad()
def nam_starts(tr: Any, x: torch.Tensor, k: int, seed: int, silhouettes: torch.Tensor | None = None
               ) -> torch.Tensor | None:
    """NAM starts: for each input, the K training codes whose T(G(z)) match it best (plus a little seeded noise,
    so the K solutions can differ) — a retrieval start from the unlabelled training targets instead of pure
    noise, which the non-convex per-image optimisation needs to converge in ~100 steps. ``None`` (Gaussian
    starts) when the checkpoint has no codes or ``tr.nam_init == "random"``. With ``silhouettes`` (see
    :func:`solver_silhouettes`) the match also counts where G(z) puts the object."""
    pool = tr.code_pool() if tr.nam_init == "retrieval" else None
    if pool is None:
        return None
    codes, recs = pool
    fg = None if silhouettes is None else tr.pool_foreground()
    spread = int(getattr(tr, "start_spread", 1))
    thumbs = tr.pool_thumbnails() if spread > 1 else None
    return retrieval_starts(codes, recs, x, k, tr.loss_fn, seed, pool_silhouettes=fg, silhouettes=silhouettes,
                            silhouette_weight=tr.silhouette_weight, pool_thumbs=thumbs, spread=spread)


def solve(tr: Any, x: torch.Tensor, k: int, seed: int, callback: Callable[[int, int], None] | None = None
          ) -> tuple[torch.Tensor, None]:
    """NAM's test time: ``tr.nam_steps`` Adam steps on K codes per input (:func:`nam_infer`), T and G frozen; on
    edge inputs with the checkpoint's ``solver_silhouette_weight``, the silhouette term too."""
    sils = solver_silhouettes(tr, x)  # None: the term is off
    z, _ = nam_infer(tr.G, tr.T, x, num_solutions=k, steps=tr.nam_steps, loss=tr.loss_fn, seed=seed,
                     init=nam_starts(tr, x, k, seed, silhouettes=sils), callback=callback, silhouettes=sils,
                     silhouette_weight=tr.silhouette_weight)
    return z, None


def input_directions(tr: Any, z: torch.Tensor, sigma: torch.Tensor | None, k: int,
                     reference: torch.Tensor | None) -> Any:
    """Principal axes of the K restart solutions of one input."""
    return restart_directions(z, k, reference=reference)


register(Method(
    name="nam", label="NAM", module="nam_core/methods/nam.py", script="train_mapping", cites=("nam",),
    # the VAE-NAM and GLANN papers' MNIST↔SVHN figures (NAM on a DCGAN G, and on a GLANN G)
    published={"mnist2svhn": 31.9, "mnist2svhn+glann": 31.3, "svhn2mnist": 33.3, "svhn2mnist+glann": 25.0},
    deterministic=False, iterative=True, loss_keys=("recon",), order=0, solve=solve,
    defaults={"epochs": 40, "batch_size": 64, "n_targets": 2000},
    input_directions=input_directions))

_DIGITS = {"nf": 32, "loss": "ncc", "t_arch": "local"}  # the weak local T: the codes must carry the digit's shape
_EDGES = {"nf": 32, "nef": 32, "loss": "laplacian-flat"}
# the test-time solver also draws the object where the input's outline encloses it (a drawn outline has no inner
# lines for T(G(z)) to match; docs/RESULTS.md, "Drawn outlines"); that pulls the K solutions to one shape, so their
# starts are picked among 3·K good matches to differ in colour ("Diversity of the K solutions")
_EDGE_SOLVER = {"solver_silhouette_weight": 1.0, "solver_start_spread": 3}
register_presets(
    Preset("street2mnist_nam_glann", "nam", "train_mapping",
           {"task": "street2mnist", "method": "nam", "generator": "gen_mnist_glann", **_DIGITS, "epochs": 300,
            "n_targets": 2000, "lr_z": 0.05}, note=GPU_NOTE),
    Preset("street2mnist_nam_dcgan", "nam", "train_mapping",
           {"task": "street2mnist", "method": "nam", "generator": "gen_mnist_dcgan", **_DIGITS, "epochs": 135,
            "n_targets": 2000, "lr_z": 0.05},
           note=stopped_early_note("2.07", "on a GPU", 135, 300)),
    Preset("mnist2street_nam_glann", "nam", "train_mapping",
           {"task": "mnist2street", "method": "nam", "generator": "gen_street_glann", **_DIGITS, "epochs": 150,
            "n_targets": 1000, "lr_z": 0.05}),
    Preset("mnist2street_nam_dcgan", "nam", "train_mapping",
           {"task": "mnist2street", "method": "nam", "generator": "gen_street_dcgan", **_DIGITS, "epochs": 217,
            "n_targets": 2000, "lr_z": 0.05},
           note=stopped_early_note("3.50", "on a GPU", 217, 300)),
    Preset("edges2shoes_nam_glann", "nam", "train_mapping",
           {"task": "edges2shoes", "method": "nam", "generator": "gen_shoes_glann", **_EDGES, "epochs": 400,
            "n_targets": 1000, "lr_z": 0.05, **_EDGE_SOLVER}, note=GPU_NOTE),
    Preset("edges2handbags_nam_glann", "nam", "train_mapping",
           {"task": "edges2handbags", "method": "nam", "generator": "gen_handbags_glann", **_EDGES, "epochs": 244,
            "n_targets": 1000, "lr_z": 0.05, **_EDGE_SOLVER},
           note=stopped_early_note("3.08", "on a GPU", 244, 400)),
)
