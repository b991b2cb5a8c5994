"""Start and stop a real Label Studio server for end-to-end tests, the way `make demo` does
(`vidseg.demo.label_studio`: the pinned ``.ls-venv``, an admin with a legacy API token, local files
served under ``frames_root``, ML backends and webhooks on local addresses allowed, analytics off).

    with start_label_studio(tmp / "ls-data", port=8081, frames_root=tmp / "frames") as ls:
        requests.get(f"{ls.url}/api/projects/", headers=ls.headers)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from vidseg.demo.label_studio import EMAIL as ADMIN_EMAIL
from vidseg.demo.label_studio import PASSWORD as ADMIN_PASSWORD
from vidseg.demo.label_studio import LabelStudio as LabelStudioServer
from vidseg.demo.label_studio import label_studio_executable
from vidseg.redis_server import free_port

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "LabelStudioServer", "free_port", "label_studio_executable",
           "start_label_studio"]


def start_label_studio(data_dir: str | os.PathLike, port: int, frames_root: str | os.PathLike,
                       timeout: float = 300) -> LabelStudioServer:
    """A running Label Studio on 127.0.0.1:``port`` (database and media in ``data_dir``), once
    ``/health`` answers and the API takes the token; its ``startup_seconds`` say how long that took."""
    started = time.monotonic()
    server = LabelStudioServer(Path(data_dir), Path(frames_root), port, dict(os.environ))
    server.start()
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server
