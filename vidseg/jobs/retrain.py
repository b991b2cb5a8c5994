"""The retrain job of one video, as the design reads:

    lock the video -> claim the pending slot -> read tasks + annotations from Label Studio
    -> frames (cached) -> human label maps -> the engine's round (carry labels, fine-tune with a
    warm start, predict, deliver, select) -> push predictions (score + cluster) -> point the
    project's uncertainty sampling at them -> write the store -> round + 1
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from redis import Redis

from propagation import CheckpointError, checkpoint_info, embedding_dim, on_disk, starting_network
from vidseg.artifacts import cached_flows, save_checkpoint
from vidseg.capacity import check_round_fits, folder_bytes, labels_memory_bytes, round_disk_bytes
from vidseg.densify_cache import DiskDensifyCache
from vidseg.engine import RoundResult, flow_size, labelled_samples, run_round
from vidseg.granularities import check_config, granularity_named
from vidseg.job_metrics import StageClock, failure_label, record_job
from vidseg.jobs.lock import JobError, video_lock
from vidseg.jobs.queue import claim_pending
from vidseg.labelstudio.annotations import annotation_fingerprint, human_labels, latest_annotation
from vidseg.labelstudio.client import LabelStudioClient, client_from_settings
from vidseg.labelstudio.config import LabelConfig, parse_label_config
from vidseg.labelstudio.delivery import deliver_predictions
from vidseg.labelstudio.frames import load_frames
from vidseg.labelstudio.payloads import video_and_frame
from vidseg.labelstudio.predictions import frame_results
from vidseg.settings import Settings
from vidseg.store import Store, VideoStore
from vidseg.vote_cache import VoteCache


def retrain_video(project: int, video: str, job_id: str) -> dict:
    """RQ entry point: one round for one video, holding the video's lock."""
    settings = Settings.from_env()
    redis = Redis.from_url(settings.redis_url)
    store = Store(settings.model_dir).video(project, video)
    clock = StageClock(store, first_stage="lock_wait")  # seconds per stage, for /metrics (vidseg.job_metrics)
    try:
        with video_lock(redis, project, video, wait_seconds=settings.job_timeout):
            clock.enter("prepare")
            claim_pending(redis, project, video, job_id)
            store.remove_stale_temporaries()
            store.update_status(state="training", job_id=job_id, started_at=time.time(), progress=None)
            started = time.perf_counter()
            try:
                outcome = train_and_publish(settings, client_from_settings(settings), clock, project, video)
            except Exception as error:
                store.update_status(state="failed", last_error=failure_reason(error), failed_at=time.time())
                raise
            duration, finished = round(time.perf_counter() - started, 2), time.time()
            store.update_status(state="idle", last_error=None, last_duration_s=duration, last_trained_at=finished,
                                progress=None, history=_history(store.status(), outcome, duration, finished),
                                **outcome)
    except Exception as error:
        record_job(redis, "failed", clock.finish(), reason=failure_label(error), failed_stage=clock.stage)
        raise
    record_job(redis, "succeeded", clock.finish())
    return outcome


HISTORY_ROUNDS = 20
"""Rounds the status keeps (the admin page shows them)."""


def _history(status: dict, outcome: dict, duration: float, finished: float) -> list[dict]:
    """The status's round history with this round appended, the last HISTORY_ROUNDS, newest last."""
    entry = {"round": outcome["round"], "finished_at": finished, "duration_s": duration,
             "frames_labelled": outcome["frames_labelled"], "selected": outcome["selected"][:50],
             "selected_by": outcome["selected_by"], "weight_check": outcome.get("weight_check")}
    return [*status.get("history", []), entry][-HISTORY_ROUNDS:]


def train_and_publish(settings: Settings, client: LabelStudioClient, store: VideoStore, project: int,
                      video: str) -> dict:
    """Read the video from Label Studio, run the engine's round, push its predictions; the round's summary."""
    config = parse_label_config(client.get_project(project)["label_config"])
    granularity = granularity_named(settings.granularity)
    check_config(granularity, config)
    tasks = client.video_tasks(project, video, video_field=settings.video_field, frame_field=settings.frame_field)
    if not tasks:
        raise JobError(f"project {project} has no tasks with data[{settings.video_field!r}] == {video!r}: "
                       "check VIDEO_FIELD")
    frames = load_frames(client.download, tasks, config.image_value or settings.image_field,
                         store.dir.parent / "frames", max_pixels=settings.max_image_pixels)
    n_frames, height, width = frames.shape[:3]
    round_number = int(store.status().get("round", 0)) + 1
    spec, round_config, unit_params = settings.round_setup(config.class_names, round_number)
    base = _base_checkpoint(settings, store, spec)
    model = starting_network(spec, warm=store.checkpoint_path, base=base, device=settings.device)
    _check_fits(settings, store, tasks, frames.shape, spec, model)
    labels = human_labels(tasks, config, height, width)
    shutil.rmtree(store.scratch_dir, ignore_errors=True)
    scratch = on_disk(store.scratch_dir)
    units = granularity.units(n_frames, height, width, frames, unit_params, scratch=scratch)
    labelled = labelled_samples(units, labels)

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            store.update_status(progress={"stage": stage, "done": done, "total": total})

    def video_flows():
        return cached_flows(store.flows_path, frames, flow_size(height, width, settings.flow_max_side),
                            progress=lambda done, total: progress("flow", done, total),
                            keys=[path.name for path in frames.paths], preset=settings.flow_preset)

    flows = video_flows() if labels.any_known() else None
    result = run_round(model, frames, labels, units, labelled, flows, spec, round_config,
                       scratch=scratch, vote_cache=VoteCache(store.votes_dir),
                       densify_cache=DiskDensifyCache(store.densified_dir),
                       predict_untrained=base is not None, trained_on=frames_model_trained_on(store, base),
                       progress=progress)
    if result.trained:
        save_checkpoint(store.checkpoint_path, model, spec, {"round": round_number, "trained_on": result.trained_on})
    _publish(settings, client, store, project, tasks, config, units, labels, result, round_number, progress,
             [path.name for path in frames.paths])
    shutil.rmtree(store.scratch_dir, ignore_errors=True)
    if flows is None and n_frames > 1:
        # A cold start computes the flows once its selection is published: they are ready while the
        # first frames are drawn, so the first annotation's round does not wait for them.
        video_flows()
    return {
        "round": round_number, "frames": n_frames, "frames_labelled": len(labels.known_frames),
        "weight_check": None if result.weight_check is None else result.weight_check.describe(),
        "selected": [int(i) for i in result.selection.ids], "selected_by": result.selection.strategy,
        "annotations": annotation_fingerprint(tasks),
    }


