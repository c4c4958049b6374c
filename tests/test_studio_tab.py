"""The app's Studio tab through gradio_client (two tiny zips written here: train with the smoke preset, stop,
resume, map with the result, download, isolation from another browser), a worker killed like an out-of-memory kill,
the job manager's queue and clean-up, the Hub publish path against a fake, and one Chromium run."""

from __future__ import annotations

import json
import os
import signal
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.helpers import FakeHub, build_tiny_checkpoints, digit_images, serve_demo

pytestmark = pytest.mark.slow
UPLOAD = "(my zip)"


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def zip_folder(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"{folder.name}/{p.name}")
    return out


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("studio_zips")
    digit_images(root / "digits", colour=False, seed=0)
    digit_images(root / "plates", colour=True, seed=1)
    few = root / "few"
    few.mkdir()
    for i in range(5):
        Image.new("L", (32, 32), i * 40).save(few / f"{i}.png")
    (root / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    return {"a": zip_folder(root / "digits", root / "digits.zip"),
            "b": zip_folder(root / "plates", root / "plates.zip"),
            "few": zip_folder(few, root / "few.zip"), "broken": root / "broken.zip"}


@pytest.fixture(scope="module")
def studio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The app over the tiny fixture models, its Studio jobs in a folder of this module's."""
    from nam_core.methods.mappings import TASKS

    tasks = dict(TASKS)
    mp = pytest.MonkeyPatch()
    mp.setenv("NAM_STUDIO_DIR", str(tmp_path_factory.mktemp("studio_jobs")))
    mp.setenv("NAM_STUDIO_THREADS", "1")
    mp.setenv("NAM_STUDIO_MAX_MINUTES", "10")
    try:
        with serve_demo(build_tiny_checkpoints(request.config.cache.mkdir("nam_app_checkpoints"))) as (url, demo):
            try:
                yield url, demo
            finally:
                demo.studio_jobs.close()
    finally:
        mp.undo()
        TASKS.clear()
        TASKS.update(tasks)


def client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=True)


def train(c: Any, zips: dict[str, Path], name: str = "", owner: str | None = None) -> tuple[str, str, str]:
    """Submit through /studio_train: (owner token, job id, status markdown)."""
    from gradio_client import handle_file

    out = c.predict(owner, handle_file(str(zips["a"])), UPLOAD, handle_file(str(zips["b"])), UPLOAD, name, "32",
                    "smoke", ["vae-nam"], 5, api_name="/studio_train")
    return out[0], out[1]["value"], out[2]


def status_md(c: Any, owner: str, job: str) -> str:
    return c.predict(owner, job, api_name="/studio_status")[2]


def one_png(path: Path) -> Path:
    im = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(im).line([(16, 6), (16, 26)], fill=255, width=3)
    im.save(path)
    return path


