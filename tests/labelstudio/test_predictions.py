"""Per-frame predictions of a round: masks, focus regions per granularity, key points, queue order."""

import numpy as np

from propagation import Delivery
from propagation.labels import UNKNOWN
from selection import FrameUnits, PixelUnits, RectangleUnits, SuperpixelUnits
from vidseg.engine import Selection
from vidseg.labelstudio.brush import results_to_label_map
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.points import keypoints_to_sparse_labels, rectangle_results_to_mask
from vidseg.labelstudio.predictions import frame_results

CLASSES = '<BrushLabels name="tag" toName="image"><Label value="Road"/><Label value="Car"/></BrushLabels>'
TASKS = [{"id": 10 + i, "data": {}} for i in range(3)]


def _config(extra=""):
    return parse_label_config(f'<View><Image name="image" value="$image"/>{CLASSES}{extra}</View>')


def _maps(confidence=(0.9, 0.8, 0.7)):
    """Human labels and a round's delivery: the network alone, class 1 in a square, each frame as
    sure as ``confidence`` says."""
    human = np.full((3, 32, 32), UNKNOWN, np.int16)
    human[0] = 0
    predicted = np.zeros((3, 32, 32), np.int64)
    predicted[:, 8:16, 8:16] = 1
    sure = np.asarray(confidence, np.float32)[:, None, None]
    network = np.stack([np.where(predicted == 0, sure, 1 - sure), np.where(predicted == 1, sure, 1 - sure)], axis=1)
    return human, predicted, Delivery(human, None, network, 0.1)


def test_frame_predictions_keep_human_labels_and_order_the_queue():
    config = _config()
    human, predicted, delivered = _maps()
    units = FrameUnits(3, 32, 32)
    selection = Selection(ids=np.array([2]), scores=np.array([0.0, 0.2, 0.9]), strategy="hvsa")
    entries = list(frame_results(TASKS, config, units, selection, human, delivered))
    assert [e["task_id"] for e in entries] == [10, 11, 12]
    np.testing.assert_array_equal(results_to_label_map(entries[0]["result"], config, 32, 32), human[0])
    np.testing.assert_array_equal(results_to_label_map(entries[1]["result"], config, 32, 32), predicted[1])
    scores = [e["score"] for e in entries]
    assert scores[2] < scores[1] < scores[0]  # selected, then unlabelled, then labelled
    assert entries[2]["cluster"] == 0 and entries[1]["cluster"] is None
    assert entries[0]["confidence"] == 1.0 and entries[2]["confidence"] == 0.7
    assert entries[0]["sources"] == {"human": 1.0, "carried": 0.0, "network": 0.0}
    assert entries[1]["sources"] == {"human": 0.0, "carried": 0.0, "network": 1.0}


def test_rectangle_samples_are_shown_as_focus_rectangles():
    config = _config('<RectangleLabels name="focus" toName="image"><Label value="Selected"/></RectangleLabels>')
    human, predicted, delivered = _maps()
    units = RectangleUnits(3, 32, 32, size=16)
    chosen = units.sample_ids(1)[[0, 3]]  # top-left and bottom-right cells of frame 1
    entries = list(frame_results(TASKS, config, units, Selection(chosen, None, "cold_start"), human, delivered))
    mask = rectangle_results_to_mask(entries[1]["result"], config, 32, 32)
    assert mask[:16, :16].all() and mask[16:, 16:].all() and not mask[:16, 16:].any()
    assert not rectangle_results_to_mask(entries[2]["result"], config, 32, 32).any()


def test_superpixel_samples_are_shown_as_a_focus_brush():
    config = _config('<BrushLabels name="focus" toName="image"><Label value="Selected"/></BrushLabels>')
    human, predicted, delivered = _maps()
    segments = np.zeros((3, 32, 32), np.int32)
    segments[:, :, 16:] = 1
    units = SuperpixelUnits(segments)
    chosen = units.sample_ids(2)[1:]  # the right half of frame 2
    entries = list(frame_results(TASKS, config, units, Selection(chosen, None, "cold_start"), human, delivered))
    mask = rectangle_results_to_mask(entries[2]["result"], config, 32, 32)
    assert mask[:, 16:].all() and not mask[:, :16].any()


def test_pixel_samples_become_key_points_with_the_predicted_class():
    config = _config('<KeyPointLabels name="points" toName="image"><Label value="Road"/><Label value="Car"/>'
                     '</KeyPointLabels>')
    human, predicted, delivered = _maps()
    units = PixelUnits(3, 32, 32, stride=8)  # candidates at 4, 12, 20, 28
    ids = units.sample_ids(1)
    chosen = ids[[0, 5]]  # (4, 4) on the road, (12, 12) on the car
    entries = list(frame_results(TASKS, config, units, Selection(chosen, None, "cold_start"), human, delivered))
    points = keypoints_to_sparse_labels(entries[1]["result"], config, 32, 32)
    assert points[4, 4] == 0 and points[12, 12] == 1 and (points != UNKNOWN).sum() == 2
    assert entries[1]["score"] < entries[0]["score"]  # their frame is served first
