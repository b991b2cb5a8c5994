"""A thin Label Studio API client for the worker and the admin commands.

Every call returns Label Studio's JSON as plain dicts and lists. Transient failures
are retried with exponential backoff: connection errors, HTTP 429, 502, 503, 504, a 500
saying "database is locked" (Label Studio on SQLite, its default, when concurrent writers
keep the database past its lock timeout: the transaction was rolled back, so sending it
again is safe), and a read timeout of an idempotent request (GET, PUT, DELETE; a POST
that timed out may have been applied, so it is not sent twice). Any other failure raises
:class:`LabelStudioError` with the HTTP status and Label Studio's message.

Authentication comes from label-studio-sdk's client, which accepts both kinds of
Label Studio keys: a legacy API token (sent as ``Authorization: Token ...``) and a
personal access token (a JWT refresh token, exchanged for short-lived access tokens
and sent as ``Authorization: Bearer ...``). ``client.sdk`` is that typed SDK client,
for anything this module does not wrap.

    client = LabelStudioClient("http://localhost:8080", api_key="...")
    frames = client.video_tasks(project_id=1, video="clip-1")
    client.create_prediction(frames[0]["id"], result, score=0.2, model_version="vidseg-1", cluster=3)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import requests
from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SQLITE_BUSY = "database is locked"
PAGE_SIZE = 100


class LabelStudioError(RuntimeError):
    """A Label Studio API call failed; ``status`` is the HTTP status (None without a response)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)
        self.status = status
        self.body = body


