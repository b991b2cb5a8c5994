"""Scale-out over a shared store: two `python -m vidseg worker` processes on one Redis, one queue and one
MODEL_DIR train two videos of one project in parallel, and one video's jobs one at a time.

Everything is real but Label Studio: redis-server, the RQ workers (subprocesses, forked work horses), the
retrain job (tiny network, 32x64 frames, 2 training steps), the web app's /webhook and /predict; Label
Studio is the stub over real HTTP. Who held a video's lock when is read from Redis keyspace
notifications on the lock keys (Redis publishes one as a job sets or deletes its lock); the attempts to
take a lock, from Redis MONITOR.

The stub holds the first round's task list of each video until the other video's job asks for its own,
so the two rounds surely hold their locks at once, and holds clip-2's until clip-2's follow-up job, run
by the other worker, is seen trying to take clip-2's lock: the lock is surely contended, not just
never needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hardening_support import REPO, annotate, synthetic_frames
from redis import Redis
from rq import Queue, Worker

from _wsgi import create_app
from vidseg.jobs.queue import lock_key, pending_key
from vidseg.processes import stop_all
from vidseg.settings import Settings
from vidseg.store import Store

PROJECT = 1
FRAMES = {"clip-1": 3, "clip-2": 4}  # clip-1 is the stub's own video; clip-2 is added as tasks 200..203
HOLD_SECONDS = 25  # the longest the stub holds a request for the other job: under the client's 30 s timeout
PREFIX_LOCK = lock_key(PROJECT, "")  # "vidseg:lock:1:"


def _until(check, timeout: float, what: str, logs: list[Path] = ()):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{_tails(logs)}")
        time.sleep(0.05)


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)


def _event(stub, video: str, frame: int) -> dict:
    task = stub.task(frame, video)
    return {"action": "ANNOTATION_CREATED", "project": PROJECT, "annotation": {"id": 400 + task["id"]},
            "task": {"id": task["id"], "data": dict(task["data"])}}


def _listen(pubsub_or_monitor, stop: threading.Event, record) -> threading.Thread:
    def run():
        while not stop.is_set():
            try:
                record(pubsub_or_monitor())
            except Exception:  # the connection closed at the end of the test
                if not stop.is_set():
                    raise
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class LockWatch:
    """Redis's own record of the videos' locks: every SET and DEL that changed a lock key (keyspace
    notifications) and every attempt to take one (MONITOR), in the order Redis saw them."""

    def __init__(self, redis: Redis, redis_url: str):
        self.redis, self.events, self.attempts = redis, [], []
        self.saved = redis.config_get("notify-keyspace-events")["notify-keyspace-events"]
        redis.config_set("notify-keyspace-events", "Kg$x")  # keyspace: generic (del), string (set), expired
        self.pubsub = redis.pubsub()
        self.pubsub.psubscribe(f"__keyspace@*__:{PREFIX_LOCK}*")
        _until(lambda: self.pubsub.get_message(timeout=0.1), 5, "the keyspace subscription")
        self.monitor = Redis.from_url(redis_url).monitor().__enter__()
        self.stop = threading.Event()
        self.threads = [_listen(lambda: self.pubsub.get_message(timeout=0.1), self.stop, self._event),
                        _listen(self.monitor.next_command, self.stop, self._command)]

    def _event(self, message):
        if message and message["type"] == "pmessage":
            key = message["channel"].decode().split(":", 1)[1]
            self.events.append((time.monotonic(), key, message["data"].decode()))

    def _command(self, command):
        words = command["command"].split()
        if len(words) > 2 and words[0].upper() == "SET" and words[1].startswith(PREFIX_LOCK):
            self.attempts.append(words[1])

    def tries(self, video: str) -> int:
        """How many times a job has tried to take the video's lock (taken or not)."""
        return self.attempts.count(lock_key(PROJECT, video))

    def intervals(self, video: str) -> list[tuple[float, float]]:
        """(taken, released) per holding of the video's lock; asserts holdings never nest nor expire."""
        held, found = None, []
        for at, _, event in (e for e in self.events if e[1] == lock_key(PROJECT, video)):
            assert event != "expired", f"the lock of {video} expired while a job held it"
            if event == "set":
                assert held is None, f"{video}: the lock was set again while held: two jobs at once"
                held = at
            elif event == "del":
                assert held is not None, f"{video}: the lock was released but never taken"
                found.append((held, at))
                held = None
        assert held is None, f"{video}: the lock is still held"
        return found

    def close(self):
        self.stop.set()
        self.monitor.__exit__()
        self.pubsub.close()
        for thread in self.threads:
            thread.join(5)
        self.redis.config_set("notify-keyspace-events", self.saved)


