import json
import time

import cv2
import numpy as np
import pytest

from propagation import FinetuneConfig
from propagation.labels import UNKNOWN
from selection.errors import SelectionError
from vidseg.simulation.cli import main as simulation_main
from vidseg.simulation.dataset_level import plateaued
from vidseg.simulation.pixels import PixelConfig, PixelOracle, annotate_image, summarise, target_reached

FAST = dict(learner="network", height=64, width=64, encoder="mobilenet_v2", first_steps=40, min_distance=8.0,
            finetune=FinetuneConfig(steps=30, lr=5e-3, batch_size=1, pairs_per_step=0, temporal_weight=0.0))


@pytest.mark.parametrize("learner", ["sparse", "network"])
def test_a_few_pixels_per_region_label_a_simple_image_almost_perfectly(image_and_labels, learner):
    image, truth = image_and_labels
    config = PixelConfig(**{**FAST, "learner": learner}, rounds=3, per_round=15, strategies=("active",), seed=0)
    started = time.perf_counter()
    outcome = annotate_image(image, truth, ("sky", "wall", "road"), config)
    seconds = time.perf_counter() - started
    last = outcome["rows"][-1]
    assert last["pixels"] <= 45  # 15 per region on average, 1.1% of the 4096 pixels
    assert last["pixel_accuracy"] > 95.0, outcome["rows"]
    revealed = outcome["revealed"]["active"]
    known = revealed != UNKNOWN
    assert known.sum() == last["pixels"]
    assert np.array_equal(outcome["delivered"]["active"][known], truth[known])  # revealed labels are delivered
    assert seconds < 120  # a few seconds on a quiet machine; generous for shared CI cores


def test_the_oracle_refuses_bad_points_and_labels(image_and_labels):
    _, truth = image_and_labels
    oracle = PixelOracle(truth, 3)
    with pytest.raises(SelectionError, match="outside the 64x64 image"):
        oracle.reveal([[10, 64]])
    with pytest.raises(SelectionError, match="outside"):
        oracle.reveal([[-1, 3]])
    assert oracle.reveal([[0, 0], [0, 0], [40, 5]]) == 2
    assert oracle.reveal([[0, 0]]) == 0  # already revealed: not counted twice
    with pytest.raises(ValueError, match=r"labels \[2\] that are not classes 0..1"):
        PixelOracle(truth, 2)


def test_annotate_image_checks_its_input(image_and_labels):
    image, truth = image_and_labels
    with pytest.raises(ValueError, match="must be uint8"):
        annotate_image(image[:32], truth, ("a", "b", "c"), PixelConfig(**FAST))
    with pytest.raises(ValueError, match="strategies"):
        annotate_image(image, truth, ("a", "b", "c"), PixelConfig(**FAST, strategies=("magic",)))
    with pytest.raises(ValueError, match="unknown learner"):
        annotate_image(image, truth, ("a", "b", "c"), PixelConfig(**{**FAST, "learner": "magic"}))
    with pytest.raises(ValueError, match="multiple of 32"):
        annotate_image(image, truth, ("a", "b", "c"), PixelConfig(**{**FAST, "height": 50}))


def test_summary_averages_images_and_finds_the_target():
    rows = [
        {"image": "a", "series": "active", "round": 1, "pixels": 10, "pixels_pct": 0.1, "pixel_accuracy": 97.0,
         "miou": 80.0, "seconds": 1.0},
        {"image": "b", "series": "active", "round": 1, "pixels": 10, "pixels_pct": 0.1, "pixel_accuracy": 99.0,
         "miou": 90.0, "seconds": 3.0},
        {"image": "a", "series": "active", "round": 2, "pixels": 20, "pixels_pct": 0.2, "pixel_accuracy": 98.5,
         "miou": 85.0, "seconds": 2.0},
        {"image": "b", "series": "active", "round": 2, "pixels": 20, "pixels_pct": 0.2, "pixel_accuracy": 99.5,
         "miou": 95.0, "seconds": 4.0},
    ]
    table = summarise(rows)
    assert [(r["round"], r["pixel_accuracy"], r["miou"], r["images"]) for r in table] == [(1, 98.0, 85.0, 2),
                                                                                          (2, 99.0, 90.0, 2)]
    reached = target_reached(rows)["active"]
    assert reached["mean_reaches_at_pixels_pct"] == 0.1
    assert reached["images_reaching"] == 2 and reached["mean_pixels_pct_of_those"] == 0.15


