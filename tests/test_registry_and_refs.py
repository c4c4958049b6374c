"""Where a mapping's generator may come from (never a path its config makes up), and the app's model registry:
any load failure is remembered (not retried per request), and a slow cold load (an unanswering Hub) never holds
up a warm request for another model, nor loads one model twice."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import nam_core.checkpoints as ckmod
import nam_core.serving.app_logic as L
from nam_core.checkpoints import CheckpointError
from nam_core.methods.mappings import resolve_generator_ref
from nam_core.serving.translator import Translator


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"format": ckmod.FORMAT}))
    return path


# ------------------------------------------------------------------ a mapping's generator reference
@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """root/{mapping, gen_ok}, a checkpoints dir with gen_shipped, and a generator elsewhere on disk."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", tmp_path / "shipped")
    monkeypatch.chdir(tmp_path)
    return {"mapping": _folder(tmp_path / "root" / "mapping"), "gen_ok": _folder(tmp_path / "root" / "gen_ok"),
            "shipped": _folder(tmp_path / "shipped" / "gen_shipped"),
            "evil": _folder(tmp_path / "elsewhere" / "evil_gen")}


def test_a_config_names_its_generator_only_by_a_name_beside_it_or_shipped(layout: dict[str, Path]) -> None:
    m = layout["mapping"]
    assert resolve_generator_ref("gen_ok", m) == layout["gen_ok"]
    assert resolve_generator_ref("/old/machine/runs/gen_ok", m) == layout["gen_ok"]  # stale path: the sibling
    assert resolve_generator_ref("gen_shipped", m) == layout["shipped"]
    evil = str(layout["evil"])
    for ref in (evil, "../../elsewhere/evil_gen", "../elsewhere/evil_gen", "elsewhere/evil_gen"):
        with pytest.raises(CheckpointError, match="evil_gen"):  # exists on disk, yet never followed
            resolve_generator_ref(ref, m)
    for ref in ("..", "gen_ok/..", "", ".", "a/b/../.."):
        with pytest.raises(CheckpointError):
            resolve_generator_ref(ref, m)
    with pytest.raises(CheckpointError):
        resolve_generator_ref("mapping", m)  # not itself
    # a generator the caller passes may be anywhere
    assert resolve_generator_ref(layout["evil"], m, from_config=False) == layout["evil"]


def test_translator_does_not_load_a_generator_outside_the_root(layout: dict[str, Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    class FakeMapping:
        config = {"kind": "mapping", "method": "vae-nam", "generator": str(layout["evil"])}
        path = layout["mapping"]

    monkeypatch.setattr("nam_core.serving.translator.load_checkpoint", lambda *a, **k: FakeMapping())
    monkeypatch.setattr("nam_core.serving.translator.load_generator", lambda p, **k: seen.append(p))
    with pytest.raises(CheckpointError, match="not found as a checkpoint named 'evil_gen'"):
        Translator.from_checkpoint(layout["mapping"], device="cpu")
    assert seen == []


# ------------------------------------------------------------------ the registry
def test_any_load_failure_is_recorded_and_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path / "street2mnist_vae-nam_glann")
    calls: list[Path] = []

    def broken(path: Path, **kw: object) -> None:
        calls.append(path)
        raise RuntimeError("CUDA out of memory")  # not a CheckpointError/OSError/ValueError/KeyError

    monkeypatch.setattr(Translator, "from_checkpoint", staticmethod(broken))
    reg = L.ModelRegistry(tmp_path, device="cpu")
    for _ in range(3):
        with pytest.raises(L.AppError, match="CUDA out of memory"):
            reg.get("street2mnist", "vae-nam", "glann")
    assert len(calls) == 1
    st = reg.status("street2mnist", "vae-nam", "glann")
    assert st.where == "failed" and "CUDA out of memory" in st.message


def test_one_key_loads_once_while_others_are_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path / "street2mnist_vae-nam_glann")
    release, calls = threading.Event(), []

    def slow(path: Path, **kw: object) -> object:
        calls.append(path)
        release.wait(10)
        return object()

    monkeypatch.setattr(Translator, "from_checkpoint", staticmethod(slow))
    reg = L.ModelRegistry(tmp_path, device="cpu")
    warm = object()
    reg._translators[("street2mnist", "ae-nam", "glann")] = warm
    reg.locks[("street2mnist", "ae-nam", "glann")] = threading.Lock()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(reg.get("street2mnist", "vae-nam", "glann")))
               for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    t0 = time.time()
    assert reg.get("street2mnist", "ae-nam", "glann") is warm and time.time() - t0 < 0.1
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(got) == 3 and got[0] is got[1] is got[2]
    assert reg.lock("street2mnist", "vae-nam", "glann") is reg.lock("street2mnist", "vae-nam", "glann")


def test_an_unanswering_hub_stalls_only_its_own_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the registry held its lock through the Hub lookup (~24 s with the network down), so a warm request
    for another model waited as long (23.7 s measured). Now the cold request fails within seconds, alone."""
    import socket

    hf_constants = pytest.importorskip("huggingface_hub.constants")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # accepts (the kernel does) and never answers
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("NAM_APP_HUB", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("NAM_HUB_TIMEOUT", "2")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(ckmod, "CHECKPOINTS_DIR", tmp_path / "none_shipped")
    ckmod.forget_hub_failures()
    try:
        reg = L.ModelRegistry(tmp_path / "root", device="cpu")
        cold, warm = ("street2mnist", "nam", "glann"), ("street2mnist", "vae-nam", "glann")
        assert reg.status(*cold).where == "hub"
        reg._translators[warm] = marker = object()
        reg.locks[warm] = threading.Lock()
        errors: list[Exception] = []
        t0 = time.time()

        def cold_get() -> None:
            try:
                reg.get(*cold)
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=cold_get)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # stuck on the Hub
        t1 = time.time()
        assert reg.get(*warm) is marker
        assert time.time() - t1 < 0.2, "a warm request waited for a cold one"
        thread.join(15)
        cold_seconds = time.time() - t0
        assert not thread.is_alive() and cold_seconds < 10, cold_seconds
        assert len(errors) == 1 and isinstance(errors[0], L.AppError)
        assert "did not answer within 2 s" in str(errors[0]), errors[0]
        t2 = time.time()
        with pytest.raises(L.AppError):
            reg.get(*cold)
        assert time.time() - t2 < 0.1  # remembered: no second lookup
        assert reg.status(*cold).where == "failed"
    finally:
        ckmod.forget_hub_failures()
        server.close()
