"""The project scan: queue a retrain for every video whose annotations changed since its last round."""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue

from vidseg.jobs.queue import RETRAIN_JOB, claim_pending, enqueue_coalesced
from vidseg.labelstudio.annotations import annotation_fingerprint
from vidseg.labelstudio.client import client_from_settings
from vidseg.labelstudio.payloads import PayloadError, video_and_frame
from vidseg.settings import Settings
from vidseg.store import Store

log = logging.getLogger("vidseg.worker")


def scan_project(project: int, _video: None, job_id: str) -> dict:
    """RQ entry point (START_TRAINING, bulk deletions): one coalesced retrain per changed video."""
    settings = Settings.from_env()
    redis = Redis.from_url(settings.redis_url)
    claim_pending(redis, project, None, job_id)
    by_video: dict[str, list[dict]] = {}
    skipped = 0
    for task in client_from_settings(settings).all_tasks(project):
        try:
            video, _ = video_and_frame(task.get("data", {}), settings.video_field, settings.frame_field,
                                       settings.image_field)
        except PayloadError:  # a task that is no video frame must not stop the scan of the others
            skipped += 1
            continue
        by_video.setdefault(video, []).append(task)
    if skipped:
        log.warning("project %s: %d task(s) name no video and frame (VIDEO_FIELD / FRAME_FIELD); skipped",
                    project, skipped)
    store = Store(settings.model_dir)
    queue = Queue(settings.queue_name, connection=redis)
    queued = []
    for video, video_tasks in sorted(by_video.items()):
        if store.video(project, video).status().get("annotations") != annotation_fingerprint(video_tasks):
            enqueue_coalesced(redis, queue, RETRAIN_JOB, project, video, job_timeout=settings.job_timeout,
                              description=f"retrain {project}/{video} after a project scan")
            queued.append(video)
    return {"videos": len(by_video), "queued": queued, "skipped_tasks": skipped}
