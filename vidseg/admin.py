"""Admin commands: `connect` a Label Studio project to the backend, `import-video` frames as tasks."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from vidseg.frame_plan import FramePlan, ImportOptionError, ImportOptions
from vidseg.granularities import check_config, granularity_named
from vidseg.jobs.queue import RETRAIN_JOB, SCAN_JOB, enqueue_coalesced
from vidseg.labelstudio.client import LabelStudioClient, LabelStudioError
from vidseg.labelstudio.config import LabelConfigError, parse_label_config
from vidseg.labelstudio.payloads import PayloadError, video_and_frame
from vidseg.progress import Progress
from vidseg.settings import Settings
from vidseg.video_frames import PARTS_CSV, check_manifest, frame_name, open_source, write_image, write_manifest

Say = Callable[[str], None]


def connect(client: LabelStudioClient, settings: Settings, project: int, backend_url: str,
            title: str = "vidseg", say: Say = print) -> list[str]:
    """Create or verify the backend connection; returns what changed, one line each."""
    changes: list[str] = []
    info = client.get_project(project)
    try:
        config = parse_label_config(info.get("label_config") or "")
        check_config(granularity_named(settings.granularity), config)
        say(f"label config: {len(config.class_names)} classes ({', '.join(config.class_names)}), "
            f"laid out for GRANULARITY={settings.granularity}")
    except LabelConfigError as error:
        raise SystemExit(f"project {project}: {error}") from None
    basic_auth = None
    if settings.basic_auth_user is not None:
        basic_auth = (settings.basic_auth_user, settings.basic_auth_pass)
    before = {b.get("url", "").rstrip("/") for b in client.ml_backends(project)}
    backend = client.connect_ml_backend(project, backend_url, title, basic_auth=basic_auth)
    if backend_url.rstrip("/") not in before:
        changes.append(f"connected ML backend {backend_url} (id {backend.get('id')})")
    if basic_auth is not None:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        for hook in client.project_webhooks(project):
            if hook.get("url", "").startswith(backend_url.rstrip("/")):
                if (hook.get("headers") or {}).get("Authorization") != f"Basic {token}":
                    client.set_webhook_headers(hook["id"], {"Authorization": f"Basic {token}"})
                    changes.append(f"added basic auth to webhook {hook['id']} ({hook.get('url')})")
    wanted = {"sampling": "Uncertainty sampling", "show_collab_predictions": True}
    stale = {key: value for key, value in wanted.items() if info.get(key) != value}
    if stale:
        client.update_project(project, **stale)
        changes.extend(f"set {key} = {value!r}" for key, value in stale.items())
    # Read again: connecting sets an empty model_version to the backend's title. Label Studio lists
    # the project's model_version among its versions with 0 predictions, so count, don't look it up.
    current = client.get_project(project).get("model_version")
    if (client.model_versions(project) or {}).get(settings.model_version, 0) > 0:
        if current != settings.model_version:
            client.set_project_sampling(project, model_version=settings.model_version)
            changes.append(f"set model_version = {settings.model_version!r}")
    else:
        say(f"no predictions of model_version {settings.model_version!r} yet: Label Studio serves tasks in random "
            "order until the worker's first round pushes them and points the project at them")
    for line in changes or ["nothing to change: the project is already connected"]:
        say(line)
    queue_rounds(settings, project, [], scan=True, say=say)
    return changes


def queue_rounds(settings: Settings, project: int, videos: list[str], scan: bool = False,
                 say: Say = print) -> bool:
    """Queue a round of each of ``videos``, and with ``scan`` a scan of the project (it queues every
    video never trained, or whose annotations changed since), the way the webhook does: coalesced per
    video. So the worker pushes scored predictions and sets the project's sampling before an annotator
    asks for a task. Without a reachable Redis it says so in one line and queues nothing (the first
    task an annotator opens queues the round then, through /predict). Returns whether it queued."""
    jobs = [(RETRAIN_JOB, video, f"first round {project}/{video}") for video in videos]
    if scan:
        jobs.append((SCAN_JOB, None, f"scan project {project}"))
    if not jobs:
        return False
    if not settings.redis_url:
        say("REDIS_URL is unset: no first round queued; set it to the backend's Redis so the worker orders "
            "the queue before the first annotator asks (until then opening a task queues it)")
        return False
    try:
        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        queue = Queue(settings.queue_name, connection=redis)
        for job, video, what in jobs:
            enqueue_coalesced(redis, queue, job, project, video, job_timeout=settings.job_timeout,
                              description=f"{what} after an admin command")
    except (RedisError, ValueError) as error:  # ValueError: a malformed REDIS_URL
        say(f"Redis is unreachable at REDIS_URL ({type(error).__name__}): no first round queued; point "
            "REDIS_URL at the backend's Redis (until then opening a task queues it)")
        return False
    named = [*videos, *(["every video of the project without a round or with new annotations"] if scan else [])]
    say(f"queued a first round of {', '.join(named)}: the worker orders the queue of project {project}")
    return True


def import_video(client: LabelStudioClient, settings: Settings, project: int, source: Path, video: str,
                 document_root: Path, size: tuple[int, int] | None = None, say: Say = print,
                 options: ImportOptions | None = None, progress_stream: TextIO | None = None) -> list[int]:
    """Write the sampled frames of ``source`` under DOCUMENT_ROOT/<video>/ (one subfolder per part when
    split) as they are decoded, and create one task per frame; returns the ids of the tasks created.

    Resumable: frames already written are not written again, and frames that already have a task of
    their (part's) video in the project get no second one. ``size`` (height, width) is the same as
    ``options.size``. Errors a user can fix end the command (SystemExit) with what to change."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", video):
        raise SystemExit(f"video id {video!r}: use letters, digits, '_', '.' and '-' only")
    options = options or ImportOptions()
    if size is not None:
        options = replace(options, size=size)
    document_root = Path(document_root).resolve()
    folder = document_root / video
    try:
        frames = open_source(Path(source))
        plan = FramePlan(video, options, frames.fps)
        check_manifest(folder, frames.path, options)
    except ImportOptionError as error:
        raise SystemExit(str(error)) from None
    _ensure_local_storage(client, project, folder, document_root, video)
    total = plan.estimate(frames.frame_count)
    rate = f" at {frames.fps:g} fps" if frames.fps else ""
    say(f"{frames.path}: {frames.frame_count or 'an unknown number of'} frames{rate}; about "
        f"{total if total is not None else '?'} to label ({_sampling_text(options)}, {options.image_format})")
    if options.fps is not None and frames.fps is not None and options.fps >= frames.fps:
        say(f"--fps {options.fps:g} is not below the video's {frames.fps:g} fps: every frame is kept")
    importer = _TaskImporter(client, settings, project)
    progress = Progress(f"frames of {video}", total, stream=progress_stream)
    try:
        for position in frames.positions():
            parts_before = len(plan.parts)
            place = plan.place(position.index, position.time)
            if len(plan.parts) != parts_before and parts_before:  # a part is complete: its tasks and split points
                importer.flush()
                write_manifest(folder, frames.path, options, frames.fps, plan.parts)
            if place is None:
                continue
            part_folder = folder / place.video if options.splits else folder
            path = part_folder / frame_name(place.video, place.frame, options)
            there = path.is_file()
            if not there:
                part_folder.mkdir(exist_ok=True)
                write_image(path, position.image(), options)
            data = {settings.image_field: f"/data/local-files/?d={path.relative_to(document_root).as_posix()}",
                    settings.video_field: place.video, settings.frame_field: place.frame,
                    "source_frame": position.index}
            if position.time is not None:
                data["source_time"] = round(position.time, 3)
            importer.add(data)
            progress.advance(skipped=there)
        importer.flush()
    except KeyboardInterrupt:
        progress.close()
        raise SystemExit(f"interrupted after {progress.done} frames of {video}: run the same command again to "
                         "resume (frames already written are kept, tasks are not created twice)") from None
    except ImportOptionError as error:
        raise SystemExit(str(error)) from None
    progress.close()
    write_manifest(folder, frames.path, options, frames.fps, plan.parts)
    if options.splits:
        say(f"{video} split into {len(plan.parts)} parts (split points in {folder / PARTS_CSV}):")
        for part in plan.parts:
            say(f"  {part.video}: source frames {part.first_frame}-{part.last_frame}, "
                f"{_seconds(part.start)}-{_seconds(part.end)}, {part.frames} frames to label")
    say(f"imported {progress.done} frames of {video} into project {project} ({folder}): "
        f"{progress.done - progress.skipped} written, {progress.skipped} already there; "
        f"{len(importer.ids)} new tasks, {importer.existing} already in the project")
    # A video with new tasks gets a round; one whose tasks were all there (a resumed import) may never
    # have had one queued: the scan queues it unless it was trained since.
    fresh = [part.video for part in plan.parts if part.video in importer.videos]
    queue_rounds(settings, project, fresh, scan=len(fresh) < len(plan.parts), say=say)
    return importer.ids


