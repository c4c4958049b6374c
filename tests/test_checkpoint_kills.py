"""A real training process killed (SIGKILL) again and again while it saves checkpoints: ``last`` always loads, holds
one consistent version (weights, optimiser state, counters and per-image tensors of the same epoch), and the next run
resumes from it and finishes; when the newest version is unreadable, resume falls back to the previous one.

Two kinds of kills: the process killing itself at each point of a save (``$NAM_CHECKPOINT_CRASH``: weights written
but not the config; version complete but not switched; switched but old versions not removed), and kills from
outside at random moments while it saves every epoch (saves are most of its time: ~20 MB, fsynced). The killed
runs are forked from one warm interpreter (torch imported once, so a dozen runs fit in seconds); the last run is a
fresh ``python`` process that resumes and finishes."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

import nam_core.checkpoints as ckmod
from nam_core.checkpoints import CRASH_ENV, checkpoint_versions, current_dir, load_checkpoint, versions_dir
from nam_core.paths import REPO_ROOT

TRAIN = r'''
import os
import sys
import torch
from nam_core.methods.trainer import TrainConfig, Trainer
from nam_core.nets import build_net


class Tiny:
    """An MLP fitted to a fixed map; ``counts`` (a per-image tensor) counts the visits of every image, so a
    consistent checkpoint of epoch k has counts == k everywhere; ``ballast`` makes every save ~20 MB."""

    def __init__(self, n):
        torch.manual_seed(0)
        self.T = build_net("imle", noise_dim=8, latent_dim=8, hidden=256, depth=3)
        self.networks = {"T": self.T}
        self.opt = torch.optim.Adam(self.T.parameters(), lr=1e-4)
        self.optimizers = {"T": self.opt}
        self.counts = torch.zeros(n)
        self.ballast = torch.zeros(5_000_000)

    def train_step(self, index, images):
        x = images.flatten(1)[:, :8]
        loss = (self.T(x) - x.flip(1)).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.counts[index] += 1
        return {"loss": loss.item()}

    def on_epoch_end(self, epoch):
        pass

    def config(self):
        return {"kind": "test", "method": "tiny"}

    def tensors(self):
        return {"counts": self.counts, "ballast": self.ballast}

    def load_tensors(self, t):
        self.counts, self.ballast = t["counts"].clone(), t["ballast"].clone()

    def samples(self):
        return torch.zeros(2, 1, 4, 4)


def train(out, epochs):
    torch.set_num_threads(1)
    images = torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    cfg = TrainConfig(out_dir=out, epochs=epochs, batch_size=8, sample_every=10**9, amp=False)
    Trainer(Tiny(len(images)), images, cfg, device="cpu").fit()
    print("finished", file=sys.stderr, flush=True)


if __name__ == "__main__" and sys.argv[1] != "--zygote":
    train(sys.argv[1], int(sys.argv[2]))
elif __name__ == "__main__":  # fork one training run per line "out<TAB>epochs<TAB>crash<TAB>log" of stdin
    import traceback

    import matplotlib.pyplot  # noqa: F401  (what the runs would import: imported once, here)
    import torch._dynamo  # noqa: F401
    import tqdm.auto  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        out, epochs, crash, log = line.rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.environ.pop("NAM_CHECKPOINT_CRASH", None)
                if crash:
                    os.environ["NAM_CHECKPOINT_CRASH"] = crash
                train(out, int(epochs))
                code = 0
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stderr.flush()
            os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
'''
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ loss=", re.M)
TIMEOUT = 60


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env.update({"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "NAM_DEVICE": "cpu", "MPLBACKEND": "Agg"})
    return env


class Zygote:
    """One warm interpreter that forks a training run per request and reports its pid and exit code."""

    def __init__(self, script: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), "--zygote"], env=_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(x.strip()) for x in self.proc.stdout], daemon=True).start()
        assert self._line() == "ready"

    def _line(self) -> str:
        return self.lines.get(timeout=TIMEOUT)

    def start(self, out: Path, epochs: int, log: Path, crash: str = "") -> int:
        self.proc.stdin.write(f"{out}\t{epochs}\t{crash}\t{log}\n")
        self.proc.stdin.flush()
        line = self._line()
        assert line.startswith("pid "), line
        return int(line.split()[1])

    def wait(self) -> int:
        line = self._line()
        assert line.startswith("exit "), line
        return int(line.split()[1])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=TIMEOUT)


def _check_last(out: Path) -> int:
    """``last`` loads (sha256 verified) and is one consistent version; returns its epoch."""
    ck = load_checkpoint(out / "last", device="cpu", with_state=True)
    epoch = ck.info["epochs_done"]
    assert ck.state["epoch"] == epoch
    assert torch.equal(ck.tensors["counts"], torch.full((32,), float(epoch))), "tensors of another epoch"
    return epoch


def _wait_for_training(log: Path) -> None:
    deadline = time.time() + TIMEOUT
    while not EPOCH_LINE.search(log.read_text() if log.exists() else "") and time.time() < deadline:
        time.sleep(0.005)


def test_kills_during_saves_never_break_resume(tmp_path: Path) -> None:
    t_start = time.time()
    script = tmp_path / "tiny_train.py"
    script.write_text(TRAIN)
    out, log = tmp_path / "run", tmp_path / "log.txt"
    zygote = Zygote(script)
    times = {"warm interpreter": time.time() - t_start}
    epoch = 0
    try:
        # 1. the run kills itself at each point of its n-th save: that save is lost, every earlier one is intact
        for point, nth in (("weights", 3), ("version", 2), ("switch", 2), ("weights", 1), ("version", 1)):
            zygote.start(out, epoch + 6, log, crash=f"{point}:{nth}")
            assert zygote.wait() == -signal.SIGKILL, (point, log.read_text()[-2000:])
            got = _check_last(out)
            assert got == epoch + nth - (point != "switch"), (point, nth, epoch, got)
            if epoch:
                assert f"at epoch {epoch}" in log.read_text()  # it had resumed from the previous run's last save
            epoch = got

        times["self-kills"] = time.time() - t_start - sum(times.values())
        # 2. killed from outside at random moments, while it saves every epoch
        rng = random.Random(0)
        inside = 0
        for i in range(8):
            log = tmp_path / f"log{i}.txt"  # a new file: the wait below must see this run's lines
            pid = zygote.start(out, 10**6, log)
            _wait_for_training(log)
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(pid, signal.SIGKILL)
            assert zygote.wait() == -signal.SIGKILL
            assert f"at epoch {epoch}" in log.read_text(), log.read_text()[-2000:]
            inside += bool(list(versions_dir(out / "last").glob(".tmp-*")))  # killed while writing a version
            got = _check_last(out)
            assert got >= epoch
            epoch = got
        assert inside >= 1, "no kill landed inside a save"
        times["outside kills"] = time.time() - t_start - sum(times.values())
    finally:
        zygote.close()

    # 3. the newest version is unreadable (truncated weights): a fresh process falls back to the previous version,
    #    says so, and finishes; the unreadable version is removed by its next save
    newest = current_dir(out / "last")
    previous = ckmod.checkpoint_candidates(out / "last")[1]  # the newest version before the current one
    assert int(previous.name) < int(newest.name)
    prev_epoch = load_checkpoint(previous, device="cpu").info["epochs_done"]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    r = subprocess.run([sys.executable, str(script), str(out), str(epoch + 2)], env=_env(), capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "previous good checkpoint" in r.stderr and f"at epoch {prev_epoch}" in r.stderr, r.stderr[-3000:]
    assert "finished" in r.stderr
    assert _check_last(out) == epoch + 2
    assert not newest.exists()
    # after a save that was not killed: the current version and the previous one, nothing half-written
    assert len(checkpoint_versions(out / "last")) == 2
    assert not list(versions_dir(out / "last").glob(".tmp-*")) and not list(out.glob(".last.link-*"))
    times["fallback run"] = time.time() - t_start - sum(times.values())
    print(f"{inside}/8 outside kills landed inside a save; " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
