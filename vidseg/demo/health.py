"""Waiting for a server the demo started: until its /health answers, or it exits, or time runs out."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import requests


def wait_healthy(process: subprocess.Popen, url: str, timeout: float, name: str, where: Callable[[], str],
                 interval: float = 0.5) -> None:
    """SystemExit that names the server and ``where()`` to look (its log, read when it fails) if
    ``url``/health does not answer."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with code {process.returncode}; {where()}")
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not answer {url}/health in {timeout:.0f} s; {where()}")
        time.sleep(interval)
