"""Ranking of the K solutions (Translator.rank / oversample / partner), deterministic models (one solution instead
of K copies) and the evaluation's first-solution column, on hand-made networks whose right answer is known.

The fake street2mnist model: the code z (d = 2) draws a flat "digit" image of brightness tanh(z₀); its input is a
flat street image of brightness b, so the right candidate is the one whose tanh(z₀) is closest to b."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from nam_core.eval.metrics import accuracy_from_predictions, evaluate_translator
from nam_core.methods.directions import Directions
from nam_core.serving.translator import (
    Translation,
    Translator,
    opposite_task,
    rank_scores,
    select_ranked,
)

SIZE, D = 32, 2


class FlatG(nn.Module):
    """z (B, 2) → a flat image of brightness tanh(z₀) with ``channels`` channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.latent_dim, self.channels = D, channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z[:, :1])[:, :, None, None].expand(-1, self.channels, SIZE, SIZE).contiguous()


class ChannelMap(nn.Module):
    """T: copies the mean over channels to ``out`` channels, times ``sign`` (−1: a T that reads images inverted)."""

    def __init__(self, out: int, sign: float = 1.0) -> None:
        super().__init__()
        self.out, self.sign = out, sign

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.sign * y.mean(1, keepdim=True).expand(-1, self.out, -1, -1).contiguous()


class MeanEncoder(nn.Module):
    """E: μ = (atanh of the image's mean brightness, 0), log σ² = ``logvar`` (a wide posterior: the candidates spread
    over many brightnesses, only some of them right)."""

    def __init__(self, logvar: float = 2.0, offset: float = 0.0) -> None:
        super().__init__()
        self.logvar, self.offset = logvar, offset

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.atanh(x.mean((1, 2, 3)).clamp(-0.99, 0.99)) + self.offset
        mu = torch.stack([m, torch.zeros_like(m)], 1)
        return mu, torch.full_like(mu, self.logvar)


def fake_translator(task: str = "street2mnist", method: str = "vae-nam", t_sign: float = 1.0,
                    encoder: nn.Module | None = None, tensors: dict | None = None) -> Translator:
    src, tgt = {"street2mnist": (3, 1), "mnist2street": (1, 3), "edges2shoes": (1, 3)}[task]
    mapping = SimpleNamespace(
        config={"method": method, "task": task, "hparams": {"loss": "laplacian"}, "generator_method": "glann"},
        networks={"T": ChannelMap(src, t_sign), "E": encoder if encoder is not None else MeanEncoder(offset=1.0)},
        tensors=tensors or {}, path=None)
    return Translator(mapping, FlatG(tgt), {"method": "glann"}, torch.device("cpu"))


def street(brightness: list[float]) -> np.ndarray:
    """Flat RGB street inputs of the given brightness in [-1, 1]."""
    return np.stack([np.full((SIZE, SIZE, 3), round((b + 1) * 127.5), np.uint8) for b in brightness])


def brightness(images: np.ndarray) -> np.ndarray:
    return images.reshape(*images.shape[:2], -1).astype(float).mean(-1) / 127.5 - 1


