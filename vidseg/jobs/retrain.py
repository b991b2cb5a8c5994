"""The retrain job of one video, and the project scan that finds videos whose annotations changed.

    lock the video -> claim the pending slot -> read tasks + annotations from Label Studio
    -> frames (cached) -> human label maps -> fine-tune (warm start) -> predict every frame
    -> select the next samples -> push predictions (score + cluster) -> point the project's
    uncertainty sampling at them -> write the store -> round + 1
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import torch
from redis import Redis
from rq import Queue

from vidseg.engine import SelectionConfig, deliver, fit_and_predict, flow_size, propagated_labels, select_next
from vidseg.jobs.annotations import annotation_fingerprint, human_labels
from vidseg.jobs.frames import load_frames
from vidseg.jobs.predictions import frame_results
from vidseg.jobs.queue import RETRAIN_JOB, claim_pending, enqueue_coalesced, lock_key
from vidseg.labels import UNKNOWN
from vidseg.labelstudio.client import LabelStudioClient
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.payloads import PayloadError, video_and_frame
from vidseg.propagation import (
    FinetuneConfig,
    NetworkSpec,
    build_network,
    compute_flows,
    load_checkpoint,
    load_flows,
    load_user_checkpoint,
    predict_video,
    resize_flows,
    save_checkpoint,
    save_flows,
    upsample_labels,
)
from vidseg.selection import make_units, pool_per_sample
from vidseg.settings import Settings
from vidseg.store import Store, VideoStore

log = logging.getLogger("vidseg.worker")


class JobError(RuntimeError):
    """A job cannot go on; the message (kept in the video's status) says why and what to fix."""


LOCK_SECONDS = 120
"""A video's lock lives this long unless the running job renews it, so a killed job frees its video soon."""


def retrain_video(project: int, video: str, job_id: str) -> dict:
    """RQ entry point: one round for one video, holding the video's lock."""
    settings = Settings.from_env()
    redis = Redis.from_url(settings.redis_url)
    store = Store(settings.model_dir).video(project, video)
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    lock = redis.lock(lock_key(project, video), timeout=LOCK_SECONDS, blocking_timeout=settings.job_timeout,
                      thread_local=False)
    if not lock.acquire():
        raise JobError(f"video {video!r} stayed locked by another job for {settings.job_timeout} s")
    heartbeat = _LockHeartbeat(lock)
    try:
        claim_pending(redis, project, video, job_id)
        _remove_stale_temporaries(store)
        store.update_status(state="training", job_id=job_id, started_at=time.time(), progress=None)
        started = time.perf_counter()
        try:
            outcome = run_round(settings, _client(settings), store, project, video)
        except Exception as error:
            store.update_status(state="failed", last_error=_reason(error), failed_at=time.time())
            raise
        store.update_status(state="idle", last_error=None, last_duration_s=round(time.perf_counter() - started, 2),
                            last_trained_at=time.time(), progress=None, **outcome)
        return outcome
    finally:
        heartbeat.stop()
        if lock.owned():
            lock.release()


class _LockHeartbeat(threading.Thread):
    """Renews the video's lock while the job runs; dies with the job (SIGKILL included)."""

    def __init__(self, lock):
        super().__init__(daemon=True, name="vidseg-lock-heartbeat")
        self.lock, self._stopped = lock, threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stopped.wait(LOCK_SECONDS / 3):
            try:
                self.lock.reacquire()
            except Exception:  # lost or Redis down: the job goes on, the lock may expire
                log.warning("could not renew %s", self.lock.name, exc_info=True)

    def stop(self) -> None:
        self._stopped.set()


def _remove_stale_temporaries(store: VideoStore) -> None:
    """Temporary files of a write a killed job never finished (only the lock holder writes here)."""
    if store.dir.is_dir():
        for stale in store.dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)


def _reason(error: BaseException) -> str:
    """The error for the status, with the OS error behind it when there is one: torch.save on a full
    disk raises a RuntimeError ("unexpected pos ...") whose context is the OSError that says why."""
    text = f"{type(error).__name__}: {error}"
    cause = error
    for _ in range(10):  # a chain is short; the bound guards against a cycle
        cause = cause.__cause__ or cause.__context__
        if cause is None or isinstance(error, OSError):
            break
        if isinstance(cause, OSError):
            return f"{text} (caused by {type(cause).__name__}: {cause})"
    return text


def scan_project(project: int, _video: None, job_id: str) -> dict:
    """RQ entry point: queue a retrain for every video whose annotations changed since its last round."""
    settings = Settings.from_env()
    redis = Redis.from_url(settings.redis_url)
    claim_pending(redis, project, None, job_id)
    tasks = _client(settings).all_tasks(project)
    by_video: dict[str, list[dict]] = {}
    skipped = 0
    for task in tasks:
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


