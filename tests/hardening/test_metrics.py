"""/metrics and the failed-request log under real gunicorn (two worker processes), and job metrics
after real retrain jobs."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
import requests
from hardening_support import REPO, annotate
from prometheus_client.parser import text_string_to_metric_families

from _wsgi import create_app
from vidseg.redis_server import free_port
from vidseg.settings import Settings

USER, PASSWORD = "ls-user", "pw-metrics-never-log-me"
AUTH = ("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
SECRET = "tok-5e1f-in-a-query"
EVENT = {"action": "ANNOTATION_CREATED", "project": 7, "annotation": {"id": 1},
         "task": {"id": 1, "data": {"video": "clip-1", "frame": 0}}}


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a /metrics answer: (name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Gunicorn:
    """The web as `python -m vidseg serve` runs it: gunicorn with vidseg.gunicorn_config, 2 processes."""

    def __init__(self, tmp_path: Path, redis_url: str, **env):
        self.log_path = tmp_path / "gunicorn.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        environment = {key: val for key, val in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        environment.update(REDIS_URL=redis_url, MODEL_DIR=str(tmp_path / "models"), BASIC_AUTH_USER=USER,
                           BASIC_AUTH_PASS=PASSWORD, **env)
        with self.log_path.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", self.url.removeprefix("http://"), "--workers", "2",
                 "--threads", "4", "--config", "python:vidseg.gunicorn_config", "--chdir", str(REPO), "_wsgi:app"],
                cwd=tmp_path, env=environment, stdout=output, stderr=subprocess.STDOUT)
        _wait(self.healthy, 60, "gunicorn's /health")

    def healthy(self) -> bool:
        assert self.process.poll() is None, self.log()
        try:
            return requests.get(f"{self.url}/health", timeout=0.5).ok
        except requests.RequestException:
            return False

    def log(self) -> str:
        return self.log_path.read_text()

    def metrics(self) -> dict:
        answer = requests.get(f"{self.url}/metrics", headers=dict([AUTH]), timeout=5)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
        return samples(answer.text)

    def stop(self) -> None:
        self.process.terminate()
        try:
            assert self.process.wait(30) == 0, self.log()
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def web(tmp_path, redis_url, redis):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"a previous server's numbers")
    server = Gunicorn(tmp_path, redis_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    yield server, metrics_dir
    if server.process.poll() is None:
        server.stop()


def _serving_pids(metrics_dir: Path) -> set[int]:
    """Processes that have timed a request (each writes its own histogram file)."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("histogram_*.db")}


@pytest.mark.slow
def test_both_gunicorn_processes_answer_metrics_with_the_same_totals(web):
    server, metrics_dir = web
    assert not (metrics_dir / "counter_999999.db").exists(), "the folder was not emptied at start"
    sent = {"/predict": 0, "/webhook": 0}

    def call(path: str):
        body = {"tasks": [], "project": 7} if path == "/predict" else EVENT
        answer = requests.post(f"{server.url}{path}", json=body, headers=dict([AUTH]), timeout=10)  # new connection
        assert answer.status_code == 200, answer.text

    with ThreadPoolExecutor(8) as pool:
        for _ in range(30):  # the kernel hands connections to either process: go on until both served some
            paths = ["/predict", "/webhook"] * 8
            list(pool.map(call, paths))
            for path in paths:
                sent[path] += 1
            if len(_serving_pids(metrics_dir)) >= 2:
                break
    assert len(_serving_pids(metrics_dir)) == 2, "one gunicorn process served every request"

    reads = [server.metrics() for _ in range(6)]
    scrapes = [value(read, "vidseg_http_requests_total", endpoint="/metrics", status="200") for read in reads]
    assert [b - a for a, b in pairwise(scrapes)] == [1] * 5  # every scrape counted once, by either process
    others = [{key: val for key, val in read.items() if ("endpoint", "/metrics") not in key[1]} for read in reads]
    assert all(read == others[0] for read in others), "two reads in a row disagree"
    found = reads[-1]
    for path, count in sent.items():
        assert value(found, "vidseg_http_requests_total", endpoint=path, status="200") == count
        assert value(found, "vidseg_http_request_duration_seconds_count", endpoint=path) == count
        buckets = [key for key in found if key[0] == "vidseg_http_request_duration_seconds_bucket"
                   and ("endpoint", path) in key[1]]
        assert len(buckets) == 13 and value(found, "vidseg_http_request_duration_seconds_bucket", endpoint=path,
                                            le="+Inf") == count
    assert value(found, "vidseg_events_total", event="webhook", detail="ANNOTATION_CREATED") == sent["/webhook"]
    assert value(found, "vidseg_events_total", event="enqueue", detail="queued") == 1  # the rest coalesced
    assert value(found, "vidseg_queue_jobs", queue="vidseg", state="queued") == 1
    assert value(found, "vidseg_redis_up") == 1 and value(found, "vidseg_predict_tasks_total") == 0

    # A worker process dies: gunicorn replaces it (child_exit marks it dead) and its counts stay.
    os.kill(min(_serving_pids(metrics_dir)), signal.SIGKILL)
    _wait(lambda: server.log().count("Booting worker") == 3 and server.healthy(), 30, "a new gunicorn worker")
    after = server.metrics()
    for path, count in sent.items():
        assert value(after, "vidseg_http_requests_total", endpoint=path, status="200") == count


