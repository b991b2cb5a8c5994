"""Enqueueing retrain jobs, coalesced per video.

Rules (the same for a project-wide scan, keyed by project):
- at most one job runs per video: the job holds the video's Redis lock while it trains, so
  several workers on several machines sharing one Redis never train the same video at once;
- at most one job is pending per video: an event sets the `pending` key (SET NX) and enqueues a
  job only if none was pending; events arriving while a job is pending fold into it;
- a job deletes its own `pending` key after taking the lock and before it reads annotations, so an
  event arriving after that moment schedules a follow-up: nothing is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry

PREFIX = "vidseg"
# Jobs by import path, so the web process never imports torch or the training code.
RETRAIN_JOB = "vidseg.jobs.retrain.retrain_video"
SCAN_JOB = "vidseg.jobs.scan.scan_project"


def pending_key(project: int, video: str | None) -> str:
    return f"{PREFIX}:pending:{int(project)}:{video if video is not None else '*'}"


def lock_key(project: int, video: str | None) -> str:
    return f"{PREFIX}:lock:{int(project)}:{video if video is not None else '*'}"


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    coalesced: bool
    """True when an already pending job will see this event, so no new job was queued."""


def enqueue_coalesced(
    redis: Redis, queue: Queue, func, project: int, video: str | None, *, job_timeout: int,
    description: str,
) -> Enqueued:
    """Queue `func(project, video, job_id)` (a callable or its import path) unless one is pending for the key."""
    key = pending_key(project, video)
    job_id = uuid.uuid4().hex
    # The pending key outlives any real wait (queue time + one run) but not a lost job forever.
    if not redis.set(key, job_id, nx=True, ex=job_timeout * 3):
        existing = redis.get(key)
        return Enqueued(job_id=existing.decode() if existing else job_id, coalesced=True)
    try:
        queue.enqueue(
            func, project, video, job_id, job_id=job_id, job_timeout=job_timeout,
            description=description, retry=Retry(max=2, interval=[10, 60]),
            result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
        )
    except Exception:
        _delete_if_owner(redis, key, job_id)
        raise
    return Enqueued(job_id=job_id, coalesced=False)


def claim_pending(redis: Redis, project: int, video: str | None, job_id: str) -> bool:
    """Called by the job once it holds the lock: from now on new events queue a follow-up."""
    return _delete_if_owner(redis, pending_key(project, video), job_id)


_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


def _delete_if_owner(redis: Redis, key: str, job_id: str) -> bool:
    return bool(redis.eval(_DELETE_IF_EQUAL, 1, key, job_id))
