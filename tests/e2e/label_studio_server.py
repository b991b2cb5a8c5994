"""Start and stop a real Label Studio server for end-to-end tests.

    with start_label_studio(tmp / "ls-data", port=8081, frames_root=tmp / "frames") as ls:
        requests.get(f"{ls.url}/api/projects/", headers={"Authorization": f"Token {ls.token}"})

Label Studio comes from its own virtualenv (``scripts/install-label-studio``; default
``<repo>/.ls-venv``, or ``$LS_VENV``). Its environment: an admin user with a random legacy
API token, local-files serving under ``frames_root``, ML backends and webhooks on local
addresses allowed (ML_BLOCK_LOCAL_IP, SSRF_PROTECTION_ENABLED), analytics off.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-pass-123"


def ls_venv() -> Path:
    return Path(os.environ.get("LS_VENV") or REPO_ROOT / ".ls-venv")


def label_studio_executable() -> Path:
    return ls_venv() / "bin" / "label-studio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class LabelStudioServer:
    """A running Label Studio; stop it with :meth:`stop` or by leaving its ``with`` block."""

    url: str
    token: str
    process: subprocess.Popen
    frames_root: Path
    log_path: Path
    startup_seconds: float = field(default=0.0)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def stop(self, grace: float = 15) -> None:
        """Terminate the server's whole process group (SIGTERM, then SIGKILL after ``grace``)."""
        if self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(grace)

    def __enter__(self) -> LabelStudioServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def label_studio_env(data_dir: Path, frames_root: Path, token: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=ADMIN_EMAIL,
        LABEL_STUDIO_PASSWORD=ADMIN_PASSWORD,
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(frames_root),
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
    )
    env.pop("LABEL_STUDIO_API_KEY", None)
    return env


def start_label_studio(
    data_dir: str | os.PathLike,
    port: int,
    frames_root: str | os.PathLike,
    timeout: float = 300,
) -> LabelStudioServer:
    """Start Label Studio on 127.0.0.1:``port`` with its database and media in ``data_dir``,
    serving local files under ``frames_root``; return once ``/health`` answers and the API
    accepts the token. Raises RuntimeError with the tail of the server log on failure."""
    executable = label_studio_executable()
    if not executable.exists():
        raise RuntimeError(f"{executable} is missing: run scripts/install-label-studio")
    data_dir, frames_root = Path(data_dir).resolve(), Path(frames_root).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    frames_root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(20)
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "label-studio.log"
    command = [
        str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1",
        "--port", str(port), "--enable-legacy-api-token",
    ]  # fmt: skip
    started = time.monotonic()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=label_studio_env(data_dir, frames_root, token),
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
    server = LabelStudioServer(url, token, process, frames_root, log_path)
    try:
        _wait_until_ready(server, started + timeout)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _wait_until_ready(server: LabelStudioServer, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"Label Studio exited with code {server.process.returncode} before answering; "
                f"log {server.log_path}:\n{log_tail(server.log_path)}"
            )
        try:
            if requests.get(f"{server.url}/health", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"Label Studio did not answer {server.url}/health in time; "
                f"log {server.log_path}:\n{log_tail(server.log_path)}"
            )
        time.sleep(1)
    response = requests.get(f"{server.url}/api/current-user/whoami", headers=server.headers, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(
            f"Label Studio is up but rejects the legacy token (HTTP {response.status_code}: "
            f"{response.text[:300]}); log tail:\n{log_tail(server.log_path)}"
        )
