"""Push each shipped checkpoint to its own Hugging Face Hub model repo, with a model card.

    python scripts/publish_hub.py --namespace ORG [--only NAME ...] [--private] [--dry-run OUT_DIR]

A card says what the model does, its measured figures (the manifest's metrics and its rows of ``results.json``),
the recipe that rebuilt it, the licences of its data and weights, and what to cite. ``publish`` takes the Hub client
as an argument (``huggingface_hub.HfApi`` by default), so tests pass a fake one and nothing touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..methods.mappings import TASKS
from ..methods.registry import find_method, method_names, methods
from .app_logic import ALL_METHOD_LABEL, checkpoints_dir, domain_label, load_results, task_label

REPO_PREFIX = "nam-studio-"
BASELINES = method_names(feed_forward=True)  # one feed-forward generator each, no separate G
UPLOAD_PATTERNS = ["config.json", "training_info.json", "model.safetensors", "samples.png", "loss.png", "README.md"]

PAPERS = {
    "nam": "Yedid Hoshen and Lior Wolf. NAM: Non-Adversarial Unsupervised Domain Mapping. ECCV 2018. "
           "arXiv:1806.00804",
    "vae-nam": "Yedid Hoshen. Non-Adversarial Mapping with VAEs. NeurIPS 2018.",
    "glann": "Yedid Hoshen, Ke Li and Jitendra Malik. Non-Adversarial Image Synthesis with Generative Latent Nearest "
             "Neighbors. CVPR 2019. arXiv:1812.08985",
    "dcgan": "Alec Radford, Luke Metz and Soumith Chintala. Unsupervised Representation Learning with Deep "
             "Convolutional Generative Adversarial Networks. ICLR 2016. arXiv:1511.06434",
    "cyclegan": "Jun-Yan Zhu, Taesung Park, Phillip Isola and Alexei A. Efros. Unpaired Image-to-Image Translation "
                "using Cycle-Consistent Adversarial Networks. ICCV 2017. arXiv:1703.10593",
    "distancegan": "Sagie Benaim and Lior Wolf. One-Sided Unsupervised Domain Mapping. NIPS 2017. arXiv:1706.00826",
    "dtn": "Yaniv Taigman, Adam Polyak and Lior Wolf. Unsupervised Cross-Domain Image Generation. ICLR 2017. "
           "arXiv:1611.02200",
}
CITES = {m.name: list(m.cites) for m in methods(None)}  # the papers of each method (keys of PAPERS)
DATA_LICENCE = {
    "mnist": ("MNIST (Yann LeCun, Corinna Cortes, Christopher Burges)", "CC BY-SA 3.0", False),
    "street": ("synthetic street-number digits rendered by this project from matplotlib's bundled fonts", "the fonts' "
               "own free licences (DejaVu, STIX, Computer Modern); the renderer is MIT", False),
    "svhn": ("SVHN (Netzer et al.)", "non-commercial use only, per its authors", True),
    "shoes": ("a subset of pix2pix edges2shoes (UT-Zappos50K)", "non-commercial research use only", True),
    "handbags": ("a subset of pix2pix edges2handbags (iGAN handbag images)", "non-commercial research use only", True),
}


class PublishError(RuntimeError):
    """Publishing cannot go on (offline, no token, a missing file): the message says what to do."""


@dataclass
class ModelEntry:
    """One shipped checkpoint: its folder and its ``manifest.json`` entry."""

    name: str
    folder: Path
    info: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.info.get("kind") or "")

    @property
    def method(self) -> str:
        return str(self.info.get("method") or "")

    def domains(self) -> list[str]:
        """The data domains its weights were trained on (for the licences)."""
        task = self.info.get("task")
        if task in TASKS:
            t = TASKS[task]
            return sorted({_base_domain(t.source), _base_domain(t.target)})
        dom = self.info.get("domain")
        return [_base_domain(str(dom))] if dom else []


def _base_domain(domain: str) -> str:
    return domain.removesuffix("_edges")


def shipped_models(root: str | Path | None = None, only: list[str] | None = None) -> list[ModelEntry]:
    """The checkpoints of ``root/manifest.json`` (all, or those named in ``only``), each with its folder."""
    root = checkpoints_dir(root)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PublishError(f"No readable manifest.json in the checkpoints folder ({type(exc).__name__}: {exc}).") \
            from exc
    entries = manifest.get("checkpoints") if isinstance(manifest, dict) else None
    if not isinstance(entries, dict):
        raise PublishError("manifest.json has no 'checkpoints' table.")
    unknown = sorted(set(only or []) - set(entries))
    if unknown:
        raise PublishError(f"Not in manifest.json: {', '.join(unknown)}.")
    out = []
    for name in sorted(entries):
        if only and name not in only:
            continue
        folder = root / name
        missing = [f for f in ("config.json", "model.safetensors") if not (folder / f).exists()]
        if missing:
            raise PublishError(f"{name}: missing {', '.join(missing)} in its folder.")
        out.append(ModelEntry(name, folder, entries[name]))
    return out


def repo_id(namespace: str, name: str) -> str:
    return f"{namespace}/{REPO_PREFIX}{name}".replace("_", "-")


def _what_it_does(m: ModelEntry, namespace: str) -> str:
    label = ALL_METHOD_LABEL.get(m.method, m.method)
    if m.kind == "generator":
        dom = domain_label(str(m.info.get("domain")))
        spec = find_method(m.method)
        how = spec.summary if spec is not None and spec.summary else f"a {label} generator"
        return f"An image generator of **{dom}** ({how}). NAM, AE-NAM and VAE-NAM mappings use it, frozen, as G."
    if m.kind == "classifier":
        dom = domain_label(str(m.info.get("domain")))
        return f"The digit classifier of **{dom}** that the evaluation uses to score translations (not a translator)."
    task = str(m.info.get("task"))
    what = f"Translates **{task_label(task)}** ({task}) without paired examples, with **{label}**"
    if m.method not in BASELINES:
        gen = _generator_name(m)
        what += (f" on the frozen generator `{gen}` (its own repo: `{repo_id(namespace, gen)}`, needed to run "
                 "this one)" if gen else "")
        what += (". The network T maps target images back to the source, and a code z explains the input x when "
                 "T(G(z)) ≈ x; G(z) is then its analogy.")
    else:
        what += ", an adversarial baseline trained on the same data for comparison."
    return what


def _generator_name(m: ModelEntry) -> str | None:
    try:
        cfg = json.loads((m.folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    ref = cfg.get("generator")
    return Path(str(ref)).name if ref else None


def _metrics_md(m: ModelEntry, results: dict[str, Any]) -> str:
    lines = []
    metrics = m.info.get("metrics")
    if isinstance(metrics, dict):
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    keys = {"mean": "accuracy, mean over the K analogies", "best_of_k": "accuracy, lowest-loss analogy",
            "any_of_k": "accuracy, any of the K analogies", "edge_f1": "edge F1", "photo_fid": "photo FID",
            "diversity": "diversity of the K analogies", "ms_per_analogy_batch1": "ms per input (batch 1, CPU)",
            "fid": "FID", "f8": "PRD F8 (recall)", "f1_8": "PRD F1/8 (precision)", "n": "test inputs"}
    for section in ("translations", "generators"):
        for row in results.get(section) or []:
            if not isinstance(row, dict) or Path(str(row.get("checkpoint", ""))).name != m.name:
                continue
            if section == "generators" and row.get("features"):
                lines.append(f"| features | {row['features']} |")
            for k, label in keys.items():
                v = row.get(k)
                if isinstance(v, (int, float)):
                    lines.append(f"| {label} | {v:.4g} |")
    if not lines:
        return "No evaluation figures recorded for this checkpoint.\n"
    return "| metric | value |\n|---|---|\n" + "\n".join(lines) + "\n"


def _recipe_md(m: ModelEntry) -> str:
    recipe = m.info.get("recipe")
    if not isinstance(recipe, dict):
        return "No recipe recorded.\n"
    out = ""
    if recipe.get("command"):
        out += f"```bash\n{recipe['command']}\n```\n\n"
    rest = {k: v for k, v in recipe.items() if k != "command"}
    if rest:
        out += "```json\n" + json.dumps(rest, indent=2, sort_keys=True) + "\n```\n"
    return out


def _licence_md(m: ModelEntry) -> tuple[str, str]:
    """(markdown, Hub licence id): the weights inherit the most restrictive data licence."""
    rows, restricted = [], False
    for d in m.domains():
        src, lic, nc = DATA_LICENCE.get(d, (d, "see its source", False))
        rows.append(f"- Data: {src}: {lic}.")
        restricted |= nc
    if restricted:
        rows.append("- Weights: trained on data for **non-commercial research use only**, so the same holds for "
                    "these weights.")
    else:
        rows.append("- Weights: MIT, like the code (the data licences above still apply to the data).")
    rows.append("- Code: MIT (NAM Studio, the `nam_core` library that loads these weights).")
    return "\n".join(rows) + "\n", ("other" if restricted else "mit")


def model_card(m: ModelEntry, namespace: str, results: dict[str, Any] | None = None) -> str:
    """The README.md (model card, with Hub front matter) of one checkpoint's repo."""
    results = results or {}
    licence_md, licence = _licence_md(m)
    tags = ["nam-studio", "image-to-image", "unsupervised", m.method or m.kind]
    front = ["---", f"license: {licence}", "library_name: nam-studio",
             "pipeline_tag: " + ("image-classification" if m.kind == "classifier" else
                                 "unconditional-image-generation" if m.kind == "generator" else "image-to-image"),
             "tags:", *[f"- {t}" for t in tags if t]]
    if licence == "other":
        front += ["license_name: non-commercial-research", "license_link: README.md"]  # its Licences section
    front.append("---")
    cites = [PAPERS[c] for c in CITES.get(m.method, [])]
    size = m.info.get("size_bytes")
    files = "`config.json` (architecture, hyper-parameters, training history), `model.safetensors` (float16 weights"
    files += f", {size / 2**20:.1f} MiB)" if isinstance(size, (int, float)) else ")"
    sha = (m.info.get("sha256") or {}).get("model.safetensors")
    body = [
        f"# {m.name}", "", _what_it_does(m, namespace), "",
        "## Use", "", "```python", "from nam_core.serving import load_translator" if m.kind == "mapping" else
        "from nam_core.methods.generators import load_generator", "",
        (f'tr = load_translator("{m.name}")  # a local copy of this repo; '
         "tr.translate(images) -> analogies") if m.kind == "mapping" else
        f'G, config = load_generator("{m.name}")  # a local copy of this repo', "```", "",
        f"Files: {files}." + (f" SHA-256 of the weights: `{sha}`." if sha else ""), "",
        "## Metrics", "", _metrics_md(m, results),
        "## Recipe", "", _recipe_md(m),
        "## Licences", "", licence_md,
        "## Citation", "", *(f"- {c}" for c in cites or ["NAM Studio (this repository)."]), "",
    ]
    return "\n".join(front) + "\n\n" + "\n".join(body)