def run_round(settings: Settings, client: LabelStudioClient, store: VideoStore, project: int, video: str) -> dict:
    config = parse_label_config(client.get_project(project)["label_config"])
    tasks = client.video_tasks(project, video, video_field=settings.video_field, frame_field=settings.frame_field)
    if not tasks:
        raise JobError(f"project {project} has no tasks with data[{settings.video_field!r}] == {video!r}: "
                       "check VIDEO_FIELD")
    image_field = config.image_value or settings.image_field
    frames = load_frames(client.download, tasks, image_field, store.dir.parent / "frames",
                         max_pixels=settings.max_image_pixels)
    n_frames, height, width = frames.shape[:3]
    labels = human_labels(tasks, config, height, width)
    known = labels != UNKNOWN
    spec = NetworkSpec(classes=tuple(config.class_names), arch=settings.arch, encoder=settings.encoder,
                       height=settings.height, width=settings.width, encoder_weights=settings.encoder_weights)
    model = _starting_model(settings, store, spec)
    round_number = int(store.status().get("round", 0)) + 1

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            store.update_status(progress={"stage": stage, "done": done, "total": total})

    prediction = None
    propagated = labels
    if known.any():
        flows = _flows(store, frames, settings)
        propagated = propagated_labels(labels, flows, settings.warp_trust)
        finetune = FinetuneConfig(steps=settings.steps, lr=settings.learning_rate, batch_size=settings.batch_size,
                                  temporal_weight=settings.temporal_weight, device=settings.device,
                                  seed=round_number - 1)
        prediction, _ = fit_and_predict(model, frames, propagated if settings.pseudo_labels else labels,
                                        resize_flows(flows, (spec.height, spec.width)), spec, finetune,
                                        progress=progress)
        save_checkpoint(store.checkpoint_path, model, spec, {"round": round_number})
    elif settings.base_checkpoint is not None:
        prediction = predict_video(model, frames, spec, device=settings.device)

    units = make_units(settings.granularity, n_frames, height, width, size=settings.rectangle_size,
                       stride=settings.pixel_stride, frames=frames, n_superpixels=settings.superpixels_per_frame)
    labelled = pool_per_sample(units, known.astype(np.float32)) > 0.5
    selection = select_next(units, labelled, SelectionConfig(settings.strategy, settings.budget), prediction, frames,
                            carried=propagated)
    predicted, confidence = None, None
    if prediction is not None:
        predicted = deliver(propagated, upsample_labels(prediction.probs, (height, width)))
        confidence = prediction.probs.max(axis=1).astype(np.float32).mean(axis=(1, 2))
    results = frame_results(tasks, config, units, selection, labels, predicted, confidence)
    for task, entry in zip(tasks, results, strict=True):
        client.upsert_prediction(task, entry["result"], entry["score"], settings.model_version, entry["cluster"])
    client.set_project_sampling(project, model_version=settings.model_version)
    store.write_predictions({
        "round": round_number, "model_version": settings.model_version,
        "frames": {str(_frame_number(task, settings)): entry for task, entry in zip(tasks, results, strict=True)},
    })
    return {
        "round": round_number, "frames": n_frames, "frames_labelled": int(known.any(axis=(1, 2)).sum()),
        "selected": [int(i) for i in selection.ids], "selected_by": selection.strategy,
        "annotations": annotation_fingerprint(tasks),
    }


def _frame_number(task: dict, settings: Settings) -> int:
    """The frame index /predict looks predictions up by (task data, or the file name fallback)."""
    return video_and_frame(task.get("data", {}), settings.video_field, settings.frame_field, settings.image_field)[1]


def _client(settings: Settings) -> LabelStudioClient:
    if not settings.label_studio_url or not settings.label_studio_api_key:
        raise JobError("LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY must be set for the worker to read annotations")
    return LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key,
                             allowed_hosts=settings.allowed_hosts)


def _starting_model(settings: Settings, store: VideoStore, spec):
    """Warm start from the video's last round, else the configured base checkpoint, else scratch."""
    if store.checkpoint_path.exists():
        model, saved, _ = load_checkpoint(store.checkpoint_path, device=settings.device)
        if tuple(saved.classes) == tuple(spec.classes):
            return model
        log.warning("classes changed for %s: starting a new network", store.dir)
    if settings.base_checkpoint is not None:
        model, _skipped_head = load_user_checkpoint(settings.base_checkpoint, spec, device=settings.device)
        return model
    torch.manual_seed(0)
    return build_network(spec).to(settings.device)


def _flows(store: VideoStore, frames: np.ndarray, settings: Settings):
    """Flows at FLOW_MAX_SIDE resolution, computed once per video and cached as float16."""
    size = flow_size(frames.shape[1], frames.shape[2], settings.flow_max_side)
    if store.flows_path.exists():
        flows = load_flows(store.flows_path)
        if len(flows) == len(frames) - 1 and flows.size == size:
            return flows
    flows = compute_flows(frames, size=size)
    save_flows(store.flows_path, flows)
    return flows
