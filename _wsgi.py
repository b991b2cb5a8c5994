"""Flask app for gunicorn (`gunicorn _wsgi:app`) and development (`python _wsgi.py --port 9090`).

Every error is JSON with a message that says what to fix: 4xx for bad input, 401 for missing
credentials, 503 when Redis is down. No route answers a stack trace. Each 4xx/5xx answer is also a
log line (logger "vidseg.access"); /metrics is Prometheus text (vidseg.web_metrics).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from model import ServiceUnavailable, VideoSegmentationBackend
from vidseg import admin_page
from vidseg.labelstudio.brush import AnnotationFormatError
from vidseg.labelstudio.config import LabelConfigError
from vidseg.labelstudio.payloads import PayloadError
from vidseg.settings import Settings
from vidseg.thumbnails import ThumbnailError, thumbnail
from vidseg.web_metrics import observe_requests

log = logging.getLogger("vidseg.web")
OPEN_ROUTES = {"/health", "/"}  # "/" only as the JSON health answer; its admin page needs the credentials


def wants_html() -> bool:
    """A browser asks for text/html first; API clients (JSON, */*, no Accept header) keep JSON."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    backend = VideoSegmentationBackend(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["vidseg"] = backend
    observe_requests(app, backend.metrics)  # first, so the answers of the hooks below are timed and logged

    @app.before_request
    def require_basic_auth():
        open_route = request.path in OPEN_ROUTES and not (request.path == "/" and wants_html())
        if settings.basic_auth_user is None or open_route:
            return None
        auth = request.authorization
        given_user = (auth.username or "") if auth else ""
        given_pass = (auth.password or "") if auth else ""
        # Compare both parts in constant time, and always both, so timing reveals nothing.
        user_ok = hmac.compare_digest(given_user.encode(), settings.basic_auth_user.encode())
        pass_ok = hmac.compare_digest(given_pass.encode(), settings.basic_auth_pass.encode())
        if user_ok and pass_ok:
            return None
        response = jsonify(error="authentication required: send the BASIC_AUTH_USER/BASIC_AUTH_PASS "
                                 "credentials with HTTP basic auth")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="vidseg"'
        return response

    def payload():
        if request.content_length is None and len(request.get_data()) >= settings.max_request_bytes:
            # A chunked body is cut at the limit, not refused: without this it reads as broken JSON.
            raise RequestEntityTooLarge()
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # json.loads on nesting deeper than the interpreter's stack
            data = None
        if data is None:
            raise PayloadError("the request body must be JSON (Content-Type: application/json)")
        return data

    @app.get("/")
    def index():
        if wants_html():
            return page([backend.status(project) for project in admin_page.project_ids(settings.model_dir)])
        return jsonify(backend.health())

    @app.get("/health")
    def health():
        return jsonify(backend.health())

    @app.post("/setup")
    def setup():
        return jsonify(backend.setup(payload()))

    @app.post("/predict")
    def predict():
        chunks = backend.predict_json(payload())  # stored results spliced in as bytes, never re-encoded
        answer = Response(in_blocks(chunks), mimetype="application/json")
        answer.content_length = sum(len(chunk) for chunk in chunks)
        return answer

    @app.post("/webhook")
    def webhook():
        return jsonify(backend.webhook(payload()))

    @app.get("/metrics")
    def metrics():
        return backend.metrics.render()

    @app.get("/status/<int:project>")
    def project_status(project: int):
        return status_answer(backend.status(project))

    @app.get("/status/<int:project>/<path:video>")
    def video_status(project: int, video: str):
        return status_answer(backend.status(project, video))

    @app.get("/thumbnails/<int:project>/<int:frame>/<path:video>")
    def frame_thumbnail(project: int, frame: int, video: str):
        jpeg, name = thumbnail(backend.store, project, video, frame)
        answer = Response(jpeg, mimetype="image/jpeg")
        # The page asks with ?v=<frame file>: a new image of the frame is a new URL, so keep it for good.
        answer.headers["Cache-Control"] = "private, max-age=31536000, immutable"
        answer.set_etag(name)
        return answer.make_conditional(request)

    def status_answer(answer: dict):
        return page([answer]) if wants_html() else jsonify(answer)

    def page(answers: list[dict]):
        try:
            refresh = admin_page.refresh_seconds(request.args.get("refresh"))
        except ValueError as error:
            raise PayloadError(str(error)) from None
        return Response(admin_page.render(backend.store, answers, refresh), mimetype="text/html")

    @app.errorhandler(PayloadError)
    @app.errorhandler(LabelConfigError)
    @app.errorhandler(AnnotationFormatError)
    def bad_request(error):
        message = str(error)  # messages quote the offending value: keep an echo of a huge one short
        return jsonify(error=message if len(message) <= 2000 else message[:2000] + " [...]"), 400

    @app.errorhandler(ThumbnailError)
    def not_found(error):
        return jsonify(error=str(error)), 404

    @app.errorhandler(ServiceUnavailable)
    def unavailable(error):
        return jsonify(error=str(error)), 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: f"no route {request.path}: the backend serves /health, /setup, /predict, /webhook, "
                 "/metrics, /status/<project> and /thumbnails/<project>/<frame>/<video>",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body larger than MAX_REQUEST_BYTES={settings.max_request_bytes}",
        }
        return jsonify(error=messages.get(error.code, error.description)), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s", request.path)
        return jsonify(error=f"internal error ({type(error).__name__}); see the backend log"), 500

    return app


SEND_BLOCK_BYTES = 1 << 20


def in_blocks(chunks: list[bytes], size: int = SEND_BLOCK_BYTES) -> Iterator[bytes]:
    """The chunks glued into blocks of about `size` bytes, one at a time. gunicorn sends each item of the
    answer with its own write: a one-task answer in 5 pieces cost 5 sends (and as many wake-ups of the
    client) where one does; a 1,000-task answer is never copied whole."""
    block: list[bytes] = []
    length = 0
    for chunk in chunks:
        block.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(block)
            block, length = [], 0
    if block:
        yield b"".join(block)


def __getattr__(name: str):
    # `_wsgi:app` for gunicorn, built on first access so importing create_app reads no environment.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the backend's web app (development server).")
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "9090")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    create_app().run(host=args.host, port=args.port)