def test_train_stop_resume_map_download(studio: tuple[str, Any], zips: dict[str, Path], tmp_path: Path) -> None:
    from gradio_client import handle_file

    from nam_core.serving import app_logic as L

    url, demo = studio
    mgr = demo.studio_jobs
    c = client(url)
    owner, job_id, md = train(c, zips, name="digits2plates")
    assert "digits.zip → plates.zip" in md and ("Queued" in md or "Training" in md)
    job = mgr.jobs[job_id]
    # stop once the first epoch is saved: its progress must survive
    wait_for(lambda: mgr.status(owner, job_id).get("epoch", 0) >= 1, 120, "the first epoch")
    c.predict(owner, job_id, api_name="/studio_stop")
    md = wait_for(lambda: (m := status_md(c, owner, job_id)) and "Stopped" in m and m, 60, "the stop")
    assert "progress is kept" in md and "Resume" in md
    assert (job.out / "runs/generator/glann/last/config.json").exists()
    c.predict(owner, job_id, 5, api_name="/studio_resume")
    md = wait_for(lambda: (m := status_md(c, owner, job_id)) and ("Done" in m or "Failed" in m) and m, 180,
                  "the resumed job to end")
    assert "Done" in md, md
    assert job.runs == 2
    log = (job.folder / "worker.log").read_text()
    assert "resumed from" in log or "done before, kept" in log  # the second run went on from the first
    from nam_core.checkpoints import read_training_info

    gen = read_training_info(job.out / f"gen_{job.spec.name}_glann")
    assert [h["epoch"] for h in gen["history"]] == list(range(1, gen["epochs_done"] + 1))
    st = mgr.status(owner, job_id)
    assert st["history"] and st["peak_rss_mb"] > 0 and st["stage"].startswith("mapping")

    # the finished task: in this browser's task list, served by /map, never listed for anyone else
    task = job.tasks[0]
    assert task.startswith("digits2plates-") and task not in [v for _, v in L.TASK_CHOICES]
    out = client(url).predict(owner, job_id, api_name="/studio_status")  # a reload: a new session, same browser
    assert task in json.dumps(out[-1])  # the Translate tab's Task dropdown gets it
    res = c.predict(task, "vae-nam", "glann", None, handle_file(str(one_png(tmp_path / "one.png"))), 3, 1, "input",
                    api_name="/map")
    assert len(res[0]) == 3 and "ms" in res[2]
    assert task not in demo.registry.matrix_markdown() and "plates" not in " ".join(demo.registry.generator_domains())

    z = Path(c.predict(owner, job_id, api_name="/studio_download"))
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
    assert f"{job.spec.name}/{task}_vae-nam_glann/config.json" in names
    assert f"{job.spec.name}/gen_{task}_glann/model.safetensors" in names
    assert not any("/runs/" in n for n in names)

    # another browser sees none of it
    other = client(url)
    md_other = other.predict(None, job_id, api_name="/studio_status")[2]
    assert "No job yet" in md_other and job.spec.name not in md_other
    with pytest.raises(Exception, match="No such job"):
        other.predict("x" * 32, job_id, api_name="/studio_download")
    # offline, publishing fails at once with a message of ours
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        t0 = time.time()
        with pytest.raises(Exception, match="HF_HUB_OFFLINE"):
            c.predict(owner, job_id, "hf_fake", "", False, api_name="/studio_publish")
        assert time.time() - t0 < 10


