"""The admin page in a real browser, against a store written by a real round.

The real retrain job runs in-process against the stub Label Studio of tests/hardening (tiny network,
16 frames of 32x64, two annotated); the web app serves over real HTTP with basic auth; headless
Chromium opens the page, and the numbers in its DOM must be the ones /status answers in JSON.
"""

from __future__ import annotations

import base64
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from backend_process import wait_for as _wait
from browser import open_browser, save_for_readme, screenshot
from werkzeug.serving import make_server

from _wsgi import create_app
from vidseg.settings import Settings
from vidseg.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardening"))
from hardening_support import HEIGHT, TOKEN, WIDTH, StubLabelStudio, annotate, png, synthetic_frames  # noqa: E402

USER, PASSWORD = "admin", "admin-page-pass"
N_FRAMES, LABELLED = 16, (0, 9)
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # what Chromium sends


@pytest.fixture
def trained_store(monkeypatch, tmp_path, redis_url, redis):
    """MODEL_DIR after one real round of clip-1 (frames 0 and 9 annotated), plus clip-2 mid-round."""
    from vidseg.jobs.retrain import retrain_video

    with StubLabelStudio() as stub:
        for frame, image in enumerate(synthetic_frames(N_FRAMES)[3:], start=3):
            stub.add_task(frame, png(image))
        for frame in LABELLED:
            annotate(stub, frame)
        env = {"MODEL_DIR": str(tmp_path / "models"), "REDIS_URL": redis_url, "LABEL_STUDIO_URL": stub.url,
               "LABEL_STUDIO_API_KEY": TOKEN, "WORK_HEIGHT": "32", "WORK_WIDTH": "64", "TRAIN_STEPS": "2",
               "BATCH_SIZE": "2", "BUDGET": "2", "JOB_TIMEOUT": "60", "DEVICE": "cpu", "QUEUE_NAME": "admin-page",
               "BASIC_AUTH_USER": USER, "BASIC_AUTH_PASS": PASSWORD}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        retrain_video(1, "clip-1", "job-1")
    # A second video as the worker leaves it in the middle of a round (fine-tuning, step 30 of 120).
    Store(tmp_path / "models").video(1, "clip-2").update_status(
        state="training", round=0, frames=40, progress={"stage": "finetune", "done": 30, "total": 120})
    return Settings.from_env()


@pytest.fixture
def served(trained_store):
    server = make_server("127.0.0.1", 0, create_app(trained_store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _check_thumbnails(driver, cells) -> None:
    """Every cell holds its frame's thumbnail, loaded (lazily, as the strip scrolls to it), at the
    frame's size (no larger), and shown: the red car sits where it is in that frame, through the tint."""
    frames = synthetic_frames(N_FRAMES)
    for frame, cell in enumerate(cells):
        img = cell.find_element("css selector", "img")
        driver.execute_script("arguments[0].scrollIntoView({block: 'nearest', inline: 'nearest'})", img)
        _wait(lambda img=img: driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img),
              20, f"the thumbnail of frame {frame} loaded", interval=0.2)
        size = driver.execute_script("return [arguments[0].naturalHeight, arguments[0].naturalWidth]", img)
        assert size == [HEIGHT, WIDTH], (frame, size)
        shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(img.screenshot_as_png, np.uint8), cv2.IMREAD_COLOR),
                             cv2.COLOR_BGR2RGB).astype(int)[4:]  # below a selected frame's orange bar
        red_shown = np.nonzero((shown[..., 0] - shown[..., 1] > 60).any(axis=0))[0] / shown.shape[1]
        red_frame = np.nonzero((frames[frame] == (200, 30, 30)).all(axis=-1).any(axis=0))[0] / WIDTH
        if not len(red_frame):  # the car has left the frame
            assert not len(red_shown), frame
            continue
        assert len(red_shown), f"frame {frame}: no car in its thumbnail"
        assert abs(red_shown.mean() - red_frame.mean()) < 0.06, (frame, red_shown.mean(), red_frame.mean())


def test_api_clients_keep_json_and_the_page_needs_the_credentials(trained_store, redis):
    client = create_app(trained_store).test_client()
    assert client.get("/").json["status"] == "UP"  # health answer, open, for scripts and Label Studio
    assert client.get("/", headers=HTML).status_code == 401
    for path in ("/status/1", "/status/1/clip-1"):
        assert client.get(path, headers=AUTH).is_json
        assert client.get(path, headers={**AUTH, "Accept": "*/*"}).is_json
        assert client.get(path, headers={**AUTH, "Accept": "application/json"}).is_json
        assert client.get(path, headers=HTML).status_code == 401
        page = client.get(path, headers={**HTML, **AUTH})
        assert page.mimetype == "text/html" and b"clip-1" in page.data


