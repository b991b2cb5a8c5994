"""What an annotator sees: a real Label Studio 1.23.2 in headless Chromium shows the backend's brush
prediction on a frame, where the prediction says.

The round is the real retrain job, run in-process against the real Label Studio (it pushes the
predictions and points the project's model_version at them, as the worker does). The label config
gives each class an explicit colour (blue, green) and the frames hold none of it (grey road, a red
car), so a screenshot tells where Label Studio drew which class: inside each class's predicted mask
the screenshot is more of its colour than the frame there is, outside it is not. (Compared with the
frame, not with the other channels: a translucent green over the red car need not lead red.)
"""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from backend_process import wait_for
from browser import open_browser, save_for_readme, screenshot
from label_studio_server import ADMIN_EMAIL, ADMIN_PASSWORD
from test_backend_flow import HEIGHT, REPO, WIDTH, synthetic_video

from vidseg.labelstudio.brush import label_map_to_results, results_to_label_map
from vidseg.labelstudio.config import parse_label_config

pytestmark = pytest.mark.e2e
COLOURS = {"Road": (0, 0, 255), "Car": (0, 255, 0)}  # blue and green: the frames are grey and red
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          + "".join(f'<Label value="{name}" background="#{r:02x}{g:02x}{b:02x}"/>'
                    for name, (r, g, b) in COLOURS.items())
          + "</BrushLabels></View>")
VIEW = (1280, 900)


@pytest.fixture
def trained_project(label_studio, ls_client, monkeypatch, tmp_path, redis_url, redis):
    """A project whose video clip-1 had one real round after frames 1 and 6 were annotated."""
    from vidseg.jobs.retrain import retrain_video

    truth = synthetic_video(tmp_path / "source")
    project = ls_client.create_project("annotator view", CONFIG)["id"]
    env = {"MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "WORK_HEIGHT": "64", "WORK_WIDTH": "64",
           "TRAIN_STEPS": "15", "BUDGET": "2", "DEVICE": "cpu", "QUEUE_NAME": "annotator-view"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    subprocess.run([sys.executable, "-m", "vidseg", "import-video", str(tmp_path / "source"), "--project",
                    str(project), "--video", "clip-1", "--document-root", str(label_studio.frames_root)],
                   cwd=REPO, check=True, timeout=120)
    tasks = ls_client.video_tasks(project, "clip-1")
    config = parse_label_config(CONFIG)
    for frame in (1, 6):
        ls_client.create_annotation(tasks[frame]["id"], label_map_to_results(truth[frame], config))
    retrain_video(project, "clip-1", "job-1")
    frames = sorted((tmp_path / "source").glob("*.png"))
    return project, ls_client.video_tasks(project, "clip-1"), config, frames


def _log_in(driver, url: str) -> None:
    driver.get(f"{url}/user/login/")
    driver.find_element("name", "email").send_keys(ADMIN_EMAIL)
    driver.find_element("name", "password").send_keys(ADMIN_PASSWORD)
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for(lambda: "/user/login" not in driver.current_url, 30, "the login", interval=0.5)


def _frame_on_screen(driver) -> dict | None:
    """The on-screen box {x, y, width, height} of the task's image: Label Studio draws it on its Konva
    stage (the largest canvas) at the stage's top left, scaled to fit."""
    stage = driver.execute_script("""
        const shown = [...document.querySelectorAll('.konvajs-content')].map(c => c.getBoundingClientRect());
        if (!shown.length) return null;
        const r = shown.reduce((a, b) => a.width * a.height >= b.width * b.height ? a : b);
        return r.width > 200 ? {x: r.x, y: r.y, width: r.width, height: r.height} : null;""")
    if stage is None:
        return None
    scale = min(stage["width"] / WIDTH, stage["height"] / HEIGHT)
    return {"x": stage["x"], "y": stage["y"], "width": WIDTH * scale, "height": HEIGHT * scale}


def _inner_pixels(mask: np.ndarray) -> np.ndarray:
    """(row, col) of the mask's pixels at least 2 px from its border: Label Studio smooths a brush
    mask as it enlarges it, so pixels beside an edge or a jagged corner blend; centres do not."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.argwhere(inner > 0)


def test_label_studio_draws_the_backend_prediction_where_it_says(label_studio, trained_project, tmp_path):
    project, tasks, config, frame_files = trained_project
    frame = 3  # not annotated: what Label Studio shows there is the backend's prediction alone
    shown = cv2.cvtColor(cv2.imread(str(frame_files[frame])), cv2.COLOR_BGR2RGB)
    (prediction,) = [p for p in tasks[frame]["predictions"] if p["model_version"] == "vidseg"]
    predicted = results_to_label_map(prediction["result"], config, HEIGHT, WIDTH)
    classes = [name for index, name in enumerate(config.class_names) if len(_inner_pixels(predicted == index)) >= 8]
    assert classes, "the prediction holds no class region big enough to look at"

    with open_browser(*VIEW) as driver:
        _log_in(driver, label_studio.url)
        driver.get(f"{label_studio.url}/projects/{project}/data?task={tasks[frame]['id']}")
        box = wait_for(lambda: _frame_on_screen(driver), 60, "the frame in the labelling view", interval=0.5)

        def drawn():
            image = screenshot(driver, tmp_path / "annotator-view.png")
            return _dominance(image, shown, box, predicted, config, classes)

        try:
            wait_for(drawn, 60, "the prediction drawn over the frame", interval=0.5)
        except AssertionError:
            image = screenshot(driver, tmp_path / "annotator-view.png")
            raise AssertionError(f"colours inside/outside each class: "
                                 f"{_dominance(image, shown, box, predicted, config, classes, explain=True)}; "
                                 f"screenshot {tmp_path / 'annotator-view.png'}") from None
        save_for_readme(tmp_path / "annotator-view.png", "annotator-view.png")
        # The prediction's tab names the backend and how fresh it is: each round recreates what it changed.
        fresh = re.compile(r"vidseg\s+(seconds|a few seconds|a minute|\d+ minutes) ago")
        try:
            wait_for(lambda: fresh.search(driver.find_element("tag name", "body").text), 30,
                     "the prediction's tab with its age", interval=0.5)
        except AssertionError:
            raise AssertionError(driver.find_element("tag name", "body").text[:600]) from None


def _dominance(image, frame, box, predicted, config, classes, explain=False):
    """Whether, for every class, its colour's channel rises above the frame's own inside its predicted
    mask (nearly everywhere) and not outside (nearly nowhere)."""
    scale_x, scale_y = box["width"] / predicted.shape[1], box["height"] / predicted.shape[0]
    found = {}
    for name in classes:
        index = config.class_names.index(name)
        channel = int(np.argmax(COLOURS[name]))

        def rises(mask, channel=channel):
            points = _inner_pixels(mask)
            ys = (box["y"] + (points[:, 0] + 0.5) * scale_y).astype(int)
            xs = (box["x"] + (points[:, 1] + 0.5) * scale_x).astype(int)
            drawn = image[ys, xs, channel].astype(int)
            under = frame[points[:, 0], points[:, 1], channel].astype(int)
            return float(np.mean(drawn > under + 30))

        found[name] = (rises(predicted == index), rises(predicted != index))
    if explain:
        return found
    return all(inside > 0.9 and outside < 0.1 for inside, outside in found.values())
