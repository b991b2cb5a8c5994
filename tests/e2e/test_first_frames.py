"""The queue is smart from the first frame: `import-video` and `connect` queue the first round, so the
very first task Label Studio serves is one the cold start selected, and the ones after it follow the
selection's order while the next round waits to train.

A real Label Studio 1.23.2, the web app (`serve --workers 0`) on a Redis of the test's own, and a real
RQ worker run in burst mode only for the queued first round: after it, no worker runs, as when every
worker is busy training, so the annotations below queue a retrain that does not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidseg.labelstudio.brush import label_map_to_results
from vidseg.labelstudio.config import parse_label_config
from vidseg.redis_server import start_private_redis
from vidseg.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from backend_process import serving_backend  # noqa: E402

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
N_FRAMES, HEIGHT, WIDTH, BUDGET = 12, 48, 64, 2
VIDEO = "first-frames"  # its own frame folder under the session's Label Studio document root


def varied_video(folder: Path) -> None:
    """Frames whose colour drifts and whose texture changes, so image features tell them apart."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for t in range(N_FRAMES):
        base = np.array([20 * t, 200 - 15 * t, 80 + 10 * (t % 4)], dtype=np.int16)
        frame = np.clip(base + rng.integers(-30, 30, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"f{t:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


@pytest.fixture
def web_only(label_studio, tmp_path):
    """The web app on a Redis the admin commands can reach too; no worker. Yields (url, env)."""
    redis = start_private_redis(tmp_path / "redis")
    env = dict(
        os.environ, MODEL_DIR=str(tmp_path / "models"), REDIS_URL=redis.url, LABEL_STUDIO_URL=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.token, WORK_HEIGHT="64", WORK_WIDTH="64", TRAIN_STEPS="5",
        BUDGET=str(BUDGET), QUEUE_NAME="first-frames", PYTHONUNBUFFERED="1",
    )
    try:
        with serving_backend(env, tmp_path / "web.log", "--workers", "0", "--web-workers", "1", "--grace", "5") as url:
            yield url, env
    finally:
        redis.stop()


def test_the_first_tasks_served_are_the_cold_starts_selection_in_order(label_studio, ls_client, web_only, tmp_path):
    url, env = web_only
    varied_video(tmp_path / "source")
    project = ls_client.create_project("first frames", CONFIG)["id"]

    def admin(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "vidseg", *args, "--project", str(project)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    imported = admin("import-video", str(tmp_path / "source"), "--video", VIDEO,
                     "--document-root", str(label_studio.frames_root))
    assert f"queued a first round of {VIDEO}" in imported
    connected = admin("connect", "--backend-url", url)
    assert "connected ML backend" in connected and "queued a first round" in connected
    # Connecting set model_version to the backend's title ("vidseg"), which has no predictions yet:
    # connect says so instead of claiming to have set it.
    assert "no predictions of model_version 'vidseg' yet" in connected and "set model_version" not in connected

    worker = subprocess.run([sys.executable, "-m", "vidseg", "worker", "--burst"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    status = Store(Path(env["MODEL_DIR"])).video(project, VIDEO).status()
    assert worker.returncode == 0 and status.get("round") == 1, worker.stderr[-3000:]
    assert status["selected_by"] == "cold_start" and len(status["selected"]) == BUDGET
    info = ls_client.get_project(project)
    assert info["sampling"] == "Uncertainty sampling" and info["model_version"] == "vidseg"

    score = {}
    for task in ls_client.video_tasks(project, VIDEO):
        own = [p for p in task["predictions"] if p["model_version"] == "vidseg"]
        assert len(own) == 1, f"task {task['id']} has {len(own)} predictions of the backend"
        score[task["data"]["frame"]] = own[0]["score"]
    expected = sorted(score, key=score.get)
    assert expected[:BUDGET] == status["selected"]  # the selection, in its order
    ranked = [frame for frame in expected if score[frame] < max(score.values())]
    assert len(set(score[f] for f in ranked)) == len(ranked) > BUDGET + 1  # follow-ups in a strict order

    config = parse_label_config(CONFIG)
    served = []
    for _ in ranked:  # an annotator who keeps going while the next round waits
        task = ls_client.next_task(project)
        served.append(task["data"]["frame"])
        ls_client.create_annotation(task["id"], label_map_to_results(np.zeros((HEIGHT, WIDTH), np.int64), config))
    assert score[served[0]] < 0.1 and served[0] == status["selected"][0]
    assert served == ranked