def _check_online(api: Any, token: str | None) -> str:
    """The Hub user name; PublishError at once when offline, without a token, or when the Hub cannot be reached."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise PublishError("HF_HUB_OFFLINE is set: publishing needs the Hugging Face Hub. Unset it and retry.")
    try:
        who = api.whoami(token=token)
    except Exception as exc:  # noqa: BLE001 - network, auth and HTTP errors all mean "cannot publish now"
        raise PublishError(f"Cannot reach the Hugging Face Hub or the token is not valid ({type(exc).__name__}: "
                           f"{str(exc)[:200]}). Check the network, then `huggingface-cli login` or HF_TOKEN.") from exc
    return str(who.get("name", "")) if isinstance(who, dict) else ""


def publish(namespace: str, root: str | Path | None = None, only: list[str] | None = None, api: Any = None,
            token: str | None = None, private: bool = False, dry_run: str | Path | None = None,
            log: Callable[[str], None] = print) -> list[str]:
    """Create ``<namespace>/nam-studio-<name>`` for each shipped checkpoint and upload its files and card; returns
    the repo ids. ``dry_run=DIR`` writes the folders that would be uploaded into DIR and touches no Hub."""
    models = shipped_models(root, only)
    results = load_results(root)
    if dry_run is None:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        user = _check_online(api, token)
        log(f"Publishing {len(models)} models to {namespace} as {user or 'this token'}.")
    ids = []
    with tempfile.TemporaryDirectory(prefix="nam_publish_") as tmp:
        for m in models:
            rid = repo_id(namespace, m.name)
            stage = Path(dry_run) / m.name if dry_run is not None else Path(tmp) / m.name
            stage.mkdir(parents=True, exist_ok=True)
            for f in UPLOAD_PATTERNS[:-1]:
                if (m.folder / f).exists():
                    shutil.copy2(m.folder / f, stage / f)
            (stage / "README.md").write_text(model_card(m, namespace, results))
            if dry_run is None:
                try:
                    api.create_repo(rid, token=token, private=private, repo_type="model", exist_ok=True)
                    api.upload_folder(repo_id=rid, folder_path=str(stage), repo_type="model", token=token,
                                      commit_message=f"Upload {m.name} (NAM Studio)",
                                      allow_patterns=UPLOAD_PATTERNS)
                except Exception as exc:  # noqa: BLE001 - stop at the first failure, saying which repo
                    raise PublishError(f"{rid}: {type(exc).__name__}: {str(exc)[:300]}") from exc
                log(f"  {rid}")
            ids.append(rid)
    return ids


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--namespace", required=True, help="Hub user or organisation that will own the repos")
    p.add_argument("--checkpoints", default=None, help="checkpoint folder (default: ./checkpoints)")
    p.add_argument("--only", nargs="*", default=None, help="checkpoint names (default: all of manifest.json)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", default=None, metavar="DIR", help="write the repo folders to DIR, upload nothing")
    a = p.parse_args(argv)
    try:
        ids = publish(a.namespace, a.checkpoints, a.only, private=a.private, dry_run=a.dry_run,
                      token=os.environ.get("HF_TOKEN"))
    except PublishError as exc:
        print(f"error: {exc}")
        return 2
    print(f"{len(ids)} repos {'written to ' + str(a.dry_run) if a.dry_run else 'published'}.")
    return 0
