"""The web face through Flask's test client, with a real Redis behind the queue."""

from __future__ import annotations

import base64

import pytest
from rq import Queue

from _wsgi import create_app, in_blocks
from vidseg.jobs.queue import pending_key
from vidseg.settings import Settings
from vidseg.store import Store

CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')


def _task(task_id, frame, video="clip-1", project=7):
    return {"id": task_id, "project": project, "data": {"image": f"/data/upload/7/{video}_{frame}.png",
                                                        "video": video, "frame": frame},
            "annotations": [], "predictions": []}


@pytest.fixture
def settings(tmp_path, redis_url):
    return Settings(model_dir=tmp_path / "models", redis_url=redis_url)


@pytest.fixture
def client(settings, redis):
    return create_app(settings).test_client()


def test_health_is_open_and_fast(client):
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json["status"] == "UP"


def test_setup_accepts_a_brush_config_and_returns_a_string_version(client):
    answer = client.post("/setup", json={"project": "7.1700000000", "schema": CONFIG})
    assert answer.status_code == 200
    assert isinstance(answer.json["model_version"], str)


def test_setup_rejects_a_config_without_brush_labels_with_what_to_change(client):
    answer = client.post("/setup", json={"project": "7.1", "schema": '<View><Image name="i" value="$i"/></View>'})
    assert answer.status_code == 400
    assert "BrushLabels" in answer.json["error"]


def test_predict_answers_from_the_store(client, settings):
    result = [{"from_name": "tag", "to_name": "image", "type": "brushlabels", "value": {"rle": [1], "format": "rle",
                                                                                     "brushlabels": ["Car"]}}]
    Store(settings.model_dir).video(7, "clip-1").write_predictions(
        {"round": 2, "frames": {"3": {"task_id": 11, "result": result, "score": 0.25, "cluster": 1}}})
    answer = client.post("/predict", json={"tasks": [_task(11, 3)], "project": "7.1700000000", "label_config": CONFIG})
    assert answer.status_code == 200
    (item,) = answer.json["results"]
    assert item["result"] == result and item["score"] == 0.25 and item["model_version"] == settings.model_version


def test_answer_chunks_go_out_in_few_blocks_and_unchanged():
    chunks = [b"a" * 3, b"b" * 4, b"c" * 5, b"d"]
    assert list(in_blocks(chunks)) == [b"".join(chunks)]  # a small answer: one write
    assert list(in_blocks(chunks, size=7)) == [b"aaabbbb", b"cccccd"]  # a large one: blocks, never one copy


def _result(label: str, rle: list[int]) -> list[dict]:
    return [{"from_name": "tag", "to_name": "image", "type": "brushlabels",
             "value": {"rle": rle, "format": "rle", "brushlabels": [label]}}]


def test_predict_reads_only_the_frames_asked_for_across_videos_in_one_call(client, redis, settings):
    store = Store(settings.model_dir)
    with store.video(7, "clip-1").predictions_writer(3, "vidseg") as writer:  # the worker's streaming write
        for frame in range(50):
            writer.add(frame, {"task_id": frame, "result": _result("Car", [frame, 1, 2]), "score": frame / 100,
                               "cluster": 0, "confidence": 0.9})
    store.video(7, "clip-2").write_predictions(
        {"round": 1, "frames": {"0": {"task_id": 99, "result": _result("Road", [5]), "score": 0.75}}})
    tasks = [_task(1, 49), _task(2, 0, "clip-2"), _task(3, 7), _task(4, 50)]  # frame 50 was not predicted
    answer = client.post("/predict", json={"tasks": tasks, "project": "7.1"})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert int(answer.headers["Content-Length"]) == len(answer.data)
    assert [(r["result"], r["score"]) for r in answer.json["results"]] == [
        (_result("Car", [49, 1, 2]), 0.49), (_result("Road", [5]), 0.75), (_result("Car", [7, 1, 2]), 0.07), ([], 0.0)]
    assert {r["model_version"] for r in answer.json["results"]} == {answer.json["model_version"]}
    # a frame the round lacks (a task added since) queues a round of its video, once
    assert Queue(settings.queue_name, connection=redis).count == 1 and redis.exists(pending_key(7, "clip-1"))


def test_predict_answers_a_new_round_at_once_and_from_predictions_json_of_the_format_before(client, settings):
    from vidseg.atomic import atomic_write_json

    video = Store(settings.model_dir).video(7, "clip-1")
    atomic_write_json(video.legacy_predictions_path, {"round": 1, "frames": {"3": {
        "task_id": 11, "result": _result("Road", [1]), "score": 0.5, "cluster": 0}}})  # left by a previous version
    ask = {"tasks": [_task(11, 3)], "project": "7.1"}
    assert client.post("/predict", json=ask).json["results"][0]["result"] == _result("Road", [1])
    video.write_predictions({"round": 2, "frames": {"3": {"task_id": 11, "result": _result("Car", [2]),
                                                          "score": 0.25}}})
    (item,) = client.post("/predict", json=ask).json["results"]
    assert item["result"] == _result("Car", [2]) and item["score"] == 0.25


def test_predict_for_a_new_video_is_empty_and_queues_one_cold_start(client, redis, settings):
    tasks = [_task(1, 0, "fresh"), _task(2, 1, "fresh")]
    answer = client.post("/predict", json={"tasks": tasks, "project": "7.1"})
    assert answer.status_code == 200
    assert [r["result"] for r in answer.json["results"]] == [[], []]
    assert Queue(settings.queue_name, connection=redis).count == 1
    assert redis.exists(pending_key(7, "fresh"))