@pytest.fixture
def tiny_dataset(tmp_path, make_image):
    frames, labels = tmp_path / "frames", tmp_path / "labels"
    frames.mkdir()
    labels.mkdir()
    for index in range(2):
        image, truth = make_image(seed=index)
        cv2.imwrite(str(frames / f"f{index}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        truth = truth.astype(np.uint8)
        truth[:2, :2] = 11  # a little void
        cv2.imwrite(str(labels / f"f{index}.png"), truth)
    return frames, labels


TINY = ["--ignore-index", "11", "--classes", "3", "--height", "64", "--width", "64", "--encoder", "mobilenet_v2",
        "--rounds", "2", "--per-round", "3", "--first-steps", "2", "--steps", "1", "--min-distance", "2",
        "--sparse-size", "32x32"]


def test_pixels_and_dataset_commands_write_their_results(tiny_dataset, tmp_path, capsys):
    frames, labels = tiny_dataset
    out = tmp_path / "pixels"
    code = simulation_main(["pixels", "--frames", str(frames), "--labels", str(labels), "--images", "2",
                            "--out", str(out), "--strategies", "active,random,error", *TINY])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["images"] == ["f0.png", "f1.png"]
    assert {(r["series"], r["round"]) for r in results["summary"]} == {
        (series, round_index) for series in ("active", "random", "error") for round_index in (1, 2)}
    assert all(r["pixels"] == 6 for r in results["summary"] if r["round"] == 2 and r["series"] != "error")
    for name in ("results.csv", "per_image.csv", "accuracy_vs_pixels.png"):
        assert (out / name).stat().st_size > 0
    out = tmp_path / "dataset"
    code = simulation_main(["dataset", "--frames", str(frames), "--labels", str(labels), "--val-frames", str(frames),
                            "--val-labels", str(labels), "--images", "2", "--out", str(out), "--dataset-steps", "2",
                            "--dataset-batch", "2", "--sparse-baseline", "--dataset-size", "64x64",
                            "--dataset-encoder", "mobilenet_v2", "--eval-every", "1", *TINY])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["networks"]) == {"pseudo", "full", "sparse"}
    pseudo = results["networks"]["pseudo"]
    assert 0 <= pseudo["val_miou"] <= 100
    assert [row["step"] for row in pseudo["curve"]] == [1, 2]  # evaluated after every turn
    assert pseudo["clicks"] == results["networks"]["sparse"]["clicks"] == 12  # 2 images x 2 rounds x 3 pixels
    assert results["networks"]["full"]["clicks"] > 12
    assert (out / "curves.csv").read_text().count("\n") == 1 + 3 * 2
    assert "val mIoU" in capsys.readouterr().out


def test_commands_explain_bad_input(tiny_dataset, tmp_path, capsys):
    frames, labels = tiny_dataset
    code = simulation_main(["pixels", "--frames", str(frames), "--labels", str(labels), "--out", str(tmp_path / "x"),
                            *TINY[:2], "--classes", "2"])  # the labels hold class 2
    assert code == 2
    assert "outside 0..1" in capsys.readouterr().err
    code = simulation_main(["pixels", "--frames", str(tmp_path / "missing"), "--labels", str(labels),
                            "--out", str(tmp_path / "x")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_network_plateaus_when_its_best_stops_rising():
    curve = [{"val_miou": v} for v in (10.0, 20.0, 30.0, 30.2, 29.0)]
    assert not plateaued(curve[:3], patience=2, min_gain=0.5)
    assert not plateaued(curve[:4], patience=2, min_gain=0.5)  # only one evaluation without gain
    assert plateaued(curve, patience=2, min_gain=0.5)
    assert not plateaued(curve, patience=2, min_gain=0.1)  # 30.2 beats 30.0 by more than 0.1
