"""Stopping child processes the way the backend does: SIGTERM to all first (gunicorn drains its
requests, RQ finishes the running job), then wait for each, killing what outlives the grace period."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop_all(children: Iterable[subprocess.Popen], grace: float = 30.0) -> None:
    children = list(children)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
