"""scripts/publish_hub.py (nam_core.serving.publish) against a fake Hub client: no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nam_core.paths import CHECKPOINTS_DIR
from nam_core.serving import publish as P
from tests.helpers import FakeHub

NAMES = ["gen_shoes_glann", "mnist2street_vae-nam_dcgan", "street2mnist_cyclegan"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkpoints folder with three shipped models, their manifest entries and results.json."""
    out = tmp_path / "ckpt"
    out.mkdir()
    manifest = json.loads((CHECKPOINTS_DIR / "manifest.json").read_text())
    manifest["checkpoints"] = {n: manifest["checkpoints"][n] for n in NAMES}
    (out / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(CHECKPOINTS_DIR / "results.json", out / "results.json")
    for n in NAMES:
        (out / n).mkdir()
        for f in ("config.json", "samples.png"):
            if (CHECKPOINTS_DIR / n / f).exists():
                shutil.copy(CHECKPOINTS_DIR / n / f, out / n / f)
        (out / n / "model.safetensors").write_bytes(b"weights")  # the uploader never reads them
    return out


def test_each_model_gets_its_repo_and_card(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub = FakeHub(tmp_path)
    ids = P.publish("org", root, api=hub, log=lambda s: None)
    assert ids == [f"org/nam-studio-{n.replace('_', '-')}" for n in sorted(NAMES)]
    assert [r for r, _ in hub.created] == ids and all(kw["exist_ok"] for _, kw in hub.created)
    vae = hub.uploaded["org/nam-studio-mnist2street-vae-nam-dcgan"]
    assert {"README.md", "config.json", "model.safetensors", "samples.png"} <= set(vae)
    card = vae["README.md"]
    results = json.loads((root / "results.json").read_text())
    row = next(r for r in results["translations"] if r["checkpoint"].endswith("mnist2street_vae-nam_dcgan"))
    assert f"| accuracy, mean over the K analogies | {row['mean']:.4g} |" in card  # figures from results.json
    assert "train_mapping.py --preset mnist2street_vae-nam_dcgan" in card  # the recipe
    assert "org/nam-studio-gen-street-dcgan" in card and "CC BY-SA 3.0" in card and "NAM: Non-Adversarial" in card
    assert card.startswith("---\nlicense: mit\n")
    shoes = hub.uploaded["org/nam-studio-gen-shoes-glann"]["README.md"]
    assert "license: other" in shoes and "non-commercial research use only" in shoes and "GLANN" in shoes
    assert "an adversarial baseline" in hub.uploaded["org/nam-studio-street2mnist-cyclegan"]["README.md"]


def test_fails_fast_and_clearly(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FakeHub(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(P.PublishError, match="HF_HUB_OFFLINE"):
        P.publish("org", root, api=hub, log=lambda s: None)
    monkeypatch.delenv("HF_HUB_OFFLINE")

    class Offline(FakeHub):
        def whoami(self, token: str | None = None) -> dict:
            raise ConnectionError("Failed to resolve 'huggingface.co'")

    with pytest.raises(P.PublishError, match="Cannot reach the Hugging Face Hub"):
        P.publish("org", root, api=Offline(tmp_path), log=lambda s: None)
    with pytest.raises(P.PublishError, match="street2mnist-cyclegan: OSError: upload refused"):
        P.publish("org", root, api=FakeHub(tmp_path, fail_on="cyclegan"), log=lambda s: None)
    with pytest.raises(P.PublishError, match="Not in manifest.json: nope"):
        P.publish("org", root, only=["nope"], api=hub)
    assert not hub.created  # nothing was created by the refused runs


def test_dry_run_writes_the_repos_without_a_hub(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dry"
    assert P.main(["--namespace", "org", "--checkpoints", str(root), "--dry-run", str(out),
                   "--only", "gen_shoes_glann"]) == 0
    assert (out / "gen_shoes_glann" / "README.md").read_text().startswith("---\n")
    assert (out / "gen_shoes_glann" / "config.json").exists()
