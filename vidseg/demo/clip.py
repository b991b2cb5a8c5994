"""The demo's video: the one the user names, else a short clip made here.

A clip made here is a folder of frames (``import-video`` takes one): the first frames of CamVid's
val sequence when ``../shared/data/camvid/val`` holds them (real street scenes, CamVid's classes),
else shapes moving over a drifting background (classes Background, Square, Disc).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import cv2
import numpy as np

from vidseg.simulation.dataset import CAMVID_CLASSES

CAMVID_VAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "camvid" / "val"
SHAPES_CLASSES = ("Background", "Square", "Disc")
NAMED_CLASSES = ("Background", "Object")
"""Classes of a video the user names, unless they give their own."""


@dataclass(frozen=True)
class Clip:
    source: Path
    """A video file or a folder of frames."""
    video: str
    classes: tuple[str, ...]


def named_clip(path: Path) -> Clip:
    path = Path(path).resolve()
    if not path.exists():
        raise SystemExit(f"VIDEO={path} does not exist")
    video = "".join(c if c.isalnum() or c in "_.-" else "-" for c in path.stem) or "video"
    return Clip(path, video, NAMED_CLASSES)


def generated_clip(folder: Path, frames: int, kind: str = "auto") -> Clip:
    """``kind``: "camvid", "shapes", or "auto" (CamVid when its val frames are there)."""
    if kind == "auto":
        kind = "camvid" if CAMVID_VAL.is_dir() and any(CAMVID_VAL.glob("*.png")) else "shapes"
    if kind == "camvid":
        return _camvid_clip(Path(folder) / "camvid-val", frames)
    return _shapes_clip(Path(folder) / "shapes", frames)


def _camvid_clip(folder: Path, frames: int) -> Clip:
    names = sorted(CAMVID_VAL.glob("*.png"))[:frames]
    if not names:
        raise SystemExit(f"no CamVid val frames in {CAMVID_VAL}")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (folder / name.name).exists():
            shutil.copyfile(name, folder / name.name)
    return Clip(folder, folder.name, CAMVID_CLASSES)


def _shapes_clip(folder: Path, frames: int, height: int = 180, width: int = 240) -> Clip:
    """A square crossing left to right and a disc falling, over a background whose colour drifts
    (so frames differ and a cold start's diversity has something to choose between)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    texture = rng.integers(-12, 12, (height, width, 3))
    for t in range(frames):
        phase = t / max(1, frames - 1)
        base = np.array([60 + 80 * phase, 120 - 40 * phase, 90], dtype=np.int64)
        image = np.clip(base + texture, 0, 255).astype(np.uint8)
        x = int(10 + phase * (width - 60))
        cv2.rectangle(image, (x, 40), (x + 40, 80), (230, 60, 40), thickness=-1)
        cv2.circle(image, (width // 2 + 40, int(20 + phase * (height - 50))), 18, (40, 200, 230), thickness=-1)
        cv2.imwrite(str(folder / f"shapes_{t:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return Clip(folder, folder.name, SHAPES_CLASSES)


def label_config(classes: tuple[str, ...]) -> str:
    """Frame granularity's config, one colour per class (the export's palette)."""
    from vidseg.export import default_palette

    palette = default_palette(classes)
    labels = "".join(f'<Label value={quoteattr(name)} background="#{"".join(f"{v:02x}" for v in palette[name])}"/>'
                     for name in classes)
    return (f'<View><Image name="image" value="$image" zoom="true"/>'
            f'<BrushLabels name="tag" toName="image">{labels}</BrushLabels></View>')
