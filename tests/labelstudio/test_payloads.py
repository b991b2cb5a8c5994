"""Webhook, /setup and /predict bodies in the shapes Label Studio 1.23 sends."""

import base64
import copy

import pytest

from vidseg.labelstudio import (
    PayloadError,
    WebhookEvent,
    parse_frame_name,
    parse_predict,
    parse_setup,
    parse_webhook,
    project_id_of,
    video_and_frame,
)

LABEL_CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
PROJECT = {
    "id": 3, "title": "CamVid 0016E5", "description": "", "label_config": LABEL_CONFIG,
    "expert_instruction": "", "show_instruction": False, "show_skip_button": True,
    "enable_empty_annotation": True, "show_annotation_history": False, "show_collab_predictions": True,
    "evaluate_predictions_automatically": False, "token": "9105a1d897e52286", "result_count": 0,
    "color": "#FFFFFF", "maximum_annotations": 1, "min_annotations_to_start_training": 0,
    "control_weights": {"tag": {"overall": 1.0, "type": "BrushLabels", "labels": {"Road": 1.0, "Car": 1.0}}},
    "model_version": "vidseg-r3", "data_types": {"image": "Image"}, "is_draft": False, "is_published": False,
    "created_at": "2025-05-02T09:12:44.123456Z", "updated_at": "2025-05-02T09:30:01.000001Z",
    "sampling": "Uncertainty sampling", "show_ground_truth_first": False, "show_overlap_first": False,
    "overlap_cohort_percentage": 100, "task_data_login": None, "task_data_password": None,
    "organization": 1, "created_by": 1,
}
TASK = {
    "id": 101,
    "data": {"image": "/data/local-files/?d=camvid/val/0016E5_07961.png", "video": "0016E5", "frame": 7961},
    "meta": {}, "created_at": "2025-05-02T09:13:00.000000Z", "updated_at": "2025-05-02T09:31:00.000000Z",
    "is_labeled": True, "overlap": 1, "inner_id": 2, "total_annotations": 1, "cancelled_annotations": 0,
    "total_predictions": 1, "comment_count": 0, "unresolved_comment_count": 0,
    "last_comment_updated_at": None, "project": 3, "updated_by": 1, "file_upload": None,
    "comment_authors": [],
}
ANNOTATION = {
    "id": 17,
    "result": [{"id": "a1B2c3D4e5", "from_name": "tag", "to_name": "image", "type": "brushlabels",
                "original_width": 480, "original_height": 360, "image_rotation": 0,
                "value": {"format": "rle", "rle": [0, 10, 140, 0, 231, 127], "brushlabels": ["Road"]},
                "origin": "manual"}],
    "was_cancelled": False, "ground_truth": False, "created_at": "2025-05-02T09:31:00.000000Z",
    "updated_at": "2025-05-02T09:31:00.000000Z", "draft_created_at": None, "lead_time": 41.2,
    "prediction": {}, "result_count": 0, "unique_id": "5b1f6a2e-0000-4000-8000-000000000000",
    "import_id": None, "last_action": None, "bulk_created": False, "task": 101, "project": 3,
    "updated_by": 1, "parent_prediction": 55, "parent_annotation": None, "last_created_by": None,
    "completed_by": 1,
}


def annotation_event(action="ANNOTATION_CREATED", **data):
    task = copy.deepcopy(TASK)
    task["data"] = data or task["data"]
    return {"action": action, "annotation": copy.deepcopy(ANNOTATION), "task": task, "project": PROJECT}


def test_annotation_created_and_updated():
    assert parse_webhook(annotation_event()) == WebhookEvent("ANNOTATION_CREATED", 3, "0016E5", 101, (17,), 7961)
    event = parse_webhook(annotation_event("ANNOTATION_UPDATED"))
    assert (event.action, event.video, event.frame) == ("ANNOTATION_UPDATED", "0016E5", 7961)


def test_custom_data_field_names():
    payload = annotation_event(image="/data/upload/3/x.png", clip=42, idx="12")
    event = parse_webhook(payload, video_field="clip", frame_field="idx")
    assert (event.video, event.frame) == ("42", 12)


def test_video_from_the_file_name_when_data_has_no_video_field():
    event = parse_webhook(annotation_event(image="/data/local-files/?d=clips%2F0016E5_07959.png"))
    assert (event.video, event.frame, event.task_id) == ("0016E5", 7959, 101)


def test_task_without_video_field_says_which_fields_exist_and_which_setting():
    payload = annotation_event(image="https://cdn.example.com/frames/shot.png", clip="a")
    with pytest.raises(PayloadError, match=r"no 'video' or 'frame' field.*'image', 'clip'.*VIDEO_FIELD"):
        parse_webhook(payload)


def test_plural_delete_and_older_singular_delete():
    plural = {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 17}, {"id": 18}], "project": {"id": 3}}
    assert parse_webhook(plural) == WebhookEvent("ANNOTATIONS_DELETED", 3, annotation_ids=(17, 18))
    singular = {"action": "ANNOTATION_DELETED", "annotation": {"id": 9}, "project": PROJECT}
    assert parse_webhook(singular) == WebhookEvent("ANNOTATION_DELETED", 3, annotation_ids=(9,))


def test_bulk_created_names_the_video_only_when_there_is_one():
    other = copy.deepcopy(TASK) | {"id": 102}
    same = {"action": "ANNOTATIONS_CREATED", "annotation": [ANNOTATION, ANNOTATION | {"id": 18, "task": 102}],
            "task": [TASK, other], "project": PROJECT}
    assert parse_webhook(same) == WebhookEvent("ANNOTATIONS_CREATED", 3, "0016E5", None, (17, 18))
    other["data"] = {"image": "/data/local-files/?d=b/0001TP_000030.png"}
    assert parse_webhook(same).video is None


