"""The evaluation harness (nam_core.eval.harness): speed ratios, merging with a previous run, the command lines
(``training/evaluate.py`` and ``nam-studio evaluate``) and one small real evaluation of a shipped checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nam_core.cli import main as cli_main
from nam_core.eval import harness as H
from nam_core.eval import report as R
from nam_core.paths import CHECKPOINTS_DIR
from tests.helpers import sample_results, translation_row

ROOT = Path(__file__).resolve().parents[1]


def test_speed_ratio_pairs_the_iterative_method_with_its_baseline():
    rows = [translation_row("street2mnist", "nam", ms_per_analogy_batch1=2000.0, ms_per_analogy_batched=1500.0),
            translation_row("street2mnist", "vae-nam", ms_per_analogy_batch1=10.0, ms_per_analogy_batched=3.0),
            translation_row("street2mnist", "ae-nam", ms_per_analogy_batch1=1.0, ms_per_analogy_batched=1.0),
            translation_row("street2mnist", "nam", "dcgan")]  # no VAE-NAM on DCGAN: no ratio
    sp = H.speed_ratios(rows)
    assert [(s["mode"], s["generator"], s["ratio"]) for s in sp] == [("batch-1", "glann", 200.0),
                                                                    ("batched", "glann", 500.0)]


def test_empty_folder_is_reported_not_written(tmp_path, capsys):
    assert H.main(["--checkpoints", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "machine:" in captured.out and "nothing to evaluate" in captured.err
    assert not (tmp_path / "out").exists()
    assert cli_main(["evaluate", "--checkpoints", str(tmp_path), "--out", str(tmp_path / "out")]) == 1


def test_merge_keeps_unevaluated_rows_and_same_run_speed_only():
    results = sample_results()
    new = {"machine": R.machine_info("cpu"), "settings": {"n_test": 1000},
           "translations": [translation_row("street2mnist", "vae-nam", first=0.7, rank_by="loss")],
           "generators": [], "edge_reference": {}}
    previous = dict(results, translations=results["translations"] + [translation_row("street2mnist", "vae-nam")])
    merged = H.merge_previous(new, previous)
    keys = [(r["task"], r["method"]) for r in merged["translations"]]
    assert sorted(keys) == sorted([("mnist2svhn", "vae-nam"), ("street2mnist", "nam"), ("edges2shoes", "ae-nam"),
                                   ("street2mnist", "vae-nam")])
    assert next(r for r in merged["translations"] if r["method"] == "vae-nam" and r["task"] == "street2mnist")[
        "first"] == 0.7  # this run's row replaces the previous one
    assert merged["settings"]["kept_from_previous"] == ["mnist2svhn/vae-nam/glann", "street2mnist/nam/glann",
                                                        "edges2shoes/ae-nam/dcgan"]
    assert merged["speed"] == []  # NAM (previous run) vs VAE-NAM (this run): not one run, no ratio
    assert len(merged["generators"]) == 2 and merged["edge_reference"] == {"edges2shoes": 0.9}


def test_script_and_subcommand_share_the_flags():
    script = subprocess.run([sys.executable, str(ROOT / "training" / "evaluate.py"), "--help"], capture_output=True,
                            text=True, check=True, cwd=ROOT).stdout
    flags = {a.option_strings[0] for a in H.build_parser()._actions if a.option_strings}
    assert {"--tasks", "--methods", "--n-test", "--merge", "--docs", "--threads"} <= flags
    assert all(f in script for f in flags)
    assert "translated-digit accuracy" in script  # the harness's help text


def test_one_shipped_model_scored_through_the_subcommand(tmp_path, capsys):
    args = ["--tasks", "street2mnist", "--methods", "vae-nam", "--generators", "glann", "--n-test", "16",
            "--no-generators", "--latency-images", "1", "--latency-repeats", "1", "--batch", "16",
            "--checkpoints", str(CHECKPOINTS_DIR), "--out", str(tmp_path)]
    assert cli_main(["evaluate", *args]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    (row,) = data["translations"]
    assert (row["task"], row["method"], row["generator"], row["n"], row["k"]) == ("street2mnist", "vae-nam",
                                                                                 "glann", 16, 8)
    assert 0.0 <= row["mean"] <= 1.0 and row["ms_per_analogy_batch1"] > 0
    assert data["settings"]["command"].startswith("nam-studio evaluate --tasks street2mnist")
    assert "| street2mnist | VAE-NAM | GLANN | 16 |" in capsys.readouterr().out
