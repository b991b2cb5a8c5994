"""Export a video's labels as a data set: index PNGs, colour PNGs, a palette and per-frame provenance.

    OUT/<video key>/
        export.json          video, project, round, settings, classes, and per frame: file names,
                             human / model / unknown pixel counts, mean confidence (when stored)
        palette.json         class name -> [R, G, B]
        labels/000017.png    uint8, value = class id, 255 = no label
        colour/000017.png    RGB, the palette's colours, black = no label
        source/000017.png    uint8 provenance per pixel: 0 = no label, 1 = model, 2 = human

Human labels always win over the model's. ``export_video`` does the writing from arrays (no Label
Studio needed); ``read_export`` reads an export back; ``export_project`` reads MODEL_DIR's store and,
given a Label Studio client, the current annotations, so labels submitted after the last round win too.

    python -m vidseg export --project 3 [--video clip-1] --out exports/
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from propagation.labels import UNKNOWN
from vidseg.atomic import atomic_write_bytes, atomic_write_json
from vidseg.labelstudio.brush import results_to_label_map
from vidseg.labelstudio.config import LabelConfig, parse_label_config
from vidseg.progress import Progress
from vidseg.store import Store, video_key

FORMAT, VERSION = "vidseg-export", 1
UNKNOWN_INDEX = 255
"""Value of an unlabelled pixel in the index PNGs."""
SOURCE_NONE, SOURCE_MODEL, SOURCE_HUMAN = 0, 1, 2
DEFAULT_COLOURS = (
    (128, 64, 128), (70, 70, 70), (153, 153, 153), (107, 142, 35), (70, 130, 180), (220, 20, 60), (0, 0, 142),
    (244, 35, 232), (250, 170, 30), (220, 220, 0), (119, 11, 32), (152, 251, 152), (255, 0, 0), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (190, 153, 153), (102, 102, 156), (255, 127, 14), (44, 160, 44),
)
SETTINGS_KEYS = ("granularity", "strategy", "budget", "arch", "encoder", "encoder_weights", "base_checkpoint",
                 "height", "width", "steps", "learning_rate", "batch_size", "temporal_weight", "model_version")


class ExportError(ValueError):
    """The export cannot be made or read; the message says what is missing or wrong."""


@dataclass
class ExportedVideo:
    """What ``read_export`` returns. labels, source: (F, H, W) int16 / uint8; frames: frame ids in order."""

    labels: np.ndarray
    source: np.ndarray
    frames: list
    class_names: tuple[str, ...]
    palette: dict[str, list[int]]
    manifest: dict


def default_palette(class_names) -> dict[str, list[int]]:
    """A fixed colour per class position (Cityscapes-like first 20), then deterministic pseudo-random ones."""
    palette = {}
    for index, name in enumerate(class_names):
        if index < len(DEFAULT_COLOURS):
            palette[name] = list(DEFAULT_COLOURS[index])
        else:
            palette[name] = [int(v) for v in np.random.default_rng(index).integers(40, 256, 3)]
    return palette


def palette_from_config(xml: str, config: LabelConfig) -> dict[str, list[int]]:
    """Colours of the class ``<Label background="#rrggbb">`` of the label config; defaults for the rest."""
    palette = default_palette(config.class_names)
    try:
        root = ET.fromstring(xml.strip())
    except ET.ParseError:
        return palette
    brush = next((el for el in root.iter() if el.get("name") == config.brush_name), None)
    for label in [] if brush is None else brush.iter():
        value, colour = label.get("value"), (label.get("background") or "").strip()
        if value in palette and len(colour) == 7 and colour.startswith("#"):
            try:
                palette[value] = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
            except ValueError:
                continue
    return palette


def _check_labels(labels: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ExportError(f"{what} must be integer (F, H, W) label maps, got {labels.dtype} {labels.shape}")
    bad = (labels != UNKNOWN) & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise ExportError(f"{what} of frame #{frame} hold label values {np.unique(labels[bad]).tolist()}, which are "
                          f"not classes of the config (0..{n_classes - 1}) or UNKNOWN ({UNKNOWN})")
    return labels


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ExportError("PNG encoding failed")
    return data.tobytes()


def _file_name(frame) -> str:
    if isinstance(frame, (int, np.integer)):
        return f"{int(frame):06d}.png"
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(frame)).strip(".") or "frame"
    return f"{stem}.png"


def export_video(frames_labels, human, class_names, out_dir, meta: dict | None = None, *, confidence=None,
                 frame_ids=None, palette: dict | None = None, progress: Progress | None = None) -> dict:
    """Write one video's labels to ``out_dir``; returns the manifest (also written as export.json, last).

    frames_labels: (F, H, W) int model labels, UNKNOWN where none; human: (F, H, W) human labels or None,
    UNKNOWN where none; human labels win. class_names: class id -> name (at most 255 classes).
    meta: JSON-serialisable facts to keep (project, video, round, settings...). confidence: (F,) mean
    confidence per frame, None entries allowed. frame_ids: one id per frame (int or str), default 0..F-1.
    progress: advanced once per frame written (the caller closes it).
    """
    class_names = tuple(str(name) for name in class_names)
    if not class_names or len(set(class_names)) != len(class_names) or len(class_names) > UNKNOWN_INDEX:
        raise ExportError(f"class names must be 1..{UNKNOWN_INDEX} distinct names, got {len(class_names)}")
    model = _check_labels(frames_labels, len(class_names), "model labels")
    if human is None:
        human = np.full(model.shape, UNKNOWN, dtype=np.int16)
    human = _check_labels(human, len(class_names), "human labels")
    if human.shape != model.shape:
        raise ExportError(f"human labels {human.shape} and model labels {model.shape} differ in shape")
    n_frames = len(model)
    frame_ids = list(range(n_frames)) if frame_ids is None else list(frame_ids)
    confidence = [None] * n_frames if confidence is None else list(confidence)
    if len(frame_ids) != n_frames or len(confidence) != n_frames:
        raise ExportError(f"{n_frames} frames but {len(frame_ids)} frame ids and {len(confidence)} confidences")
    names = [_file_name(f) for f in frame_ids]
    if len(set(names)) != len(names):
        raise ExportError("frame ids must be distinct")
    palette = {name: list(map(int, (palette or {}).get(name) or default_palette(class_names)[name]))
               for name in class_names}
    lut = np.zeros((UNKNOWN_INDEX + 1, 3), dtype=np.uint8)
    lut[: len(class_names)] = [palette[name] for name in class_names]
    out_dir = Path(out_dir)
    entries = []
    for index in range(n_frames):
        is_human = human[index] != UNKNOWN
        final = np.where(is_human, human[index], model[index])
        labelled = final != UNKNOWN
        index_map = np.where(labelled, final, UNKNOWN_INDEX).astype(np.uint8)
        source = np.where(is_human, SOURCE_HUMAN, np.where(labelled, SOURCE_MODEL, SOURCE_NONE)).astype(np.uint8)
        atomic_write_bytes(out_dir / "labels" / names[index], _png(index_map))
        atomic_write_bytes(out_dir / "colour" / names[index], _png(cv2.cvtColor(lut[index_map], cv2.COLOR_RGB2BGR)))
        atomic_write_bytes(out_dir / "source" / names[index], _png(source))
        value = confidence[index]
        entries.append({
            "frame": frame_ids[index] if isinstance(frame_ids[index], str) else int(frame_ids[index]),
            "file": names[index], "human_pixels": int(is_human.sum()),
            "model_pixels": int((labelled & ~is_human).sum()), "unknown_pixels": int((~labelled).sum()),
            "mean_confidence": None if value is None else round(float(value), 4),
        })
        if progress is not None:
            progress.advance()
    manifest = {"format": FORMAT, "version": VERSION, **(meta or {}), "class_names": list(class_names),
                "unknown_value": UNKNOWN_INDEX, "height": int(model.shape[1]), "width": int(model.shape[2]),
                "frames": entries}
    try:
        atomic_write_json(out_dir / "palette.json", palette)
        atomic_write_json(out_dir / "export.json", manifest)
    except TypeError as error:
        raise ExportError(f"meta must be JSON-serialisable: {error}") from None
    return manifest


def read_export(directory) -> ExportedVideo:
    """Read what ``export_video`` wrote: labels (UNKNOWN where 255), per-pixel source, classes, palette."""
    directory = Path(directory)
    manifest_path = directory / "export.json"
    if not manifest_path.is_file():
        raise ExportError(f"{directory} is not a vidseg export: {manifest_path.name} is missing")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{manifest_path} is not a {FORMAT} manifest")
    labels, sources = [], []
    for entry in manifest["frames"]:
        index_map = cv2.imread(str(directory / "labels" / entry["file"]), cv2.IMREAD_UNCHANGED)
        source = cv2.imread(str(directory / "source" / entry["file"]), cv2.IMREAD_UNCHANGED)
        if index_map is None or source is None:
            raise ExportError(f"{directory}: label or source PNG {entry['file']} is missing or unreadable")
        index_map = index_map.astype(np.int16)
        labels.append(np.where(index_map == UNKNOWN_INDEX, UNKNOWN, index_map).astype(np.int16))
        sources.append(source)
    height, width = manifest["height"], manifest["width"]
    return ExportedVideo(
        labels=np.stack(labels) if labels else np.zeros((0, height, width), np.int16),
        source=np.stack(sources) if sources else np.zeros((0, height, width), np.uint8),
        frames=[entry["frame"] for entry in manifest["frames"]], class_names=tuple(manifest["class_names"]),
        palette=json.loads((directory / "palette.json").read_text()), manifest=manifest,
    )


# --- from the store (and Label Studio) ----------------------------------------------------------

def _frame_size(predictions: dict) -> tuple[int, int]:
    for entry in predictions.get("frames", {}).values():
        for result in entry.get("result") or []:
            if result.get("original_height") and result.get("original_width"):
                return int(result["original_height"]), int(result["original_width"])
    raise ExportError("the stored predictions hold no brush mask to read the frame size from")


def config_from_predictions(predictions: dict, class_names) -> LabelConfig:
    """A minimal label config when Label Studio is not reachable: names from a brush result + classes."""
    for entry in predictions.get("frames", {}).values():
        for result in entry.get("result") or []:
            if str(result.get("type")).lower() == "brushlabels" and result.get("from_name"):
                return LabelConfig(image_name=result.get("to_name", "image"), image_value="image",
                                   brush_name=result["from_name"], class_names=tuple(class_names))
    raise ExportError("the stored predictions hold no brush result: nothing to export")


def _checkpoint_info(path: Path) -> dict | None:
    """``{"spec", "extra"}`` of the video's checkpoint (the network that produced the round), if any."""
    if not path.is_file():
        return None
    from propagation import CheckpointError, checkpoint_info

    try:
        spec, extra = checkpoint_info(path)
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    return {"spec": spec, "extra": extra}


