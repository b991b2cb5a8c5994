"""The whole product against a real Label Studio: import, connect, annotate, retrain, queue order.

Runs `python -m vidseg serve` (web + RQ worker + private Redis) as a user would, drives it only
through Label Studio's API and the admin commands, and checks what annotators would see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from backend_process import REPO, serving_backend
from backend_process import wait_for as _wait

from propagation.labels import UNKNOWN
from vidseg.labelstudio.brush import label_map_to_results, results_to_label_map
from vidseg.labelstudio.config import parse_label_config
from vidseg.store import Store

pytestmark = pytest.mark.e2e
VIDEO = "flow-clip"  # its own frame folder under the session's Label Studio document root
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
N_FRAMES, HEIGHT, WIDTH = 8, 48, 64


def synthetic_video(folder: Path) -> np.ndarray:
    """A textured car (class 1) driving right over a road (class 0); returns the true labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    road = rng.integers(60, 110, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    labels = np.zeros((N_FRAMES, HEIGHT, WIDTH), dtype=np.int64)
    for t in range(N_FRAMES):
        frame = road.copy()
        x0 = 4 + 4 * t
        frame[16:32, x0:x0 + 20] = (200, 30, 30)
        labels[t, 16:32, x0:x0 + 20] = 1
        cv2.imwrite(str(folder / f"f{t:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return labels


@pytest.fixture
def backend(label_studio, tmp_path):
    env = dict(
        os.environ, MODEL_DIR=str(tmp_path / "models"), LABEL_STUDIO_URL=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.token, WORK_HEIGHT="64", WORK_WIDTH="64", TRAIN_STEPS="15",
        BUDGET="2", PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)  # the embedded default: serve starts its own Redis
    with serving_backend(env, tmp_path / "backend.log", "--web-workers", "1", "--grace", "20") as url:
        yield url, env, tmp_path / "backend.log"


def test_annotations_retrain_the_video_and_reorder_the_queue(label_studio, ls_client, backend, tmp_path):
    url, env, log = backend
    truth = synthetic_video(tmp_path / "source")
    project = ls_client.create_project("e2e video", CONFIG)["id"]
    admin = dict(env)
    subprocess.run([sys.executable, "-m", "vidseg", "import-video", str(tmp_path / "source"), "--project",
                    str(project), "--video", VIDEO, "--document-root", str(label_studio.frames_root)],
                   cwd=REPO, env=admin, check=True, timeout=120)
    connected = subprocess.run([sys.executable, "-m", "vidseg", "connect", "--project", str(project),
                                "--backend-url", url], cwd=REPO, env=admin, check=True, timeout=120,
                               capture_output=True, text=True)
    assert "connected ML backend" in connected.stdout

    tasks = ls_client.video_tasks(project, VIDEO)
    assert [t["data"]["frame"] for t in tasks] == list(range(N_FRAMES))
    config = parse_label_config(CONFIG)
    for frame in (1, 6):
        ls_client.create_annotation(tasks[frame]["id"], label_map_to_results(truth[frame], config))

    def retrained():
        status = requests.get(f"{url}/status/{project}/{VIDEO}", timeout=5).json()["videos"][0]
        if status.get("state") == "failed":
            raise AssertionError(f"the job failed: {status.get('last_error')}\n{log.read_text()[-3000:]}")
        done = status.get("frames_labelled") == 2 and status.get("state") == "idle"
        return status if done and not status["queue"]["pending"] and not status["queue"]["training"] else None

    status = _wait(retrained, 240, "a retrain that saw both annotations")
    # HVSA ran, its picks kept or replaced by even spacing where that leaves less uncertainty uncarried
    assert status["round"] >= 1 and status["selected_by"] in ("hvsa", "uniform")
    selected = set(status["selected"])
    assert len(selected) == 2 and not selected & {1, 6}

    tasks = ls_client.video_tasks(project, VIDEO)
    for task in tasks:
        own = [p for p in task["predictions"] if p["model_version"] == "vidseg"]
        assert len(own) == 1, f"task {task['id']} has {len(own)} predictions of the backend"
        predicted = results_to_label_map(own[0]["result"], config, HEIGHT, WIDTH)
        assert predicted.shape == (HEIGHT, WIDTH) and set(np.unique(predicted)) <= {0, 1, UNKNOWN}
    # human labels come back untouched in their frames' predictions
    human = [p for p in tasks[6]["predictions"] if p["model_version"] == "vidseg"][0]
    np.testing.assert_array_equal(results_to_label_map(human["result"], config, HEIGHT, WIDTH), truth[6])

    project_info = ls_client.get_project(project)
    assert project_info["sampling"] == "Uncertainty sampling" and project_info["model_version"] == "vidseg"
    served = ls_client.next_task(project)
    assert served["data"]["frame"] in selected


def test_a_new_video_gets_a_cold_start_selection(label_studio, ls_client, backend, tmp_path):
    url, env, log = backend
    synthetic_video(tmp_path / "source")
    project = ls_client.create_project("e2e cold start", CONFIG)["id"]
    subprocess.run([sys.executable, "-m", "vidseg", "import-video", str(tmp_path / "source"), "--project",
                    str(project), "--video", "clip-2", "--document-root", str(label_studio.frames_root)],
                   cwd=REPO, env=env, check=True, timeout=120)
    tasks = ls_client.video_tasks(project, "clip-2")
    # what Label Studio sends when an annotator opens a task of a video the backend has never seen
    answer = requests.post(f"{url}/predict", json={"tasks": tasks[:1], "project": f"{project}.1700000000",
                                                   "label_config": CONFIG}, timeout=10).json()
    assert answer["results"][0]["result"] == []

    def cold_started():
        videos = requests.get(f"{url}/status/{project}/clip-2", timeout=5).json()["videos"]
        status = videos[0]
        if status.get("state") == "failed":
            raise AssertionError(f"the job failed: {status.get('last_error')}\n{log.read_text()[-3000:]}")
        return status if status.get("round", 0) >= 1 and status.get("state") == "idle" else None

    status = _wait(cold_started, 180, "the cold-start round")
    assert status["selected_by"] == "cold_start" and len(status["selected"]) == 2
    # the flows the first annotation's round needs were computed ahead of it
    assert any(Store(Path(env["MODEL_DIR"])).video(project, "clip-2").flows_path.iterdir())
    tasks = ls_client.video_tasks(project, "clip-2")
    assert all(len([p for p in t["predictions"] if p["model_version"] == "vidseg"]) == 1 for t in tasks)
    assert ls_client.next_task(project)["data"]["frame"] in set(status["selected"])
