"""Superpixel granularity as an annotator sees it: a real Label Studio 1.23.2 in headless Chromium
paints the focus region (the superpixel the backend selected) over the frame, where the prediction says.

The round is the real retrain job with GRANULARITY=superpixel, run in-process against the real Label
Studio, on the label config of the README (a focus <BrushLabels> beside the class brush). The focus
label is yellow, a colour found nowhere in the frames nor in the class labels (blue, green), so a
screenshot tells where Label Studio painted it: yellow inside the selected superpixel, not away from it.
The focus region comes first in the prediction: Label Studio paints earlier brush regions on top.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from backend_process import wait_for
from browser import open_browser, screenshot
from test_annotator_view import _frame_on_screen, _inner_pixels, _log_in
from test_backend_flow import HEIGHT, REPO, WIDTH, synthetic_video

from vidseg.labelstudio.brush import decode_brush_mask, label_map_to_results
from vidseg.labelstudio.config import parse_label_config

pytestmark = pytest.mark.e2e
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road" background="#0000ff"/><Label value="Car" background="#00ff00"/></BrushLabels>'
          '<BrushLabels name="focus" toName="image"><Label value="Selected" background="#FFFF00"/>'
          "</BrushLabels></View>")
VIEW = (1280, 900)
VIDEO = "superpixel-clip"  # its own: the session's Label Studio shares one frames folder between tests


@pytest.fixture
def superpixel_project(label_studio, ls_client, monkeypatch, tmp_path, redis_url, redis):
    """A project whose video had one real round, superpixel granularity (SLIC makes 5 to 8 superpixels of
    these frames, so one is big enough to look at), frames 1 and 6 annotated, a budget of one superpixel."""
    from vidseg.jobs.retrain import retrain_video

    truth = synthetic_video(tmp_path / "source")
    project = ls_client.create_project("superpixel focus", CONFIG)["id"]
    env = {"MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "WORK_HEIGHT": "64", "WORK_WIDTH": "64",
           "TRAIN_STEPS": "15", "BUDGET": "1", "DEVICE": "cpu", "QUEUE_NAME": "superpixel-focus",
           "GRANULARITY": "superpixel", "SUPERPIXELS_PER_FRAME": "100"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    subprocess.run([sys.executable, "-m", "vidseg", "import-video", str(tmp_path / "source"), "--project",
                    str(project), "--video", VIDEO, "--document-root", str(label_studio.frames_root)],
                   cwd=REPO, check=True, timeout=120)
    tasks = ls_client.video_tasks(project, VIDEO)
    config = parse_label_config(CONFIG)
    for frame in (1, 6):
        ls_client.create_annotation(tasks[frame]["id"], label_map_to_results(truth[frame], config))
    retrain_video(project, VIDEO, "job-1")
    return project, ls_client.video_tasks(project, VIDEO)


def _focus_mask(task: dict) -> np.ndarray | None:
    """(HEIGHT, WIDTH) bool: the focus region of the task's vidseg prediction, None when it has none."""
    (prediction,) = [p for p in task["predictions"] if p["model_version"] == "vidseg"]
    masks = [decode_brush_mask(result, HEIGHT, WIDTH) for result in prediction["result"]
             if result["type"] == "brushlabels" and result["from_name"] == "focus"]
    for result in prediction["result"]:
        if result["from_name"] == "focus":
            assert result["value"]["brushlabels"] == ["Selected"]
    return np.logical_or.reduce(masks) if masks else None


def _yellow_share(image: np.ndarray, box: dict, mask: np.ndarray) -> float:
    """Share of the mask's inner pixels that Label Studio shows yellow: red and green alike and well above
    blue (the green Car brush over the red car is olive: green well above red, not yellow)."""
    points = _inner_pixels(mask)
    ys = (box["y"] + (points[:, 0] + 0.5) * box["height"] / HEIGHT).astype(int)
    xs = (box["x"] + (points[:, 1] + 0.5) * box["width"] / WIDTH).astype(int)
    pixels = image[ys, xs].astype(int)
    red, green, blue = pixels.T
    return float(np.mean((np.abs(red - green) < 45) & (np.minimum(red, green) > blue + 60)))


def test_label_studio_paints_the_focus_superpixel_of_a_selected_frame(label_studio, superpixel_project, tmp_path):
    project, tasks = superpixel_project
    selected = [(frame, mask) for frame, task in enumerate(tasks) if (mask := _focus_mask(task)) is not None]
    assert len(selected) == 1, [frame for frame, _ in selected]  # BUDGET=1: one superpixel on one frame
    frame, focus = selected[0]
    assert 16 <= focus.sum() < focus.size * 0.6, focus.sum()  # one superpixel: a part of the frame, not all of it
    # away from the focus: its edges blend into their neighbours on screen, so leave a band of 2 pixels
    away = ~cv2.dilate(focus.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert len(_inner_pixels(focus)) and len(_inner_pixels(away))

    with open_browser(*VIEW) as driver:
        _log_in(driver, label_studio.url)
        driver.get(f"{label_studio.url}/projects/{project}/data?task={tasks[frame]['id']}")
        wait_for(lambda: _frame_on_screen(driver), 60, "the frame in the labelling view", interval=0.5)
        path = tmp_path / "superpixel-focus.png"

        def shares():
            box = _frame_on_screen(driver)  # again each time: the layout may still settle after the frame shows
            image = screenshot(driver, path)
            return _yellow_share(image, box, focus), _yellow_share(image, box, away)

        try:
            wait_for(lambda: (lambda inside, outside: inside > 0.9 and outside < 0.01)(*shares()), 60,
                     "the focus superpixel painted", interval=0.5)
        except AssertionError:
            inside, outside = shares()
            raise AssertionError(f"frame {frame}: yellow inside the focus {inside:.2f}, outside {outside:.2f}; "
                                 f"screenshot {path}") from None
