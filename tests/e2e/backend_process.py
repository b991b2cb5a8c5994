"""The backend as `python -m vidseg serve` runs it, for end-to-end tests; and waiting for a condition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from vidseg.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(check, timeout: float, what: str, interval: float = 1.0):
    """``check()``'s first truthy value, or an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def serving_backend(env: dict[str, str], log_path: Path, *serve_args: str) -> Iterator[str]:
    """`python -m vidseg serve` on a free port with ``env``, its output in ``log_path``; yields its URL
    once /health answers, and stops it (its whole process group if it does not stop) on exit."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidseg", "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, 60, "the backend's /health")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
