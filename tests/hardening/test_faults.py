"""Faults: Redis down or restarted, Label Studio unreachable or failing during a job, bad frames,
a job killed mid-training, a full or read-only disk under MODEL_DIR.

Jobs are the real `retrain_video` (tiny network, 3 frames of 32x64, 2 training steps) run
in-process or in a subprocess against a stub Label Studio over real HTTP; Redis is real.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hardening_support import REPO, Fault, annotate, png, synthetic_frames, tmpfs, unmount
from redis import Redis
from rq import Queue, SimpleWorker

from _wsgi import create_app
from vidseg.atomic import atomic_write_bytes
from vidseg.capacity import CapacityError
from vidseg.jobs.lock import LOCK_SECONDS
from vidseg.jobs.queue import RETRAIN_JOB, enqueue_coalesced, lock_key
from vidseg.labelstudio.client import LabelStudioError
from vidseg.labelstudio.config import LabelConfigError
from vidseg.labelstudio.frames import FrameError
from vidseg.redis_server import free_port, start_private_redis
from vidseg.settings import Settings
from vidseg.store import Store

EVENT = {"action": "ANNOTATION_CREATED", "project": 1, "annotation": {"id": 9},
         "task": {"id": 100, "data": {"video": "clip-1", "frame": 0}}}
PREDICT = {"tasks": [{"id": 100, "project": 1, "data": {"video": "clip-1", "frame": 0}}], "project": 1}


def _status(env) -> dict:
    return Store(Path(env["MODEL_DIR"])).video(1, "clip-1").status()


def _previous_round(model_dir: Path) -> dict:
    """What a finished round 1 left in the store: predictions and an idle status."""
    video = Store(model_dir).video(1, "clip-1")
    predictions = {"round": 1, "model_version": "vidseg",
                   "frames": {"0": {"task_id": 100, "result": [], "score": 0.25, "cluster": 0}}}
    video.write_predictions(predictions)
    video.update_status(state="idle", round=1, last_error=None)
    return predictions


# --- Redis ---------------------------------------------------------------------------------------


def test_redis_down_webhook_503_predict_and_status_keep_serving(tmp_path):
    _previous_round(tmp_path)
    client = create_app(Settings(model_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")).test_client()
    started = time.perf_counter()
    answer = client.post("/webhook", json=EVENT)
    assert answer.status_code == 503 and time.perf_counter() - started < 1.0  # inside Label Studio's 1 s
    assert "Redis at redis://127.0.0.1:1/0 is unreachable" in answer.json["error"] and "retry" in answer.json["error"]
    answer = client.post("/predict", json=PREDICT)
    assert answer.status_code == 200 and answer.json["results"][0]["score"] == 0.25  # from the store
    answer = client.get("/status/1/clip-1")
    assert answer.status_code == 200 and answer.json["videos"][0]["round"] == 1
    assert "Connection refused" in answer.json["videos"][0]["queue"]["error"]
    assert client.get("/health").status_code == 200


def test_web_reconnects_after_a_redis_restart(tmp_path):
    port = free_port()
    server = start_private_redis(tmp_path / "redis", port=port)
    client = create_app(Settings(model_dir=tmp_path / "models", redis_url=server.url)).test_client()
    try:
        assert client.post("/webhook", json=EVENT).status_code == 200
        server.stop()
        down = client.post("/webhook", json=EVENT)
        assert down.status_code == 503 and "unreachable" in down.json["error"]
        assert client.post("/predict", json=PREDICT).status_code == 200
        server = start_private_redis(tmp_path / "redis", port=port)
        again = client.post("/webhook", json=EVENT)  # the very first request after the restart
        assert again.status_code == 200, again.json
        # the pending job survived the restart (append-only file), so the event folds into it
        assert again.json["coalesced"] is True
        assert Queue("vidseg", connection=Redis.from_url(server.url)).count == 1
    finally:
        server.stop()


@pytest.mark.slow
def test_worker_survives_a_redis_restart_and_runs_the_next_job(tmp_path):
    port = free_port()
    server = start_private_redis(tmp_path / "redis", port=port)
    log = tmp_path / "worker.log"
    env = dict(os.environ, REDIS_URL=server.url, QUEUE_NAME="restart", MODEL_DIR=str(tmp_path))
    with log.open("w") as output:
        worker = subprocess.Popen([sys.executable, "-m", "vidseg", "worker"], cwd=REPO, env=env, stdout=output,
                                  stderr=subprocess.STDOUT)
    try:
        queue = Queue("restart", connection=Redis.from_url(server.url))
        before = queue.enqueue("subprocess.check_output", ["echo", "before"])
        _until(lambda: before.get_status(refresh=True) == "finished", 60, "the first job")
        server.stop()
        time.sleep(0.5)
        server = start_private_redis(tmp_path / "redis", port=port)
        after = Queue("restart", connection=Redis.from_url(server.url)).enqueue("subprocess.check_output",
                                                                               ["echo", "after"])
        _until(lambda: after.get_status(refresh=True) == "finished", 60, "a job after the restart")
        assert after.return_value() == b"after\n" and worker.poll() is None
        assert "could not connect to Redis" in log.read_text()
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()


def _until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- Label Studio failing during a job ---------------------------------------------------------------


def test_rate_limits_and_gateway_errors_are_retried_and_the_round_completes(job_env, stub_ls, fast_retries):
    from vidseg.jobs.retrain import retrain_video

    stub_ls.faults += [Fault(r"GET /api/projects/1/", 429, times=2, headers={"Retry-After": "0"}),
                       Fault(r"GET /api/tasks/", 503, times=1), Fault(r"POST /api/predictions/", 502, times=1),
                       Fault(r"POST /api/predictions/", 500, body={"detail": "database is locked"}, times=1)]
    outcome = retrain_video(1, "clip-1", "job-1")
    assert outcome["round"] == 1 and outcome["frames"] == 3
    status = _status(job_env)
    assert status["state"] == "idle" and status["last_error"] is None
    assert stub_ls.count(r"GET /api/projects/1/") == 3 and stub_ls.count(r"GET /api/tasks/") == 2
    assert stub_ls.count(r"POST /api/predictions/") == 5  # 3 frames, two retried
    assert [retry_after for _, retry_after in fast_retries].count("0") == 2


def test_label_studio_500_fails_the_round_with_its_reason_and_rq_retries_the_job(job_env, stub_ls, redis):
    stub_ls.faults.append(Fault(r"GET /api/tasks/", 500, body={"detail": "no such table: task"}))
    queue = Queue(job_env["QUEUE_NAME"], connection=redis)
    enqueued = enqueue_coalesced(redis, queue, RETRAIN_JOB, 1, "clip-1", job_timeout=30, description="test")
    SimpleWorker([queue], connection=redis).work(burst=True)
    status = _status(job_env)
    assert status["state"] == "failed"
    assert status["last_error"].startswith("LabelStudioError: HTTP 500: GET ") and "no such table: task" in \
        status["last_error"]
    assert stub_ls.count(r"GET /api/tasks/") == 1  # a 500 is not retried by the client...
    job = queue.fetch_job(enqueued.job_id)
    assert job.get_status() == "scheduled" and job.retries_left == 1  # ...but RQ runs the job again later
    assert not redis.exists(lock_key(1, "clip-1"))


def test_a_label_config_for_another_granularity_fails_the_round_with_what_to_change(job_env, monkeypatch):
    """Before, the round ran and silently showed annotators no focus region."""
    from vidseg.jobs.retrain import retrain_video

    monkeypatch.setenv("GRANULARITY", "rectangle")
    with pytest.raises(LabelConfigError):
        retrain_video(1, "clip-1", "job-1")
    status = _status(job_env)
    assert status["state"] == "failed"
    assert "GRANULARITY=rectangle needs a <RectangleLabels> focus control" in status["last_error"]


def test_label_studio_unreachable(job_env, monkeypatch, fast_retries):
    from vidseg.jobs.retrain import retrain_video

    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(LabelStudioError):
        retrain_video(1, "clip-1", "job-1")
    status = _status(job_env)
    assert status["state"] == "failed" and "cannot connect to Label Studio" in status["last_error"]
    assert len(fast_retries) == 3  # 4 attempts with backoff before giving up


def test_project_scan_skips_tasks_that_are_no_video_frames(job_env, stub_ls, redis):
    from vidseg.jobs.queue import pending_key
    from vidseg.jobs.scan import scan_project

    stub_ls.tasks.append({"id": 999, "project": 1, "annotations": [], "predictions": [],
                          "data": {"image": "/data/upload/1/holiday-photo.png"}})  # no video id, no frame
    outcome = scan_project(1, None, "scan-1")
    assert outcome == {"videos": 1, "queued": ["clip-1"], "skipped_tasks": 1}
    assert redis.exists(pending_key(1, "clip-1"))


# --- bad frames -----------------------------------------------------------------------------------


def test_truncated_frame_is_a_frame_error_in_the_status_and_is_not_cached(job_env, stub_ls):
    from vidseg.jobs.retrain import retrain_video

    path = stub_ls.tasks[1]["data"]["image"]
    stub_ls.files[path] = stub_ls.files[path][: len(stub_ls.files[path]) // 2]
    with pytest.raises(FrameError):
        retrain_video(1, "clip-1", "job-1")
    status = _status(job_env)
    assert status["state"] == "failed"
    assert status["last_error"] == (f"FrameError: task 101 ({path}): the image could not be decoded "
                                    "(truncated or not an image)")
    cached = list((Path(job_env["MODEL_DIR"]) / "1" / "frames").iterdir())
    assert len(cached) == 1  # frame 0 only: a bad download is never cached


def test_frame_of_another_size_is_a_frame_error_in_the_status(job_env, stub_ls):
    from vidseg.jobs.retrain import retrain_video

    stub_ls.files[stub_ls.tasks[2]["data"]["image"]] = png(synthetic_frames(1, 48, 64)[0])
    with pytest.raises(FrameError):
        retrain_video(1, "clip-1", "job-1")
    error = _status(job_env)["last_error"]
    assert error.startswith("FrameError: task 102") and "64x48 differs from the video's first frame 64x32" in error


# --- a job killed mid-training ------------------------------------------------------------------------


def _checkpoint(path: Path):
    from propagation import NetworkSpec, build_network
    from vidseg.artifacts import save_checkpoint

    spec = NetworkSpec(classes=("Road", "Car"), height=32, width=64)
    save_checkpoint(path, build_network(spec), spec, {"round": 1})
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_sigkill_mid_training_leaves_the_checkpoint_intact_and_the_lock_expiring(job_env, stub_ls, redis):
    from propagation import load_checkpoint
    from vidseg.jobs.retrain import retrain_video

    annotate(stub_ls, 0)
    store = Store(Path(job_env["MODEL_DIR"])).video(1, "clip-1")
    _previous_round(Path(job_env["MODEL_DIR"]))
    digest = _checkpoint(store.checkpoint_path)
    env = {**os.environ, **job_env, "TRAIN_STEPS": "100000", "OMP_NUM_THREADS": "1"}
    log = Path(job_env["MODEL_DIR"]).parent / "job.log"
    with log.open("wb") as output:
        job = subprocess.Popen([sys.executable, "-c", "from vidseg.jobs.retrain import retrain_video; "
                                "retrain_video(1, 'clip-1', 'job-killed')"], cwd=REPO, env=env,
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while (store.status().get("progress") or {}).get("done", 0) < 10:
            assert job.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        job.send_signal(signal.SIGKILL)
        assert job.wait(10) == -signal.SIGKILL
    finally:
        if job.poll() is None:
            job.kill()

    # the previous round is intact: checkpoint byte for byte, predictions; the status says it was training
    assert hashlib.sha256(store.checkpoint_path.read_bytes()).hexdigest() == digest
    load_checkpoint(store.checkpoint_path)
    assert store.predictions()["round"] == 1
    status = store.status()
    assert status["state"] == "training" and status["progress"]["stage"] == "finetune"
    assert not [p.name for p in store.dir.iterdir() if p.name.endswith(".tmp")]
    # the lock of the dead job expires on its own: nobody renews it past LOCK_SECONDS
    ttl = redis.pttl(lock_key(1, "clip-1"))
    assert 0 < ttl <= LOCK_SECONDS * 1000
    # fast-forward to the expiry: the next job, already waiting for the lock, takes it and trains
    redis.pexpire(lock_key(1, "clip-1"), 300)
    outcome = retrain_video(1, "clip-1", "job-next")
    assert outcome["round"] == 2 and outcome["frames_labelled"] == 1
    assert store.status()["state"] == "idle" and load_checkpoint(store.checkpoint_path)[2]["round"] == 2


SAVE_LOOP = """
import sys
from propagation import NetworkSpec, build_network
from vidseg.artifacts import save_checkpoint
spec = NetworkSpec(classes=("Road", "Car"), height=32, width=64)
model = build_network(spec)
for i in range(1000):
    print("saving", i, flush=True)
    save_checkpoint(sys.argv[1], model, spec, {"i": i})