@pytest.mark.slow
def test_failed_requests_are_logged_with_the_reason_sent_and_no_secrets(web):
    server, _ = web
    unauthorised = requests.get(f"{server.url}/metrics?token={SECRET}", timeout=5,
                                headers={"Authorization": "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode())
                                         .decode()})
    broken = requests.post(f"{server.url}/predict?api_key={SECRET}", data=b"not json", headers=dict([AUTH]),
                           timeout=5)
    missing = requests.get(f"{server.url}/no-such-route", headers=dict([AUTH]), timeout=5)
    forged = requests.get(f"{server.url}/x%0Avidseg.access fake line", headers=dict([AUTH]), timeout=5)
    assert [a.status_code for a in (unauthorised, broken, missing, forged)] == [401, 400, 404, 404]
    server.stop()  # flushes and closes the log
    log = server.log()
    lines = [line for line in log.splitlines() if re.search(r"\[WARNING\] (GET|POST) /.* \d{3} [\d.]+ ms: ", line)]
    assert any(re.search(r"GET /metrics 401 [\d.]+ ms: authentication required: send the BASIC_AUTH_USER", line)
               for line in lines), log
    assert any(re.search(r"POST /predict 400 [\d.]+ ms: the request body must be JSON", line) for line in lines), log
    assert any(re.search(r"GET /no-such-route 404 [\d.]+ ms: no route /no-such-route: the backend serves", line)
               for line in lines), log
    assert any(r"GET /x\x0avidseg.access fake line 404" in line for line in lines), log  # one line, escaped
    assert len(lines) == 4, lines
    for secret in (SECRET, PASSWORD):
        assert secret not in log


@pytest.mark.slow
def test_each_server_start_gets_a_fresh_metrics_folder_removed_on_exit(tmp_path, redis_url, redis):
    server = Gunicorn(tmp_path, redis_url)
    (folder,) = re.findall(r"metrics: PROMETHEUS_MULTIPROC_DIR=(\S+)", server.log())
    requests.get(f"{server.url}/metrics", headers=dict([AUTH]), timeout=5)
    assert Path(folder).is_dir() and list(Path(folder).glob("*.db"))
    server.stop()
    assert not Path(folder).exists()


def test_job_metrics_after_real_retrain_jobs(job_env, stub_ls, redis, monkeypatch):
    """One real round succeeds, one fails on its frames: /metrics (any process: it reads Redis) has both."""
    from vidseg.jobs.retrain import retrain_video
    from vidseg.labelstudio.frames import FrameError

    annotate(stub_ls, 1)  # a human label: the round computes flows and fine-tunes
    assert retrain_video(1, "clip-1", "job-1")["round"] == 1
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(FrameError):
        retrain_video(1, "clip-1", "job-2")
    found = samples(create_app(Settings.from_env()).test_client().get("/metrics").text)
    for outcome in ("succeeded", "failed"):
        assert value(found, "vidseg_job_duration_seconds_count", job="retrain", outcome=outcome) == 1
        assert value(found, "vidseg_job_duration_seconds_bucket", job="retrain", outcome=outcome, le="+Inf") == 1
        assert value(found, "vidseg_job_duration_seconds_sum", job="retrain", outcome=outcome) > 0
    assert value(found, "vidseg_job_failures_total", reason="FrameError", stage="prepare") == 1
    for stage, runs in {"lock_wait": 2, "prepare": 2, "flow": 1, "finetune": 1, "predict": 1, "publish": 1}.items():
        assert value(found, "vidseg_job_stage_duration_seconds_count", stage=stage) == runs, stage
    stages = sum(value(found, "vidseg_job_stage_duration_seconds_sum", stage=stage)
                 for stage in ("lock_wait", "prepare", "flow", "finetune", "predict", "publish"))
    total = sum(value(found, "vidseg_job_duration_seconds_sum", job="retrain", outcome=outcome)
                for outcome in ("succeeded", "failed"))
    assert stages == pytest.approx(total)
    assert value(found, "vidseg_queue_jobs", queue="hardening", state="queued") == 0
