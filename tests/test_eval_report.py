"""The results writer: results.json / results.md / results.png with the right rows, written atomically."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from nam_core.eval import report as R

ROOT = Path(__file__).resolve().parent.parent


def translation_row(task: str, method: str, generator: str = "glann", **kw) -> dict:
    row = {"task": task, "method": method, "generator": generator, "n": 1000, "k": 8, "mean": 0.423,
           "best_of_k": 0.5, "any_of_k": 0.871, "per_class": {"0": 0.5}, "ms_per_analogy_batched": 3.25,
           "ms_per_analogy_batch1": 12.0, "train_seconds": 1500.0}
    row.update(kw)
    return row


@pytest.fixture
def results() -> dict:
    return {
        "machine": R.machine_info("cpu"),
        "settings": {"n_test": 1000, "num_solutions": 8},
        "translations": [
            translation_row("mnist2svhn", "vae-nam", same_class=0.9375, diversity=0.01234),
            translation_row("street2mnist", "nam", n=40, ms_per_analogy_batched=4000.0, ms_per_analogy_batch1=3500.0,
                            best_of_k=float("nan")),
            translation_row("edges2shoes", "ae-nam", "dcgan", mean=None, best_of_k=None, any_of_k=None,
                            edge_f1=0.61234, photo_fid=12.345),
        ],
        "generators": [
            {"domain": "mnist", "method": "glann", "features": "clf_mnist", "fid": 12.345, "f8": 0.95, "f1_8": 0.9,
             "min_class_share": 0.0812, "confident": 0.7, "n": 2000, "train_seconds": 600},
            {"domain": "mnist", "method": "glo-gaussian", "features": "clf_mnist", "fid": 40.0, "f8": 0.7,
             "f1_8": 0.6, "n": 2000},
        ],
        "edge_reference": {"edges2shoes": 0.9},
        "speed": [{"task": "street2mnist", "generator": "glann", "mode": "batch-1", "nam_ms": 3500.0,
                   "vae_nam_ms": 10.0, "ratio": 350.0}],
    }


def table_rows(md: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()
            if line.startswith(f"| {first_cell} ")]


def test_write_results_files_and_rows(results, tmp_path):
    paths = R.write_results(results, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"results.json", "results.md", "results.png"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.json", "results.md", "results.png"]
    data = json.loads(paths["json"].read_text())
    assert len(data["translations"]) == 3 and data["translations"][1]["best_of_k"] is None  # NaN → null
    assert data["generators"][0]["fid"] == pytest.approx(12.345)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size > 5000

    md = paths["md"].read_text()
    vae = table_rows(md, "mnist2svhn")
    assert vae == [["mnist2svhn", "VAE-NAM", "GLANN", "1000", "42.3", "50.0", "87.1", "51.7", "93.8", "0.012", "–", "–",
                    "3.2", "12.0", "25.0 min"]]
    nam = table_rows(md, "street2mnist")
    assert nam[0][:8] == ["street2mnist", "NAM", "GLANN", "40", "42.3", "–", "87.1", "25.0†"]
    assert nam[0][8:10] == ["–", "–"] and nam[0][12:14] == ["4000", "3500"]
    edges = table_rows(md, "edges2shoes")
    assert edges[0][1:5] == ["AE-NAM", "DCGAN", "1000", "–"] and edges[0][10] == "0.61" and edges[0][11] == "12.3"
    gens = table_rows(md, "mnist")
    assert [g[1] for g in gens] == ["GLANN", "GLO + Gaussian"] and gens[0][3] == "12.35" and gens[0][9] == "10.0 min"
    assert gens[0][6:8] == ["8.1", "70.0"] and gens[1][6:8] == ["–", "–"]
    assert "350× faster" in md and "CycleGAN 17.7" in md and "DistanceGAN 26.8" in md and "† paper figure" in md
    assert "edges2shoes 0.90" in md and results["machine"]["torch"] in md


def test_write_results_without_rows(tmp_path):
    paths = R.write_results({"translations": [], "generators": []}, tmp_path)
    assert "No mapping checkpoints" in paths["md"].read_text() and paths["png"].exists()


def test_published_figures():
    assert R.published_accuracy("mnist2svhn", "nam", "dcgan") == (31.9, False)
    assert R.published_accuracy("mnist2svhn", "nam", "glann") == (31.3, False)
    assert R.published_accuracy("svhn2mnist", "nam", "glann") == (25.0, False)
    assert R.published_accuracy("svhn2mnist", "ae-nam") == (37.4, False)
    assert R.published_accuracy("mnist2street", "vae-nam") == (51.7, True)
    assert R.published_accuracy("edges2shoes", "nam") == (None, False)
    assert R.PUBLISHED["svhn2mnist"]["cyclegan"] == 26.1 and R.PUBLISHED["mnist2svhn"]["cyclegan"] == 17.7


def test_formatting_helpers():
    assert R.format_duration(None) == "–" and R.format_duration(42) == "42 s"
    assert R.format_duration(750) == "12.5 min" and R.format_duration(3 * 3600) == "3.0 h"
    info = R.machine_info("cpu")
    assert {"platform", "cpu_count", "torch", "torch_threads", "device"} <= set(info)
    assert R._jsonable({"a": float("inf"), "b": [math.nan, 1]}) == {"a": None, "b": [None, 1]}


def test_evaluate_cli_speed_ratio_and_empty_folder(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    try:
        from training import evaluate as E
    finally:
        sys.path.remove(str(ROOT))
    rows = [translation_row("street2mnist", "nam", ms_per_analogy_batch1=2000.0, ms_per_analogy_batched=1500.0),
            translation_row("street2mnist", "vae-nam", ms_per_analogy_batch1=10.0, ms_per_analogy_batched=3.0),
            translation_row("street2mnist", "nam", "dcgan")]
    sp = E.speed_ratios(rows)
    assert [(s["mode"], s["ratio"]) for s in sp] == [("batch-1", 200.0), ("batched", 500.0)]
    assert E.main(["--checkpoints", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "machine:" in capsys.readouterr().out and not (tmp_path / "out").exists()
