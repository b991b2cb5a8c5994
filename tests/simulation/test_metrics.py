import numpy as np
import pytest

from propagation.labels import UNKNOWN
from vidseg.simulation.metrics import (
    confusion_matrix,
    label_quality,
    quality_from_confusion,
)
from vidseg.simulation.plots import plot_quality_vs_clicks


def test_perfect_prediction_scores_one():
    truth = np.random.default_rng(0).integers(0, 4, size=(3, 8, 8))
    quality = label_quality(truth.copy(), truth, 4)
    assert quality["miou"] == 1.0
    assert quality["pixel_accuracy"] == 1.0
    np.testing.assert_array_equal(quality["per_class_iou"], np.ones(4))


def test_known_confusion():
    truth = np.array([[[0, 0, 1, 1]]])
    pred = np.array([[[0, 1, 1, 1]]])
    np.testing.assert_array_equal(confusion_matrix(pred, truth, 2), [[1, 1], [0, 2]])
    quality = label_quality(pred, truth, 2)
    # class 0: 1 hit / (2 true + 1 predicted - 1) = 1/2; class 1: 2 / (2 + 3 - 2) = 2/3.
    np.testing.assert_allclose(quality["per_class_iou"], [1 / 2, 2 / 3])
    assert quality["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert quality["pixel_accuracy"] == pytest.approx(3 / 4)


def test_void_pixels_are_ignored():
    truth = np.array([[[0, 1, UNKNOWN, UNKNOWN]]])
    pred = np.array([[[0, 1, 1, 0]]])
    quality = label_quality(pred, truth, 2)
    assert quality["miou"] == 1.0 and quality["pixel_accuracy"] == 1.0
    assert confusion_matrix(pred, truth, 2).sum() == 2


def test_unknown_prediction_is_a_miss():
    truth = np.array([[[0, 0]]])
    pred = np.array([[[0, UNKNOWN]]])
    np.testing.assert_array_equal(confusion_matrix(pred, truth, 2), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(confusion_matrix(pred, truth, 2, keep_unknown=True), [[1, 0, 1], [0, 0, 0]])
    quality = label_quality(pred, truth, 2)
    assert quality["miou"] == pytest.approx(1 / 2)  # class 1 is absent from the truth: not averaged
    assert quality["pixel_accuracy"] == pytest.approx(1 / 2)
    assert np.isnan(quality["per_class_iou"][1])


def test_class_absent_from_truth_hurts_only_through_false_positives():
    truth = np.array([[[0, 0, 0, 0]]])
    pred = np.array([[[0, 0, 0, 2]]])
    quality = label_quality(pred, truth, 3)
    assert quality["miou"] == pytest.approx(3 / 4)
    assert np.isnan(quality["per_class_iou"][2])


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(1)
    truth = rng.integers(-1, 5, size=(4, 16, 16))
    pred = rng.integers(-1, 5, size=(4, 16, 16))
    one_shot = quality_from_confusion(confusion_matrix(pred, truth, 5, keep_unknown=True))
    streamed = label_quality(pred, truth, 5)
    assert streamed["miou"] == pytest.approx(one_shot["miou"])
    assert streamed["pixel_accuracy"] == pytest.approx(one_shot["pixel_accuracy"])
    assert confusion_matrix(pred, truth, 5).dtype == np.int64


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        label_quality(np.zeros((1, 2, 2), int), np.zeros((1, 2, 3), int), 2)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.zeros(2, int), np.array([0, 7]), 2)


def test_plot_writes_a_png(tmp_path):
    rows = [
        {"series": "hvsa/frame", "clicks_pct": 0.0, "miou": 40.0},
        {"series": "hvsa/frame", "clicks_pct": 5.0, "miou": 85.0},
        {"series": "random/rectangle", "clicks_pct": 2.0, "miou": 60.0},
    ]
    path = plot_quality_vs_clicks(rows, tmp_path / "out" / "quality.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_quality_vs_clicks([], tmp_path / "empty.png").stat().st_size > 0