class _TaskImporter:
    """Frame tasks in batches; skips frames whose (video, frame) already has a task in the project."""

    batch = 500

    def __init__(self, client: LabelStudioClient, settings: Settings, project: int):
        self.client, self.settings, self.project = client, settings, project
        self.pending: list[dict] = []
        self.ids: list[int] = []
        self.videos: set[str] = set()
        """Videos that got new tasks."""
        self.existing = 0
        self._known: dict[str, set[int]] = {}

    def add(self, data: dict) -> None:
        self.pending.append(data)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        fresh = [data for data in self.pending if data[self.settings.frame_field] not in
                 self._frames_of(data[self.settings.video_field])]
        self.existing += len(self.pending) - len(fresh)
        self.pending = []
        if not fresh:
            return
        answer = self.client.import_tasks(self.project, fresh)
        self.ids.extend(answer.get("task_ids") or [])
        for data in fresh:
            self._known[data[self.settings.video_field]].add(data[self.settings.frame_field])
            self.videos.add(data[self.settings.video_field])

    def _frames_of(self, video: str) -> set[int]:
        if video not in self._known:
            tasks = self.client.video_tasks(self.project, video, video_field=self.settings.video_field,
                                            frame_field=self.settings.frame_field, fields="task_only")
            self._known[video] = {frame for frame in (_frame_number(t, self.settings) for t in tasks)
                                  if frame is not None}
        return self._known[video]


def _frame_number(task: dict, settings: Settings) -> int | None:
    try:
        return video_and_frame(task.get("data") or {}, settings.video_field, settings.frame_field,
                               settings.image_field)[1]
    except PayloadError:
        return None


def _ensure_local_storage(client: LabelStudioClient, project: int, folder: Path, document_root: Path,
                          video: str) -> None:
    """A local-files storage on ``folder`` (it serves the parts' subfolders too), unless the project has one."""
    try:
        if any(Path(s.get("path") or "/-") == folder for s in client.local_storages(project)):
            return
        client.add_local_storage(project, str(folder), title=f"frames of {video}")
    except LabelStudioError as error:
        raise SystemExit(f"Label Studio refused a local storage on {folder}: {error}. Start Label Studio with "
                         f"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                         f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={document_root}") from None


def _sampling_text(options: ImportOptions) -> str:
    if options.every is not None:
        return f"every {options.every} frames" if options.every > 1 else "every frame"
    return f"{options.fps:g} per second" if options.fps is not None else "every frame"


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f} s"
