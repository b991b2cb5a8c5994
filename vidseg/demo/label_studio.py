"""A local Label Studio process for the demo, with the settings the backend needs.

The pinned install is ``.ls-venv`` (``scripts/install-label-studio``, or ``$LS_VENV``). Its settings:
an admin user with a legacy API token (kept in ``DATA_DIR/token``, so a second demo run logs in to
the same database), local files served under the frames root, and ML backends and webhooks on local
addresses allowed (ML_BLOCK_LOCAL_IP, SSRF_PROTECTION_ENABLED; the backend runs on 127.0.0.1).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

import requests

from vidseg.demo.health import wait_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
EMAIL = "admin@example.com"
PASSWORD = "vidseg-demo-123"


def label_studio_executable() -> Path:
    return Path(os.environ.get("LS_VENV") or REPO_ROOT / ".ls-venv") / "bin" / "label-studio"


class LabelStudio:
    """``start()`` it, ``wait_ready()``, then ``url`` and ``token``; ``stop()`` (or leaving its ``with``
    block) ends its process group. The demo and the end-to-end tests both run Label Studio with it."""

    def __init__(self, data_dir: Path, frames_root: Path, port: int, env: dict[str, str]):
        self.data_dir, self.frames_root = Path(data_dir).resolve(), Path(frames_root).resolve()
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.env = port, env
        self.log_path = self.data_dir / "label-studio.log"
        self.process: subprocess.Popen | None = None
        self.token = self._token()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def __enter__(self) -> LabelStudio:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _token(self) -> str:
        """The token the admin was created with: a database made by an earlier run knows only that one."""
        path = self.data_dir / "token"
        if path.is_file():
            return path.read_text().strip()
        if (self.data_dir / "label_studio.sqlite3").exists():
            raise SystemExit(f"{self.data_dir} holds a Label Studio database but no token file: remove the folder "
                             "or give another --dir")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(20)
        path.write_text(token)
        path.chmod(0o600)
        return token

    def start(self) -> None:
        executable = label_studio_executable()
        if not executable.exists():
            raise SystemExit(f"Label Studio is not installed at {executable}: run scripts/install-label-studio "
                             "(or `make demo`, which does)")
        self.frames_root.mkdir(parents=True, exist_ok=True)
        env = dict(
            self.env,
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir), LABEL_STUDIO_USERNAME=EMAIL, LABEL_STUDIO_PASSWORD=PASSWORD,
            LABEL_STUDIO_USER_TOKEN=self.token, LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
            LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(self.frames_root),
            ML_BLOCK_LOCAL_IP="false", SSRF_PROTECTION_ENABLED="false",
            COLLECT_ANALYTICS="false", SENTRY_DSN="", FRONTEND_SENTRY_DSN="",
        )
        env.pop("LABEL_STUDIO_API_KEY", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(self.port),
                 "--enable-legacy-api-token"],
                env=env, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: Ctrl-C reaches the demo, which stops it after the backend
            )

    def wait_ready(self, timeout: float = 300) -> None:
        """Until ``/health`` answers and the API takes the token; SystemExit with the log's tail if not."""
        wait_healthy(self.process, self.url, timeout, "Label Studio", self._tail, interval=1.0)
        answer = requests.get(f"{self.url}/api/current-user/whoami", headers={"Authorization": f"Token {self.token}"},
                              timeout=10)
        if answer.status_code != 200:
            raise SystemExit(f"Label Studio rejects the demo's token (HTTP {answer.status_code}); {self._tail()}")

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to its whole process group, SIGKILL after ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        try:  # what outlived the grace period, or its parent
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(grace)

    def _tail(self, lines: int = 30) -> str:
        try:
            text = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            text = "(no log)"
        return f"log {self.log_path}:\n{text}"
