"""Graceful shutdown: the RQ worker finishes its running job on SIGTERM; gunicorn drains and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from hardening_support import REPO
from redis import Redis
from rq import Queue

from vidseg.redis_server import free_port

JOB = (["sh", "-c", "sleep 3; echo finished"],)  # subprocess.check_output(*JOB): a 3 s job with a result


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_worker_finishes_the_running_job_on_sigterm_and_exits_0(redis_url, redis, tmp_path):
    queue = Queue("shutdown", connection=redis)
    running = queue.enqueue("subprocess.check_output", *JOB, job_timeout=60)
    waiting = queue.enqueue("subprocess.check_output", *JOB, job_timeout=60)
    log = tmp_path / "worker.log"
    env = dict(os.environ, REDIS_URL=redis_url, QUEUE_NAME="shutdown", MODEL_DIR=str(tmp_path))
    with log.open("w") as output:
        worker = subprocess.Popen([sys.executable, "-m", "vidseg", "worker"], cwd=REPO, env=env, stdout=output,
                                  stderr=subprocess.STDOUT)
    try:
        _wait(lambda: running.get_status(refresh=True) == "started", 30, "the job to start")
        signalled = time.time()
        worker.send_signal(signal.SIGTERM)  # what `docker stop` and `python -m vidseg serve` send
        assert worker.wait(30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    running.refresh()
    assert running.get_status() == "finished", log.read_text()
    assert running.return_value() == b"finished\n"
    assert running.ended_at.timestamp() > signalled  # it was still running when the signal came
    assert waiting.get_status(refresh=True) == "queued"  # the next job stays queued for the next worker
    assert "warm shut down requested" in log.read_text().lower()


def _gunicorn(tmp_path, redis_url, **env):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environment = dict(os.environ, REDIS_URL=redis_url, MODEL_DIR=str(tmp_path / "models"), **env)
    with log.open("w") as output:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
             "--graceful-timeout", "20", "--chdir", str(REPO), "_wsgi:app"],
            cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return requests.get(f"{url}/health", timeout=0.5).ok
        except requests.RequestException:
            assert web.poll() is None, log.read_text()
            return False

    _wait(healthy, 60, "gunicorn's /health")
    return web, url, log


@pytest.mark.slow
def test_gunicorn_drains_the_request_in_flight_and_exits_0_on_sigterm(tmp_path, redis_url, redis):
    web, url, log = _gunicorn(tmp_path, redis_url, MAX_REQUEST_BYTES="100000")
    try:
        # a real chunked upload over the limit is refused while it is read
        answer = requests.post(f"{url}/predict", data=iter([b'{"tasks": [], "pad": "', b"x" * 200_000, b'"}']),
                               headers={"Content-Type": "application/json"}, timeout=10)
        assert answer.status_code == 413 and "MAX_REQUEST_BYTES=100000" in answer.json()["error"]

        body = {"action": "ANNOTATION_CREATED", "project": 1, "annotation": {"id": 1},
                "task": {"id": 1, "data": {"video": "clip-1", "frame": 0}}}
        answers = []
        sender = threading.Thread(target=lambda: answers.append(
            requests.post(f"{url}/webhook", json=body, timeout=20)))
        # Hold Redis writes so the webhook is caught inside the app (enqueueing) when SIGTERM comes.
        redis.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
        try:
            sender.start()
            _wait(lambda: redis.info("clients")["blocked_clients"] >= 1, 10, "the webhook to reach Redis")
            web.send_signal(signal.SIGTERM)
            time.sleep(0.1)  # well inside the web's 0.5 s Redis timeout
        finally:
            redis.execute_command("CLIENT", "UNPAUSE")
        sender.join(20)
        assert web.wait(30) == 0, log.read_text()
    finally:
        if web.poll() is None:
            web.kill()
    (answer,) = answers
    assert answer.status_code == 200 and answer.json()["status"] == "queued"
    assert Queue("vidseg", connection=Redis.from_url(redis_url)).count == 1
    text = log.read_text()
    assert "Shutting down: Master" in text and "Traceback" not in text