class LabelStudioClient:
    """Label Studio REST API client.

    Args:
        url: Label Studio's base URL, e.g. ``http://localhost:8080``.
        api_key: a legacy API token or a personal access token.
        timeout: seconds per HTTP request.
        retries: extra attempts for transient failures (0 disables retrying).
        backoff: seconds before the first retry; doubled on each further retry.
        allowed_hosts: hosts other than Label Studio's from which :meth:`download` may fetch
            absolute http(s) URLs (without Label Studio's credentials).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 0.5,
        allowed_hosts: Iterable[str] = (),
    ):
        if not url or not api_key:
            raise LabelStudioError("Label Studio url and api_key are both required")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.allowed_hosts = {host.lower() for host in allowed_hosts}
        try:
            self.sdk = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout, max_retries=retries)
        except ApiError as exc:  # e.g. an expired personal access token
            raise LabelStudioError(f"invalid Label Studio api_key: {exc.body}", exc.status_code, exc.body) from exc
        self._local = threading.local()
        self._auth_lock = threading.Lock()

    # --- transport -------------------------------------------------------------------------

    @property
    def _session(self) -> requests.Session:
        # One session per thread: the prediction delivery pushes from a pool of threads, and a
        # requests.Session is not documented as thread-safe.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _auth_headers(self) -> dict[str, str]:
        # The SDK picks "Token <key>" or "Bearer <access>" and refreshes JWT access tokens; the lock
        # keeps threads from refreshing one token at the same time.
        try:
            with self._auth_lock:
                return {"Authorization": self.sdk._client_wrapper.get_headers()["Authorization"]}
        except ApiError as exc:  # refreshing a personal access token failed
            raise LabelStudioError(f"Label Studio token refresh failed: {exc.body}", exc.status_code, exc.body) from exc

    def request(self, method: str, path: str, *, raw: bool = False, auth: bool = True, **kwargs) -> Any:
        """Send one request with retries; returns the decoded JSON (None if empty), or the
        ``requests.Response`` when ``raw``. ``path`` is relative to the Label Studio URL."""
        url = path if path.startswith(("http://", "https://")) else urljoin(self.url + "/", path.lstrip("/"))
        kwargs.setdefault("timeout", self.timeout)
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                headers = {**(self._auth_headers() if auth else {}), **extra_headers}
                response = self._session.request(method, url, headers=headers, **kwargs)
            except (requests.ConnectionError, httpx.TransportError) as exc:  # httpx: the SDK's token refresh
                if last:
                    raise LabelStudioError(f"{method} {url}: cannot connect to Label Studio: {exc}") from exc
                time.sleep(self._delay(attempt))
                continue
            except requests.Timeout as exc:
                if last or method.upper() not in IDEMPOTENT_METHODS:
                    raise LabelStudioError(f"{method} {url}: {exc}") from exc
                time.sleep(self._delay(attempt))
                continue
            except requests.RequestException as exc:
                raise LabelStudioError(f"{method} {url}: {exc}") from exc
            if _transient(response) and not last:
                time.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            if response.status_code >= 400:
                raise _error(method, url, response)
            if raw:
                return response
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isascii() and retry_after.strip().isdigit():
            return min(float(retry_after), 60.0)
        return self.backoff * 2**attempt

    def _get_pages(self, path: str, params: dict, key: str) -> list[dict]:
        """Collect every item of a page-numbered list endpoint."""
        items: list[dict] = []
        page = 1
        while True:
            body = self.request("GET", path, params={**params, "page": page, "page_size": PAGE_SIZE})
            batch = body.get(key) or []
            items.extend(batch)
            if not batch or len(items) >= body.get("total", 0) or len(batch) < PAGE_SIZE:
                return items
            page += 1

    # --- projects ------------------------------------------------------------------------

    def create_project(self, title: str, label_config: str, **fields) -> dict:
        return self.request("POST", "/api/projects/", json={"title": title, "label_config": label_config, **fields})

    def get_project(self, project_id: int) -> dict:
        return self.request("GET", f"/api/projects/{project_id}/")

    def update_project(self, project_id: int, **fields) -> dict:
        return self.request("PATCH", f"/api/projects/{project_id}/", json=fields)

    def set_project_sampling(
        self, project_id: int, sampling: str = "Uncertainty sampling", model_version: str | None = None
    ) -> dict:
        """Set the order in which annotators get tasks. With "Uncertainty sampling", LS serves
        tasks whose prediction carries ``model_version`` (which must already exist), lowest score
        first, spread over prediction clusters."""
        fields: dict[str, Any] = {"sampling": sampling}
        if model_version is not None:
            fields["model_version"] = model_version
        return self.update_project(project_id, **fields)

    def next_task(self, project_id: int) -> dict | None:
        """The task Label Studio would give this API user next, or None when there is none."""
        try:
            return self.request("GET", f"/api/projects/{project_id}/next/")
        except LabelStudioError as exc:
            if exc.status == 404:
                return None
            raise

    # --- tasks and annotations --------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: list[dict]) -> dict:
        """Import task dicts (``{"data": {...}}`` or bare data). Returns LS's import summary,
        whose ``task_ids`` lists the new tasks' ids in input order."""
        params = {"return_task_ids": "true"}
        return self.request("POST", f"/api/projects/{project_id}/import", params=params, json=tasks)

    def all_tasks(self, project_id: int) -> list[dict]:
        """Every task of a project, with annotations and predictions."""
        return self._get_pages("/api/tasks/", {"project": project_id, "fields": "all"}, "tasks")

    def video_tasks(
        self, project_id: int, video: str, video_field: str = "video", frame_field: str = "frame",
        fields: str = "all",
    ) -> list[dict]:
        """All frame tasks of one video (``task.data[video_field] == video``), with annotations
        and predictions, ordered by ``task.data[frame_field]``; ``fields="task_only"`` leaves the
        annotations and predictions out (much less to read for a long video)."""
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": f"filter:tasks:data.{video_field}",
                        "operator": "equal",
                        "type": "String",
                        "value": str(video),
                    }
                ],
            },
            "ordering": [f"tasks:data.{frame_field}"],
        }
        params = {"project": project_id, "fields": fields, "query": json.dumps(query)}
        tasks = self._get_pages("/api/tasks/", params, "tasks")
        # LS already orders them; sorting again guards against frame indices stored as text.
        return sorted(tasks, key=lambda task: _frame_key(task["data"].get(frame_field)))

    def get_task(self, task_id: int) -> dict:
        return self.request("GET", f"/api/tasks/{task_id}/")

    def create_annotation(self, task_id: int, result: list[dict], **fields) -> dict:
        return self.request("POST", f"/api/tasks/{task_id}/annotations/", json={"result": result, **fields})

    # --- predictions ---------------------------------------------------------------------------

    def create_prediction(
        self,
        task_id: int,
        result: list[dict],
        score: float,
        model_version: str,
        cluster: int | None = None,
        project: int | None = None,
    ) -> dict:
        """Create one prediction. This is the only call that can set ``cluster``, which LS's
        uncertainty sampling uses to spread annotators (bulk prediction import drops it). Pass the
        task's ``project``: without it Label Studio looks it up and logs a warning per prediction."""
        if not isinstance(model_version, str):
            raise TypeError("model_version must be a str: an int breaks Label Studio's next-task API")
        body: dict[str, Any] = {
            "task": task_id,
            "result": result,
            "score": float(score),
            "model_version": model_version,
        }
        if cluster is not None:
            body["cluster"] = int(cluster)
        if project is not None:
            body["project"] = int(project)
        return self.request("POST", "/api/predictions/", json=body)

    def upsert_prediction(
        self, task: dict, result: list[dict], score: float, model_version: str, cluster: int | None = None,
        project: int | None = None,
    ) -> dict:
        """Keep exactly one prediction of ``model_version`` on ``task`` (a task dict read with
        ``fields=all``): update the existing one in place, delete duplicates, or create it (in
        ``project``, by default the task's own)."""
        own = own_predictions(task, model_version)
        if not own:
            project = project if project is not None else task.get("project")
            return self.create_prediction(task["id"], result, score, model_version, cluster, project=project)
        for duplicate in own[1:]:
            self.request("DELETE", f"/api/predictions/{duplicate['id']}/", raw=True)
        body: dict[str, Any] = {"result": result, "score": float(score), "cluster": cluster}
        return self.request("PATCH", f"/api/predictions/{own[0]['id']}/", json=body)

    def replace_prediction(
        self, task: dict, result: list[dict], score: float, model_version: str, cluster: int | None = None,
        project: int | None = None,
    ) -> dict:
        """Give ``task`` (a task dict read with ``fields=all``) a new prediction of ``model_version``
        and delete the ones it held before: exactly one remains, and its ``created_at``, the time
        Label Studio's labelling interface shows next to the model version ("vidseg · 2 minutes
        ago"), is now. A PATCH (:meth:`upsert_prediction`) would keep the first round's time.

        The new one is created first, so the task never lacks a candidate for uncertainty sampling;
        an old one already gone (404) is not an error. Costs one POST plus one DELETE per old one."""
        project = project if project is not None else task.get("project")
        created = self.create_prediction(task["id"], result, score, model_version, cluster, project=project)
        for old in own_predictions(task, model_version):
            if old.get("id") == created.get("id"):
                continue
            try:
                self.request("DELETE", f"/api/predictions/{old['id']}/", raw=True)
            except LabelStudioError as error:
                if error.status != 404:
                    raise
        return created

    def model_versions(self, project_id: int) -> dict:
        """``{model_version: prediction count}`` of a project's stored predictions."""
        return self.request("GET", f"/api/projects/{project_id}/model-versions/")

    def delete_model_version(self, project_id: int, version: str) -> Any:
        """Delete every prediction of ``version`` in a project."""
        return self.request("DELETE", f"/api/projects/{project_id}/model-versions/", json={"model_version": version})

    # --- ML backends, webhooks, storage -----------------------------------------------------

    def ml_backends(self, project_id: int) -> list[dict]:
        return self.request("GET", "/api/ml/", params={"project": project_id})

    def connect_ml_backend(
        self, project_id: int, url: str, title: str, basic_auth: tuple[str, str] | None = None
    ) -> dict:
        """Connect an ML backend to a project, or return the one already connected at ``url``.
        Label Studio calls the backend's /health and /setup while creating it."""
        for backend in self.ml_backends(project_id):
            if backend.get("url", "").rstrip("/") == url.rstrip("/"):
                return backend
        body: dict[str, Any] = {"project": project_id, "url": url, "title": title}
        if basic_auth is not None:
            user, password = basic_auth
            body.update(auth_method="BASIC_AUTH", basic_auth_user=user, basic_auth_pass=password)
        return self.request("POST", "/api/ml/", json=body)

    def project_webhooks(self, project_id: int) -> list[dict]:
        return self.request("GET", "/api/webhooks/", params={"project": project_id})

    def set_webhook_headers(self, webhook_id: int, headers: dict[str, str]) -> dict:
        """Set the HTTP headers Label Studio sends with a webhook (e.g. the backend's basic auth,
        which the webhook auto-created for an ML backend lacks)."""
        return self.request("PATCH", f"/api/webhooks/{webhook_id}/", json={"headers": headers})

    def local_storages(self, project_id: int) -> list[dict]:
        """The project's local-files import storages (each with its ``path``)."""
        return self.request("GET", "/api/storages/localfiles/", params={"project": project_id})

    def add_local_storage(self, project_id: int, path: str, title: str | None = None) -> dict:
        """Connect a local-files storage so LS serves files under ``path`` (an absolute directory
        inside LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT) at ``/data/local-files/?d=<relative path>``."""
        body = {"project": project_id, "path": path, "title": title or path, "use_blob_urls": True}
        return self.request("POST", "/api/storages/localfiles", json=body)

    # --- files ----------------------------------------------------------------------------

    def download(self, url_or_path: str, _hops: int = 0) -> bytes:
        """Bytes of a task's file: a Label Studio path (``/data/upload/...``,
        ``/data/local-files/?d=...``) or URL on Label Studio's host, fetched with the API key;
        or an http(s) URL on a host in ``allowed_hosts``, fetched without credentials (redirects
        are followed only to Label Studio's host or an allowed host)."""
        if url_or_path.startswith("//"):  # scheme-relative: another host, as a browser reads it
            url_or_path = f"{urlsplit(self.url).scheme}:{url_or_path}"
        if url_or_path.startswith("/"):
            return self.request("GET", url_or_path, raw=True).content
        try:
            parts = urlsplit(url_or_path)
        except ValueError as exc:  # e.g. unbalanced IPv6 brackets
            raise LabelStudioError(f"cannot download {url_or_path!r}: not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise LabelStudioError(
                f"cannot download {url_or_path!r}: only Label Studio paths and http(s) URLs are supported "
                "(for cloud storage, enable presigned URLs / 'use blob URLs' in the storage settings)"
            )
        if parts.netloc.lower() == urlsplit(self.url).netloc.lower():
            return self.request("GET", url_or_path, raw=True).content
        if (parts.hostname or "").lower() in self.allowed_hosts:
            response = self.request("GET", url_or_path, raw=True, auth=False, allow_redirects=False)
            if not response.is_redirect:
                return response.content
            target = urljoin(url_or_path, response.headers["Location"])
            if _hops >= 5:
                raise LabelStudioError(f"cannot download {url_or_path!r}: too many redirects")
            return self.download(target, _hops + 1)  # the target passes the same host check
        raise LabelStudioError(
            f"refusing to download {url_or_path!r}: host {parts.hostname!r} is neither Label Studio's "
            f"({urlsplit(self.url).hostname!r}) nor in ALLOWED_HOSTS; add it to ALLOWED_HOSTS to allow it"
        )


