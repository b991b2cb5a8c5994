"""`import-video` on real video files written by the tests, against a small stateful Label Studio fake.

Every frame of the synthetic videos is one flat grey whose value is 5 x its frame number, so the frame
a written image came from can be read back from its pixels (MJPG keeps a flat grey within a few levels).
The e2e test (tests/e2e/test_long_video_import.py) runs the same command against a real Label Studio.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import pytest

from vidseg import admin
from vidseg.__main__ import main
from vidseg.frame_plan import FramePlan, ImportOptionError, ImportOptions, import_options, parse_split
from vidseg.labelstudio.client import LabelStudioClient
from vidseg.progress import Progress
from vidseg.settings import Settings
from vidseg.video_frames import write_image

REPO = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 48, 64


def write_video(path: Path, n_frames: int, fps: float) -> Path:
    """An MJPG .avi whose frame i is a flat grey of value 5 i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for index in range(n_frames):
        writer.write(np.full((HEIGHT, WIDTH, 3), 5 * index, np.uint8))
    writer.release()
    return path


def source_frame_of(path: Path) -> int:
    """The source frame an image was written from (its grey value / 5)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return round(float(image.mean()) / 5)


class FakeLabelStudio:
    """What import-video calls, with state: local storages, task import, the tasks list with the
    data.video filter. Records every request as (method, path)."""

    def __init__(self):
        self.tasks: list[dict] = []
        self.storages: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((self.command, parts.path))
                status, reply = fake.answer(self.command, parts.path.rstrip("/"), query, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, query: dict, body):
        if path == "/api/storages/localfiles" and method == "GET":
            return 200, [s for s in self.storages if s["project"] == int(query["project"])]
        if path == "/api/storages/localfiles" and method == "POST":
            self.storages.append({**body, "id": len(self.storages) + 1})
            return 201, self.storages[-1]
        if path.startswith("/api/projects/") and path.endswith("/import"):
            project = int(path.split("/")[3])
            ids = []
            for data in body:
                self.tasks.append({"id": len(self.tasks) + 1, "project": project, "data": data})
                ids.append(len(self.tasks))
            return 201, {"task_count": len(ids), "task_ids": ids}
        if path == "/api/tasks" and method == "GET":
            wanted = json.loads(query["query"])["filters"]["items"][0]["value"]
            found = [t for t in self.tasks if t["project"] == int(query["project"]) and t["data"]["video"] == wanted]
            page, size = int(query["page"]), int(query["page_size"])
            return 200, {"tasks": found[(page - 1) * size:page * size], "total": len(found)}
        return 404, {"detail": "Not found."}

    def video_frames(self, video: str) -> list[int]:
        return sorted(t["data"]["frame"] for t in self.tasks if t["data"]["video"] == video)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ls():
    fake = FakeLabelStudio()
    yield fake
    fake.close()


def run_import(ls: FakeLabelStudio, source: Path, root: Path, video: str = "clip", **options) -> list[str]:
    """import_video with ImportOptions(**options); returns what it said."""
    said: list[str] = []
    client = LabelStudioClient(ls.url, "a" * 40, retries=0)
    admin.import_video(client, Settings(), 1, source, video, root, say=said.append,
                       options=ImportOptions(**options), progress_stream=io.StringIO())
    return said


def test_every_keeps_every_nth_source_frame(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 47, fps=25)
    said = run_import(ls, source, tmp_path / "root", every=7)
    files = sorted((tmp_path / "root" / "clip").glob("clip_*.png"))
    assert [source_frame_of(path) for path in files] == [0, 7, 14, 21, 28, 35, 42]
    assert ls.video_frames("clip") == list(range(7))
    task = next(t for t in ls.tasks if t["data"]["frame"] == 3)
    assert task["data"] == {"image": "/data/local-files/?d=clip/clip_000003.png", "video": "clip", "frame": 3,
                            "source_frame": 21, "source_time": 0.84}
    assert ls.storages == [{"project": 1, "path": str((tmp_path / "root" / "clip").resolve()),
                            "title": "frames of clip", "use_blob_urls": True, "id": 1}]
    assert "47 frames at 25 fps; about 7 to label (every 7 frames, png)" in said[0]


@pytest.mark.parametrize(("source_fps", "rate"), [(25, 10), (24, 6), (30, 7.5)])
def test_fps_keeps_the_first_frame_at_or_after_each_tick_of_video_time(ls, tmp_path, source_fps, rate):
    source = write_video(tmp_path / "clip.avi", 48, fps=source_fps)
    run_import(ls, source, tmp_path / "root", fps=rate)
    files = sorted((tmp_path / "root" / "clip").glob("clip_*.png"))
    step = Fraction(source_fps) / Fraction(rate)  # source frames per kept frame
    expected = []
    while (tick := -(-len(expected) * step // 1)) < 48:  # ceil(k * step)
        expected.append(int(tick))
    assert [source_frame_of(path) for path in files] == expected
    assert ls.video_frames("clip") == list(range(len(expected)))


def test_a_folder_of_frames_still_imports_with_every(ls, tmp_path):
    (tmp_path / "frames").mkdir()
    for index in range(6):
        cv2.imwrite(str(tmp_path / "frames" / f"f{index:03d}.png"), np.full((8, 8, 3), 5 * index, np.uint8))
    run_import(ls, tmp_path / "frames", tmp_path / "root", video="stills", every=2)
    files = sorted((tmp_path / "root" / "stills").glob("*.png"))
    assert [source_frame_of(path) for path in files] == [0, 2, 4]
    assert all("source_time" not in t["data"] for t in ls.tasks)


def test_formats_and_quality(tmp_path):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sizes = {}
    for name, options in {"png": ImportOptions(), "jpg95": ImportOptions(image_format="jpg"),
                          "jpg20": ImportOptions(image_format="jpg", quality=20),
                          "webp": ImportOptions(image_format="webp", quality=50)}.items():
        path = tmp_path / f"{name}.{options.image_format}"
        write_image(path, frame, options)
        sizes[name] = path.stat().st_size
        back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert back.shape == frame.shape
        if name == "png":
            np.testing.assert_array_equal(back, frame)  # lossless
    assert sizes["jpg20"] < sizes["jpg95"]
    assert not list(tmp_path.glob("*.partial"))
    assert ImportOptions(image_format="jpg").image_quality == 95 and ImportOptions().image_quality is None
    resized = tmp_path / "small.png"
    write_image(resized, frame, ImportOptions(size=(12, 16)))
    assert cv2.imread(str(resized)).shape == (12, 16, 3)


def test_webp_import_names_and_serves_webp_frames(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 10, fps=10)
    run_import(ls, source, tmp_path / "root", image_format="webp", quality=80, every=3)
    files = sorted((tmp_path / "root" / "clip").glob("clip_*.webp"))
    assert [source_frame_of(path) for path in files] == [0, 3, 6, 9]
    assert ls.tasks[1]["data"]["image"] == "/data/local-files/?d=clip/clip_000001.webp"


def test_an_interrupted_import_resumes_without_rewriting_frames_or_duplicating_tasks(ls, tmp_path, monkeypatch):
    source = write_video(tmp_path / "clip.avi", 40, fps=20)
    monkeypatch.setattr(admin._TaskImporter, "batch", 3)  # some tasks reach Label Studio before the interruption
    real_write = admin.write_image
    written: list[str] = []

    def interrupted_at_the_eighth(path, frame, options):
        if len(written) == 7:
            raise KeyboardInterrupt
        real_write(path, frame, options)
        written.append(path.name)

    monkeypatch.setattr(admin, "write_image", interrupted_at_the_eighth)
    with pytest.raises(SystemExit, match="interrupted after 7 frames of clip: run the same command again"):
        run_import(ls, source, tmp_path / "root", every=2)
    assert len(written) == 7 and ls.video_frames("clip") == list(range(6))  # two batches of 3 were imported

    def counted(path, frame, options):
        real_write(path, frame, options)
        written.append(path.name)

    monkeypatch.setattr(admin, "write_image", counted)
    said = run_import(ls, source, tmp_path / "root", every=2)
    assert written[7:] == [f"clip_{frame:06d}.png" for frame in range(7, 20)]  # only the missing frames
    assert ls.video_frames("clip") == list(range(20))  # every frame once
    assert "13 written, 7 already there; 14 new tasks, 6 already in the project" in said[-2]
    assert said[-1].startswith("REDIS_URL is unset: no first round queued")  # and the import is done

    said = run_import(ls, source, tmp_path / "root", every=2)  # a third run changes nothing
    assert len(written) == 20 and ls.video_frames("clip") == list(range(20)) and len(ls.storages) == 1
    assert "0 written, 20 already there; 0 new tasks, 20 already in the project" in said[-2]
    files = sorted((tmp_path / "root" / "clip").glob("clip_*.png"))
    assert [source_frame_of(path) for path in files] == list(range(0, 40, 2))


def test_resuming_with_other_options_is_refused(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 12, fps=10)
    run_import(ls, source, tmp_path / "root", every=2)
    with pytest.raises(SystemExit, match="already holds frames imported from .*clip.avi with options .*'every': 2"):
        run_import(ls, source, tmp_path / "root", every=3)
    assert ls.video_frames("clip") == list(range(6))


def test_split_every_seconds_makes_parts_with_a_manifest(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 50, fps=20)  # 2.5 s
    said = run_import(ls, source, tmp_path / "root", every=4, split_seconds=1)
    folder = tmp_path / "root" / "clip"
    rows = list(csv.DictReader((folder / "parts.csv").open()))
    assert [(r["video"], r["first_frame"], r["last_frame"], r["start"], r["end"], r["frames"]) for r in rows] == [
        ("clip-part001", "0", "19", "0.0", "0.95", "5"),
        ("clip-part002", "20", "39", "1.0", "1.95", "5"),
        ("clip-part003", "40", "49", "2.0", "2.45", "3"),
    ]
    manifest = json.loads((folder / "import.json").read_text())
    assert manifest["options"]["split_seconds"] == 1 and manifest["source_fps"] == 20
    assert [part["video"] for part in manifest["parts"]] == ["clip-part001", "clip-part002", "clip-part003"]
    part2 = sorted((folder / "clip-part002").glob("*.png"))
    assert [p.name for p in part2] == [f"clip-part002_{i:06d}.png" for i in range(5)]
    assert [source_frame_of(path) for path in part2] == [20, 24, 28, 32, 36]
    assert ls.video_frames("clip-part002") == list(range(5)) and ls.video_frames("clip-part003") == [0, 1, 2]
    task = next(t for t in ls.tasks if t["data"]["video"] == "clip-part002" and t["data"]["frame"] == 1)
    assert task["data"]["image"] == "/data/local-files/?d=clip/clip-part002/clip-part002_000001.png"
    assert task["data"]["source_frame"] == 24
    assert len(ls.storages) == 1  # the video's folder serves its parts' subfolders
    assert "  clip-part002: source frames 20-39, 1.00 s-1.95 s, 5 frames to label" in said


def test_split_every_frames(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 45, fps=15)
    run_import(ls, source, tmp_path / "root", split_frames=20)
    manifest = json.loads((tmp_path / "root" / "clip" / "import.json").read_text())
    assert [(p["video"], p["first_frame"], p["last_frame"], p["frames"]) for p in manifest["parts"]] == [
        ("clip-part001", 0, 19, 20), ("clip-part002", 20, 39, 20), ("clip-part003", 40, 44, 5)]
    assert ls.video_frames("clip-part003") == list(range(5))


def test_progress_writes_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("frames of clip", total=4, stream=stream, interval=0)
    for skipped in (True, False, False):
        progress.advance(skipped=skipped)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "frames of clip: 1/4 frames (25%), 1 already there"
    assert lines[-1] == "frames of clip: 3/4 frames (75%), 1 already there"
    quiet = io.StringIO()
    progress = Progress("frames of clip", total=None, stream=quiet, interval=3600)
    progress.advance()
    progress.close()
    assert quiet.getvalue() == "frames of clip: 1 frames\n"


def test_plan_estimates_the_frames_to_label():
    assert FramePlan("v", ImportOptions(every=7), 25.0).estimate(47) == 7
    assert FramePlan("v", ImportOptions(fps=10), 25.0).estimate(48) == 19
    assert FramePlan("v", ImportOptions(fps=50), 25.0).estimate(48) == 48
    assert FramePlan("v", ImportOptions(), None).estimate(None) is None


@pytest.mark.parametrize(("options", "message"), [
    ({"every": "0"}, "--every '0'|--every 0: give a whole number of frames >= 1"),
    ({"every": "two"}, "--every 'two': give a whole number of frames >= 1"),
    ({"fps": "-1"}, "--fps -1.0: give frames per second of video > 0"),
    ({"fps": "nan"}, "--fps nan: give frames per second"),
    ({"fps": "2", "every": "3"}, "give either --every N or --fps R, not both"),
    ({"image_format": "gif"}, "--format gif: choose one of png, jpg, webp"),
    ({"quality": "80"}, "--quality is for the lossy formats .*png is lossless"),
    ({"image_format": "jpg", "quality": "101"}, "--quality 101: give a whole number from 1 to 100"),
    ({"resize": "640-480"}, "--resize '640-480': write WIDTHxHEIGHT"),
    ({"split_every": "ten"}, "--split-every 'ten': write a length such as 600"),
    ({"split_every": "0"}, "--split-every 0.0: give a length > 0"),
    ({"split_every": "1.5f"}, "a number of frames is whole"),
])
def test_bad_options_say_what_to_fix(options, message):
    with pytest.raises(ImportOptionError, match=message):
        import_options(**options)


def test_split_lengths():
    assert parse_split("600") == (600.0, None) and parse_split("10m") == (600.0, None)
    assert parse_split("1.5h") == (5400.0, None) and parse_split("9000f") == (None, 9000)
    assert import_options(image_format="JPEG").image_format == "jpg"


def test_bad_sources_say_what_to_fix(ls, tmp_path):
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(SystemExit, match="--fps needs a frame rate, which this source does not give .*--every N"):
        run_import(ls, tmp_path / "frames", tmp_path / "root", fps=2)
    with pytest.raises(SystemExit, match="--split-every SECONDS needs a frame rate.*9000f"):
        run_import(ls, tmp_path / "frames", tmp_path / "root", split_seconds=2)
    with pytest.raises(SystemExit, match="does not exist: give a video file or a folder of frames"):
        run_import(ls, tmp_path / "missing.mp4", tmp_path / "root")
    (tmp_path / "notes.avi").write_text("not a video")
    with pytest.raises(SystemExit, match="notes.avi could not be opened as a video"):
        run_import(ls, tmp_path / "notes.avi", tmp_path / "root", video="notes")
    with pytest.raises(SystemExit, match="video id 'a b'"):
        run_import(ls, tmp_path / "frames", tmp_path / "root", video="a b")
    assert ls.tasks == [] and ls.storages == []


def test_the_cli_checks_options_before_label_studio(monkeypatch, capsys):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    with pytest.raises(SystemExit, match="import-video: give either --every N or --fps R, not both"):
        main(["import-video", "clip.mp4", "--project", "1", "--every", "2", "--fps", "3", "--document-root", "/x"])


def test_the_cli_exits_with_one_line_and_no_traceback(tmp_path):
    answer = subprocess.run([sys.executable, "-m", "vidseg", "import-video", "clip.mp4", "--project", "1",
                             "--fps", "fast", "--document-root", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 1
    assert answer.stderr.strip().splitlines() == [
        "import-video: --fps 'fast': give frames per second of video > 0, e.g. --fps 2"]


def test_an_import_reports_its_progress_on_the_stream_it_is_given(ls, tmp_path):
    source = write_video(tmp_path / "clip.avi", 12, fps=25)
    stream = io.StringIO()
    client = LabelStudioClient(ls.url, "a" * 40, retries=0)
    admin.import_video(client, Settings(), 1, source, "clip", tmp_path / "root", say=lambda _: None,
                       options=ImportOptions(every=3), progress_stream=stream)
    assert stream.getvalue().splitlines()[-1] == "frames of clip: 4/4 frames (100%)"
