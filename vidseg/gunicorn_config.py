"""gunicorn settings for the web (`gunicorn --config python:vidseg.gunicorn_config _wsgi:app`;
`python -m vidseg serve` passes it).

- Prometheus multiprocess metrics: every server start gets a fresh PROMETHEUS_MULTIPROC_DIR (a new
  temporary folder, removed on exit; or the one given, emptied), set before any worker is forked,
  so /metrics sums all worker processes whichever one answers. A worker that exits is marked dead.
- The app's log (vidseg.*: the line per failed request, tracebacks) goes to gunicorn's error log.

Not with --preload: the app (and prometheus_client) must be imported after the folder is set.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

_created: list[str] = []  # a folder this module made, removed when the server exits


def on_starting(server) -> None:
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # a previous server's numbers
            stale.unlink()
        server.log.info("metrics: PROMETHEUS_MULTIPROC_DIR=%s (emptied)", given)
        return
    folder = tempfile.mkdtemp(prefix="vidseg-metrics-")
    _created.append(folder)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    server.log.info("metrics: PROMETHEUS_MULTIPROC_DIR=%s", folder)


def post_worker_init(worker) -> None:
    app_log = logging.getLogger("vidseg")
    for handler in worker.log.error_log.handlers:
        app_log.addHandler(handler)
    app_log.setLevel(worker.log.error_log.level)
    app_log.propagate = False  # once, through gunicorn's handlers


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess  # in the master only now, after on_starting set the folder

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    for folder in _created:
        shutil.rmtree(folder, ignore_errors=True)
