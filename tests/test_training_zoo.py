"""training/zoo.py: the plans are well formed, jobs run in dependency order with shipping and failure handling,
and the packer respects its size limits."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from nam_core.checkpoints import load_checkpoint, read_config, save_checkpoint
from nam_core.methods.mappings import TASKS
from nam_core.nets import build_net
from training import zoo


@pytest.mark.parametrize("plan", sorted(zoo.PLANS))
def test_plans_are_well_formed(plan: str) -> None:
    jobs = zoo.PLANS[plan]()
    names = [j.name for j in jobs]
    assert len(names) == len(set(names))
    ships = [j.ship for j in jobs if j.ship]
    assert len(ships) == len(set(ships))
    for i, j in enumerate(jobs):
        assert (Path(zoo.REPO) / "training" / f"{j.script}.py").exists()
        assert all(d in names[:i] for d in j.after), f"{j.name} depends on a later or unknown job"
        if "--task" in j.args:
            assert j.args[j.args.index("--task") + 1] in TASKS
        if any("{ship}" in a for a in j.args):
            assert j.after, f"{j.name} reads a shipped model but waits for nothing"
    groups: dict[str, int] = {}
    for j in jobs:
        if j.group:
            groups[j.group] = groups.get(j.group, 0) + 1
            assert j.ship and j.ship.startswith(j.group + "@")
    assert all(n >= 2 for n in groups.values())


def test_smoke_makes_every_job_tiny() -> None:
    args = zoo._smoke(["--domain", "street", "--method", "glann", "--epochs", "40", "--imle-epochs", "30",
                       "--limit", "9000", "--loss", "ncc"], True)
    assert args == ["--domain", "street", "--method", "glann", "--loss", "ncc", "--epochs", "1", "--limit", "256",
                    "--imle-epochs", "1"]
    nam = zoo._smoke(["--task", "street2mnist", "--method", "nam", "--n-targets", "2000", "--epochs", "300"], True)
    assert nam == ["--task", "street2mnist", "--method", "nam", "--epochs", "1", "--limit", "256"]
    assert zoo._smoke(["--epochs", "3"], False) == ["--epochs", "3"]


def _gen_job(name: str, after: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> zoo.Job:
    return zoo.Job(name, "train_generator", ["--domain", "mnist", "--method", "glann", "--epochs", "1",
                                             "--imle-epochs", "1", "--limit", "64", "--latent-dim", "8", "--ngf",
                                             "8", *extra], after=after, ship=name)


def test_run_plan_order_shipping_and_failures(tmp_path: Path) -> None:
    jobs = [
        _gen_job("first"),
        _gen_job("second", after=("first",)),
        _gen_job("broken", extra=("--loss", "no-such-loss")),
        _gen_job("orphan", after=("broken",)),
    ]
    ship = tmp_path / "ship"
    zoo.run_plan(jobs, tmp_path / "out", ship, concurrency=2, deadline_min=10, threads=1)
    status = {j.name: j.status for j in jobs}
    assert status == {"first": "done", "second": "done", "broken": "failed", "orphan": "skipped"}
    assert sorted(p.name for p in ship.iterdir()) == ["first", "second"]
    assert read_config(ship / "second")["kind"] == "generator"
    log = (tmp_path / "out" / "logs" / "second.log").read_text()
    assert "--max-minutes" in log and "--finish-early" in log  # every job runs under the plan's deadline


def _tiny_ckpt(path: Path, width: int) -> Path:
    g = build_net("glo_generator", latent_dim=8, out_channels=1, size=32, ngf=width)
    return save_checkpoint(path, {"G": g}, {"kind": "generator", "domain": "mnist"})


def test_pack_bins_half_precision_and_total_cap(tmp_path: Path) -> None:
    ship = tmp_path / "ship"
    sizes = {}
    for name, width in (("a", 16), ("b", 16), ("c", 8), ("d", 32)):
        _tiny_ckpt(ship / name, width)
        sizes[name] = (ship / name / "model.safetensors").stat().st_size
    cap = int(0.55 * (sizes["a"] + sizes["b"] + sizes["c"]))  # in float16 a+b+c fit, d (listed last) does not
    archives = zoo.pack(["a", "b", "c", "d"], ship, tmp_path / "pack", max_bytes=int(0.6 * sizes["a"]),
                        max_total=cap)
    packed = {}
    for arc in archives:
        with tarfile.open(arc) as tar:
            tar.extractall(tmp_path / "unpacked", filter="data")
            top = {m.name.split("/")[0] for m in tar.getmembers()}
        packed[arc.name] = top
    assert set().union(*packed.values()) == {"a", "b", "c"}
    assert all(arc.stat().st_size <= int(0.6 * sizes["a"]) + 20_000 for arc in archives)  # tar headers aside
    ck = load_checkpoint(tmp_path / "unpacked" / "a", device="cpu")  # sha256 matches the float16 file
    assert ck.config["stored_dtype"] == "float16"
    assert json.loads((ship / "a" / "config.json").read_text()).get("stored_dtype") is None  # originals untouched
