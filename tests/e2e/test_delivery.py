"""Delivering predictions to a real Label Studio 1.23.2: one prediction per task, kept fields, no
request for what did not change, and a changed one shown as new (created_at, the time the labelling
interface shows) with its round in the regions' meta text."""

from __future__ import annotations

import json
import time
from datetime import datetime

import numpy as np
import pytest
from label_studio_sdk.converter.brush import mask2rle

from vidseg.labelstudio.delivery import deliver_predictions

pytestmark = pytest.mark.e2e
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
VERSION = "vidseg-delivery"
N_TASKS = 5


def brush(frame: int) -> list[dict]:
    mask = np.zeros((8, 12), np.uint8)
    mask[2:6, frame:frame + 4] = 255
    return [{"from_name": "tag", "to_name": "image", "type": "brushlabels", "original_width": 12,
             "original_height": 8, "image_rotation": 0,
             "value": {"format": "rle", "rle": mask2rle(mask), "brushlabels": ["Car"]}}]


def round_entries(tasks: list[dict], scores: list[float]) -> list[dict]:
    return [{"task_id": task["id"], "result": brush(frame), "score": scores[frame],
             "cluster": frame if frame < 2 else None, "confidence": 0.8} for frame, task in enumerate(tasks)]


def test_two_rounds_keep_one_prediction_per_task_and_send_nothing_unchanged(label_studio, ls_client):
    log_start = label_studio.log_path.stat().st_size
    project = ls_client.create_project("delivery", CONFIG)["id"]
    imported = ls_client.import_tasks(project, [{"image": f"/data/local-files/?d=d/{i}.png", "video": "clip",
                                                 "frame": i} for i in range(N_TASKS)])
    # An older bulk import left task 0 with two predictions of our version: the delivery must fix it.
    ls_client.request("POST", f"/api/projects/{project}/import/predictions", json=[
        {"task": imported["task_ids"][0], "result": brush(0), "score": 0.9, "model_version": VERSION}] * 2)
    requests_made: list[tuple[str, str]] = []
    original = ls_client.request

    def counting(method, path, **kwargs):
        requests_made.append((method, path))
        return original(method, path, **kwargs)

    ls_client.request = counting
    stored: dict[int, dict] = {}  # the store's part: the previous round's entries by task

    def deliver(scores, round_number):
        tasks = ls_client.video_tasks(project, "clip")
        requests_made.clear()
        report = deliver_predictions(
            ls_client, project, VERSION, zip(tasks, round_entries(tasks, scores), strict=True), concurrency=3,
            round_number=round_number,
            previous=lambda task: stored.get(task["id"]),
            record=lambda task, entry: stored.__setitem__(task["id"], json.loads(json.dumps(entry))))
        return report, [request for request in requests_made if "/predictions/" in request[1]]

    def held():
        tasks = ls_client.video_tasks(project, "clip")
        return [[(p["score"], p["cluster"], p["result"][0]["value"]["rle"]) for p in task["predictions"]
                 if p["model_version"] == VERSION] for task in tasks]

    def shown(task_id):
        """What the labelling interface gets for a task (GET /api/tasks/{id}/): per prediction of ours,
        the time it shows ("vidseg · 2 minutes ago" is created_at) and every region's meta text."""
        task = ls_client.get_task(task_id)
        return [(datetime.fromisoformat(p["created_at"].replace("Z", "+00:00")),
                 {text for region in p["result"] for text in region.get("meta", {}).get("text", [])})
                for p in task["predictions"] if p["model_version"] == VERSION]

    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    first, sent = deliver(scores, 1)
    assert (first.pushed, first.skipped) == (N_TASKS, 0)
    # task 0's two old ones are deleted after its new one is made; the others had none
    assert sorted(method for method, _ in sent) == ["DELETE"] * 2 + ["POST"] * N_TASKS
    assert held() == [[(scores[f], f if f < 2 else None, brush(f)[0]["value"]["rle"])] for f in range(N_TASKS)]
    [(first_time, first_notes)] = shown(imported["task_ids"][3])

    second, sent = deliver(scores, 2)
    assert (second.pushed, second.skipped, sent) == (0, N_TASKS, [])

    time.sleep(1.1)  # created_at has microseconds; a second apart leaves no doubt
    scores[3] = 0.05
    before_third = datetime.now().astimezone()
    third, sent = deliver(scores, 3)
    assert (third.pushed, third.skipped) == (1, N_TASKS - 1) and sorted(m for m, _ in sent) == ["DELETE", "POST"]
    assert held()[3] == [(0.05, None, brush(3)[0]["value"]["rle"])]
    assert [len(predictions) for predictions in held()] == [1] * N_TASKS
    assert [model_version for model_version, count in ls_client.model_versions(project).items() if count] == [VERSION]
    [(changed_time, changed_notes)] = shown(imported["task_ids"][3])
    assert changed_time > first_time and changed_time >= before_third  # shown as made by the round that changed it
    assert [note.split(", delivered ")[0] for note in first_notes] == [f"{VERSION} round 1"]
    assert [note.split(", delivered ")[0] for note in changed_notes] == [f"{VERSION} round 3"]
    [(kept_time, kept_notes)] = shown(imported["task_ids"][2])  # unchanged since round 1: left as it was
    assert kept_time < before_third and [note.split(", delivered ")[0] for note in kept_notes] == [f"{VERSION} round 1"]
    with label_studio.log_path.open("rb") as log:  # the session's server: only what this test made it write
        log.seek(log_start)
        assert b"project_id is not set for prediction" not in log.read()
