"""Webhook storm: many annotation events in a few seconds against the real web app, queue and worker.

Run: ``.venv/bin/python benchmarks/bench_webhook_storm.py [--events 1000] [--seconds 10] [--videos 5]
[--job-seconds 0.5] [--workers 1] [--web-workers 2]``.

What is real: the web app (``_wsgi.create_app`` under gunicorn, as ``python -m vidseg serve`` runs
it: gthread workers, 4 threads each, basic auth on), its ``/webhook`` route and payload parsing,
``enqueue_coalesced`` (vidseg/jobs/queue.py) with its pending keys, a real redis-server, and
real RQ workers started with ``python -m vidseg worker``. The job follows the retrain job's
protocol step by step: it takes the video's Redis lock, calls ``claim_pending``, then reads the
video's annotations, then "trains" and releases the lock.

What is substituted: the job's work is a sleep (``--job-seconds``) instead of fine-tuning, so the
figures measure queueing and coalescing, not training; the web app enqueues that job instead of
``vidseg.jobs.retrain.retrain_video`` (``model.RETRAIN_JOB`` is patched in the gunicorn process,
nothing else changes); Label Studio's annotation store is a Redis counter per video that the
load generator increments *before* it posts the event, as Label Studio saves an annotation
before it calls the webhook. The job reads that counter after its claim, as the real job reads
annotations from Label Studio after its claim.

Load: ``--events`` ANNOTATION_CREATED webhooks, open loop at a fixed rate over ``--seconds``,
round robin over ``--videos`` videos, sent by 32 client threads over keep-alive connections.

Figures: webhook latency p50/p95/p99/max (send to answer, loopback), answers by status, jobs
started per video, and lost events: a video loses events when its last job saw fewer
annotations than were saved, i.e. no job started after its last event.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = 1
USER, PASSWORD = "storm", "storm-pass"
JOB = "benchmarks.bench_webhook_storm.storm_job"


def annotations_key(project: int, video: str) -> str:
    return f"storm:annotations:{project}:{video}"


def jobs_key(project: int, video: str) -> str:
    return f"storm:jobs:{project}:{video}"


def storm_job(project: int, video: str, job_id: str) -> dict:
    """The stand-in retrain job (runs in the RQ work horse): the real job's lock and claim, then a
    read of the annotations, then a sleep in place of training."""
    from redis import Redis

    from vidseg.jobs.queue import claim_pending, lock_key
    from vidseg.settings import Settings

    settings = Settings.from_env()
    redis = Redis.from_url(settings.redis_url)
    lock = redis.lock(lock_key(project, video), timeout=settings.job_timeout + 60,
                      blocking_timeout=settings.job_timeout)
    if not lock.acquire():
        raise RuntimeError(f"video {video!r} stayed locked")
    try:
        claim_pending(redis, project, video, job_id)
        claimed_at = time.time()
        seen = int(redis.get(annotations_key(project, video)) or 0)  # "read the annotations"
        time.sleep(float(os.environ.get("STORM_JOB_SECONDS", "0.5")))  # "train"
        record = {"job": job_id, "claimed_at": claimed_at, "seen": seen, "finished_at": time.time()}
        redis.rpush(jobs_key(project, video), json.dumps(record))
        return record
    finally:
        if lock.owned():
            lock.release()


def storm_app():
    """gunicorn entry point (``benchmarks.bench_webhook_storm:storm_app()``): the real app, whose
    webhooks enqueue `storm_job` instead of the retrain job."""
    sys.path.insert(0, str(REPO))
    import model
    from _wsgi import create_app

    model.RETRAIN_JOB = JOB
    return create_app()


def _wait(check, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_storm(events: int = 1000, seconds: float = 10.0, videos: int = 5, job_seconds: float = 0.5,
              workers: int = 1, web_workers: int = 2, drain_timeout: float = 300.0, log=print) -> dict:
    from redis import Redis

    from vidseg.redis_server import start_private_redis

    names = [f"video-{i}" for i in range(videos)]
    with tempfile.TemporaryDirectory() as root:
        server = start_private_redis(Path(root) / "redis")
        try:
            return _storm(server, Redis.from_url(server.url), Path(root), names, events, seconds, job_seconds,
                          workers, web_workers, drain_timeout, log)
        finally:
            server.stop()


def _storm(server, redis, root: Path, names: list[str], events: int, seconds: float, job_seconds: float,
           workers: int, web_workers: int, drain_timeout: float, log) -> dict:
    import requests
    from rq import Queue

    from vidseg.jobs.queue import lock_key, pending_key
    from vidseg.processes import stop_all
    from vidseg.redis_server import free_port

    videos = len(names)
    port = free_port()
    env = dict(os.environ, REDIS_URL=server.url, MODEL_DIR=str(Path(root) / "models"), QUEUE_NAME="storm",
               BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD, STORM_JOB_SECONDS=str(job_seconds),
               JOB_TIMEOUT="120", PYTHONPATH=str(REPO))
    logs = Path(root) / "logs"
    logs.mkdir()
    processes = []
    try:
        web_log = (logs / "web.log").open("w")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(web_workers),
             "--threads", "4", "--chdir", str(REPO), "benchmarks.bench_webhook_storm:storm_app()"],
            env=env, cwd=REPO, stdout=web_log, stderr=subprocess.STDOUT))
        for i in range(workers):
            worker_log = (logs / f"worker-{i}.log").open("w")
            processes.append(subprocess.Popen([sys.executable, "-m", "vidseg", "worker"], env=env, cwd=REPO,
                                              stdout=worker_log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return requests.get(f"{url}/health", timeout=0.5).ok
            except requests.RequestException:
                return False

        _wait(healthy, 60, "gunicorn's /health")
        _wait(lambda: redis.smembers("rq:workers"), 60, "the RQ worker")
        auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        local = threading.local()
        results: list[tuple[str, float, float, int, bool]] = []  # video, sent_at, latency, status, coalesced

        def send(index: int, video: str) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            redis.incr(annotations_key(PROJECT, video))  # Label Studio saves the annotation first
            body = {"action": "ANNOTATION_CREATED", "project": {"id": PROJECT},
                    "annotation": {"id": index + 1, "task": 1000 + index, "result": []},
                    "task": {"id": 1000 + index, "data": {"video": video, "frame": index // videos,
                                                          "image": f"/data/upload/1/{video}_{index}.png"}}}
            sent = time.time()
            started = time.perf_counter()
            try:
                answer = session.post(f"{url}/webhook", json=body, headers={"Authorization": auth}, timeout=5)
                status, coalesced = answer.status_code, bool(answer.ok and answer.json().get("coalesced"))
            except requests.RequestException:
                status, coalesced = 0, False
            results.append((video, sent, time.perf_counter() - started, status, coalesced))

        log(f"storm: {events} webhooks over {seconds:.1f} s across {videos} videos, job {job_seconds} s, "
            f"{workers} RQ worker(s), {web_workers} gunicorn worker(s) x 4 threads")
        interval = seconds / events
        begin = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for index in range(events):
                delay = begin + index * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, index, names[index % videos])
        sent_for = time.perf_counter() - begin
        last_event = {video: max(sent for v, sent, *_ in results if v == video) for video in names}

        def drained():
            queue = Queue("storm", connection=redis)
            busy = any(redis.exists(pending_key(PROJECT, v)) or redis.exists(lock_key(PROJECT, v)) for v in names)
            return queue.count == 0 and not busy

        _wait(drained, drain_timeout, "the queue to drain", interval=0.2)
    finally:
        stop_all(processes)
    latencies = [latency for _, _, latency, status, _ in results if status]
    statuses: dict[int, int] = {}
    for *_, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    per_video = {}
    for video in names:
        jobs = [json.loads(item) for item in redis.lrange(jobs_key(PROJECT, video), 0, -1)]
        saved = int(redis.get(annotations_key(PROJECT, video)) or 0)
        last_seen = max((job["seen"] for job in jobs), default=0)
        per_video[video] = {
            "events": sum(1 for v, *_ in results if v == video),
            "answered_coalesced": sum(1 for v, *_, coalesced in results if v == video and coalesced),
            "answered_queued": sum(1 for v, _, _, status, coalesced in results
                                   if v == video and status == 200 and not coalesced),
            "jobs": len(jobs),
            "annotations_saved": saved,
            "last_job_saw": last_seen,
            "lost": saved - last_seen,
            "job_after_last_event": bool(jobs) and max(job["claimed_at"] for job in jobs) > last_event[video],
        }
    figures = {
        "events": len(results), "sent_seconds": round(sent_for, 2), "statuses": statuses,
        "p50_ms": round(1000 * _percentile(latencies, 50), 1), "p95_ms": round(1000 * _percentile(latencies, 95), 1),
        "p99_ms": round(1000 * _percentile(latencies, 99), 1), "max_ms": round(1000 * max(latencies), 1),
        "videos": per_video, "lost": sum(v["lost"] for v in per_video.values()),
        "jobs": sum(v["jobs"] for v in per_video.values()),
    }
    log(f"sent {figures['events']} webhooks in {figures['sent_seconds']} s; answers by status {statuses}")
    log(f"webhook latency: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"max {figures['max_ms']} ms")
    for video, row in per_video.items():
        log(f"  {video}: {row['events']} events ({row['answered_coalesced']} answered coalesced, "
            f"{row['answered_queued']} queued a job) -> {row['jobs']} jobs ran; last job saw "
            f"{row['last_job_saw']}/{row['annotations_saved']} annotations, lost {row['lost']}, "
            f"a job started after the last event: {row['job_after_last_event']}")
    log(f"jobs started: {figures['jobs']} for {figures['events']} events; lost events: {figures['lost']}")
    return figures

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--videos", type=int, default=5)
    parser.add_argument("--job-seconds", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1, help="RQ workers")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (4 threads each)")
    args = parser.parse_args()
    figures = run_storm(args.events, args.seconds, args.videos, args.job_seconds, args.workers, args.web_workers)
    ok = figures["lost"] == 0 and all(v["job_after_last_event"] for v in figures["videos"].values())
    print(f"target p99 < 100 ms: {'met' if figures['p99_ms'] < 100 else 'MISSED'}; nothing lost: {ok}")


if __name__ == "__main__":
    main()
