"""The backend Label Studio talks to: setup, predict, webhook, health, status, metrics.

It answers from the per-video store and only enqueues work: training, prediction of whole videos
and pushing predictions back to Label Studio happen in the RQ worker (`vidseg.jobs`).
"""

from __future__ import annotations

import json
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from vidseg.granularities import check_config, granularity_named
from vidseg.jobs.queue import RETRAIN_JOB, SCAN_JOB, enqueue_coalesced, lock_key, pending_key
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.payloads import (
    MAX_ID,
    PayloadError,
    parse_predict,
    parse_setup,
    parse_webhook,
    video_and_frame,
)
from vidseg.settings import Settings
from vidseg.store import Store
from vidseg.web_metrics import WebMetrics


class ServiceUnavailable(RuntimeError):
    """A dependency (Redis) is down; the message says what the admin should check."""


class VideoSegmentationBackend:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.model_dir)
        self._redis: Redis | None = None
        self.metrics = WebMetrics(self.redis, settings.queue_name)

    # --- queue -----------------------------------------------------------------------------

    def redis(self) -> Redis:
        if not self.settings.redis_url:
            raise ServiceUnavailable("REDIS_URL is not set: start the backend with `python -m vidseg serve` "
                                     "(it starts a private Redis) or point REDIS_URL at a Redis server")
        if self._redis is None:
            self._redis = Redis.from_url(self.settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return self._redis

    def _enqueue(self, func, project: int, video: str | None, description: str) -> dict:
        try:
            redis = self.redis()
            queue = Queue(self.settings.queue_name, connection=redis)
            enqueued = enqueue_coalesced(
                redis, queue, func, project, video, job_timeout=self.settings.job_timeout,
                description=description,
            )
        except RedisError as error:
            self.metrics.event("enqueue", "redis_down")
            raise ServiceUnavailable(f"Redis at {_safe_url(self.settings.redis_url)} is unreachable "
                                     f"({type(error).__name__}); the event was not queued, retry later") from None
        self.metrics.event("enqueue", "coalesced" if enqueued.coalesced else "queued")
        return {"job_id": enqueued.job_id, "coalesced": enqueued.coalesced}

    # --- Label Studio calls ----------------------------------------------------------------

    def health(self) -> dict:
        return {"status": "UP", "model_class": type(self).__name__}

    def setup(self, payload) -> dict:
        request = parse_setup(payload)
        if request.label_config:
            # LabelConfigError says what to change: a broken config, or one laid out for another GRANULARITY
            check_config(granularity_named(self.settings.granularity), parse_label_config(request.label_config))
        return {"model_version": self.settings.model_version}

    def predict(self, payload) -> dict:
        """The /predict answer as a dict (scripts and tests; the web sends ``predict_json``'s bytes)."""
        return json.loads(b"".join(self.predict_json(payload)))

    def predict_json(self, payload) -> list[bytes]:
        """The /predict answer as JSON in chunks. Each stored "result" goes out as the bytes the store holds,
        neither parsed nor encoded again, and only the frames asked for are read: per video one lookup
        of its current round, so a 1,000-task call reads 1,000 entries, not 1,000 videos' rounds."""
        started = time.perf_counter()
        request = parse_predict(payload)
        wanted: dict[tuple[int, str], list[tuple[int, int]]] = {}  # (project, video) -> [(position, frame)]
        for position, task in enumerate(request.tasks):
            project = request.project_id if request.project_id is not None else task.get("project")
            if not isinstance(project, int) or isinstance(project, bool) or not 0 < project <= MAX_ID:
                raise PayloadError(f"task {task['id']}: no project id in the request or the task; "
                                   "send 'project' as Label Studio does")
            video, frame = video_and_frame(
                task["data"], self.settings.video_field, self.settings.frame_field, self.settings.image_field
            )
            wanted.setdefault((project, video), []).append((position, frame))
        version = json.dumps(self.settings.model_version).encode()
        opening = b'{"model_version":' + version + b',"result":'
        items, missing = [[opening, b'[],"score":0.0}']] * len(request.tasks), []
        for (project, video), asked in wanted.items():
            found = self.store.video(project, video).prediction_parts(frame for _, frame in asked)
            if any(part is None for part in found):
                missing.append((project, video))
            for (position, _), part in zip(asked, found, strict=True):
                if part is not None:
                    entry, result = part
                    score = json.dumps(float(entry.get("score") or 0.0)).encode()
                    items[position] = [opening, result or b"[]", b',"score":' + score + b"}"]  # result not copied
        for project, video in sorted(missing):
            # A video with no model yet: queue a cold start so the first selection appears.
            try:
                self._enqueue(RETRAIN_JOB, project, video, f"cold start {project}/{video}")
            except ServiceUnavailable:
                self.metrics.event("predict", "cold_start_not_queued")
        chunks = [b'{"model_version":' + version + b',"results":[']
        for index, item in enumerate(items):
            chunks += [b",", *item] if index else item
        chunks.append(b"]}")
        self.metrics.predicted(time.perf_counter() - started, len(request.tasks))
        return chunks

    def webhook(self, payload) -> dict:
        event = parse_webhook(payload, video_field=self.settings.video_field,
                              frame_field=self.settings.frame_field, image_field=self.settings.image_field)
        if event is None:
            action = payload.get("action") if isinstance(payload, dict) else None
            self.metrics.event("webhook_ignored", self.metrics.action_label(action))
            return {"status": "ignored", "action": action}
        self.metrics.event("webhook", event.action)
        if event.video is not None:
            queued = self._enqueue(RETRAIN_JOB, event.project_id, event.video,
                                   f"retrain {event.project_id}/{event.video} after {event.action}")
        else:
            # Deletions name no task and START_TRAINING names no video: rescan the project.
            queued = self._enqueue(SCAN_JOB, event.project_id, None,
                                   f"scan project {event.project_id} after {event.action}")
        return {"status": "queued", "action": event.action, "video": event.video, **queued}

    # --- operators -------------------------------------------------------------------------

    def status(self, project: int, video: str | None = None) -> dict:
        if not 0 < project <= MAX_ID:  # a longer number is no project and no valid directory name
            raise PayloadError(f"project {project} does not exist: project ids are 1 to {MAX_ID}")
        statuses = ([self.store.video(project, video).status()] if video is not None
                    else self.store.statuses(project))
        try:
            redis = self.redis()
            for status in statuses:
                name = status.get("video")
                status["queue"] = {
                    "pending": bool(redis.exists(pending_key(project, name))),
                    "training": bool(redis.exists(lock_key(project, name))),
                }
        except (RedisError, ServiceUnavailable) as error:
            for status in statuses:
                status["queue"] = {"error": str(error)}
        return {"project": project, "videos": statuses}


def _safe_url(url: str | None) -> str:
    """A Redis URL without its password (user info or `?password=`), for messages and logs."""
    if not url:
        return str(url)
    url = url.split("?", 1)[0]
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