def test_loss_ranking_puts_the_best_reconstruction_first_and_oversampling_finds_better() -> None:
    tr = fake_translator()  # E's μ is off by +1 (a biased posterior mean): the drawn candidates scatter around it
    x = street([0.5, -0.3, 0.1])
    k, m = 4, 32
    tr.rank, tr.oversample = None, 0
    plain = tr.translate_full(x, k, seed=0)
    assert plain.rank_by is None and plain.scores is None
    tr.rank, tr.oversample = "loss", m
    cand = tr.candidates(x, m, seed=0)  # what a ranked request with oversample = M draws
    err = np.abs(brightness(cand["outputs"]) - np.array([0.5, -0.3, 0.1])[:, None])  # the known right answer
    ranked = tr.translate_full(x, k, seed=0)
    assert ranked.rank_by == "loss" and ranked.outputs.shape[1] == k
    got = np.abs(brightness(ranked.outputs) - np.array([0.5, -0.3, 0.1])[:, None])
    np.testing.assert_allclose(got[:, 0], err.min(1), atol=2 / 255)  # the best of the M candidates comes first
    assert (np.diff(ranked.scores, axis=1) >= 0).all()  # rank order, scores returned
    np.testing.assert_array_equal(ranked.losses, ranked.scores)
    assert got[:, 0].mean() < np.abs(brightness(plain.outputs[:, :1]) - np.array([0.5, -0.3, 0.1])[:, None]).mean()
    np.testing.assert_array_equal(tr.translate(x, k, seed=0), ranked.outputs)  # translate: the same, same order
    one = tr.translate_full(x[:1], k, seed=0)  # a single image (the app's cached path) ranks the same way
    np.testing.assert_array_equal(one.outputs[0], ranked.outputs[0])
    assert one.rank_by == "loss" and tr.solve(x[:1], k, 0)[1].shape == (k, D)


def test_roundtrip_ranking_puts_the_right_solution_first_where_the_loss_cannot() -> None:
    tr = fake_translator(t_sign=-1.0)  # T reads images inverted: its loss prefers the wrong brightness
    partner = fake_translator("mnist2street", encoder=MeanEncoder(offset=0.0))  # maps a digit back faithfully
    x = street([0.6, -0.4])
    truth = np.array([0.6, -0.4])[:, None]
    k, m = 3, 24
    err = np.abs(brightness(tr.candidates(x, m, seed=1, roundtrip=False)["outputs"]) - truth)
    tr.oversample = m
    tr.rank = "loss"
    by_loss = tr.translate_full(x, k, seed=1)
    assert (np.abs(brightness(by_loss.outputs)[:, 0] - truth[:, 0]) > err.min(1) + 0.1).all()  # the wrong one
    tr.rank = "roundtrip"
    tr.partner = None  # as when the opposite task has no model (edges→photos): the ranking falls back to the loss
    assert tr.translate_full(x, k, seed=1).rank_by == "loss"
    tr.partner = partner
    by_rt = tr.translate_full(x, k, seed=1)
    assert by_rt.rank_by == "roundtrip"
    np.testing.assert_allclose(np.abs(brightness(by_rt.outputs)[:, 0] - truth[:, 0]), err.min(1), atol=2 / 255)
    tr.rank = "roundtrip+loss"
    assert tr.translate_full(x, k, seed=1).rank_by == "roundtrip+loss"
    tr.rank = "votes"
    with pytest.raises(ValueError, match="rank must be one of"):
        tr.translate_full(x, k, seed=1)


def test_rank_sum_and_selection_helpers() -> None:
    losses = torch.tensor([[0.3, 0.1, 0.2, 0.4]])
    rt = torch.tensor([[0.1, 0.4, 0.2, 0.3]])
    assert select_ranked(rank_scores(losses, rt, "loss")[0], 2).tolist() == [[1, 2]]
    assert select_ranked(rank_scores(losses, rt, "roundtrip")[0], 2).tolist() == [[0, 2]]
    # positions: loss (2, 0, 1, 3), round trip (0, 3, 1, 2) → sums 2, 3, 2, 5; the tie 0 vs 2 goes to the lower loss
    scores, used = rank_scores(losses, rt, "roundtrip+loss")
    assert used == "roundtrip+loss" and select_ranked(scores, 4).tolist() == [[2, 0, 1, 3]]
    assert rank_scores(losses, None, "roundtrip+loss")[1] == "loss"
    assert opposite_task("street2mnist") == "mnist2street" and opposite_task("edges2shoes") is None