def test_the_admin_page_shows_what_status_answers(served, tmp_path):
    answer = requests.get(f"{served}/status/1", headers=AUTH, timeout=10).json()
    statuses = {status["video"]: status for status in answer["videos"]}
    trained = statuses["clip-1"]
    assert trained["round"] == 1 and trained["frames"] == N_FRAMES and trained["frames_labelled"] == len(LABELLED)
    rounds = Store(Path(tmp_path / "models")).video(1, "clip-1").predictions()["frames"]

    with open_browser(1200, 360, headers=AUTH) as driver:
        driver.get(served + "/?refresh=0")  # no reload under the checks (by default it reloads every 10 s)
        assert not driver.find_elements("css selector", "meta[http-equiv=refresh]")
        rows = driver.find_elements("css selector", "tr.video")
        shown = {row.get_attribute("data-video"): row for row in rows}
        assert set(shown) == set(statuses)
        for video, status in statuses.items():
            row = shown[video]
            text = {name: row.find_element("css selector", "." + name).text
                    for name in ("round", "labelled", "frames", "state")}
            assert text == {"round": str(status["round"]), "labelled": str(status.get("frames_labelled") or 0),
                            "frames": str(status["frames"]), "state": status["state"]}

        running = shown["clip-2"]
        bar = running.find_element("css selector", "progress")
        assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("30", "120")
        assert running.find_element("css selector", ".stage").text == "finetune"

        cells = shown["clip-1"].find_elements("css selector", ".strip .cell")
        assert [int(cell.get_attribute("data-frame")) for cell in cells] == list(range(N_FRAMES))
        classes = [cell.get_attribute("class").split() for cell in cells]
        sources = [names[1] for names in classes]
        assert [frame for frame, source in enumerate(sources) if source == "human"] == list(LABELLED)
        assert {frame for frame, names in enumerate(classes) if "selected" in names} == set(trained["selected"])
        for frame, cell in enumerate(cells):
            entry = rounds[str(frame)]
            # each cell's source is the dominant one of its stored entry's shares
            assert entry["sources"] and sources[frame] == max(("human", "carried", "network"),
                                                              key=lambda name: entry["sources"][name])
            confidence = entry["confidence"]
            assert (f"confidence {confidence}" in cell.get_attribute("title")) == (confidence is not None)
        between = [frame for frame in range(LABELLED[0] + 1, LABELLED[1]) if sources[frame] == "carried"]
        assert between, f"no frame between the labelled ones shows carried labels: {sources}"
        assert rounds[str(between[0])]["sources"]["carried"] > 0.5
        history = shown["clip-1"].find_elements("css selector", "table.history tr")
        assert len(history) == 2 and history[1].text.startswith("1 ")  # header, then round 1

        _check_thumbnails(driver, cells)
        driver.execute_script("document.querySelectorAll('.strip').forEach(s => { s.scrollLeft = 0; }); scrollTo(0, 0)")
        image = screenshot(driver, tmp_path / "admin-page.png")
        assert image.shape[:2] == (360, 1200)
        # the human frames' cells are framed in the legend's blue (#2563eb) where the DOM puts them
        first = cells[LABELLED[0]].rect
        y, x = int(first["y"] + first["height"] / 2), int(first["x"] + 1)
        assert tuple(int(v) for v in image[y, x]) == (0x25, 0x63, 0xEB)
        # and a carried frame's cell, below its selection bar, in the legend's violet (hue 275)
        carried = cells[between[0]].rect
        y, x = int(carried["y"] + carried["height"] - 2), int(carried["x"] + carried["width"] / 2)
        hue = int(cv2.cvtColor(image[y:y + 1, x:x + 1], cv2.COLOR_RGB2HSV_FULL)[0, 0, 0]) * 360 / 256
        assert 255 < hue < 295, hue
        save_for_readme(tmp_path / "admin-page.png", "admin-page.png")

        driver.get(served + "/status/1/clip-1")  # one video: the same page, that row alone
        assert [row.get_attribute("data-video") for row in driver.find_elements("css selector", "tr.video")] == \
            ["clip-1"]
