"""The demo from start to Ctrl-C: a private Redis, Label Studio and the backend (`python -m vidseg serve`),
a project from the clip (`import-video`, which queues its first round), `connect`, then the URL and login.

Every process it starts runs in a process group of its own: a Ctrl-C reaches only the demo, which
stops the backend first (its worker may be writing to Label Studio), then Label Studio, then Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vidseg.demo.clip import Clip, generated_clip, label_config, named_clip
from vidseg.demo.health import wait_healthy
from vidseg.demo.label_studio import EMAIL, PASSWORD, LabelStudio
from vidseg.labelstudio.client import LabelStudioClient
from vidseg.redis_server import PrivateRedis, start_private_redis


@dataclass(frozen=True)
class DemoOptions:
    directory: Path
    video: Path | None = None
    clip: str = "auto"
    frames: int = 30
    classes: tuple[str, ...] | None = None
    ls_port: int = 8080
    backend_port: int = 9090
    grace: float = 10.0
    """Seconds a running job may go on after Ctrl-C."""


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def run_demo(options: DemoOptions) -> int:
    directory = options.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for port, flag in ((options.ls_port, "LS_PORT"), (options.backend_port, "BACKEND_PORT")):
        _check_free(port, flag)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops it as cleanly as a Ctrl-C
    redis: PrivateRedis | None = None
    label_studio: LabelStudio | None = None
    backend: subprocess.Popen | None = None
    try:
        redis = start_private_redis(directory / "redis")
        label_studio = LabelStudio(directory / "label-studio", directory / "frames", options.ls_port, env)
        label_studio.start()
        say(f"starting Label Studio on {label_studio.url} (log {label_studio.log_path}; the first start "
            "sets up its database, about a minute)")
        backend_url = f"http://127.0.0.1:{options.backend_port}"
        env.update(MODEL_DIR=str(directory / "models"), REDIS_URL=redis.url, LABEL_STUDIO_URL=label_studio.url,
                   LABEL_STUDIO_API_KEY=label_studio.token)
        backend = _start_backend(env, options, directory / "backend.log")
        say(f"starting the backend on {backend_url} (log {directory / 'backend.log'})")
        clip = named_clip(options.video) if options.video else generated_clip(directory / "clip", options.frames,
                                                                              options.clip)
        classes = options.classes or clip.classes
        label_studio.wait_ready()
        project = _project(LabelStudioClient(label_studio.url, label_studio.token), clip, classes)
        _admin(env, "import-video", str(clip.source), "--project", str(project), "--video", clip.video,
               "--document-root", str(label_studio.frames_root))
        wait_healthy(backend, backend_url, 120, "the backend", lambda: f"see {directory / 'backend.log'}")
        _admin(env, "connect", "--project", str(project), "--backend-url", backend_url)
        say(f"Label Studio: {label_studio.url}/projects/{project}/data")
        say(f"log in as {EMAIL}, password {PASSWORD}")
        say("the backend's first round puts a prediction on every frame and orders the queue within a minute or "
            "two: then 'Label All Tasks' serves the frames it selected first. Ctrl-C stops everything.")
        return _wait(label_studio, backend)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        say("stopping the backend, Label Studio and Redis")
        if backend is not None:
            _stop_group(backend, options.grace + 20)
        if label_studio is not None:
            label_studio.stop()
        if redis is not None:
            redis.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous)
        say("stopped")


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _check_free(port: int, flag: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(f"port {port} is in use: pick another, e.g. make demo {flag}={port + 1}") from None


def _start_backend(env: dict, options: DemoOptions, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "vidseg", "serve", "--host", "127.0.0.1", "--port", str(options.backend_port),
             "--workers", "1", "--web-workers", "1", "--grace", str(options.grace)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _project(client: LabelStudioClient, clip: Clip, classes: tuple[str, ...]) -> int:
    """The project of an earlier demo run on the same video (import-video resumes), else a new one."""
    title = f"vidseg demo: {clip.video}"
    answer = client.request("GET", "/api/projects/", params={"page_size": 1000})
    projects = answer.get("results", []) if isinstance(answer, dict) else answer or []
    for project in projects:
        if project.get("title") == title:
            say(f"reusing project {project['id']} ({title!r})")
            return int(project["id"])
    created = client.create_project(title, label_config(classes))
    say(f"created project {created['id']} ({title!r}, classes {', '.join(classes)})")
    return int(created["id"])


def _admin(env: dict, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "vidseg", *args], env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"python -m vidseg {args[0]} failed (exit code {done.returncode}); see above")


def _wait(label_studio: LabelStudio, backend: subprocess.Popen) -> int:
    """Until Ctrl-C (0), or until Label Studio or the backend exits on its own (1)."""
    while True:
        time.sleep(0.5)
        for name, process in (("Label Studio", label_studio.process), ("the backend", backend)):
            if process.poll() is not None:
                say(f"{name} exited with code {process.returncode}")
                return 1


def _stop_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM (the backend drains its requests and its worker's job), SIGKILL to the group after ``grace``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # a child that outlived its parent, or the parent itself after the grace period
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
