"""LabelStudioClient against a real Label Studio (``e2e``) and against scripted stub servers."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests
from label_studio_sdk.converter.brush import mask2rle
from PIL import Image

from vidseg.labelstudio import client as client_module
from vidseg.labelstudio.client import LabelStudioClient, LabelStudioError

BRUSH_CONFIG = (
    '<View><Image name="image" value="$image"/><BrushLabels name="label" toName="image">'
    '<Label value="Car"/><Label value="Road"/></BrushLabels></View>'
)
WIDTH, HEIGHT = 6, 4


def brush_result(label: str = "Car") -> list[dict]:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[1:3, 2:5] = 255
    return [
        {
            "from_name": "label",
            "to_name": "image",
            "type": "brushlabels",
            "original_width": WIDTH,
            "original_height": HEIGHT,
            "image_rotation": 0,
            "value": {"format": "rle", "rle": mask2rle(mask), "brushlabels": [label]},
        }
    ]


@pytest.fixture
def video_project(request, label_studio, ls_client):
    """A brush project with a local storage over 3 PNG frames of clip-1, imported out of
    order, plus one frame of another video. Returns (project, {frame: task id}, frames dir)."""
    name = request.node.name[:40]
    frames_dir = label_studio.frames_root / name
    frames_dir.mkdir()
    for i in range(3):
        Image.fromarray(np.full((HEIGHT, WIDTH, 3), 40 * i, np.uint8)).save(frames_dir / f"{i:05d}.png")
    project = ls_client.create_project(f"vidseg {name}", BRUSH_CONFIG)
    ls_client.add_local_storage(project["id"], str(frames_dir))
    order = [2, 0, 1]
    tasks = [{"image": f"/data/local-files/?d={name}/{i:05d}.png", "video": "clip-1", "frame": i} for i in order]
    tasks.append({"image": f"/data/local-files/?d={name}/00000.png", "video": "clip-2", "frame": 0})
    imported = ls_client.import_tasks(project["id"], tasks)
    assert imported["task_count"] == 4
    task_ids = dict(zip(order, imported["task_ids"][:3], strict=True))
    return project, task_ids, frames_dir


# --- against a real Label Studio ----------------------------------------------------------------


@pytest.mark.e2e
def test_video_tasks_in_frame_order_across_pages(ls_client, video_project, monkeypatch):
    project, task_ids, _ = video_project
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # 3 frames -> 2 pages
    tasks = ls_client.video_tasks(project["id"], "clip-1")
    assert [t["data"]["frame"] for t in tasks] == [0, 1, 2]
    assert [t["id"] for t in tasks] == [task_ids[0], task_ids[1], task_ids[2]]
    assert all(t["annotations"] == [] and t["predictions"] == [] for t in tasks)
    assert [t["data"]["video"] for t in ls_client.video_tasks(project["id"], "clip-2")] == ["clip-2"]
    assert len(ls_client.all_tasks(project["id"])) == 4
    assert ls_client.video_tasks(project["id"], "no-such-clip") == []


@pytest.mark.e2e
def test_download_frame(ls_client, video_project):
    project, _, frames_dir = video_project
    first = ls_client.video_tasks(project["id"], "clip-1")[0]
    expected = (frames_dir / "00000.png").read_bytes()
    assert ls_client.download(first["data"]["image"]) == expected
    assert ls_client.download(ls_client.url + first["data"]["image"]) == expected
    with pytest.raises(LabelStudioError, match="ALLOWED_HOSTS"):
        ls_client.download("http://frames.example.com/00000.png")
    with pytest.raises(LabelStudioError) as excinfo:
        ls_client.download("/data/local-files/?d=elsewhere/missing.png")
    assert excinfo.value.status == 404


@pytest.mark.e2e
def test_uncertainty_sampling_serves_lowest_score(ls_client, video_project):
    project, task_ids, _ = video_project
    scores = {0: 0.8, 1: 0.2, 2: 0.5}
    for frame, task_id in task_ids.items():
        prediction = ls_client.create_prediction(task_id, brush_result(), scores[frame], "vidseg-v1", cluster=frame)
        assert prediction["cluster"] == frame and prediction["model_version"] == "vidseg-v1"
    assert ls_client.model_versions(project["id"]) == {"vidseg-v1": 3}

    with pytest.raises(LabelStudioError) as excinfo:  # the version must exist
        ls_client.set_project_sampling(project["id"], model_version="no-such-version")
    assert excinfo.value.status == 400 and "model_version" in str(excinfo.value)
    updated = ls_client.set_project_sampling(project["id"], model_version="vidseg-v1")
    assert (updated["sampling"], updated["model_version"]) == ("Uncertainty sampling", "vidseg-v1")

    served = ls_client.next_task(project["id"])
    assert served["id"] == task_ids[1]
    assert served["predictions"][0]["score"] == pytest.approx(0.2)

    ls_client.create_annotation(task_ids[1], brush_result())
    assert ls_client.next_task(project["id"])["id"] == task_ids[2]  # next lowest score

    with pytest.raises(TypeError):
        ls_client.create_prediction(task_ids[0], brush_result(), 0.1, 3)


@pytest.mark.e2e
def test_annotation_read_back_with_video(ls_client, video_project):
    project, task_ids, _ = video_project
    result = brush_result("Road")
    annotation = ls_client.create_annotation(task_ids[2], result)
    assert annotation["task"] == task_ids[2]
    tasks = ls_client.video_tasks(project["id"], "clip-1")
    assert [len(t["annotations"]) for t in tasks] == [0, 0, 1]
    stored = tasks[2]["annotations"][0]["result"][0]
    assert stored["value"]["rle"] == result[0]["value"]["rle"]
    assert stored["value"]["brushlabels"] == ["Road"]
    assert ls_client.get_task(task_ids[2])["is_labeled"] is True


@pytest.mark.e2e
def test_delete_model_version_and_update_project(ls_client, video_project):
    project, task_ids, _ = video_project
    for task_id in task_ids.values():
        ls_client.create_prediction(task_id, brush_result(), 0.5, "old")
    ls_client.set_project_sampling(project["id"], model_version="old")
    ls_client.delete_model_version(project["id"], "old")
    assert ls_client.model_versions(project["id"]) == {}
    assert all(t["predictions"] == [] for t in ls_client.all_tasks(project["id"]))
    # Deleting the project's current version also clears project.model_version.
    assert not ls_client.get_project(project["id"])["model_version"]
    assert ls_client.update_project(project["id"], title="renamed project")["title"] == "renamed project"


@pytest.mark.e2e
def test_errors_carry_status_and_message(label_studio, ls_client):
    with pytest.raises(LabelStudioError) as excinfo:
        ls_client.get_project(999_999)
    assert excinfo.value.status == 404
    with pytest.raises(LabelStudioError) as excinfo:
        ls_client.create_project("x", "<View>")
    assert excinfo.value.status == 400 and "label_config" in str(excinfo.value)
    with pytest.raises(LabelStudioError) as excinfo:
        LabelStudioClient(label_studio.url, "0" * 40, retries=0).get_project(1)
    assert excinfo.value.status == 401


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:The `parse_obj` method is deprecated")  # inside label-studio-sdk 2.1.2
def test_personal_access_token(label_studio, ls_client, video_project):
    project, _, _ = video_project
    response = requests.post(f"{label_studio.url}/api/token/", headers=label_studio.headers, timeout=10)
    assert response.status_code == 201, response.text
    pat_client = LabelStudioClient(label_studio.url, response.json()["token"])
    assert pat_client._auth_headers()["Authorization"].startswith("Bearer ")
    assert pat_client.get_project(project["id"])["id"] == project["id"]
    assert pat_client.download(pat_client.all_tasks(project["id"])[0]["data"]["image"])[:4] == b"\x89PNG"


@pytest.mark.e2e
def test_ml_backend_and_webhook_headers(ls_client, video_project):
    project, task_ids, _ = video_project
    with StubServer(
        {
            "/health": [(200, {"status": "UP", "model_class": "Stub"})],
            "/setup": [(200, {"model_version": "stub-1"})],
            "/webhook": [(200, {})],
        }
    ) as backend:
        backend_info = ls_client.connect_ml_backend(project["id"], backend.url, "vidseg", basic_auth=("u", "pw"))
        assert (backend_info["title"], backend_info["auth_method"]) == ("vidseg", "BASIC_AUTH")
        again = ls_client.connect_ml_backend(project["id"], backend.url + "/", "vidseg")
        assert again["id"] == backend_info["id"]
        assert [b["id"] for b in ls_client.ml_backends(project["id"])] == [backend_info["id"]]
        basic = "Basic " + base64.b64encode(b"u:pw").decode()
        assert ("/setup", basic) in [(r["path"], r["authorization"]) for r in backend.requests]
        # Trap: connecting sets project.model_version to the backend's title.
        assert ls_client.get_project(project["id"])["model_version"] == "vidseg"

        (webhook,) = ls_client.project_webhooks(project["id"])
        assert webhook["url"] == backend.url + "/webhook" and webhook["headers"] == {}
        assert ls_client.set_webhook_headers(webhook["id"], {"Authorization": basic})["headers"] == {
            "Authorization": basic
        }
        backend.requests.clear()
        ls_client.create_annotation(task_ids[0], brush_result())
        hook = backend.wait_for("/webhook", lambda r: r["body"].get("action") == "ANNOTATION_CREATED")
        assert hook["authorization"] == basic
        assert hook["body"]["task"]["id"] == task_ids[0]


# --- transport, against scripted stub servers (no Label Studio needed) -----------------------


STALL_SECONDS = 1.0


class StubServer:
    """A local HTTP server answering scripted (status, json) replies per path, in turn; the last
    reply of a path repeats. Records every request in ``requests``."""

    def __init__(self, replies: dict[str, list[tuple[int, dict]]], stall: dict[str, int] | None = None):
        self.replies = {path: list(items) for path, items in replies.items()}
        self.stall = dict(stall or {})  # path -> how many of its first requests answer only after STALL_SECONDS
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": path,
                        "authorization": self.headers.get("Authorization"),
                        "body": json.loads(raw) if raw else {},
                    }
                )
                if stub.stall.get(path):
                    stub.stall[path] -= 1
                    time.sleep(STALL_SECONDS)
                queue = stub.replies.get(path) or [(404, {"detail": "Not found."})]
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, path: str, match, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in list(self.requests):
                if item["path"] == path and match(item):
                    return item
            time.sleep(0.05)
        raise AssertionError(f"no matching request to {path}: {self.requests}")

    def __enter__(self) -> StubServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


def stub_client(url: str, **kwargs) -> LabelStudioClient:
    return LabelStudioClient(url, "a" * 40, backoff=0.01, **kwargs)


def test_retries_transient_statuses_then_succeeds():
    replies = {"/api/projects/1/": [(503, {}), (429, {}), (502, {}), (200, {"id": 1})]}
    with StubServer(replies) as stub:
        assert stub_client(stub.url, retries=3).get_project(1) == {"id": 1}
    assert len(stub.requests) == 4
    assert stub.requests[0]["authorization"] == "Token " + "a" * 40


def test_gives_up_after_retries_with_the_status():
    with StubServer({"/api/projects/1/": [(504, {"detail": "gateway timeout"})]}) as stub:
        with pytest.raises(LabelStudioError) as excinfo:
            stub_client(stub.url, retries=2).get_project(1)
    assert excinfo.value.status == 504 and "gateway timeout" in str(excinfo.value)
    assert len(stub.requests) == 3


def test_does_not_retry_other_errors():
    with StubServer({"/api/predictions/": [(500, {"detail": "boom"})]}) as stub:
        with pytest.raises(LabelStudioError) as excinfo:
            stub_client(stub.url).create_prediction(1, [], 0.5, "v1", cluster=2)
    assert (excinfo.value.status, excinfo.value.body["detail"]) == (500, "boom")
    assert len(stub.requests) == 1
    assert stub.requests[0]["body"] == {
        "task": 1,
        "result": [],
        "score": 0.5,
        "model_version": "v1",
        "cluster": 2,
    }


def test_a_busy_sqlite_database_is_retried_and_other_500s_are_not():
    """Label Studio on SQLite answers 500 "database is locked" when concurrent writers hold the
    database past its timeout (seen pushing 1,000 720p predictions 4 at a time): rolled back, so sent again."""
    locked = {"id": "94da0287", "status_code": 500, "detail": "database is locked"}
    replies = {"/api/predictions/": [(500, locked), (500, locked), (201, {"id": 7})]}
    with StubServer(replies) as stub:
        assert stub_client(stub.url, retries=3).create_prediction(1, [], 0.5, "v1", cluster=2) == {"id": 7}
    assert [item["method"] for item in stub.requests] == ["POST"] * 3
    with StubServer({"/api/predictions/": [(500, {"detail": "column task_id is not unique"})]}) as stub:
        with pytest.raises(LabelStudioError, match="not unique"):
            stub_client(stub.url, retries=3).create_prediction(1, [], 0.5, "v1")
    assert len(stub.requests) == 1


def test_a_read_timeout_is_retried_for_a_delete_but_not_for_a_post():
    """A DELETE sent twice deletes once; a POST that timed out may have created its prediction."""
    replies = {"/api/predictions/5/": [(204, {})], "/api/predictions/": [(201, {"id": 6})]}
    with StubServer(replies, stall={"/api/predictions/5/": 1, "/api/predictions/": 1}) as stub:
        client = stub_client(stub.url, retries=2, timeout=STALL_SECONDS / 4)
        client.request("DELETE", "/api/predictions/5/", raw=True)
        with pytest.raises(LabelStudioError, match="timed out"):
            client.create_prediction(1, [], 0.5, "v1")
        time.sleep(STALL_SECONDS)  # the stalled POST still reaches the stub
    assert [item["method"] for item in stub.requests] == ["DELETE", "DELETE", "POST"]


def test_connection_errors_are_retried_then_raised():
    with StubServer({}) as stub:
        url = stub.url  # the port is free again once the stub is closed
    with pytest.raises(LabelStudioError, match="cannot connect") as excinfo:
        stub_client(url, retries=1).get_project(1)
    assert excinfo.value.status is None


def test_next_task_none_when_queue_is_empty():
    with StubServer({"/api/projects/1/next/": [(404, {"detail": "There are no tasks"})]}) as stub:
        assert stub_client(stub.url).next_task(1) is None


def test_download_from_allowed_host_without_credentials():
    with StubServer({"/frame.png": [(200, {"fake": "png"})]}) as frames:
        url = frames.url.replace("127.0.0.1", "localhost") + "/frame.png"
        with pytest.raises(LabelStudioError, match="ALLOWED_HOSTS"):
            stub_client("http://127.0.0.1:1").download(url)
        assert frames.requests == []
        client = stub_client("http://127.0.0.1:1", allowed_hosts={"localhost"})
        assert json.loads(client.download(url)) == {"fake": "png"}
    assert frames.requests[0]["authorization"] is None
    with pytest.raises(LabelStudioError, match="presigned"):
        client.download("s3://bucket/frame.png")


def test_connect_refuses_a_label_config_laid_out_for_another_granularity():
    from vidseg.admin import connect
    from vidseg.settings import Settings

    config = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
              '<Label value="Road"/></BrushLabels></View>')
    with StubServer({"/api/projects/1/": [(200, {"id": 1, "label_config": config})]}) as stub:
        with pytest.raises(SystemExit, match="project 1: GRANULARITY=superpixel needs a second <BrushLabels>"):
            connect(stub_client(stub.url), Settings(granularity="superpixel"), 1, "http://backend:9090",
                    say=lambda line: None)
        assert [r["path"] for r in stub.requests] == ["/api/projects/1/"]  # nothing was changed
