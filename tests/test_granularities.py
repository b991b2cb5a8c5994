"""The granularity registry: units, what an annotator reveals and pays, focus results, config fit."""

import numpy as np
import pytest

from propagation import UNKNOWN
from selection import SelectionError
from vidseg.granularities import GRANULARITIES, UnitParams, check_config, granularity_named, granularity_of
from vidseg.labelstudio.config import LabelConfigError, parse_label_config
from vidseg.settings import Settings, SettingsError
from vidseg.simulation.costs import FrameCostModel
from vidseg.simulation.runner import default_budgets

F, H, W = 2, 10, 20
BRUSH = '<BrushLabels name="tag" toName="image"><Label value="Sky"/><Label value="Road"/></BrushLabels>'
RECT_FOCUS = '<RectangleLabels name="focus" toName="image"><Label value="Selected"/></RectangleLabels>'
BRUSH_FOCUS = '<BrushLabels name="focus" toName="image"><Label value="Selected"/></BrushLabels>'
POINTS = '<KeyPointLabels name="points" toName="image"><Label value="Sky"/><Label value="Road"/></KeyPointLabels>'


def config(*controls: str):
    return parse_label_config(f'<View><Image name="image" value="$image"/>{"".join(controls)}</View>')


def test_every_name_everywhere_comes_from_the_registry():
    assert list(GRANULARITIES) == ["frame", "rectangle", "superpixel", "pixel"]
    assert set(default_budgets()) == set(GRANULARITIES)
    with pytest.raises(ValueError, match="choose one of frame, rectangle, superpixel, pixel"):
        granularity_named("polygon")
    with pytest.raises(SettingsError, match="GRANULARITY='polygon'"):
        Settings.from_env({"GRANULARITY": "polygon"})


def test_units_follow_the_unit_params():
    params = UnitParams(rectangle_size=5, superpixels_per_frame=4, pixel_stride=4)
    assert granularity_named("frame").units(F, H, W, None, params).n_samples == F
    assert granularity_named("rectangle").units(F, H, W, None, params).n_samples == F * 2 * 4
    # pixel rows 2, 6 and columns 2, 6, ..., 18
    assert granularity_named("pixel").units(F, H, W, None, params).n_samples == F * 2 * 5
    frames = np.random.default_rng(0).integers(0, 255, size=(F, H, W, 3), dtype=np.uint8)
    assert granularity_named("superpixel").units(F, H, W, frames, params).kind == "superpixel"
    with pytest.raises(SelectionError, match="frames"):
        granularity_named("superpixel").units(F, H, W, None, params)


def test_reveal_and_clicks_per_granularity():
    truth = np.zeros((40, 40), np.int16)
    truth[10:20, 10:20] = 1  # a box: 1 + 4 clicks, the background 1 + 4
    costs = FrameCostModel(truth)
    box = np.zeros(truth.shape, bool)
    box[5:15, 5:15] = True
    assert granularity_named("frame").clicks(lambda: costs, np.ones_like(box)) == 10
    assert granularity_named("rectangle").clicks(lambda: costs, box) == costs.rectangle_cost(5, 5, 15, 15) == 5

    def never():
        raise AssertionError("one-click granularities never build a cost model")

    assert granularity_named("superpixel").clicks(never, box) == granularity_named("pixel").clicks(never, box) == 1
    mixed = np.array([1, 1, 0, UNKNOWN])
    np.testing.assert_array_equal(granularity_named("rectangle").reveal(mixed), mixed)
    np.testing.assert_array_equal(granularity_named("superpixel").reveal(mixed), [1, 1, 1, 1])
    void = np.array([UNKNOWN, UNKNOWN])
    np.testing.assert_array_equal(granularity_named("pixel").reveal(void), void)


def test_a_config_fits_its_granularity_and_says_what_to_change_otherwise():
    layouts = {"frame": config(BRUSH), "rectangle": config(BRUSH, RECT_FOCUS),
               "superpixel": config(BRUSH, BRUSH_FOCUS), "pixel": config(BRUSH, POINTS)}
    for name, layout in layouts.items():
        assert granularity_of(layout).name == name
        check_config(granularity_named(name), layout)
    with pytest.raises(LabelConfigError, match="GRANULARITY=rectangle needs a <RectangleLabels> focus control.*"
                       "this label config has no focus control"):
        check_config(granularity_named("rectangle"), layouts["frame"])
    with pytest.raises(LabelConfigError, match="GRANULARITY=frame needs .*set GRANULARITY to match it"):
        check_config(granularity_named("frame"), layouts["superpixel"])
    with pytest.raises(LabelConfigError, match="GRANULARITY=pixel needs a <KeyPointLabels>"):
        check_config(granularity_named("pixel"), layouts["frame"])