def frames_model_trained_on(store: VideoStore, base) -> list[int] | None:
    """The video's labelled frames the round's starting model has trained on (`run_round`'s
    trained_on): its own checkpoint's, none for a base model; None for fresh weights, or for a
    checkpoint that does not say."""
    if not store.checkpoint_path.is_file():
        return [] if base is not None else None
    try:
        _, saved = checkpoint_info(store.checkpoint_path)
    except CheckpointError:
        return None
    trained_on = saved.get("trained_on")
    return None if trained_on is None else [int(t) for t in trained_on]


def _check_fits(settings: Settings, store: VideoStore, tasks: list[dict], shape, spec, model) -> None:
    """Refuse a round the disk or memory cannot take before any of it runs (see vidseg.capacity)."""
    n_frames, height, width = shape[:3]
    needed_disk = round_disk_bytes(n_frames, spec.num_classes, flow_size(height, width, settings.flow_max_side),
                                   spec.size, embedding_dim(spec, model))
    annotated = sum(latest_annotation(task) is not None for task in tasks)
    check_round_fits(store.dir, needed_disk, labels_memory_bytes(annotated, height, width), frames=n_frames,
                     height=height, width=width, flows_cached=folder_bytes(store.flows_path))


def _base_checkpoint(settings: Settings, store: VideoStore, spec) -> Path | None:
    """What a video without its own checkpoint starts from: with PROJECT_MEMORY, the newest model of
    the project's other videos (trained on their human labels) when it is the same network; else
    BASE_CHECKPOINT (or nothing: fresh weights)."""
    if settings.project_memory and not store.checkpoint_path.is_file():  # its own model wins: skip the read
        sibling = store.project_checkpoint()
        if sibling is not None:
            try:
                saved, _ = checkpoint_info(sibling)
            except CheckpointError:
                saved = {}
            if all(saved.get(key) == value for key, value in
                   {"arch": spec.arch, "encoder": spec.encoder, "height": spec.height, "width": spec.width}.items()):
                return sibling
    return settings.base_checkpoint


def _publish(settings: Settings, client: LabelStudioClient, store: VideoStore, project: int, tasks: list[dict],
             config: LabelConfig, units, labels, result: RoundResult, round_number: int, progress,
             frame_files: list[str]) -> None:
    """One prediction per task (score + cluster), the project's sampling, then the store /predict
    answers from. Frames are encoded one at a time and pushed DELIVERY_CONCURRENCY at a time; a frame
    whose entry equals the previous round's (same model version) is not sent again. Each stored entry
    names its frame's cached image file (`frame_file`), which the admin page's thumbnails read."""
    entries = ({**entry, "frame_file": name} for entry, name in
               zip(frame_results(tasks, config, units, result.selection, labels, result.delivered), frame_files,
                   strict=True))
    stored = store.predictions_round()
    same_version = stored is not None and stored.model_version == settings.model_version
    with store.predictions_writer(round_number, settings.model_version) as writer:
        deliver_predictions(
            client, project, settings.model_version, zip(tasks, entries, strict=True),
            previous=lambda task: store.prediction(_frame_number(task, settings)) if same_version else None,
            record=lambda task, entry: writer.add(_frame_number(task, settings), entry),
            concurrency=settings.delivery_concurrency, round_number=round_number,
            progress=lambda done: progress("publish", done, len(tasks)))
        client.set_project_sampling(project, model_version=settings.model_version)


def _frame_number(task: dict, settings: Settings) -> int:
    """The frame index /predict looks predictions up by (task data, or the file name fallback)."""
    return video_and_frame(task.get("data", {}), settings.video_field, settings.frame_field, settings.image_field)[1]


def failure_reason(error: BaseException) -> str:
    """The error for the status, with the OS error behind it when there is one: torch.save on a full
    disk raises a RuntimeError ("unexpected pos ...") whose context is the OSError that says why."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, MemoryError):
        return (f"{text}: the worker ran out of memory; split the video into shorter ones (import-video "
                "--split-every), lower FLOW_MAX_SIDE or give the worker more memory")
    cause = error
    for _ in range(10):  # a chain is short; the bound guards against a cycle
        cause = cause.__cause__ or cause.__context__
        if cause is None or isinstance(error, OSError):
            break
        if isinstance(cause, OSError):
            return f"{text} (caused by {type(cause).__name__}: {cause})"
    return text