def export_project(settings, project: int, out_dir, video: str | None = None, client=None,
                   label_config_xml: str | None = None, log=print, progress_stream: TextIO | None = None) -> list[dict]:
    """Export every stored video of ``project`` (or only ``video``) under ``out_dir/<video key>/``.

    settings: ``vidseg.settings.Settings`` (MODEL_DIR, field names). client: a LabelStudioClient (or
    anything with ``get_project`` and ``video_tasks``) for the label config and current human labels;
    without one, ``label_config_xml`` or the video's checkpoint names the classes, and every stored
    pixel counts as a model pixel (the store cannot tell which were human). Progress per video: frames
    read from the store, then frames written; a bar each on a terminal, else plain lines
    (``frames of clip-1 written: 120/1800 frames (7%)``) every 10 s and at the end.
    """
    store = Store(settings.model_dir)
    videos = [s["video"] for s in store.statuses(project) if s.get("video")]
    if not videos:
        raise ExportError(f"project {project} has no videos in the store {Path(settings.model_dir).resolve()}: "
                          "check --project and MODEL_DIR (the worker writes it after a round)")
    if video is not None and video not in videos:
        raise ExportError(f"video {video!r} is not in project {project}'s store (known: {', '.join(videos)})")
    xml = label_config_xml
    if client is not None:
        xml = client.get_project(project)["label_config"]
    manifests = []
    for name in [video] if video is not None else videos:
        manifests.append(_export_stored_video(settings, store.video(project, name), out_dir, client, xml,
                                              progress_stream))
        log(f"exported {name}: {len(manifests[-1]['frames'])} frames to {Path(out_dir) / video_key(name)}")
    return manifests