"""


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_never_leaves_a_torn_checkpoint(tmp_path):
    from propagation import load_checkpoint

    path = tmp_path / "checkpoint.pt"
    writer = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(path)], cwd=REPO, stdout=subprocess.PIPE,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        for line in writer.stdout:
            if line.startswith(b"saving 3"):
                time.sleep(0.02)  # inside the fourth save, most likely mid-write
                break
        writer.kill()
        writer.wait(10)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.stdout.close()
    _, _, extra = load_checkpoint(path)
    assert extra["i"] in (2, 3)
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    print(f"temporary files left by the kill: {[p.name for p in leftovers]}")


# --- disk full or read-only under MODEL_DIR -----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    if not tmpfs(mount, "4m"):
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    unmount(mount)


def test_checkpoint_that_does_not_fit_fails_the_round_cleanly(job_env, stub_ls, small_disk, monkeypatch):
    """4 MB under MODEL_DIR: status and frames fit, the ~57 MB checkpoint does not."""
    from vidseg.jobs.retrain import retrain_video

    monkeypatch.setenv("MODEL_DIR", str(small_disk))
    annotate(stub_ls, 0)
    previous = _previous_round(small_disk)
    with pytest.raises((OSError, RuntimeError)):  # torch.save turns the OSError into a RuntimeError
        retrain_video(1, "clip-1", "job-1")
    store = Store(small_disk).video(1, "clip-1")
    status = store.status()
    assert status["state"] == "failed" and "No space left on device" in status["last_error"], status["last_error"]
    assert status["round"] == 1 and store.predictions() == previous
    assert not [p for p in small_disk.rglob("*.tmp")] and not store.checkpoint_path.exists()


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_job_on_a_full_or_read_only_disk_fails_and_the_previous_round_stays(job_env, stub_ls, small_disk, monkeypatch,
                                                                            redis, fault):
    from vidseg.jobs.retrain import retrain_video

    monkeypatch.setenv("MODEL_DIR", str(small_disk))
    previous = _previous_round(small_disk)
    store = Store(small_disk).video(1, "clip-1")
    before = store.status_path.read_bytes()
    filler = small_disk / "filler"
    if fault == "full":
        with pytest.raises(OSError), filler.open("wb") as file:
            while True:
                file.write(b"\0" * 65536)
                file.flush()
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, timeout=10)
    # A full disk is refused before the round starts, saying what it needs; a read-only one fails on the first write.
    with pytest.raises((OSError, CapacityError), match="No space left|Read-only file system|GB is free"):
        retrain_video(1, "clip-1", "job-1")
    with pytest.raises(OSError):
        atomic_write_bytes(store.status_path, b"{}")
    assert store.status_path.read_bytes() == before and store.predictions() == previous
    assert not [p for p in small_disk.rglob("*.tmp")]
    assert not redis.exists(lock_key(1, "clip-1"))  # released: the next job is not blocked
    client = create_app(Settings(model_dir=small_disk, redis_url=job_env["REDIS_URL"])).test_client()
    assert client.post("/predict", json=PREDICT).json["results"][0]["score"] == 0.25
    assert client.get("/status/1/clip-1").json["videos"][0]["state"] == "idle"
    # space back: the next round runs
    if fault == "full":
        filler.unlink()
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True, timeout=10)
    assert retrain_video(1, "clip-1", "job-2")["round"] == 2
    assert json.loads(store.status_path.read_text())["state"] == "idle"


def test_frames_decode_the_same_after_a_cache_round_trip(tmp_path):
    from vidseg.labelstudio.frames import load_frames

    frames = synthetic_frames()
    tasks = [{"id": i, "data": {"image": f"/f/{i}.png"}} for i in range(len(frames))]
    first = load_frames(lambda url: png(frames[int(url[3])]), tasks, "image", tmp_path)
    again = load_frames(lambda url: pytest.fail("downloaded again"), tasks, "image", tmp_path)
    np.testing.assert_array_equal(first, frames)
    np.testing.assert_array_equal(again, frames)
