"""The labeling stream opens the frame the backend selected first, in a real browser: an annotator who
logs in to Label Studio 1.23.2 and presses "Label All Tasks" gets the frame the backend's first round
selected (the lowest score of the project's model_version, its first cluster), not a random one.

The round is the real retrain job run in-process after `import-video` (as a worker runs the first
round import-video queues): a cold start with no annotation yet, so this is what a fresh project serves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from backend_process import wait_for
from browser import open_browser
from test_annotator_view import _log_in
from test_first_frames import CONFIG, REPO, varied_video

from vidseg.store import Store

pytestmark = pytest.mark.e2e
VIDEO = "stream-clip"  # its own: the session's Label Studio shares one frames folder between tests
BUDGET = 2


@pytest.fixture
def cold_started(label_studio, ls_client, monkeypatch, tmp_path, redis_url, redis):
    """A fresh project after the first round of its one video: (project, the round's status, tasks)."""
    from vidseg.jobs.retrain import retrain_video

    varied_video(tmp_path / "source")
    project = ls_client.create_project("labeling stream", CONFIG)["id"]
    env = {"MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "WORK_HEIGHT": "64", "WORK_WIDTH": "64",
           "TRAIN_STEPS": "5", "BUDGET": str(BUDGET), "DEVICE": "cpu", "QUEUE_NAME": "labeling-stream"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    subprocess.run([sys.executable, "-m", "vidseg", "import-video", str(tmp_path / "source"), "--project",
                    str(project), "--video", VIDEO, "--document-root", str(label_studio.frames_root)],
                   cwd=REPO, check=True, timeout=120)
    retrain_video(project, VIDEO, "job-1")
    status = Store(Path(env["MODEL_DIR"])).video(project, VIDEO).status()
    return project, status, ls_client.video_tasks(project, VIDEO)


def test_label_all_tasks_opens_the_frame_the_backend_selected_first(label_studio, ls_client, cold_started):
    project, status, tasks = cold_started
    assert status["round"] == 1 and status["selected_by"] == "cold_start" and len(status["selected"]) == BUDGET
    first = status["selected"][0]
    scores = {task["data"]["frame"]: next(p["score"] for p in task["predictions"] if p["model_version"] == "vidseg")
              for task in tasks}
    assert min(scores, key=scores.get) == first and sorted(scores.values())[1] > scores[first]  # one clear first
    assert ls_client.get_project(project)["sampling"] == "Uncertainty sampling"
    wanted = tasks[first]["id"]

    with open_browser(1280, 900) as driver:
        _log_in(driver, label_studio.url)
        driver.get(f"{label_studio.url}/projects/{project}/data")
        button = wait_for(lambda: _label_all_button(driver), 60, 'the "Label All Tasks" button', interval=0.5)
        button.click()
        opened = wait_for(lambda: _task_in_stream(driver), 60, "a task opened in the labeling stream", interval=0.5)
        assert "labeling=1" in driver.current_url, driver.current_url
        # the labeling interface's own task, which must be the one the annotator sees named
        assert driver.execute_script("return window.Htx && window.Htx.task && window.Htx.task.id") == opened
        assert opened == wanted, (f"the stream opened task {opened} (frame "
                                  f"{next(t['data']['frame'] for t in tasks if t['id'] == opened)}), not task "
                                  f"{wanted} (frame {first}, the backend's first pick); scores {scores}")


def _label_all_button(driver):
    """The Data Manager's "Label All Tasks" button (the labeling stream), once it is drawn."""
    found = [button for button in driver.find_elements("css selector", "button")
             if button.text.strip() == "Label All Tasks" and button.is_enabled()]
    return found[0] if found else None


def _task_in_stream(driver) -> int | None:
    """The id of the task the labeling stream shows, as Label Studio names it to the annotator ("#<id>"
    in the bottom bar; the stream's URL does not carry it), once the frame is on screen."""
    return driver.execute_script("""
        const named = document.querySelector('.lsf-current-task__task-id');
        if (!named || !document.querySelector('.konvajs-content')) return null;
        const own = [...named.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent);
        const id = own.join('').trim();
        return /^\\d+$/.test(id) ? Number(id) : null;""")