def test_publish_to_a_fake_hub(studio: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    from nam_core.serving.studio_tab import publish_job

    _, demo = studio
    done = [j for j in demo.studio_jobs.jobs.values() if j.state == "done"]
    if not done:
        pytest.skip("needs the trained job of test_train_stop_resume_map_download")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub = FakeHub(tmp_path)
    rid = publish_job(done[0], "hf_token", "", api=hub)
    assert rid == f"tester/nam-studio-{done[0].spec.name}" and hub.created[0][0] == rid
    assert "your data, your licence" in hub.uploaded[rid]["README.md"].lower()


def test_bad_uploads_are_refused_clearly(studio: tuple[str, Any], zips: dict[str, Path]) -> None:
    from gradio_client import handle_file

    url, demo = studio
    c = client(url)
    before = sorted(p.name for p in demo.studio_jobs.root.iterdir() if p.is_dir())
    for bad, msg in (("few", "at least 100"), ("broken", "not a readable .zip")):
        with pytest.raises(Exception, match=msg):
            c.predict(None, handle_file(str(zips[bad])), UPLOAD, handle_file(str(zips["b"])), UPLOAD, "", "32",
                      "smoke", ["vae-nam"], 5, api_name="/studio_train")
    with pytest.raises(Exception, match="time budget|greater than maximum"):  # the slider's bound, or ours
        c.predict(None, handle_file(str(zips["a"])), UPLOAD, None, "mnist", "", "32", "smoke", ["vae-nam"], 600,
                  api_name="/studio_train")
    assert sorted(p.name for p in demo.studio_jobs.root.iterdir() if p.is_dir()) == before  # nothing left behind


def test_a_killed_worker_fails_the_job_not_the_app(studio: tuple[str, Any], zips: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """SIGKILL is what the kernel's out-of-memory killer sends: the job is failed with a message, the app serves."""
    from gradio_client import handle_file

    url, demo = studio
    mgr = demo.studio_jobs
    c = client(url)
    owner, job_id, _ = train(c, zips, name="crash")
    wait_for(lambda: job_id in mgr.procs and mgr.status(owner, job_id).get("stages"), 120, "the worker to start")
    os.kill(mgr.procs[job_id].pid, signal.SIGKILL)
    md = wait_for(lambda: (m := status_md(c, owner, job_id)) and "Failed" in m and m, 30, "the failure")
    assert "ended unexpectedly" in md and "out of memory" in md and "Resume" in md
    res = c.predict("mnist2street", "vae-nam", "glann", None, handle_file(str(one_png(tmp_path / "x.png"))), 2, 0,
                    "input", api_name="/map")
    assert len(res[0]) >= 1


def test_queue_failure_message_and_cleanup(tmp_path: Path) -> None:
    """One job at a time (the second waits at position 1); a job whose data is missing fails with the loader's
    message (no server path); jobs not looked at for the TTL, and stray folders, are deleted."""
    from nam_core.serving.jobs import JobManager, JobSpec, new_owner

    deleted = []
    mgr = JobManager(tmp_path / "jobs", ttl_s=60, threads=1, on_delete=lambda j: deleted.append(j.id))
    try:
        o1, o2 = new_owner(), new_owner()
        j1 = mgr.submit(o1, JobSpec(str(tmp_path / "nowhere"), "street", "x-1", preset="smoke", max_minutes=1))
        j2 = mgr.submit(o2, JobSpec(str(tmp_path / "nowhere2"), "street", "x-2", preset="smoke", max_minutes=1))
        assert j1.state == "running" and mgr.status(o2, j2.id)["position"] == 1
        with pytest.raises(ValueError, match="No such job"):
            mgr.status(o2, j1.id)  # not another owner's
        wait_for(lambda: j1.state == "failed" and j2.state == "failed", 120, "both jobs to fail")
        assert "no such folder or zip: nowhere; check the path" in j1.message, j1.message
        assert str(tmp_path) not in j1.message
        stray = mgr.root / "0123456789ab"
        stray.mkdir()
        os.utime(stray, (time.time() - 7200, time.time() - 7200))
        mgr.status(o2, j2.id)  # seen now
        gone = mgr.cleanup(now=time.time() + 61)
        assert set(gone) >= {j1.id, j2.id, stray.name} and set(deleted) == {j1.id, j2.id}
        assert not j1.folder.exists() and not stray.exists()
    finally:
        mgr.close()


@pytest.mark.browser
def test_browser_trains_and_maps_a_drawing(studio: tuple[str, Any], zips: dict[str, Path],
                                           browser_page: Callable) -> None:
    url, _ = studio
    with browser_page(url) as page:
        page.get_by_role("tab", name="Studio").click()
        page.locator("#studio_a input[type=file]").set_input_files(str(zips["a"]))
        page.locator("#studio_b input[type=file]").set_input_files(str(zips["b"]))
        page.wait_for_function("document.querySelector('#studio_b').innerText.includes('plates.zip')",
                               timeout=30_000)
        page.locator("#studio_name input, #studio_name textarea").first.fill("browser")
        page.locator("#studio_preset").get_by_text("smoke", exact=True).click()
        page.locator("#studio_train").click()
        page.wait_for_function("document.querySelector('#studio_status').innerText.includes('Done')",
                               timeout=180_000)
        page.locator("#studio_use").click()  # selects the task, VAE-NAM and GLANN in the Translate tab
        page.wait_for_function("document.querySelector('#task input').value.includes('browser-')", timeout=30_000)
        page.get_by_text("Ready: VAE-NAM").wait_for(timeout=30_000)
        box = page.locator("#sketch canvas").first.bounding_box()
        assert box is not None
        x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
        page.mouse.move(x0 + w * 0.5, y0 + h * 0.2)
        page.mouse.down()
        page.mouse.move(x0 + w * 0.5, y0 + h * 0.8, steps=4)
        page.mouse.up()
        page.locator("#map").click()  # the live preview of the stroke may fill the gallery first: wait for Map's
        page.wait_for_function("(document.querySelector('#latency')?.innerText || '').includes('Server time — Map')",
                               timeout=60_000)
        assert page.locator("#gallery img").count() >= 1