@pytest.fixture
def scale_env(job_env, monkeypatch) -> dict:
    """The job environment with room for jobs that the stub holds while the other job catches up."""
    monkeypatch.setenv("JOB_TIMEOUT", "180")
    return {**job_env, "JOB_TIMEOUT": "180", "OMP_NUM_THREADS": "1"}


@pytest.fixture
def lock_watch(redis, redis_url):
    watch = LockWatch(redis, redis_url)
    yield watch
    watch.close()


@pytest.fixture
def two_workers(scale_env, redis, tmp_path):
    """Two `python -m vidseg worker` processes on one Redis, queue and MODEL_DIR; yields their names, logs."""
    logs = [tmp_path / f"worker-{index}.log" for index in (1, 2)]
    processes = []
    for log in logs:
        with log.open("w") as output:
            processes.append(subprocess.Popen([sys.executable, "-m", "vidseg", "worker"], cwd=REPO,
                                              env={**os.environ, **scale_env}, stdout=output,
                                              stderr=subprocess.STDOUT))
    queue = Queue(scale_env["QUEUE_NAME"], connection=redis)

    def listening():
        for process, log in zip(processes, logs, strict=True):
            assert process.poll() is None, log.read_text()
        workers = Worker.all(connection=redis, queue=queue)
        return len(workers) == 2 and all(worker.get_state() == "idle" for worker in workers) and workers

    try:
        workers = _until(listening, 60, "both workers to listen on the queue", logs)
        assert {worker.pid for worker in workers} == {process.pid for process in processes}
        yield {worker.name for worker in workers}, logs
    finally:
        stop_all(processes)


class Holds:
    """The stub's hook: holds the first task-list request of each video as the module docstring says."""

    def __init__(self, watch: LockWatch):
        self.watch, self.seen = watch, set()
        self.both_rounds = threading.Barrier(len(FRAMES), timeout=HOLD_SECONDS)
        self.met, self.contended, self.holding = False, False, False

    def __call__(self, method: str, path: str) -> None:
        route = urlsplit(path).path
        if self.holding and method == "GET" and "clip-2" in route:  # its frames: hold on, one request at a time
            self._wait_for_contention()
        if method != "GET" or route != "/api/tasks/":
            return
        query = json.loads(parse_qs(urlsplit(path).query)["query"][0])
        video = query["filters"]["items"][0]["value"]
        if video in self.seen:
            return
        self.seen.add(video)
        try:
            self.both_rounds.wait()
        except threading.BrokenBarrierError:  # the other video's round never came: answer, the test fails
            return
        self.met = True
        if video == "clip-2":  # the first try was this job's own, taken; a second is the follow-up's
            self.holding = True
            self._wait_for_contention()

    def _wait_for_contention(self) -> None:
        """Up to HOLD_SECONDS (under the client's read timeout) per request; a busy machine needs several."""
        deadline = time.monotonic() + HOLD_SECONDS
        while self.watch.tries("clip-2") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.contended = self.watch.tries("clip-2") >= 2
        self.holding = self.holding and not self.contended