def test_deterministic_models_return_one_solution() -> None:
    none = {"style_vectors": torch.zeros(0, D), "style_std": torch.zeros(0), "style_gain": torch.zeros(0)}
    ae = fake_translator(method="ae-nam", tensors=none)  # a deterministic code, no usable style direction
    assert ae.style_dirs is not None and len(ae.style_dirs.vectors) == 0 and ae.deterministic
    out = ae.translate_full(street([0.2, 0.4]), 8, seed=0)
    assert out.outputs.shape[:2] == (2, 1) and out.losses.shape == (2, 1) and out.z.shape == (2, 1, D)
    assert ae.translate(street([0.2]), 8).shape[:2] == (1, 1) and ae.solve(street([0.2]), 8)[1].shape == (1, D)
    ae.style_dirs = Directions(torch.eye(D)[:1], torch.ones(1), "style")  # a usable style direction: K differ
    assert not ae.deterministic and ae.translate_full(street([0.2]), 8).outputs.shape[1] == 8
    vae = fake_translator()
    assert not vae.deterministic
    vae.temperature = 0.0  # no posterior spread and no style directions: K copies of the mean
    assert vae.deterministic and vae.translate_full(street([0.2]), 4).outputs.shape[1] == 1
    assert not fake_translator(method="nam").deterministic  # NAM: K optimisations from different starts


class FixedOutputs:
    """A translator whose solution 0 has the input's brightness and the others the opposite one."""

    source = "street"

    def __init__(self, deterministic: bool = False) -> None:
        self.deterministic = deterministic
        self.calls: list[int] = []

    def translate_full(self, images: np.ndarray, num_solutions: int = 8, seed: int = 0) -> Translation:
        self.calls.append(num_solutions)
        n, k = len(images), num_solutions
        b = images.reshape(n, -1).mean(1) > 127
        outs = np.zeros((n, k, SIZE, SIZE, 1), np.uint8)
        for i in range(n):
            outs[i] = 255 * (not b[i])
            outs[i, 0] = 255 * b[i]
        return Translation(outs, outs, np.zeros((n, k)), torch.zeros(n, k, D), np.zeros((n, k)), "loss")


class Bright(nn.Module):
    """Reads class 1 on bright images, 0 on dark ones."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean((1, 2, 3))
        return torch.stack([-m, m], 1)


def test_evaluation_first_solution_column_and_deterministic_k() -> None:
    x = street([0.9, -0.9, 0.8, -0.7])
    labels = np.array([1, 0, 1, 0])
    res = evaluate_translator(FixedOutputs(), x, labels, Bright(), num_solutions=4, batch=2, latency_images=1,
                              latency_repeats=1)
    assert res["first"] == 1.0 and res["mean"] == pytest.approx(0.25) and res["any_of_k"] == 1.0
    assert res["k"] == 4 and res["rank_by"] == "loss" and not res["deterministic"]
    det = FixedOutputs(deterministic=True)
    res1 = evaluate_translator(det, x, labels, Bright(), num_solutions=8, batch=4, latency_images=1,
                               latency_repeats=1)
    assert set(det.calls) == {1} and res1["k"] == 1 and res1["k_requested"] == 8 and res1["deterministic"]
    assert res1["first"] == res1["mean"] == 1.0
    acc = accuracy_from_predictions(np.array([[1, 0, 0], [2, 2, 0], [0, 1, 1]]), np.array([1, 0, 1]))
    assert acc["first"] == pytest.approx(1 / 3) and acc["mean"] == pytest.approx(4 / 9)


def test_shipped_digit_models_find_their_partner() -> None:
    from nam_core.paths import CHECKPOINTS_DIR

    if not (Path(CHECKPOINTS_DIR) / "mnist2street_vae-nam_glann" / "config.json").exists():
        pytest.skip("no shipped digit checkpoints in this checkout")
    tr = Translator.load("street2mnist", "vae-nam", "glann", device="cpu")
    assert tr.partner is not None and Path(tr.partner.ckpt.path).name == "mnist2street_vae-nam_glann"
    out = tr.translate_full(np.full((1, 32, 32, 3), 90, np.uint8), 4, seed=0)
    assert out.rank_by == tr.rank and out.outputs.shape[1] == 4 and (np.diff(out.scores, axis=1) >= 0).all()