def test_annotation_without_task_object_keeps_the_task_id():
    payload = {"action": "ANNOTATION_CREATED", "annotation": ANNOTATION, "project": PROJECT}
    assert parse_webhook(payload) == WebhookEvent("ANNOTATION_CREATED", 3, None, 101, (17,))


def test_start_training_and_ignored_actions():
    assert parse_webhook({"action": "START_TRAINING", "project": PROJECT}) == WebhookEvent("START_TRAINING", 3)
    for action in ("PROJECT_UPDATED", "TASKS_CREATED", "LABEL_LINK_CREATED", "SOMETHING_NEW", None):
        assert parse_webhook({"action": action, "project": PROJECT}) is None
    assert parse_webhook({}) is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "JSON object, got list"),
        ({"action": "START_TRAINING"}, "has no 'project'"),
        ({"action": "START_TRAINING", "project": {"title": "x"}}, "project.id is None"),
        ({"action": "ANNOTATIONS_DELETED", "project": PROJECT}, "neither 'annotations' nor 'annotation'"),
        ({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": "x"}], "project": PROJECT}, "annotations.id"),
        ({"action": "ANNOTATION_CREATED", "project": PROJECT}, "has no 'annotation'"),
        ({"action": "ANNOTATION_CREATED", "annotation": ANNOTATION, "task": {"id": 1}, "project": PROJECT},
         "'task' has no 'data'"),
    ],
)
def test_webhook_errors(payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_webhook(payload)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/data/upload/3/ab12cd34-0016E5_07959.png", ("0016E5", 7959)),
        ("/data/upload/3/0016E5_07959.png", ("0016E5", 7959)),
        ("/data/local-files/?d=clips/0016E5_07959.png", ("0016E5", 7959)),
        ("/data/local-files/?d=clips%2F0016E5_07959.png", ("0016E5", 7959)),
        ("/data/local-files/?d=camvid/train/0006R0_f01080.png", ("0006R0", 1080)),
        ("/data/local-files/?d=videos/clip-1/000123.jpg", ("clip-1", 123)),
        ("s3://bucket/frames/street_cam_2_000045.jpg", ("street_cam_2", 45)),
        ("https://cdn.example.com/x/deadbeef-walk_12.png?X-Amz-Signature=abc", ("deadbeef-walk", 12)),
        ("/tasks/5/resolve/?fileuri=" + base64.urlsafe_b64encode(b"gs://b/v/run_0007.png").decode().rstrip("="),
         ("run", 7)),
        ("http://localhost:8080/data/upload/3/12345678.png", None),
        ("/data/upload/3/ab12cd34-shot.png", None),
        ("", None),
        ("/tasks/5/resolve/?fileuri=%%%", None),
    ],
)
def test_frame_name_rules(url, expected):
    assert parse_frame_name(url) == expected


def test_video_and_frame_fields_win_and_fill_in_from_the_name():
    image = "/data/local-files/?d=clips/0016E5_07959.png"
    assert video_and_frame({"video": "V", "frame": 3, "image": image}) == ("V", 3)
    assert video_and_frame({"video": "V", "image": image}) == ("V", 7959)
    assert video_and_frame({"frame": 12.0, "img": image}, image_field="img") == ("0016E5", 12)
    for bad in (True, -1, "x", 1.5):
        with pytest.raises(PayloadError, match="frame index"):
            video_and_frame({"video": "V", "frame": bad})
    with pytest.raises(PayloadError, match="expected a video id"):
        video_and_frame({"video": "", "frame": 1})
    with pytest.raises(PayloadError, match="task data is list"):
        video_and_frame([])


def test_project_ids():
    assert project_id_of("3.1746177164") == 3 and project_id_of({"id": 7}) == 7 and project_id_of("12") == 12
    for bad in ("abc", "", 0, True, None, "-1.5"):
        with pytest.raises(PayloadError, match="<id>.<timestamp>"):
            project_id_of(bad)


def test_parse_setup():
    request = parse_setup({"project": "3.1746177164", "schema": LABEL_CONFIG, "hostname": "http://localhost:8080",
                           "access_token": "0123456789abcdef0123456789abcdef01234567", "extra_params": None})
    assert (request.project_id, request.label_config, request.hostname) == (3, LABEL_CONFIG, "http://localhost:8080")
    assert request.access_token.startswith("0123") and "0123456789abcdef" not in repr(request)
    with pytest.raises(PayloadError, match="no 'schema'"):
        parse_setup({"project": "3.1"})
    with pytest.raises(PayloadError, match="no 'project'"):
        parse_setup({"schema": LABEL_CONFIG})


def test_parse_predict_with_full_task_dicts():
    task = copy.deepcopy(TASK) | {"annotations": [ANNOTATION], "predictions": [], "drafts": []}
    payload = {"tasks": [task, copy.deepcopy(TASK) | {"id": 102}], "model_version": "vidseg-r3",
               "project": "3.1746177164", "label_config": LABEL_CONFIG,
               "params": {"login": None, "password": None, "context": None}}
    request = parse_predict(payload)
    assert [t["id"] for t in request.tasks] == [101, 102] and request.tasks[0] is task
    assert (request.project_id, request.label_config, request.context) == (3, LABEL_CONFIG, None)
    assert parse_predict({"tasks": []}).project_id is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("tasks", "JSON object"),
        ({}, "needs 'tasks'"),
        ({"tasks": [7]}, r"tasks\[0\] is int"),
        ({"tasks": [{"data": {}}]}, r"tasks\[0\].id is None"),
        ({"tasks": [{"id": 5, "data": "img.png"}]}, r"tasks\[0\] \(id 5\) has no 'data'"),
    ],
)
def test_predict_errors(payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_predict(payload)
