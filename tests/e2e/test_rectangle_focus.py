"""Rectangle granularity as an annotator sees it: a real Label Studio 1.23.2 in headless Chromium
draws the focus rectangle the backend put on a frame it selected, where the prediction says.

The round is the real retrain job with GRANULARITY=rectangle, run in-process against the real Label
Studio, on the label config of the README (a <RectangleLabels> focus control beside the brush). The
focus label is yellow, a colour found nowhere in the frames nor in the brush labels (blue, green), so
a screenshot tells where Label Studio drew the rectangle: its yellow outline lies on the predicted
rectangle's border.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from backend_process import wait_for
from browser import open_browser, screenshot
from test_annotator_view import _frame_on_screen, _log_in
from test_backend_flow import HEIGHT, REPO, WIDTH, synthetic_video

from vidseg.labelstudio.brush import label_map_to_results
from vidseg.labelstudio.config import parse_label_config

pytestmark = pytest.mark.e2e
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road" background="#0000ff"/><Label value="Car" background="#00ff00"/></BrushLabels>'
          '<RectangleLabels name="focus" toName="image"><Label value="Selected" background="#FFFF00"/>'
          "</RectangleLabels></View>")
VIEW = (1280, 900)
TOLERANCE = 2.0  # image pixels
VIDEO = "rectangle-clip"  # its own: the session's Label Studio shares one frames folder between tests


@pytest.fixture
def rectangle_project(label_studio, ls_client, monkeypatch, tmp_path, redis_url, redis):
    """A project whose video had one real round, rectangle granularity, frames 1 and 6 annotated;
    a budget of one rectangle, so the selected frame holds one focus region to look for."""
    from vidseg.jobs.retrain import retrain_video

    truth = synthetic_video(tmp_path / "source")
    project = ls_client.create_project("rectangle focus", CONFIG)["id"]
    env = {"MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "WORK_HEIGHT": "64", "WORK_WIDTH": "64",
           "TRAIN_STEPS": "15", "BUDGET": "1", "DEVICE": "cpu", "QUEUE_NAME": "rectangle-focus",
           "GRANULARITY": "rectangle", "RECTANGLE_SIZE": "16"}
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


def _focus_boxes(task: dict) -> list[tuple[float, float, float, float]]:
    """The focus rectangles (y0, x0, y1, x1) in image pixels of the task's vidseg prediction."""
    (prediction,) = [p for p in task["predictions"] if p["model_version"] == "vidseg"]
    boxes = []
    for result in prediction["result"]:
        if result["type"] == "rectanglelabels" and result["from_name"] == "focus":
            value = result["value"]
            assert value["rectanglelabels"] == ["Selected"]
            boxes.append((value["y"] * HEIGHT / 100, value["x"] * WIDTH / 100,
                          (value["y"] + value["height"]) * HEIGHT / 100, (value["x"] + value["width"]) * WIDTH / 100))
    return boxes


def _yellow(image: np.ndarray) -> np.ndarray:
    pixels = image.astype(int)
    return (pixels[..., 0] > 170) & (pixels[..., 1] > 170) & (pixels[..., 2] < 110)


def _outline_found(image, box, focus, explain=False):
    """Whether Label Studio's yellow outline over the frame spans the focus rectangles: its bounding
    box, in image pixels, within TOLERANCE of theirs (a grid cell's neighbours are RECTANGLE_SIZE
    away), and hardly any yellow inside them (an outline, not a fill nor a stray)."""
    scale_x, scale_y = box["width"] / WIDTH, box["height"] / HEIGHT
    top, left = int(box["y"]), int(box["x"])
    yellow = _yellow(image[top:int(box["y"] + box["height"]) + 1, left:int(box["x"] + box["width"]) + 1])
    rows, cols = np.nonzero(yellow)
    if not len(rows):
        return {"yellow pixels": 0} if explain else False
    drawn = (rows.min() / scale_y, cols.min() / scale_x, (rows.max() + 1) / scale_y, (cols.max() + 1) / scale_x)
    wanted = (min(b[0] for b in focus), min(b[1] for b in focus), max(b[2] for b in focus), max(b[3] for b in focus))
    error = max(abs(a - b) for a, b in zip(drawn, wanted, strict=True))
    inner = yellow[rows.min() + 4:rows.max() - 3, cols.min() + 4:cols.max() - 3]
    if explain:
        return {"drawn": drawn, "wanted": wanted, "yellow pixels": len(rows), "inside": int(inner.sum())}
    return error < TOLERANCE and inner.sum() < 0.1 * len(rows)


def test_label_studio_draws_the_focus_rectangle_of_a_selected_frame(label_studio, rectangle_project, tmp_path):
    project, tasks = rectangle_project
    selected = [(frame, _focus_boxes(task)) for frame, task in enumerate(tasks) if _focus_boxes(task)]
    assert selected, "the round put no focus rectangle on any frame"
    assert len(selected) == 1 and len(selected[0][1]) == 1, selected  # BUDGET=1
    frame, focus = selected[0]
    assert all(y1 - y0 == pytest.approx(16) and x1 - x0 == pytest.approx(16) for y0, x0, y1, x1 in focus)

    with open_browser(*VIEW) as driver:
        _log_in(driver, label_studio.url)
        driver.get(f"{label_studio.url}/projects/{project}/data?task={tasks[frame]['id']}")
        box = wait_for(lambda: _frame_on_screen(driver), 60, "the frame in the labelling view", interval=0.5)
        path = tmp_path / "rectangle-focus.png"
        try:
            wait_for(lambda: _outline_found(screenshot(driver, path), box, focus), 60, "the focus rectangle drawn",
                     interval=0.5)
        except AssertionError:
            found = _outline_found(screenshot(driver, path), box, focus, explain=True)
            raise AssertionError(f"frame {frame}, focus {focus}: {found}; screenshot {path}") from None
