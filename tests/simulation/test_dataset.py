from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from propagation.labels import UNKNOWN
from vidseg.simulation.dataset import CAMVID_CLASSES, DatasetError, Video, load_video

H, W = 12, 16


def write_clip(root: Path, n: int = 3, frame_ext: str = ".png", ignore: int = 9):
    """n frames f1, f2, ... (blue-ish RGB) with labels 0/1/2 and one void pixel each."""
    frames, labels = root / "frames", root / "labels"
    frames.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(1, n + 1):
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[..., 2] = 200  # blue in RGB
        rgb[0, 0, 0] = i  # tells frames apart
        cv2.imwrite(str(frames / f"f{i}{frame_ext}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        label = np.zeros((H, W), np.uint8)
        label[:, W // 2:] = 1
        label[:2, :2] = 2
        label[-1, -1] = ignore
        cv2.imwrite(str(labels / f"f{i}.png"), label)
    return frames, labels


def test_loads_a_clip_in_natural_order(tmp_path):
    frames, labels = write_clip(tmp_path, n=10)
    video = load_video(frames, labels, ignore_index=9)
    assert isinstance(video, Video)
    assert video.names[:3] == ("f1.png", "f2.png", "f3.png") and video.names[-1] == "f10.png"
    assert video.frames.shape == (10, H, W, 3) and video.frames.dtype == np.uint8
    assert video.frames[0, 5, 5].tolist() == [0, 0, 200]  # RGB, not BGR
    assert video.frames[1, 0, 0, 0] == 2
    assert video.labels.shape == (10, H, W) and video.labels.dtype == np.int16
    assert video.labels[0, -1, -1] == UNKNOWN and video.labels[0, 0, 0] == 2
    assert video.n_classes == 3 and video.class_names == ("class 0", "class 1", "class 2")
    assert video.n_frames == 10


def test_options(tmp_path):
    frames, labels = write_clip(tmp_path, n=3, frame_ext=".jpg")
    video = load_video(frames, labels, ignore_index=9, n_classes=5, max_frames=2, scale=0.5)
    assert video.frames.shape == (2, H // 2, W // 2, 3) and video.labels.shape == (2, H // 2, W // 2)
    assert video.n_classes == 5 and len(video.class_names) == 5
    named = load_video(frames, labels, ignore_index=9, class_names=CAMVID_CLASSES)
    assert named.n_classes == 11 and named.class_names[0] == "Sky"
    assert load_video(frames, labels, ignore_index=9, prefix="f2").names == ("f2.jpg",)
    with pytest.raises(DatasetError, match="starting with 'x'"):
        load_video(frames, labels, ignore_index=9, prefix="x")


def test_palette_labels_read_as_indices(tmp_path):
    frames, labels = write_clip(tmp_path, n=1)
    image = Image.fromarray(np.full((H, W), 1, np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    image.save(labels / "f1.png")
    assert (load_video(frames, labels, ignore_index=None).labels == 1).all()


def expect_error(match: str, *args, **kwargs):
    with pytest.raises(DatasetError, match=match):
        load_video(*args, **kwargs)


def test_missing_and_empty_folders(tmp_path):
    frames, labels = write_clip(tmp_path)
    expect_error("does not exist", tmp_path / "nope", labels, ignore_index=9)
    expect_error("does not exist", frames, tmp_path / "nope", ignore_index=9)
    (tmp_path / "empty").mkdir()
    expect_error("holds no", tmp_path / "empty", labels, ignore_index=9)


def test_frame_without_label_is_named(tmp_path):
    frames, labels = write_clip(tmp_path)
    (labels / "f2.png").unlink()
    expect_error("frame f2.png has no label file f2.png", frames, labels, ignore_index=9)


def test_label_without_frame_is_named(tmp_path):
    frames, labels = write_clip(tmp_path)
    (frames / "f3.png").unlink()
    expect_error("label f3.png has no frame", frames, labels, ignore_index=9)


def test_mismatched_sizes_are_named(tmp_path):
    frames, labels = write_clip(tmp_path)
    cv2.imwrite(str(labels / "f2.png"), np.zeros((H + 1, W), np.uint8))
    expect_error(f"label f2.png is {H + 1}x{W} but frame f2.png is {H}x{W}", frames, labels, ignore_index=9)


def test_colour_label_is_rejected(tmp_path):
    frames, labels = write_clip(tmp_path)
    cv2.imwrite(str(labels / "f1.png"), np.zeros((H, W, 3), np.uint8))
    expect_error("label f1.png has 3 channels", frames, labels, ignore_index=9)


def test_out_of_range_value_is_named(tmp_path):
    frames, labels = write_clip(tmp_path)
    expect_error("label f1.png holds value 2, outside 0..1", frames, labels, ignore_index=9, n_classes=2)
    bad = np.zeros((H, W), np.uint8)
    bad[3, 3] = 200
    cv2.imwrite(str(labels / "f3.png"), bad)
    expect_error("label f3.png holds value 200", frames, labels, ignore_index=9, n_classes=3)


def test_frames_of_different_sizes(tmp_path):
    frames, labels = write_clip(tmp_path)
    cv2.imwrite(str(frames / "f2.png"), np.zeros((H, W + 2, 3), np.uint8))
    cv2.imwrite(str(labels / "f2.png"), np.zeros((H, W + 2), np.uint8))
    expect_error(f"frame f2.png is {H}x{W + 2} but frame f1.png is {H}x{W}", frames, labels, ignore_index=9)


def test_class_name_count_must_match(tmp_path):
    frames, labels = write_clip(tmp_path)
    expect_error("2 class names for 3 classes", frames, labels, ignore_index=9, n_classes=3,
                 class_names=("a", "b"))
