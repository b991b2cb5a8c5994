"""Parsing what Label Studio sends to the backend: webhooks, /setup and /predict bodies.

Webhooks handled (LS 1.23): ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED``
``{action, annotation, task, project}``; ``ANNOTATIONS_CREATED`` (bulk: ``annotation`` and
``task`` are lists); ``ANNOTATIONS_DELETED`` ``{action, annotations: [{id}], project: {id}}``
and the older singular ``ANNOTATION_DELETED``; ``START_TRAINING`` ``{action, project}``. Every
other action is ignored (``parse_webhook`` returns None) so LS always gets a 200 for it.

Video id and frame index come from task data fields (names configurable). When a field is
missing they are parsed from the image file name (:func:`parse_frame_name`):
- the file is the ``d=`` parameter of local-storage URLs (``/data/local-files/?d=clips/x_7.png``),
  the decoded ``fileuri=`` of LS storage proxy URLs, else the URL path (``s3://b/clips/x_7.png``);
- uploads (``/data/upload/<project>/<8 hex>-<name>``) drop the 8-hex prefix LS adds;
- ``<video>_<frame>.<ext>``: the frame is the digits after the last ``_`` (letters right after
  the ``_`` are allowed: CamVid's ``0006R0_f01080``), the video id all before it;
- ``<video>/<frame>.<ext>`` (a bare number as file name): the folder is the video id.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ANNOTATION_ACTIONS = frozenset({"ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED"})
DELETE_ACTIONS = frozenset({"ANNOTATIONS_DELETED", "ANNOTATION_DELETED", "TASKS_DELETED"})
TRAIN_ACTIONS = frozenset({"START_TRAINING"})
HANDLED_ACTIONS = ANNOTATION_ACTIONS | DELETE_ACTIONS | TRAIN_ACTIONS

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)_[A-Za-z]*(?P<frame>[0-9]+)$")
MAX_ID = 2**63 - 1
"""Largest project id or frame index accepted (Label Studio's ids are 64-bit integers)."""


class PayloadError(ValueError):
    """A request body lacks something; the message says which field and how to fix it."""


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook worth acting on. ``video`` is None when the payload does not say which video
    (deletions, START_TRAINING, a bulk creation over several videos): the whole project is meant."""

    action: str
    project_id: int
    video: str | None = None
    task_id: int | None = None
    annotation_ids: tuple[int, ...] = ()
    frame: int | None = None


@dataclass(frozen=True)
class SetupRequest:
    project_id: int
    label_config: str
    hostname: str | None = None
    access_token: str | None = field(default=None, repr=False)
    extra_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictRequest:
    tasks: tuple[dict[str, Any], ...]
    """Full task dicts as LS sends them; each has an int ``id`` and a dict ``data``."""
    project_id: int | None = None
    label_config: str | None = None
    context: dict[str, Any] | None = None


def project_id_of(value: Any, where: str = "project") -> int:
    """Project id from ``{"id": 3, ...}``, ``3``, ``"3"`` or LS's ``"<id>.<created timestamp>"``."""
    if isinstance(value, dict):
        value = value.get("id")
        where += ".id"
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    if isinstance(value, str):
        head = _decimal(value.split(".", 1)[0])
        if head is not None and head > 0:
            return head
    raise PayloadError(f"{where} is {value!r}: expected a project id or \"<id>.<timestamp>\" as LS sends it")


def _decimal(text: str) -> int | None:
    """The integer an ASCII digit string spells, None for anything else or above MAX_ID.

    (``str.isdigit`` accepts "²", which ``int`` refuses, and ``int`` refuses over 4300 digits.)
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _int_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{where} is {value!r}, expected an integer id")
    return value


def _frame_source(url: str) -> tuple[str, bool]:
    """(path of the frame file, whether it is an LS upload) for a task image URL."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1" (unbalanced IPv6 brackets)
        return "", False
    query = parse_qs(parts.query)
    if "d" in query:  # local storage: /data/local-files/?d=<path under the document root>
        return query["d"][0], False
    if "fileuri" in query:  # storage proxy: /tasks/<id>/resolve/?fileuri=<base64 of s3://...>
        encoded = query["fileuri"][0]
        try:
            inner = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "", False
        return _frame_source(inner)
    path = unquote(parts.path)
    return path, "/data/upload/" in path


def parse_frame_name(url: str) -> tuple[str, int] | None:
    """``(video, frame)`` from an image URL or path by the file name rules above, else None."""
    path, uploaded = _frame_source(url)
    pieces = [p for p in path.split("/") if p]
    if not pieces:
        return None
    stem = pieces[-1].rsplit(".", 1)[0] if "." in pieces[-1] else pieces[-1]
    if uploaded:
        stem = _UPLOAD_PREFIX.sub("", stem)
    match = _VIDEO_FRAME.match(stem)
    if match and _decimal(match["frame"]) is not None:
        return match["video"], _decimal(match["frame"])
    if _decimal(stem) is not None and len(pieces) >= 2 and not uploaded:
        return pieces[-2], _decimal(stem)
    return None


def _frame_value(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise PayloadError(f"{where} is {value!r}, expected a frame index")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _decimal(value.strip()) is not None:
        value = _decimal(value.strip())
    if not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise PayloadError(f"{where} is {value!r}, expected a frame index (integer >= 0)")
    return value


def video_and_frame(
    task_data: dict[str, Any], video_field: str = "video", frame_field: str = "frame",
    image_field: str = "image",
) -> tuple[str, int]:
    """``(video_id, frame)`` of a task: data fields first, then the image file name."""
    if not isinstance(task_data, dict):
        raise PayloadError(f"task data is {type(task_data).__name__}, expected an object")
    video = task_data.get(video_field)
    frame = task_data.get(frame_field)
    if video is None or frame is None:
        parsed = parse_frame_name(str(task_data.get(image_field) or ""))
        if parsed is None:
            missing = [f for f, v in ((video_field, video), (frame_field, frame)) if v is None]
            raise PayloadError(
                f"task data has no {' or '.join(map(repr, missing))} field and its {image_field!r} "
                f"({task_data.get(image_field)!r}) is not named <video>_<frame>.<ext>; the data fields are "
                f"{', '.join(map(repr, task_data)) or 'none'}: put the video id and frame index in the data, "
                "or set VIDEO_FIELD / FRAME_FIELD to the task data fields that hold them"
            )
        video = parsed[0] if video is None else video
        frame = parsed[1] if frame is None else frame
    if isinstance(video, bool) or not isinstance(video, (str, int)) or str(video) == "":
        raise PayloadError(f"task data {video_field!r} is {video!r}, expected a video id (text)")
    return str(video), _frame_value(frame, f"task data {frame_field!r}")


def _ids(items: Any, where: str) -> tuple[int, ...]:
    items = items if isinstance(items, list) else [items]
    return tuple(_int_id(item.get("id") if isinstance(item, dict) else item, f"{where}.id") for item in items)


def parse_webhook(payload: Any, video_field: str = "video", frame_field: str = "frame",
                  image_field: str = "image") -> WebhookEvent | None:
    """The event a webhook body describes, or None for actions the backend ignores."""
    if not isinstance(payload, dict):
        raise PayloadError(f"a webhook body is a JSON object, got {type(payload).__name__}")
    action = payload.get("action")
    if not isinstance(action, str) or action not in HANDLED_ACTIONS:  # a list or dict is unhashable
        return None
    if "project" not in payload:
        raise PayloadError(f"{action} webhook has no 'project': Label Studio sends the project object")
    project_id = project_id_of(payload["project"])
    if action in TRAIN_ACTIONS:
        return WebhookEvent(action, project_id)
    if action in DELETE_ACTIONS:
        key = "annotations" if "annotations" in payload else "annotation"
        if key not in payload:
            raise PayloadError(f"{action} webhook has neither 'annotations' nor 'annotation'")
        return WebhookEvent(action, project_id, annotation_ids=_ids(payload[key], key))

    annotation = payload.get("annotation")
    if annotation is None:
        raise PayloadError(f"{action} webhook has no 'annotation'")
    annotation_ids = _ids(annotation, "annotation")
    tasks = payload.get("task")
    if tasks is None:  # older LS: only the task id inside the annotation
        task_ids = {a.get("task") for a in (annotation if isinstance(annotation, list) else [annotation])
                    if isinstance(a, dict) and isinstance(a.get("task"), int)}
        task_id = task_ids.pop() if len(task_ids) == 1 else None
        return WebhookEvent(action, project_id, task_id=task_id if isinstance(task_id, int) else None,
                            annotation_ids=annotation_ids)
    tasks = tasks if isinstance(tasks, list) else [tasks]
    frames = []
    for task in tasks:
        if not isinstance(task, dict) or "data" not in task:
            raise PayloadError(f"{action} webhook 'task' has no 'data' object")
        frames.append((_int_id(task.get("id"), "task.id"),
                       *video_and_frame(task["data"], video_field, frame_field, image_field)))
    videos = {video for _, video, _ in frames}
    if len(frames) == 1:
        task_id, video, frame = frames[0]
        return WebhookEvent(action, project_id, video, task_id, annotation_ids, frame)
    return WebhookEvent(action, project_id, videos.pop() if len(videos) == 1 else None,
                        annotation_ids=annotation_ids)


def parse_setup(payload: Any) -> SetupRequest:
    """``/setup`` body: ``{project: "<id>.<ts>", schema: <label config>, hostname, access_token, ...}``."""
    if not isinstance(payload, dict):
        raise PayloadError(f"a /setup body is a JSON object, got {type(payload).__name__}")
    if "project" not in payload:
        raise PayloadError("/setup body has no 'project' (Label Studio sends \"<id>.<timestamp>\")")
    schema = payload.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise PayloadError("/setup body has no 'schema': it must carry the project's label config XML")
    extra = payload.get("extra_params") or {}
    return SetupRequest(
        project_id=project_id_of(payload["project"]),
        label_config=schema,
        hostname=payload.get("hostname") or None,
        access_token=payload.get("access_token") or None,
        extra_params=extra if isinstance(extra, dict) else {},
    )


def parse_predict(payload: Any) -> PredictRequest:
    """``/predict`` body: ``{tasks: [full task dicts], project, label_config, params: {context}}``."""
    if not isinstance(payload, dict):
        raise PayloadError(f"a /predict body is a JSON object, got {type(payload).__name__}")
    tasks = payload.get("tasks")
    if not isinstance(tasks, list):
        raise PayloadError("/predict body needs 'tasks': a list of task objects, each with 'id' and 'data'")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise PayloadError(f"tasks[{i}] is {type(task).__name__}, expected a task object")
        _int_id(task.get("id"), f"tasks[{i}].id")
        if not isinstance(task.get("data"), dict):
            raise PayloadError(f"tasks[{i}] (id {task['id']}) has no 'data' object")
    project = payload.get("project")
    config = payload.get("label_config")
    params = payload.get("params") if isinstance(payload.get("params"), dict) else {}
    context = params.get("context")
    return PredictRequest(
        tasks=tuple(tasks),
        project_id=project_id_of(project) if project not in (None, "") else None,
        label_config=config if isinstance(config, str) and config.strip() else None,
        context=context if isinstance(context, dict) else None,
    )