def _export_stored_video(settings, stored, out_dir, client, xml: str | None, progress_stream=None) -> dict:
    predictions = stored.predictions_round()
    if predictions is None or not predictions.frames:
        raise ExportError(f"video {stored.video!r} has no stored predictions yet: wait for its first round")
    network = _checkpoint_info(stored.checkpoint_path)
    # the frame size and brush names come from the first frame with a brush mask (read frame by frame)
    sample = {"frames": {"first": next((entry for _, entry in predictions.items() if entry.get("result")), {})}}
    if xml is not None:
        config = parse_label_config(xml)
    else:
        classes = (network or {}).get("spec", {}).get("classes")
        if not classes:
            raise ExportError(f"video {stored.video!r}: no label config to name the classes; set LABEL_STUDIO_URL "
                              "and LABEL_STUDIO_API_KEY, or pass --label-config FILE")
        config = config_from_predictions(sample, classes)
    height, width = _frame_size(sample)
    human_by_frame = _human_by_frame(settings, client, stored, config, height, width)
    frames = sorted({int(key) for key in predictions.frames} | set(human_by_frame))
    position = {frame: index for index, frame in enumerate(frames)}
    model = np.full((len(frames), height, width), UNKNOWN, dtype=np.int16)
    human = np.full_like(model, UNKNOWN)
    confidence, task_ids = [None] * len(frames), [None] * len(frames)
    reading = Progress(f"frames of {stored.video} read", len(predictions.frames), stream=progress_stream)
    for key, entry in predictions.items():  # one round, a few frames in memory at a time
        index = position[int(key)]
        if entry.get("result"):
            model[index] = results_to_label_map(entry["result"], config, height, width)
        confidence[index], task_ids[index] = entry.get("confidence"), entry.get("task_id")
        reading.advance()
    reading.close()
    for frame, labels in human_by_frame.items():
        human[position[frame]] = labels
    status = stored.status()
    described = {k: _plain(getattr(settings, k)) for k in SETTINGS_KEYS if hasattr(settings, k)}
    meta = {
        "project": stored.project, "video": stored.video, "round": predictions.round,
        "model_version": predictions.model_version, "network": network, "settings_at_export": described,
        "trained_at": status.get("last_trained_at"), "exported_at": time.time(),
        "human_labels_from": "label studio" if client is not None else None,
        "task_ids": task_ids,
    }
    palette = palette_from_config(xml, config) if xml else None
    writing = Progress(f"frames of {stored.video} written", len(frames), stream=progress_stream)
    try:
        return export_video(model, human, config.class_names, Path(out_dir) / video_key(stored.video), meta,
                            confidence=confidence, frame_ids=frames, palette=palette, progress=writing)
    finally:
        writing.close()