def test_webhook_queues_one_coalesced_job_per_video(client, redis, settings):
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 7}, "task": _task(5, 2),
             "annotation": {"id": 9, "result": [], "task": 5}}
    first = client.post("/webhook", json=event)
    second = client.post("/webhook", json=dict(event, action="ANNOTATION_UPDATED"))
    assert first.status_code == second.status_code == 200
    assert first.json["coalesced"] is False and second.json["coalesced"] is True
    assert Queue(settings.queue_name, connection=redis).count == 1


def test_deletions_queue_a_project_scan(client, redis, settings):
    answer = client.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 3}],
                                           "project": {"id": 7}})
    assert answer.status_code == 200 and answer.json["video"] is None
    (job,) = Queue(settings.queue_name, connection=redis).jobs
    assert job.func_name == "vidseg.jobs.scan.scan_project"


def test_unknown_actions_are_ignored_with_200(client):
    answer = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 7}})
    assert answer.status_code == 200 and answer.json["status"] == "ignored"


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "must be JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"tasks": "x"}', "'tasks'"),
])
def test_bad_predict_bodies_get_400_with_a_message(client, body, fragment):
    answer = client.post("/predict", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert fragment in answer.json["error"]


def test_task_without_video_field_names_the_setting(client):
    task = {"id": 1, "project": 7, "data": {"image": "/data/upload/7/photo.png"}}
    answer = client.post("/predict", json={"tasks": [task], "project": "7.1"})
    assert answer.status_code == 400
    assert "VIDEO_FIELD" in answer.json["error"]


def test_webhook_with_redis_down_answers_503_and_predict_keeps_serving(tmp_path):
    down = Settings(model_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    client = create_app(down).test_client()
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 7}, "task": _task(5, 2), "annotation": {"id": 9}}
    answer = client.post("/webhook", json=event)
    assert answer.status_code == 503 and "retry" in answer.json["error"]
    answer = client.post("/predict", json={"tasks": [_task(5, 2)], "project": "7.1"})
    assert answer.status_code == 200


def test_basic_auth_guards_every_route_but_health(tmp_path, redis_url):
    app = create_app(Settings(model_dir=tmp_path, redis_url=redis_url, basic_auth_user="ls", basic_auth_pass="pw"))
    client = app.test_client()
    assert client.get("/health").status_code == 200
    assert client.post("/setup", json={"project": "1.1", "schema": CONFIG}).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"ls:nope").decode()}
    assert client.post("/setup", json={"project": "1.1", "schema": CONFIG}, headers=wrong).status_code == 401
    good = {"Authorization": "Basic " + base64.b64encode(b"ls:pw").decode()}
    assert client.post("/setup", json={"project": "1.1", "schema": CONFIG}, headers=good).status_code == 200


def test_unknown_route_and_oversized_body_are_4xx(tmp_path, redis_url):
    client = create_app(Settings(model_dir=tmp_path, redis_url=redis_url, max_request_bytes=1000)).test_client()
    assert client.get("/nope").status_code == 404
    answer = client.post("/predict", data=b"{" + b" " * 5000 + b"}", content_type="application/json")
    assert answer.status_code == 413 and "MAX_REQUEST_BYTES" in answer.json["error"]


def test_status_and_metrics(client, settings):
    Store(settings.model_dir).video(7, "clip-1").update_status(round=3, state="idle")
    answer = client.get("/status/7")
    assert answer.status_code == 200
    (video,) = answer.json["videos"]
    assert video["round"] == 3 and video["queue"] == {"pending": False, "training": False}
    client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 7}})
    text = client.get("/metrics").text
    assert 'vidseg_events_total{detail="PROJECT_UPDATED",event="webhook_ignored"} 1.0' in text
    assert 'vidseg_http_requests_total{endpoint="/status/<int:project>",status="200"} 1.0' in text
    assert 'vidseg_http_request_duration_seconds_count{endpoint="/webhook"} 1.0' in text
    assert "vidseg_redis_up 1.0" in text and 'vidseg_queue_jobs{queue="vidseg",state="queued"} 0.0' in text


def test_setup_says_when_the_label_config_is_laid_out_for_another_granularity(tmp_path, redis_url, redis):
    """A frame config with GRANULARITY=rectangle would train without ever showing annotators a focus region."""
    settings = Settings(model_dir=tmp_path / "models", redis_url=redis_url, granularity="rectangle")
    answer = create_app(settings).test_client().post("/setup", json={"project": "7.1", "schema": CONFIG})
    assert answer.status_code == 400
    assert "GRANULARITY=rectangle needs a <RectangleLabels> focus control" in answer.json["error"]
    assert "set GRANULARITY to match it" in answer.json["error"]


def test_the_admin_page_reloads_every_10_s_unless_asked_otherwise(client, settings):
    Store(settings.model_dir).video(7, "clip-1").update_status(round=1, state="idle")
    html = {"Accept": "text/html"}
    for path in ("/", "/status/7", "/status/7/clip-1"):
        assert '<meta http-equiv="refresh" content="10">' in client.get(path, headers=html).text
        assert '<meta http-equiv="refresh" content="60">' in client.get(path + "?refresh=60", headers=html).text
        still = client.get(path + "?refresh=0", headers=html)
        assert still.status_code == 200 and "clip-1" in still.text and 'http-equiv="refresh"' not in still.text
        for bad in ("-5", "soon", "3601", "1.5", "²"):
            answer = client.get(f"{path}?refresh={bad}", headers=html)
            assert answer.status_code == 400 and "refresh must be a whole number of seconds" in answer.json["error"]
