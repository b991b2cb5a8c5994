import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from propagation import NetworkSpec, build_network
from propagation.labels import UNKNOWN
from vidseg.__main__ import main as vidseg_main
from vidseg.artifacts import save_checkpoint
from vidseg.export import UNKNOWN_INDEX, ExportError, export_project, export_video, read_export
from vidseg.labelstudio.brush import label_map_to_results
from vidseg.labelstudio.config import parse_label_config
from vidseg.store import Store, video_key

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image">
    <Label value="Road" background="#800080"/><Label value="Car" background="#400080"/><Label value="Sky"/>
  </BrushLabels>
</View>"""
CLASSES = ("Road", "Car", "Sky")


def _maps(seed=0, frames=3, size=(12, 16)):
    rng = np.random.default_rng(seed)
    model = rng.integers(0, 3, (frames, *size)).astype(np.int16)
    model[0, :2] = UNKNOWN
    human = np.full_like(model, UNKNOWN)
    human[1, 3:6, 4:9] = 2
    human[2] = rng.integers(0, 3, size)
    return model, human


def test_export_round_trips_and_human_labels_win(tmp_path):
    model, human = _maps()
    manifest = export_video(model, human, CLASSES, tmp_path / "v", {"video": "clip", "round": 4},
                            confidence=[0.9, None, 0.5], frame_ids=[0, 5, 10])
    back = read_export(tmp_path / "v")
    expected = np.where(human != UNKNOWN, human, model)
    assert np.array_equal(back.labels, expected)
    assert back.frames == [0, 5, 10] and back.class_names == CLASSES and back.manifest["round"] == 4
    assert np.array_equal(back.source == 2, human != UNKNOWN)
    assert np.array_equal(back.source == 1, (human == UNKNOWN) & (model != UNKNOWN))
    index_png = cv2.imread(str(tmp_path / "v" / "labels" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert index_png.dtype == np.uint8 and index_png.ndim == 2 and (index_png[:2] == UNKNOWN_INDEX).all()
    colour = cv2.cvtColor(cv2.imread(str(tmp_path / "v" / "colour" / "000005.png")), cv2.COLOR_BGR2RGB)
    assert (colour[4, 5] == back.palette["Sky"]).all()  # the human's class, not the model's
    assert set(json.loads((tmp_path / "v" / "palette.json").read_text())) == set(CLASSES)
    frame = manifest["frames"][1]
    assert frame["human_pixels"] == 15 and frame["model_pixels"] == 12 * 16 - 15 and frame["unknown_pixels"] == 0
    assert manifest["frames"][0]["unknown_pixels"] == 32 and manifest["frames"][0]["mean_confidence"] == 0.9
    assert manifest["frames"][2]["model_pixels"] == 0


def test_export_refuses_bad_input(tmp_path):
    model, human = _maps()
    bad = model.copy()
    bad[1, 0, 0] = 7
    with pytest.raises(ExportError, match=r"frame #1 hold label values \[7\].*0..2"):
        export_video(bad, None, CLASSES, tmp_path / "v")
    with pytest.raises(ExportError, match="differ in shape"):
        export_video(model, human[:2], CLASSES, tmp_path / "v")
    with pytest.raises(ExportError, match="frame ids"):
        export_video(model, None, CLASSES, tmp_path / "v", frame_ids=[1, 2])
    with pytest.raises(ExportError, match="not a vidseg export"):
        read_export(tmp_path / "nothing")


def _store_video(root, project, video, model):
    config = parse_label_config(CONFIG)
    stored = Store(root).video(project, video)
    stored.update_status(round=2, state="idle")
    frames = {str(2 * i): {"task_id": 100 + i, "result": label_map_to_results(m, config), "score": 0.1,
                           "cluster": 0, "confidence": 0.8} for i, m in enumerate(model)}
    stored.write_predictions({"round": 2, "model_version": "vidseg", "frames": frames})


class FakeClient:
    """What export reads from Label Studio: the project's config and the video's tasks with annotations."""

    def __init__(self, human):
        config = parse_label_config(CONFIG)
        self.tasks = [{"id": 100 + i, "data": {"video": "clip", "frame": 2 * i, "image": f"/f{i}.png"},
                       "annotations": [{"id": i, "result": label_map_to_results(h, config)}] if (h >= 0).any() else []}
                      for i, h in enumerate(human)]

    def get_project(self, project):
        return {"label_config": CONFIG}

    def video_tasks(self, project, video, video_field="video", frame_field="frame"):
        return self.tasks


def test_export_from_the_store_with_label_studio_annotations(tmp_path):
    model, human = _maps()
    model[model == UNKNOWN] = 0  # brush results cannot hold "no label" pixels of the model
    _store_video(tmp_path / "model_dir", 3, "clip", model)
    settings = SimpleNamespace(model_dir=tmp_path / "model_dir", video_field="video", frame_field="frame",
                               image_field="image")
    manifests = export_project(settings, 3, tmp_path / "out", client=FakeClient(human), log=lambda _: None)
    back = read_export(tmp_path / "out" / video_key("clip"))
    assert np.array_equal(back.labels, np.where(human != UNKNOWN, human, model))
    assert back.frames == [0, 2, 4] and manifests[0]["round"] == 2 and manifests[0]["task_ids"] == [100, 101, 102]
    assert back.palette["Road"] == [128, 0, 128]  # from the label config's background colour
    assert [f["human_pixels"] for f in back.manifest["frames"]] == [0, 15, 12 * 16]
    # Without Label Studio: the config file names the classes; stored pixels all count as model pixels.
    export_project(settings, 3, tmp_path / "out2", video="clip", label_config_xml=CONFIG, log=lambda _: None)
    alone = read_export(tmp_path / "out2" / video_key("clip"))
    assert np.array_equal(alone.labels, model) and (alone.source == 1).all()
    # Nor a config file: the video's checkpoint names the classes and records the network that produced them.
    spec = NetworkSpec(classes=CLASSES, encoder="mobilenet_v2", height=64, width=64)
    save_checkpoint(Store(settings.model_dir).video(3, "clip").checkpoint_path, build_network(spec), spec, {"round": 2})
    export_project(settings, 3, tmp_path / "out3", log=lambda _: None)
    from_checkpoint = read_export(tmp_path / "out3" / video_key("clip"))
    assert np.array_equal(from_checkpoint.labels, model)
    assert from_checkpoint.manifest["network"]["spec"]["encoder"] == "mobilenet_v2"
    assert from_checkpoint.manifest["network"]["extra"]["round"] == 2


def test_export_names_unknown_projects_and_videos(tmp_path, monkeypatch, capsys):
    _store_video(tmp_path / "model_dir", 3, "clip", _maps()[0].clip(0))
    settings = SimpleNamespace(model_dir=tmp_path / "model_dir")
    with pytest.raises(ExportError, match="project 9 has no videos"):
        export_project(settings, 9, tmp_path / "out")
    with pytest.raises(ExportError, match=r"video 'other' is not in project 3's store \(known: clip\)"):
        export_project(settings, 3, tmp_path / "out", video="other")
    with pytest.raises(ExportError, match="no label config"):
        export_project(settings, 3, tmp_path / "out")  # no Label Studio, no config file, no checkpoint
    with pytest.raises(ValueError, match="'Sky', which the label config does not have"):
        export_project(settings, 3, tmp_path / "out", label_config_xml=CONFIG.replace('<Label value="Sky"/>', ""))
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "model_dir"))
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_HOST", raising=False)
    assert vidseg_main(["export", "--project", "3", "--video", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "video 'nope' is not in project 3" in capsys.readouterr().err
    (tmp_path / "config.xml").write_text(CONFIG)
    assert vidseg_main(["export", "--project", "3", "--out", str(tmp_path / "o"),
                        "--label-config", str(tmp_path / "config.xml")]) == 0
    assert read_export(tmp_path / "o" / video_key("clip")).labels.shape == (3, 12, 16)
    # Not a terminal (pytest's capture): plain progress lines, no carriage returns.
    err = capsys.readouterr().err
    assert "frames of clip read: 3/3 frames (100%)\n" in err and "frames of clip written: 3/3 frames (100%)\n" in err
    assert "\r" not in err