def _plain(value):
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _human_by_frame(settings, client, stored, config, height: int, width: int) -> dict[int, np.ndarray]:
    if client is None:
        return {}
    from vidseg.labelstudio.annotations import human_labels
    from vidseg.labelstudio.payloads import video_and_frame

    tasks = client.video_tasks(stored.project, stored.video, video_field=settings.video_field,
                               frame_field=settings.frame_field)
    labels = human_labels(tasks, config, height, width)
    out = {}
    for index, frame_labels in labels.maps.items():  # the annotated frames only
        frame = video_and_frame(tasks[index].get("data", {}), settings.video_field, settings.frame_field,
                                settings.image_field)[1]
        out[int(frame)] = frame_labels
    return out


def export_command(args) -> int:
    """`python -m vidseg export`: Label Studio is read when LABEL_STUDIO_URL and the key are set."""
    import sys

    from vidseg.labelstudio.client import LabelStudioError, client_from_settings
    from vidseg.settings import Settings

    settings = Settings.from_env()
    client = None
    if settings.label_studio_url and settings.label_studio_api_key:
        client = client_from_settings(settings)
    try:
        xml = Path(args.label_config).read_text() if args.label_config else None
        export_project(settings, args.project, Path(args.out), video=args.video, client=client, label_config_xml=xml)
    except (ValueError, OSError, LabelStudioError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
