"""Admin commands: `connect` a Label Studio project to the backend, `import-video` frames as tasks."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vidseg.granularities import check_config, granularity_named
from vidseg.labelstudio.client import LabelStudioClient, LabelStudioError
from vidseg.labelstudio.config import LabelConfigError, parse_label_config
from vidseg.settings import Settings

Say = Callable[[str], None]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


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
    if settings.model_version in (client.model_versions(project) or {}):
        if info.get("model_version") != settings.model_version:
            client.set_project_sampling(project, model_version=settings.model_version)
            changes.append(f"set model_version = {settings.model_version!r}")
    else:
        say(f"model_version {settings.model_version!r} has no predictions yet: the worker sets it after its "
            "first round (Label Studio refuses a version without predictions)")
    for line in changes or ["nothing to change: the project is already connected"]:
        say(line)
    return changes


def read_frames(source: Path, size: tuple[int, int] | None = None):
    """Yield (index, RGB frame) from a video file or a folder of images (sorted by name)."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f"{source} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for index, path in enumerate(files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"{path} is not a readable image")
            yield index, _resized(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size)
        return
    if not source.exists():
        raise SystemExit(f"{source} does not exist: give a video file or a folder of frames")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise SystemExit(f"{source} could not be opened as a video")
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        yield index, _resized(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size)
        index += 1
    capture.release()
    if index == 0:
        raise SystemExit(f"{source}: no frame could be decoded")


def import_video(client: LabelStudioClient, settings: Settings, project: int, source: Path, video: str,
                 document_root: Path, size: tuple[int, int] | None = None, say: Say = print) -> list[int]:
    """Write frames under DOCUMENT_ROOT/<video>/ and create one task per frame; returns task ids."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", video):
        raise SystemExit(f"video id {video!r}: use letters, digits, '_', '.' and '-' only")
    document_root = Path(document_root).resolve()
    folder = document_root / video
    folder.mkdir(parents=True, exist_ok=True)
    tasks = []
    for index, frame in tqdm(read_frames(source, size), desc=f"frames of {video}", unit="frame"):
        path = folder / f"{video}_{index:06d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        relative = path.relative_to(document_root).as_posix()
        tasks.append({settings.image_field: f"/data/local-files/?d={relative}",
                      settings.video_field: video, settings.frame_field: index})
    try:
        client.add_local_storage(project, str(folder), title=f"frames of {video}")
    except LabelStudioError as error:
        raise SystemExit(f"Label Studio refused a local storage on {folder}: {error}. Start Label Studio with "
                         f"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                         f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={document_root}") from None
    answer = client.import_tasks(project, tasks)
    ids = list(answer.get("task_ids") or [])
    say(f"imported {len(tasks)} frames of {video} into project {project} ({folder})")
    return ids


def _resized(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None:
        return frame
    height, width = size
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
