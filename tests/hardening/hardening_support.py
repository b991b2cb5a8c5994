"""Helpers for the hardening tests: a stub Label Studio over real HTTP, synthetic frames.

The stub speaks the few REST calls the worker makes (project, tasks of a video, frame files,
predictions, project PATCH) on 127.0.0.1, records every request, and can be told to answer
some of them with an error status (429, 500, ...) a given number of times.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef0123456789abcdef01234567"  # legacy LS token format: 40 hex
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
N_FRAMES, HEIGHT, WIDTH = 3, 32, 64


def png(frame: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def synthetic_frames(n: int = N_FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = rng.integers(60, 110, (n, height, width, 3), dtype=np.uint8)
    for t in range(n):
        frames[t, 8:20, 4 + 4 * t:24 + 4 * t] = (200, 30, 30)
    return frames


@dataclass
class Fault:
    """Answer `status` to requests whose `METHOD path` matches `pattern`, `times` times (-1: always)."""

    pattern: str
    status: int
    times: int = -1
    body: dict = field(default_factory=lambda: {"detail": "stub failure"})
    headers: dict = field(default_factory=dict)


class StubLabelStudio:
    def __init__(self, project: int = 1, video: str = "clip-1"):
        self.project, self.video = project, video
        self.label_config = CONFIG
        self.files: dict[str, bytes] = {}
        self.tasks: list[dict] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.on_request = None  # called as on_request(method, path) before each answer; it may block
        self.lock = threading.Lock()
        self._next_prediction = 1
        for index, frame in enumerate(synthetic_frames()):
            self.add_task(index, png(frame))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def add_task(self, frame: int, image: bytes, annotations: list | None = None, video: str | None = None,
                 task_id: int | None = None) -> dict:
        video = video or self.video
        path = f"/data/upload/{self.project}/{video}_{frame}.png"
        self.files[path] = image
        task = {"id": 100 + frame if task_id is None else task_id, "project": self.project,
                "annotations": annotations or [], "predictions": [],
                "data": {"image": path, "video": video, "frame": frame}}
        self.tasks.append(task)
        return task

    def add_video(self, video: str, frames: np.ndarray, first_id: int) -> list[dict]:
        """Another video of the project: one task per frame, ids from `first_id`."""
        return [self.add_task(index, png(frame), video=video, task_id=first_id + index)
                for index, frame in enumerate(frames)]

    def task(self, frame: int, video: str | None = None) -> dict:
        video = video or self.video
        return next(task for task in self.tasks
                    if task["data"].get("video") == video and task["data"].get("frame") == frame)

    def count(self, pattern: str) -> int:
        return sum(1 for method, path, _ in self.requests if re.search(pattern, f"{method} {path}"))

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, dict | bytes, dict]:
        if self.on_request is not None:
            self.on_request(method, path)
        with self.lock:
            for fault in self.faults:
                if fault.times != 0 and re.search(fault.pattern, f"{method} {path}"):
                    fault.times -= 1
                    return fault.status, fault.body, fault.headers
        route = urlsplit(path).path
        if method == "GET" and route == f"/api/projects/{self.project}/":
            return 200, {"id": self.project, "label_config": self.label_config}, {}
        if method == "GET" and route == "/api/tasks/":
            tasks = _filtered(self.tasks, parse_qs(urlsplit(path).query).get("query", ["{}"])[0])
            return 200, {"tasks": tasks, "total": len(tasks)}, {}
        if method == "GET" and route in self.files:
            return 200, self.files[route], {"Content-Type": "image/png"}
        if method == "POST" and route == "/api/predictions/":
            with self.lock:
                self._next_prediction += 1
                return 201, {"id": self._next_prediction, **json.loads(body or b"{}")}, {}
        if method in ("PATCH", "DELETE") and route.startswith(("/api/predictions/", "/api/projects/")):
            return 200, {"id": 1}, {}
        return 404, {"detail": f"stub has no {method} {route}"}, {}

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers)))
                status, payload, headers = stub._answer(self.command, self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _filtered(tasks: list[dict], query: str) -> list[dict]:
    """The tasks an `equal` filter on `data.<field>` keeps, as Label Studio's task list does."""
    for item in json.loads(query).get("filters", {}).get("items", []):
        field = item.get("filter", "").removeprefix("filter:tasks:data.")
        if item.get("operator") == "equal" and field != item.get("filter"):
            tasks = [task for task in tasks if str(task["data"].get(field)) == str(item.get("value"))]
    return tasks


def annotate(stub: StubLabelStudio, frame: int, video: str | None = None) -> None:
    """A submitted brush annotation on one frame of one of the stub's videos (car = class 1, road = 0)."""
    from vidseg.labelstudio.brush import label_map_to_results
    from vidseg.labelstudio.config import parse_label_config

    labels = np.zeros((HEIGHT, WIDTH), dtype=np.int64)
    labels[8:20, 4 + 4 * frame:24 + 4 * frame] = 1
    results = label_map_to_results(labels, parse_label_config(CONFIG))
    task = stub.task(frame, video)
    task["annotations"] = [{"id": 400 + task["id"], "result": results, "was_cancelled": False,
                            "updated_at": "2025-01-01T00:00:00Z"}]


def tmpfs(path: Path, size: str) -> bool:
    """Mount a tmpfs of `size` at `path` (needs root); False where that is not possible."""
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def unmount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)
