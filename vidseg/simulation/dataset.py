"""A labelled video from two folders: frame images and label PNGs that share file stems.

    frames/0016E5_07959.png   labels/0016E5_07959.png   (frames may be .png, .jpg or .jpeg)

Frame order is the natural sort of the frame file names ("f2" before "f10"). Labels are
single-channel class-index PNGs (8 or 16 bit, or palette PNGs holding indices); the data set's
ignore value becomes ``UNKNOWN``. Every problem raises ``DatasetError`` saying what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from propagation.labels import UNKNOWN

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
LABEL_SUFFIX = ".png"
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist")
"""CamVid's 11 classes (SegNet copy); its value 11 is "Unlabelled": load with ``ignore_index=11``."""


class DatasetError(ValueError):
    """A data-set folder cannot be read as a labelled video; the message says what to fix."""


@dataclass(frozen=True)
class Video:
    """A labelled video held in memory.

    names: frame file names in frame order; frames: (F, H, W, 3) uint8 RGB; labels: (F, H, W)
    int16, class indices ``0..n_classes-1`` with ``UNKNOWN`` (-1) for void; class_names: one per class.
    """

    names: tuple[str, ...]
    frames: np.ndarray
    labels: np.ndarray
    n_classes: int
    class_names: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        return len(self.names)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _list_images(folder: Path, suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    """``{stem: path}`` of the images in ``folder``; errors for a missing, empty or ambiguous folder."""
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} does not exist (or is not a folder): "
                           f"pass the folder that holds the {what} images")
    found: dict[str, Path] = {}
    for path in folder.iterdir():
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise DatasetError(f"{what} folder {folder} holds both {found[path.stem].name} and {path.name}: "
                               f"keep one image per name")
        found[path.stem] = path
    if not found:
        raise DatasetError(f"{what} folder {folder} holds no {'/'.join(suffixes)} images: "
                           f"point it at the folder with the {what} images")
    return found


def _pair_files(frames_dir: Path, labels_dir: Path) -> list[tuple[Path, Path]]:
    frames = _list_images(frames_dir, FRAME_SUFFIXES, "frame")
    labels = _list_images(labels_dir, (LABEL_SUFFIX,), "label")
    for stem in sorted(frames, key=_natural_key):
        if stem not in labels:
            raise DatasetError(f"frame {frames[stem].name} has no label file {stem}{LABEL_SUFFIX} "
                               f"in {labels_dir}: add it, or remove the frame")
    for stem in sorted(labels, key=_natural_key):
        if stem not in frames:
            raise DatasetError(f"label {labels[stem].name} has no frame {stem}.png/.jpg/.jpeg "
                               f"in {frames_dir}: add the frame, or remove the label file")
    ordered = sorted(frames, key=lambda stem: _natural_key(frames[stem].name))
    return [(frames[stem], labels[stem]) for stem in ordered]


def _read_frame(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read frame {path}: is it a valid image file?")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_label(path: Path) -> np.ndarray:
    """(H, W) class indices as stored in the PNG."""
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DatasetError(f"cannot read label {path}: is it a valid PNG?")
    if label.ndim == 3:
        # OpenCV expands palette PNGs to colour; their stored values are the class indices.
        from PIL import Image

        with Image.open(path) as image:
            if image.mode == "P":
                return np.asarray(image)
        raise DatasetError(f"label {path.name} has {label.shape[2]} channels: label PNGs must be "
                           f"single-channel images of class indices (0..C-1), not colour-coded masks")
    return label


def load_video(frames_dir, labels_dir, ignore_index: int | None, n_classes: int | None = None,
               class_names=None, max_frames: int | None = None, scale: float = 1.0, prefix: str = "") -> Video:
    """Load frames and labels that share file stems into a ``Video``.

    ignore_index: the label value meaning "void" (mapped to ``UNKNOWN``), or None.
    n_classes: defaults to ``len(class_names)`` if given, else the largest label value + 1.
    class_names: defaults to "class 0".."class C-1" (use CAMVID_CLASSES for CamVid).
    max_frames: keep the first N frames in order. scale: resize factor (INTER_AREA for frames,
    INTER_NEAREST for labels), applied after validation. prefix: keep only the frames whose file
    name starts with it (one sequence of a folder holding several, e.g. CamVid's "0001TP").
    """
    if scale <= 0:
        raise DatasetError(f"scale must be > 0, got {scale}")
    if max_frames is not None and max_frames < 1:
        raise DatasetError(f"max_frames must be >= 1, got {max_frames}")
    if n_classes is None and class_names:
        n_classes = len(class_names)
    if n_classes is not None and n_classes < 1:
        raise DatasetError(f"n_classes must be >= 1, got {n_classes}")
    pairs = [pair for pair in _pair_files(Path(frames_dir), Path(labels_dir)) if pair[0].name.startswith(prefix)]
    if not pairs:
        raise DatasetError(f"no frame in {frames_dir} has a name starting with {prefix!r}: check --prefix")
    pairs = pairs[:max_frames]

    frames, labels = [], []
    for frame_path, label_path in pairs:
        frame, label = _read_frame(frame_path), _read_label(label_path)
        if label.shape != frame.shape[:2]:
            raise DatasetError(f"label {label_path.name} is {_size(label)} but frame {frame_path.name} is "
                               f"{_size(frame)} (H x W): labels must match their frames pixel for pixel")
        if frames and frame.shape != frames[0].shape:
            raise DatasetError(f"frame {frame_path.name} is {_size(frame)} but frame {pairs[0][0].name} is "
                               f"{_size(frames[0])} (H x W): all frames of a video must share one size")
        frames.append(frame)
        labels.append(_to_class_map(label, label_path, ignore_index, n_classes))

    found = max((int(lab.max()) for lab in labels), default=-1)
    if n_classes is None:
        n_classes = found + 1
        if n_classes < 1:
            raise DatasetError(f"every label in {labels_dir} is void ({ignore_index}): nothing to learn from")
    if class_names is None:
        class_names = tuple(f"class {c}" for c in range(n_classes))
    class_names = tuple(str(name) for name in class_names)
    if len(class_names) != n_classes:
        raise DatasetError(f"{len(class_names)} class names for {n_classes} classes: give one name per class")

    frames_array, labels_array = np.stack(frames), np.stack(labels)
    if scale != 1.0:
        height, width = frames_array.shape[1:3]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames_array = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames_array])
        labels_array = np.stack([cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
                                 for lab in labels_array])
    return Video(names=tuple(frame.name for frame, _ in pairs), frames=frames_array, labels=labels_array,
                 n_classes=int(n_classes), class_names=class_names)


def _size(image: np.ndarray) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"


def _to_class_map(label: np.ndarray, path: Path, ignore_index: int | None,
                  n_classes: int | None) -> np.ndarray:
    """(H, W) int16 with ``ignore_index`` -> UNKNOWN; every other value must be a class index."""
    values = label.astype(np.int64)
    void = values == ignore_index if ignore_index is not None else np.zeros(values.shape, bool)
    upper = n_classes if n_classes is not None else np.iinfo(np.int16).max
    bad = ~void & ((values < 0) | (values >= upper))
    if bad.any():
        value = int(values[bad][0])
        allowed = f"0..{upper - 1}"
        if ignore_index is not None:
            allowed += f" or the ignore value {ignore_index}"
        raise DatasetError(f"label {path.name} holds value {value}, outside {allowed}: "
                           f"pass the right n_classes / ignore_index, or fix the label file")
    out = values.astype(np.int16)
    out[void] = UNKNOWN
    return out
