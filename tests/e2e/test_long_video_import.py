"""`import-video` of a video file into a real Label Studio: sampled, split, served, and idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/></BrushLabels></View>')


def test_a_split_sampled_import_runs_twice_without_duplicates(label_studio, ls_client, tmp_path):
    source = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 24, (64, 48))
    for index in range(48):  # 2 s; frame i is a flat grey of 5 i
        writer.write(np.full((48, 64, 3), 5 * index, np.uint8))
    writer.release()
    project = ls_client.create_project("long video", CONFIG)["id"]
    env = dict(os.environ, LABEL_STUDIO_URL=label_studio.url, LABEL_STUDIO_API_KEY=label_studio.token)
    command = [sys.executable, "-m", "vidseg", "import-video", str(source), "--project", str(project),
               "--fps", "4", "--split-every", "1", "--format", "jpg", "--quality", "90",
               "--document-root", str(label_studio.frames_root)]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "drive-part002: source frames 24-47, 1.00 s-1.96 s, 4 frames to label" in first.stdout
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 written, 8 already there; 0 new tasks, 8 already in the project" in again.stdout

    assert len(ls_client.local_storages(project)) == 1
    for part, first_source in (("drive-part001", 0), ("drive-part002", 24)):
        tasks = ls_client.video_tasks(project, part, fields="task_only")
        assert [t["data"]["frame"] for t in tasks] == [0, 1, 2, 3]
        assert [t["data"]["source_frame"] for t in tasks] == [first_source + 6 * i for i in range(4)]
        image = cv2.imdecode(np.frombuffer(ls_client.download(tasks[2]["data"]["image"]), np.uint8),
                             cv2.IMREAD_GRAYSCALE)
        assert round(float(image.mean()) / 5) == first_source + 12  # Label Studio serves the frame written
