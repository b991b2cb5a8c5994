"""`python -m vidseg.demo` (what `make demo VIDEO=...` runs), headless: it starts its own Label Studio and
backend, sets a project up from the video file it is given and prints the URL; the project has the
frames as tasks, the backend connected and the first round's predictions; a Ctrl-C stops everything it
started. (The clip it generates when no video is named: tests/test_demo_clip.py.)"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from vidseg.demo.clip import generated_clip
from vidseg.labelstudio.client import LabelStudioClient
from vidseg.redis_server import free_port

sys.path.insert(0, str(Path(__file__).parent))
from backend_process import wait_for  # noqa: E402
from label_studio_server import label_studio_executable  # noqa: E402

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FRAMES = 8


def video_file(folder: Path, name: str) -> Path:
    """A short video file a user could name: the generated shapes clip, encoded."""
    frames = sorted(generated_clip(folder, FRAMES, "shapes").source.glob("*.png"))
    first = cv2.imread(str(frames[0]))
    path = folder / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (first.shape[1], first.shape[0]))
    for frame in frames:
        writer.write(cv2.imread(str(frame)))
    writer.release()
    return path


def processes_mentioning(text: str) -> list[int]:
    """Ids of processes whose command line or environment holds ``text`` (the demo's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if any(text.encode() in (entry / part).read_bytes() for part in ("cmdline", "environ")):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return found


def test_demo_sets_up_a_project_with_first_predictions_and_stops_cleanly(tmp_path):
    if not label_studio_executable().exists():
        if os.environ.get("CI"):
            pytest.fail(f"Label Studio is not installed at {label_studio_executable()} (CI must run this test)")
        pytest.skip("Label Studio is not installed: run scripts/install-label-studio")
    directory = tmp_path / "demo"
    ls_port, backend_port = free_port(), free_port()
    env = dict(os.environ, WORK_HEIGHT="64", WORK_WIDTH="64", TRAIN_STEPS="5", BUDGET="2")
    env.pop("REDIS_URL", None)
    video = video_file(tmp_path, "my clip.avi")
    demo = subprocess.Popen(
        [sys.executable, "-m", "vidseg.demo", "--dir", str(directory), "--video", str(video),
         "--ls-port", str(ls_port), "--backend-port", str(backend_port), "--grace", "5"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout], daemon=True).start()

    def printed(pattern: str):
        while not lines.empty():
            output.append(lines.get())
        return next((m for m in map(re.compile(pattern).search, output) if m), None)

    try:
        try:
            url = wait_for(lambda: printed(r"Label Studio: (http://\S+)/projects/(\d+)/data")
                           or demo.poll() is not None, 240, "the demo's URL")
        except AssertionError:
            raise AssertionError("".join(output)) from None
        assert url is not True, f"the demo exited with {demo.returncode}:\n{''.join(output)}"
        assert printed(r"log in as admin@example\.com, password \S+")
        ls_url, project = url.group(1), int(url.group(2))
        assert ls_url == f"http://127.0.0.1:{ls_port}"
        client = LabelStudioClient(ls_url, (directory / "label-studio" / "token").read_text().strip(), retries=1)

        tasks = client.video_tasks(project, "my-clip")
        assert [task["data"]["frame"] for task in tasks] == list(range(FRAMES))
        backends = client.ml_backends(project)
        assert [b["url"].rstrip("/") for b in backends] == [f"http://127.0.0.1:{backend_port}"]
        assert client.get_project(project)["sampling"] == "Uncertainty sampling"

        def predicted():  # the cold start queued by import-video: a scored prediction on every frame
            tasks = client.video_tasks(project, "my-clip")
            return all(any(p["model_version"] == "vidseg" for p in task["predictions"]) for task in tasks)

        wait_for(predicted, 120, f"the first round's predictions (backend log: {directory / 'backend.log'})")
    finally:
        os.kill(demo.pid, signal.SIGINT)  # what Ctrl-C sends it (its children are in groups of their own)
        try:
            demo.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (left := processes_mentioning(str(directory))) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = {pid: _command(pid) for pid in left}
        for pid in left:  # not to the next test
            os.kill(pid, signal.SIGKILL)
    printed("")
    assert demo.returncode == 0, "".join(output)
    assert "[demo] stopped" in "".join(output)
    assert not left, f"processes of the demo outlived it: {left}"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
