"""Issue 16: the app's handlers under Hugging Face's real ``spaces`` package in ZeroGPU mode. The scheduler is
faked (it is a network service); what is real is spaces' decorator: that it wraps our generator and plain
handlers, keeps the signatures Gradio reads (``request``, ``progress``), and calls our duration functions with the
call's own arguments."""

from __future__ import annotations

import inspect
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from nam_core.serving import app_logic as L


class _Scheduled(Exception):
    """Raised by the fake scheduler: the handler got as far as asking ZeroGPU for a GPU."""


@pytest.fixture
def zerogpu(monkeypatch: pytest.MonkeyPatch) -> list[timedelta | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Error while reading infos from Nvidia driver FS": no GPU here
        spaces = pytest.importorskip("spaces")
        from spaces.config import Config
        from spaces.zero import client
    asked: list[timedelta | None] = []

    def schedule(task_id: int, request: Any = None, duration: timedelta | None = None, gpu_size: Any = None) -> Any:
        asked.append(duration)
        raise _Scheduled

    monkeypatch.setattr(Config, "zero_gpu", True)
    monkeypatch.setattr(client, "schedule", schedule)
    assert spaces.GPU(duration=5)(len) is not len  # ZeroGPU mode is on: spaces wraps what it decorates
    return asked


def _fn(demo: Any, api_name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if f.api_name == api_name)


def test_handlers_ask_zerogpu_for_their_own_budget(zerogpu, request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    import app
    from tests.helpers import build_tiny_checkpoints, sketch_payload

    root = build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))
    demo = app.build_demo(root)
    map_nam, map_one, invert = _fn(demo, "map_nam"), _fn(demo, "map"), _fn(demo, "glann_invert")
    assert "request" in inspect.signature(map_nam).parameters  # Gradio still injects gr.Request through spaces
    assert "progress" in inspect.signature(invert).parameters
    assert inspect.isgeneratorfunction(inspect.unwrap(map_nam))

    sketch = sketch_payload(tmp_path)
    with pytest.raises(_Scheduled):
        list(map_nam("street2mnist", "nam", "glann", "draw", sketch, None, 3, 0, "input", request=None))
    with pytest.raises(_Scheduled):
        map_one("street2mnist", "vae-nam", "glann", "draw", sketch, None, 3, 0, "input", request=None)
    with pytest.raises(_Scheduled):
        invert("mnist", None, 400)
    steps = int(getattr(demo.registry.get("street2mnist", "nam", "glann"), "nam_steps"))  # type: ignore[attr-defined]
    assert zerogpu == [timedelta(seconds=L.gpu_seconds(steps)), timedelta(seconds=L.GPU_BASE_S),
                       timedelta(seconds=L.gpu_seconds(400))]
