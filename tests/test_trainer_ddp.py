"""The trainer under ``torch.distributed.run`` with 2 CPU processes (gloo): GLO codes sharded by rank and merged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nam_core.checkpoints import load_checkpoint

N_IMAGES = 64

SCRIPT = textwrap.dedent(
    """
    import sys

    import numpy as np
    import torch
    import torch.distributed as dist

    from nam_core.methods.glo import GLO
    from nam_core.methods.trainer import TrainConfig, Trainer, init_distributed

    out = sys.argv[1]
    torch.set_num_threads(1)
    device = torch.device("cpu")
    assert init_distributed(device), "not launched as 2 distributed processes"
    rank = dist.get_rank()
    images = np.random.default_rng(0).integers(0, 256, ({n}, 32, 32, 1), dtype=np.uint8)
    m = GLO({n}, 1, 32, latent_dim=8, ngf=8, seed=0, device=device)
    init = m.codes.weight.detach().clone().numpy()
    trainer = Trainer(m, images, TrainConfig(out_dir=out, epochs=2, batch_size=8, progress=False), device=device)
    assert trainer.world == 2 and trainer.rank == rank
    trainer.fit()
    state = {{"G." + k: v.detach().cpu().numpy() for k, v in m.G.state_dict().items()}}
    np.savez(f"{{out}}/rank{{rank}}.npz", init=init, codes=m.codes.weight.detach().numpy(), **state)
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {{rank}} done")
    """
).format(n=N_IMAGES)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the 2-process training once for the whole module; returns its out_dir."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this build")
    tmp = tmp_path_factory.mktemp("ddp")
    script, out = tmp / "train_ddp.py", tmp / "out"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
               NAM_DEVICE="cpu", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(out)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"DDP training did not finish in 120 s:\n{exc.stdout}\n{exc.stderr}")
    assert proc.returncode == 0, f"torch.distributed.run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "rank 0 done" in proc.stdout and "rank 1 done" in proc.stdout
    return out


def _rank(out: Path, r: int) -> dict[str, np.ndarray]:
    with np.load(out / f"rank{r}.npz") as f:
        return {k: f[k] for k in f.files}


def test_ddp_finishes_and_rank0_checkpoints(ddp_run: Path) -> None:
    ck = load_checkpoint(ddp_run / "last", device="cpu")
    assert ck.info["epochs_done"] == 2 and ck.config["method"] == "glo"
    assert ck.tensors["codes"].shape == (N_IMAGES, 8)
    assert (ddp_run / "samples.png").exists()


def test_ddp_codes_merged_from_both_shards(ddp_run: Path) -> None:
    codes = load_checkpoint(ddp_run / "last", device="cpu").tensors["codes"].numpy()
    r0, r1 = _rank(ddp_run, 0), _rank(ddp_run, 1)
    init = r0["init"]
    np.testing.assert_array_equal(r1["init"], init)  # same seed: same initial codes on both ranks
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, atol=1e-5)
    moved = np.abs(codes - init).max(axis=1) > 1e-4
    assert moved[0::2].all(), "codes of rank 0's images (0::2) did not train"
    assert moved[1::2].all(), "codes of rank 1's images (1::2) did not train"
    # after the merge every rank holds the same, complete code table
    np.testing.assert_allclose(r0["codes"], codes, atol=1e-6)
    np.testing.assert_allclose(r1["codes"], codes, atol=1e-6)


def test_ddp_generator_identical_on_all_ranks(ddp_run: Path) -> None:
    """Data-parallel training must keep one generator: gradients are averaged, so weights agree across ranks."""
    r0, r1 = _rank(ddp_run, 0), _rank(ddp_run, 1)
    keys = [k for k in r0 if k.startswith("G.") and "num_batches_tracked" not in k]
    assert keys
    differing = [k for k in keys if not np.allclose(r0[k], r1[k], atol=1e-5)]
    assert not differing, f"generator weights differ between ranks (no gradient averaging): {differing[:4]}"
