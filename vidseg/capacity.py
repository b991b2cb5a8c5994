"""Whether a round fits the machine, said before it starts: a video too big for the disk or the memory
ends its job with a status that names the frames, the resolution, what it would need and the setting
to change, never an allocation traceback halfway through a round."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class CapacityError(ValueError):
    """The video does not fit; the message says what it would need and what to change."""


GB = 2**30


def round_disk_bytes(n_frames: int, n_classes: int, flow_size: tuple[int, int], work_size: tuple[int, int],
                     embedding_dim: int) -> int:
    """Disk one round's arrays take (`run_round` with `on_disk` scratch, plus the flow cache): votes at
    the flows' resolution dominate (classes x 2 bytes per pixel and frame)."""
    flow_pixels, work_pixels = flow_size[0] * flow_size[1], work_size[0] * work_size[1]
    flows = 10 * flow_pixels * max(n_frames - 1, 0)  # forward + backward float16 (8 B) and two masks (2 B)
    votes = 2 * n_classes * flow_pixels * n_frames
    per_frame_work = (3 * work_pixels                     # frames at the working size
                      + 3 * 2 * n_classes * work_pixels   # shrunk votes, probabilities, fused distribution
                      + 2 * 2 * work_pixels               # reliable carried labels, training labels
                      + 10 * work_pixels                  # flows at the working size
                      + 2 * embedding_dim * work_pixels // 4)
    return flows + votes + per_frame_work * n_frames


def labels_memory_bytes(labelled_frames: int, height: int, width: int) -> int:
    """Memory the human labels take: the labelled frames' maps at full resolution (int16)."""
    return 2 * labelled_frames * height * width


def check_round_fits(folder: Path, needed_disk: int, needed_memory: int, *, frames: int, height: int, width: int,
                     flows_cached: int = 0) -> None:
    """CapacityError that says what to change when the round's disk (beyond ``flows_cached`` bytes already on
    disk) or memory is not available."""
    video = f"{frames} frames of {width}x{height}"
    free = shutil.disk_usage(_existing(folder)).free
    if needed_disk - flows_cached > free:  # checkpoints and predictions are small beside the arrays
        raise CapacityError(
            f"{video} need about {needed_disk / GB:.1f} GB of disk under MODEL_DIR for one round (optical flow "
            f"and per-frame arrays), but only {free / GB:.1f} GB is free: free disk space, lower FLOW_MAX_SIDE, "
            "or split the video into shorter ones (import-video --split-every)")
    available = available_memory()
    if available is not None and needed_memory > available:
        raise CapacityError(
            f"{video}: the human labels alone need {needed_memory / GB:.1f} GB of memory, only "
            f"{available / GB:.1f} GB is available: split the video into shorter ones (import-video --split-every) "
            "or give the worker more memory")


def available_memory() -> int | None:
    """MemAvailable of this machine in bytes (None where /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def simulation_memory_bytes(n_frames: int, height: int, width: int, n_classes: int) -> int:
    """Memory the oracle simulation holds for a video (it keeps whole videos at their resolution:
    frames, ground truth, revealed and delivered labels, flows, carried votes, correction maps)."""
    return n_frames * height * width * (3 + 3 * 2 + 2 * 4 + 10 + 2 * n_classes + 4)


def check_simulation_fits(n_frames: int, height: int, width: int, n_classes: int) -> None:
    """CapacityError when the simulation of this video cannot fit the available memory."""
    needed, available = simulation_memory_bytes(n_frames, height, width, n_classes), available_memory()
    if available is not None and needed > available:
        fitting = max(1, int(n_frames * available / needed))
        raise CapacityError(
            f"simulating {n_frames} frames of {width}x{height} needs about {needed / GB:.1f} GB of memory, only "
            f"{available / GB:.1f} GB is available: use --max-frames {fitting} or smaller frames")


def folder_bytes(folder: Path) -> int:
    """Disk a folder's files take (0 if it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file())


def _existing(folder: Path) -> str:
    """The folder or its nearest existing parent (disk_usage needs one that exists)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.fspath(path)