def own_predictions(task: dict, model_version: str) -> list[dict]:
    """The predictions of ``model_version`` on a task dict read with ``fields=all``."""
    return [p for p in task.get("predictions") or [] if isinstance(p, dict) and p.get("model_version") == model_version]


def _frame_key(value: Any) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _transient(response: requests.Response) -> bool:
    """An answer worth sending the same request again for (see the module's docstring)."""
    if response.status_code in TRANSIENT_STATUSES:
        return True
    return response.status_code == 500 and SQLITE_BUSY in response.text


def _error(method: str, url: str, response: requests.Response) -> LabelStudioError:
    """Build a LabelStudioError from an error response, keeping LS's own message."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    text = body if isinstance(body, str) else json.dumps(body)
    if isinstance(body, dict) and body.get("detail"):
        # LS errors: {"detail": "Validation error", "validation_errors": {...}, "id": ..., ...}
        text = str(body["detail"])
        if body.get("validation_errors"):
            text += ": " + json.dumps(body["validation_errors"])
    return LabelStudioError(f"{method} {url}: {text[:500]}", status=response.status_code, body=body)


def client_from_settings(settings) -> LabelStudioClient:
    """The API client the worker and the admin commands use (``vidseg.settings.Settings``);
    a LabelStudioError that says what to set when Label Studio is not configured."""
    if not settings.label_studio_url or not settings.label_studio_api_key:
        raise LabelStudioError("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (Label Studio: Account & Settings > "
                               "Access Token) so the backend can read tasks and annotations")
    return LabelStudioClient(settings.label_studio_url, settings.label_studio_api_key,
                             allowed_hosts=settings.allowed_hosts)

