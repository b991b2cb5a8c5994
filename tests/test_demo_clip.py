"""The demo's pieces that need no Label Studio: its clips, their label configs, a port already taken."""

from __future__ import annotations

import socket

import cv2
import pytest

from vidseg.demo.clip import CAMVID_VAL, SHAPES_CLASSES, generated_clip, label_config, named_clip
from vidseg.demo.run import DemoOptions, run_demo
from vidseg.labelstudio.config import parse_label_config


def test_the_shapes_clip_is_a_folder_of_moving_frames_with_its_classes(tmp_path):
    clip = generated_clip(tmp_path, frames=5, kind="shapes")
    frames = sorted(clip.source.glob("*.png"))
    assert clip.video == "shapes" and len(frames) == 5 and clip.classes == SHAPES_CLASSES
    first, last = (cv2.imread(str(path)) for path in (frames[0], frames[-1]))
    assert first.shape == (180, 240, 3) and (first != last).mean() > 0.05
    config = parse_label_config(label_config(clip.classes))
    assert config.class_names == SHAPES_CLASSES and config.brush_name == "tag"


@pytest.mark.skipif(not CAMVID_VAL.is_dir(), reason="no CamVid val frames in ../shared/data")
def test_the_camvid_clip_takes_the_first_val_frames(tmp_path):
    clip = generated_clip(tmp_path, frames=3)  # auto: CamVid when it is there
    assert clip.video == "camvid-val" and len(list(clip.source.glob("*.png"))) == 3
    assert parse_label_config(label_config(clip.classes)).class_names[0] == "Sky"


def test_a_named_video_keeps_its_name_and_a_missing_one_is_refused(tmp_path):
    (tmp_path / "my clip.mp4").write_bytes(b"")
    assert named_clip(tmp_path / "my clip.mp4").video == "my-clip"
    with pytest.raises(SystemExit, match="does not exist"):
        named_clip(tmp_path / "nope.mp4")
    assert parse_label_config(label_config(('A "quoted" <class>', "B"))).class_names == ('A "quoted" <class>', "B")


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} is in use: .*LS_PORT={port + 1}"):
            run_demo(DemoOptions(tmp_path / "demo", ls_port=port))
    assert not (tmp_path / "demo" / "redis").exists()
