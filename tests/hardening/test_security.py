"""Security: basic auth on every route, no SSRF in frame downloads, no path traversal in the store,
request and image size limits, secrets kept out of answers and logs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hardening_support import CONFIG, TOKEN, Fault, png, synthetic_frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue, SimpleWorker

import _wsgi
from _wsgi import create_app
from vidseg.jobs.queue import RETRAIN_JOB, enqueue_coalesced
from vidseg.labelstudio.client import LabelStudioClient, LabelStudioError
from vidseg.labelstudio.frames import FrameError, decode_frame, load_frames
from vidseg.settings import Settings, SettingsError
from vidseg.store import Store, VideoStore, video_key

USER, PASSWORD = "ls-user", "pw-7c1d0e9b-never-log-me"


def _basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- basic auth --------------------------------------------------------------------------------

ROUTES = [
    ("POST", "/setup", {"project": "7.1", "schema": CONFIG}),
    ("POST", "/predict", {"tasks": [], "project": 7}),
    ("POST", "/webhook", {"action": "PROJECT_UPDATED", "project": 7}),
    ("GET", "/metrics", None),
    ("GET", "/status/7", None),
    ("GET", "/status/7/clip-1", None),
    ("GET", "/no-such-route", None),
    ("PUT", "/predict", None),
    ("GET", "/health/", None),
]
WRONG = [None, _basic(USER, "wrong"), _basic("wrong", PASSWORD), _basic(USER, ""), _basic("", ""),
         {"Authorization": "Basic !!!"}, {"Authorization": "Bearer " + PASSWORD}, _basic(USER, PASSWORD + "x"),
         {"Authorization": "Basic " + base64.b64encode(PASSWORD.encode()).decode()}]


@pytest.fixture
def guarded(tmp_path, redis_url, redis):
    settings = Settings(model_dir=tmp_path / "models", redis_url=redis_url, basic_auth_user=USER,
                        basic_auth_pass=PASSWORD, label_studio_api_key=TOKEN)
    return create_app(settings).test_client()


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_every_route_but_health_needs_the_credentials(guarded, monkeypatch, method, path, body):
    compared = []
    real = _wsgi.hmac.compare_digest
    monkeypatch.setattr(_wsgi.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    for headers in WRONG:
        compared.clear()
        answer = guarded.open(path, method=method, json=body, headers=headers or {})
        assert answer.status_code == 401, (path, headers)
        assert "BASIC_AUTH_USER" in answer.json["error"] and answer.headers["WWW-Authenticate"].startswith("Basic")
        # user and password are both compared, in constant time, whichever one is wrong
        assert len(compared) == 2
    answer = guarded.open(path, method=method, json=body, headers=_basic(USER, PASSWORD))
    assert answer.status_code != 401


@pytest.mark.parametrize("path", ["/health", "/"])
def test_health_is_open(guarded, path):
    assert guarded.get(path).status_code == 200


# --- SSRF ----------------------------------------------------------------------------------------


class Recorder(ThreadingHTTPServer):
    """A plain HTTP server on a given loopback address: records hits, answers from `routes`."""

    daemon_threads = True

    def __init__(self, host: str, routes: dict):
        self.hits: list[tuple[str, dict]] = []
        self.routes = routes
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.hits.append((self.path, dict(self.headers)))
                status, headers, body = recorder.routes.get(self.path, (200, {}, b"secret internal data"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__((host, 0), Handler)
        self.base = f"http://{host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def hosts(stub_ls):
    evil = Recorder("127.0.0.2", {})
    image = png(synthetic_frames(1)[0])
    frames = Recorder("127.0.0.3", {})
    frames.routes.update({
        "/ok.png": (200, {}, image),
        "/to-evil": (302, {"Location": f"{evil.base}/stolen"}, b""),
        "/to-self": (302, {"Location": "/ok.png"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
    })
    client = LabelStudioClient(stub_ls.url, TOKEN, retries=0, allowed_hosts=["127.0.0.3"])
    yield client, stub_ls, evil, frames, image
    for server in (evil, frames):
        server.shutdown()
        server.server_close()


def test_downloads_off_label_studio_and_allowed_hosts_are_refused(hosts):
    client, ls, evil, frames, _ = hosts
    ls_netloc = ls.url.split("//")[1]
    evil_netloc = evil.base.split("//")[1]
    refused = [
        f"{evil.base}/x.png", f"https://{evil_netloc}/x.png", f"HTTP://{evil_netloc.upper()}/x.png",
        "file:///etc/passwd", "file://localhost/etc/passwd", f"//{evil_netloc}/x.png", f"///{evil_netloc}/x.png",
        f"http://{ls_netloc}@{evil_netloc}/x.png", f"{evil.base}#@{ls_netloc}/x.png", f"\t{evil.base}/x.png",
        f" //{evil_netloc}/x.png", "gopher://127.0.0.2:70/_x", "ftp://127.0.0.2/x", "http://[::1",
        "http://169.254.169.254/latest/meta-data/", f"{frames.base}/to-evil", "data:image/png;base64,AAAA",
        "javascript:alert(1)", "relative/path.png",
    ]
    for url in refused:
        with pytest.raises(LabelStudioError, match="refusing|cannot download|too many"):
            client.download(url)
    assert evil.hits == [], "a refused URL reached another host"
    # a redirect from an allowed host to another host is not followed
    assert [path for path, _ in frames.hits] == ["/to-evil"]


def test_paths_and_urls_on_label_studio_or_allowed_hosts_download(hosts):
    client, ls, evil, frames, image = hosts
    path = ls.tasks[0]["data"]["image"]
    assert client.download(path) == ls.files[path]
    assert client.download("//" + ls.url.split("//")[1] + path) == ls.files[path]
    assert client.download(ls.url + path) == ls.files[path]
    assert all(headers.get("Authorization") == f"Token {TOKEN}" for _, _, headers in ls.requests)
    assert client.download(f"{frames.base}/ok.png") == image
    assert client.download(f"{frames.base}/to-self") == image
    with pytest.raises(LabelStudioError, match="too many redirects"):
        client.download(f"{frames.base}/loop")
    assert all("Authorization" not in headers for _, headers in frames.hits), "the API key went to another host"
    # backslash tricks stay on Label Studio (and 404 there)
    with pytest.raises(LabelStudioError, match="404"):
        client.download("/\\" + evil.base.split("//")[1] + "/x.png")
    assert evil.hits == []


# --- path traversal -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(video=st.one_of(st.text(), st.sampled_from(["..", ".", "../../x", "/etc/passwd", "a/../../b", "frames",
                                                   "\x00", "~", "C:\\x", "..\\..\\x", "-" * 300, "\u202e.."])))
def test_no_video_id_escapes_its_project_folder(video):
    root = Path("/models")
    store = VideoStore(root, 7, video)
    assert store.dir.parent == root / "7"
    name = store.dir.name
    assert name not in (".", "..", "frames") and "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode()) <= 255 and name.endswith("-" + hashlib.sha1(video.encode()).hexdigest()[:16])
    assert video_key(video) == name


def test_store_writes_for_hostile_ids_stay_under_model_dir(tmp_path):
    root = tmp_path / "models"
    for video in ["../../escaped", "/abs", "..", "a/../../../b"]:
        Store(root).video(7, video).update_status(round=1)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(root in p.parents for p in written)
    assert len(Store(root).statuses(7)) == 4


def test_frames_cache_file_is_a_hash_of_the_url(tmp_path):
    image = png(synthetic_frames(1)[0])
    url = "/data/local-files/?d=../../../../etc/cron.d/x.png"
    load_frames(lambda _: image, [{"id": 1, "data": {"image": url}}], "image", tmp_path / "cache")
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.name == hashlib.sha1(url.encode()).hexdigest() + ".img"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [cached]


# --- size limits ---------------------------------------------------------------------------------


def test_request_bodies_over_max_request_bytes_get_413(tmp_path, redis_url, redis):
    client = create_app(Settings(model_dir=tmp_path, redis_url=redis_url, max_request_bytes=1000)).test_client()
    body = json.dumps({"tasks": [], "project": 7, "pad": "x" * 2000}).encode()
    for route in ("/setup", "/predict", "/webhook"):
        answer = client.post(route, data=body, content_type="application/json")
        assert answer.status_code == 413 and "MAX_REQUEST_BYTES=1000" in answer.json["error"]
    # without a Content-Length (a chunked upload, as gunicorn hands it over), the limit applies while reading
    answer = client.post("/predict", input_stream=io.BytesIO(body), content_type="application/json",
                         environ_overrides={"wsgi.input_terminated": True})
    assert answer.status_code == 413 and "MAX_REQUEST_BYTES" in answer.json["error"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in a few dozen bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, fragment", [
    (8000, 8000, "MAX_IMAGE_PIXELS=40000000"),   # 64 MP: over our limit, under Pillow's
    (100_000, 100_000, "too many pixels"),      # over Pillow's own bomb limit too
])
def test_frames_over_max_image_pixels_are_refused_before_decoding(width, height, fragment):
    with pytest.raises(FrameError, match=fragment) as error:
        decode_frame(_png_header(width, height), "task 5", max_pixels=Settings().max_image_pixels)
    assert str(error.value).startswith("task 5")


def test_max_image_pixels_also_bounds_formats_pillow_does_not_read():
    frame = synthetic_frames(1)[0]
    assert decode_frame(png(frame), "t", max_pixels=frame.shape[0] * frame.shape[1]).shape == frame.shape
    with pytest.raises(FrameError, match="MAX_IMAGE_PIXELS=100"):
        decode_frame(png(frame), "t", max_pixels=100)


def test_max_image_pixels_setting():
    assert Settings.from_env({"MAX_IMAGE_PIXELS": "1000"}).max_image_pixels == 1000
    with pytest.raises(SettingsError, match="MAX_IMAGE_PIXELS"):
        Settings.from_env({"MAX_IMAGE_PIXELS": "0"})


# --- secrets ---------------------------------------------------------------------------------------

REDIS_PASSWORD = "redis-pw-31f7"


def test_settings_repr_hides_the_secrets():
    settings = Settings(label_studio_api_key=TOKEN, basic_auth_user=USER, basic_auth_pass=PASSWORD,
                        redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0")
    text = repr(settings)
    assert TOKEN not in text and PASSWORD not in text


@pytest.mark.parametrize("redis_url", [f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0",
                                       f"redis://user:{REDIS_PASSWORD}@127.0.0.1:1/0",
                                       f"redis://127.0.0.1:1/0?password={REDIS_PASSWORD}"])
def test_web_error_paths_neither_answer_nor_log_secrets(tmp_path, caplog, monkeypatch, redis_url):
    caplog.set_level(logging.DEBUG)
    settings = Settings(model_dir=tmp_path, redis_url=redis_url, label_studio_api_key=TOKEN,
                        basic_auth_user=USER, basic_auth_pass=PASSWORD)
    app = create_app(settings)
    client = app.test_client()
    auth = _basic(USER, PASSWORD)
    event = {"action": "ANNOTATION_CREATED", "project": 7, "annotation": {"id": 1},
             "task": {"id": 1, "data": {"video": "v", "frame": 0}}}
    answers = [client.post("/webhook", json=event, headers=auth),                   # 503: Redis down
               client.get("/status/7/v", headers=auth),                              # queue state unknown
               client.post("/webhook", json=event, headers=_basic(USER, PASSWORD + "-typo"))]  # 401
    monkeypatch.setattr(app.extensions["vidseg"], "predict_json", lambda payload: 1 / 0)
    answers.append(client.post("/predict", json={"tasks": []}, headers=auth))       # 500
    answers.append(client.get(f"/nope?api_key={TOKEN}&password={PASSWORD}", headers=auth))  # 404
    assert [a.status_code for a in answers] == [503, 200, 401, 500, 404]
    assert "unreachable" in answers[0].json["error"] and "127.0.0.1:1" in answers[0].json["error"]
    seen = "".join(a.get_data(as_text=True) for a in answers) + caplog.text
    assert "ZeroDivisionError" in caplog.text  # the 500 was logged with its traceback
    # one access line per failed answer, with the reason the client got
    access = [record.getMessage() for record in caplog.records if record.name == "vidseg.access"]
    assert [line.split(" ms: ")[0].rsplit(" ", 1)[0] for line in access] == [
        "POST /webhook 503", "POST /webhook 401", "POST /predict 500", "GET /nope 404"]
    assert [line.split(" ms: ")[1] for line in access] == [answer.json["error"] for answer in answers if
                                                           answer.status_code >= 400]
    for secret in (TOKEN, PASSWORD, REDIS_PASSWORD):
        assert secret not in seen


def test_worker_error_path_logs_no_secrets(job_env, stub_ls, redis, caplog, fast_retries):
    """A real retrain job fails (Label Studio answers 401) inside a real RQ worker: neither the worker's
    log (with the traceback RQ records), nor the job RQ keeps, nor the status file holds the API key."""
    caplog.set_level(logging.DEBUG)
    stub_ls.faults.append(Fault(r"GET /api/projects/", 401, body={"detail": "Invalid token."}))
    queue = Queue(job_env["QUEUE_NAME"], connection=redis)
    enqueued = enqueue_coalesced(redis, queue, RETRAIN_JOB, 1, "clip-1", job_timeout=30, description="test")
    SimpleWorker([queue], connection=redis).work(burst=True)
    job = queue.fetch_job(enqueued.job_id)
    status = Store(Path(job_env["MODEL_DIR"])).video(1, "clip-1").status()
    assert status["state"] == "failed"
    assert "HTTP 401" in status["last_error"] and "Invalid token" in status["last_error"]
    assert job.get_status() == "scheduled" and job.retries_left == 1  # RQ retries the job later
    assert "LabelStudioError" in caplog.text and "Invalid token" in caplog.text
    everything = caplog.text + json.dumps(status) + json.dumps(job.to_dict(), default=str)
    assert TOKEN not in everything
    # the key did travel, but only to Label Studio, in the Authorization header
    assert stub_ls.requests and all(headers["Authorization"] == f"Token {TOKEN}" for *_, headers in stub_ls.requests)


def test_large_frame_is_reported_in_the_status(job_env, stub_ls, monkeypatch):
    """MAX_IMAGE_PIXELS in a real job: the failing task and the setting to change are in the status."""
    from vidseg.jobs.retrain import retrain_video

    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(FrameError):
        retrain_video(1, "clip-1", "job-1")
    status = Store(Path(job_env["MODEL_DIR"])).video(1, "clip-1").status()
    assert status["state"] == "failed" and "MAX_IMAGE_PIXELS=1000" in status["last_error"]
    assert status["last_error"].startswith("FrameError: task 100")