@pytest.mark.slow
def test_two_workers_share_redis_and_model_dir_and_train_two_videos_in_parallel(
        scale_env, stub_ls, redis, lock_watch, two_workers):
    worker_names, logs = two_workers
    model_dir = Path(scale_env["MODEL_DIR"])
    stub_ls.add_video("clip-2", 255 - synthetic_frames(FRAMES["clip-2"]), first_id=200)
    holds = stub_ls.on_request = Holds(lock_watch)
    queue = Queue(scale_env["QUEUE_NAME"], connection=redis)
    web = create_app(Settings.from_env()).test_client()  # the same REDIS_URL, QUEUE_NAME, MODEL_DIR
    store = Store(model_dir)
    jobs: dict[str, list[str]] = {video: [] for video in FRAMES}

    def events(videos, frame: int, per_video: int) -> None:
        """`per_video` webhook events for each video, interleaved, through the web app's /webhook."""
        for _ in range(per_video):
            for video in videos:
                answer = web.post("/webhook", json=_event(stub_ls, video, frame))
                assert answer.status_code == 200 and answer.json["status"] == "queued", answer.json
                if not answer.json["coalesced"]:
                    jobs[video].append(answer.json["job_id"])

    # Round 1: a human mask on frame 0 of each video, three events each, folded into one job per video.
    for video in FRAMES:
        annotate(stub_ls, 0, video)
    events(FRAMES, 0, per_video=3)
    assert {video: len(ids) for video, ids in jobs.items()} == {"clip-1": 1, "clip-2": 1}, jobs

    # Once both jobs hold their video (pending slot claimed), new events for clip-2 queue one follow-up,
    # which the worker done with clip-1 takes while clip-2's first round still holds the lock.
    def claimed(video: str) -> bool:
        return store.video(PROJECT, video).status().get("job_id") == jobs[video][0]

    _until(lambda: all(claimed(video) for video in FRAMES), 60, "both first jobs to take their video", logs)
    annotate(stub_ls, 2, "clip-2")
    events(["clip-2"], 2, per_video=3)
    assert {video: len(ids) for video, ids in jobs.items()} == {"clip-1": 1, "clip-2": 2}, jobs

    # All three jobs finish; a failed one is reported with its traceback rather than waited for.
    all_jobs = [queue.fetch_job(job_id) for ids in jobs.values() for job_id in ids]

    def finished() -> bool:
        states = [job.get_status(refresh=True) for job in all_jobs]
        for job, state in zip(all_jobs, states, strict=True):
            result = job.latest_result()
            assert state not in ("failed", "scheduled", "stopped", "canceled"), \
                f"job {job.description} {state}:\n{result.exc_string if result else ''}\n{_tails(logs)}"
        return all(state == "finished" for state in states)

    _until(finished, 300, "all three jobs", logs)

    # Both workers took jobs. The videos' first rounds held their locks at the same time; clip-2's
    # follow-up tried the lock while its first round held it, and took it only once that was released.
    assert holds.met and holds.contended, "the follow-up of clip-2 never tried clip-2's lock while held"
    results = {job.id: job.latest_result() for job in all_jobs}
    assert {result.worker_name for result in results.values()} == worker_names, "one worker took every job"
    intervals = {video: lock_watch.intervals(video) for video in FRAMES}  # asserts that holdings never nest
    assert [len(intervals[video]) for video in FRAMES] == [1, 2], intervals  # one holding per job
    (clip_1,), (clip_2, clip_2_next) = intervals["clip-1"], intervals["clip-2"]
    assert clip_1[0] < clip_2[1] and clip_2[0] < clip_1[1], f"the first rounds did not overlap: {intervals}"
    assert clip_2[1] <= clip_2_next[0], intervals
    first, follow_up = (results[job_id] for job_id in jobs["clip-2"])
    assert follow_up.execution_started_at < first.execution_ended_at  # both ran in RQ at once, the lock between
    assert results[jobs["clip-1"][0]].worker_name == follow_up.worker_name != first.worker_name

    # Nothing is left pending nor locked; each video's store is complete and its status idle.
    from propagation import load_checkpoint

    for video, rounds, labelled in (("clip-1", 1, 1), ("clip-2", 2, 2)):
        assert not redis.exists(lock_key(PROJECT, video), pending_key(PROJECT, video))
        video_store = store.video(PROJECT, video)
        status = video_store.status()
        assert status["state"] == "idle" and status["last_error"] is None, status
        assert status["round"] == rounds and status["job_id"] == jobs[video][-1], status
        assert status["frames"] == FRAMES[video] and status["frames_labelled"] == labelled, status
        assert load_checkpoint(video_store.checkpoint_path)[2]["round"] == rounds
        assert video_store.flows_path.is_dir() and any(video_store.flows_path.iterdir())
        assert not video_store.scratch_dir.exists()
        assert not [path.name for path in video_store.dir.rglob("*.tmp")]
        assert video_store.predictions()["round"] == rounds
        for frame in range(FRAMES[video]):
            entry = video_store.prediction(frame)
            assert entry is not None and entry["task_id"] == stub_ls.task(frame, video)["id"], (video, frame)
            assert isinstance(entry["result"], list) and entry["result"], (video, frame)

    # A web app reading the same MODEL_DIR answers /predict for both videos from their latest rounds.
    tasks = [{"id": task["id"], "project": PROJECT, "data": task["data"]} for task in stub_ls.tasks]
    answer = web.post("/predict", json={"tasks": tasks, "project": PROJECT})
    assert answer.status_code == 200
    for task, result in zip(tasks, answer.json["results"], strict=True):
        stored = store.video(PROJECT, task["data"]["video"]).prediction(task["data"]["frame"])
        assert result["result"] == stored["result"] and result["score"] == pytest.approx(stored["score"])
    assert queue.count == 0  # /predict found every frame of both videos: it queued no cold start
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
