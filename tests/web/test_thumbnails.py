"""Frame thumbnails for the admin page: /thumbnails/<project>/<frame>/<video> through Flask's test
client, on a real store with a real frame image, behind basic auth."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from _wsgi import create_app
from vidseg import admin_page
from vidseg.settings import Settings
from vidseg.store import Store
from vidseg.thumbnails import THUMBNAIL_HEIGHT, THUMBNAIL_MAX_WIDTH

USER, PASSWORD = "admin", "thumb-pass"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
RED, BLUE = (220, 20, 20), (20, 20, 220)


def _frame_png(height: int = 360, width: int = 640) -> bytes:
    """Left half red, right half blue: a thumbnail must keep both where they were."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2], pixels[:, width // 2:] = RED, BLUE
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _file_name(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest() + ".img"  # as vidseg.labelstudio.frames caches a frame


@pytest.fixture
def settings(tmp_path, redis_url):
    return Settings(model_dir=tmp_path / "models", redis_url=redis_url, basic_auth_user=USER, basic_auth_pass=PASSWORD)


@pytest.fixture
def store(settings):
    """Project 7, video clip/1 (a slash in its id), as a round leaves it: frame 0 with its image file,
    frame 1 from a round before images were noted, frame 2 whose file is gone, frame 3 not an image."""
    store = Store(settings.model_dir)
    video = store.video(7, "clip/1")
    video.update_status(video="clip/1", round=1, frames=5)
    names = [_file_name(f"/data/local-files/?d=clip/{frame}.png") for frame in range(4)]
    frames = store.frames_dir(7)
    frames.mkdir(parents=True)
    (frames / names[0]).write_bytes(_frame_png())
    (frames / names[3]).write_bytes(b"not an image")
    entries = {"0": {"frame_file": names[0]}, "1": {}, "2": {"frame_file": names[2]}, "3": {"frame_file": names[3]}}
    video.write_predictions({"round": 1, "frames": {frame: {"task_id": int(frame), "result": [], "score": 0.5,
                                                            "cluster": None, **extra}
                                                    for frame, extra in entries.items()}})
    return store


@pytest.fixture
def client(settings, store, redis):
    return create_app(settings).test_client()


def test_a_frames_thumbnail_is_a_small_jpeg_of_it_kept_on_disk_and_by_the_browser(client, settings, store):
    answer = client.get("/thumbnails/7/0/clip/1", headers=AUTH)
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
    assert "immutable" in answer.headers["Cache-Control"] and answer.headers["ETag"]
    image = np.asarray(Image.open(io.BytesIO(answer.data)).convert("RGB")).astype(int)
    assert image.shape[0] == THUMBNAIL_HEIGHT and image.shape[1] == round(THUMBNAIL_HEIGHT * 640 / 360)
    assert image.shape[1] <= THUMBNAIL_MAX_WIDTH and len(answer.data) < 4000
    left, right = image[:, : image.shape[1] // 2 - 2], image[:, image.shape[1] // 2 + 2:]
    assert np.abs(left - RED).max() < 40 and np.abs(right - BLUE).max() < 40  # the frame, not flipped nor tinted

    (kept,) = (settings.model_dir / "7" / "thumbnails").iterdir()
    assert kept.read_bytes() == answer.data
    kept.write_bytes(b"kept")  # the next request reads the kept file instead of decoding the frame again
    assert client.get("/thumbnails/7/0/clip%2F1", headers=AUTH).data == b"kept"
    again = client.get("/thumbnails/7/0/clip/1", headers={**AUTH, "If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_thumbnails_need_the_credentials(client):
    answer = client.get("/thumbnails/7/0/clip/1")
    assert answer.status_code == 401 and "BASIC_AUTH_USER" in answer.json["error"]


@pytest.mark.parametrize(("path", "message"), [
    ("/thumbnails/8/0/clip/1", "project 8 is unknown"),
    ("/thumbnails/7/0/clip-9", "video 'clip-9' of project 7 is unknown"),
    ("/thumbnails/7/4/clip/1", "frame 4 of video 'clip/1' is not in its current round"),
    ("/thumbnails/7/1/clip/1", "has no stored image yet"),
    ("/thumbnails/7/2/clip/1", "is gone"),
    ("/thumbnails/7/3/clip/1", "cannot be decoded"),
    ("/thumbnails/7/x/clip/1", "no route /thumbnails/7/x/clip/1"),
])
def test_an_unknown_project_video_or_frame_is_a_404_that_says_which(client, path, message):
    answer = client.get(path, headers=AUTH)
    assert answer.status_code == 404 and answer.is_json
    assert message in answer.json["error"], answer.json["error"]


def test_the_strip_links_a_thumbnail_for_each_frame_that_has_one(client, store):
    status = store.video(7, "clip/1").status()
    cells = admin_page.frame_strip(store, 7, status)
    urls = [cell["thumbnail"] for cell in cells]
    assert urls[0].startswith("/thumbnails/7/0/clip%2F1?v=") and urls[1] is None and urls[4] is None
    page = client.get("/status/7", headers={**AUTH, "Accept": "text/html"}).data.decode()
    assert page.count("<img ") == 3 and urls[0].replace("&", "&amp;") in page  # frames 0, 2 and 3 name a file
    assert client.get(urls[0], headers=AUTH).status_code == 200
