"""Delivering a round's predictions: bounded concurrency, unchanged frames skipped, failures raised.

Against a local HTTP server that answers like Label Studio's prediction endpoints (no Label Studio
needed; tests/e2e/test_delivery.py does the same against a real one).
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vidseg.labelstudio.client import LabelStudioClient
from vidseg.labelstudio.delivery import DeliveryError, deliver_predictions, round_note, unchanged, with_note

VERSION = "vidseg"
RESULT = [{"from_name": "tag", "to_name": "image", "type": "brushlabels", "original_width": 4,
           "original_height": 2, "image_rotation": 0, "value": {"format": "rle", "rle": [0, 1, 2],
                                                                "brushlabels": ["Car"]}}]


class PredictionServer:
    """POST /api/predictions/ and PATCH/DELETE /api/predictions/{id}/, each taking ``delay`` seconds;
    records every request and the most requests it ever had in flight at once. A task id in
    ``fail`` answers (status, detail), and so does a prediction id in ``fail_deletes`` to its DELETE."""

    def __init__(self, delay: float = 0.0, fail: dict[int, tuple[int, str]] | None = None,
                 fail_deletes: dict[int, tuple[int, str]] | None = None):
        self.delay, self.fail, self.fail_deletes = delay, fail or {}, fail_deletes or {}
        self.requests: list[tuple[str, str, dict]] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else {}
                with server._lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    server.requests.append((self.command, self.path, body))
                time.sleep(server.delay)
                task = body.get("task") or int(re.sub(r"\D", "", self.path) or 0) // 10
                status, reply = server.fail.get(task, (201 if self.command == "POST" else 200, None))
                if self.command == "DELETE" and int(re.sub(r"\D", "", self.path)) in server.fail_deletes:
                    status, reply = server.fail_deletes[int(re.sub(r"\D", "", self.path))]
                data = json.dumps(reply and {"detail": reply} or {"id": 1, **body}).encode()
                with server._lock:
                    server.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PredictionServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


def client(url: str, **kwargs) -> LabelStudioClient:
    return LabelStudioClient(url, "a" * 40, backoff=0.01, **kwargs)


def task(task_id: int, *predictions: dict) -> dict:
    """A task as video_tasks reads it; its own predictions have id task_id * 10 + i."""
    return {"id": task_id, "project": 3, "predictions": list(predictions)}


def entry(task_id: int, score: float = 0.5, cluster: int | None = None, result=RESULT) -> dict:
    return {"task_id": task_id, "result": result, "score": score, "cluster": cluster, "confidence": 0.9}


def own(task_id: int, score: float = 0.5, cluster: int | None = None, index: int = 0) -> dict:
    return {"id": task_id * 10 + index, "model_version": VERSION, "score": score, "cluster": cluster,
            "result": RESULT}


def test_new_predictions_go_out_concurrently_with_their_project_and_a_bounded_backlog():
    pulled, completed = [], []

    def entries():
        for i in range(24):
            # never more than 2 x concurrency entries taken but not yet answered (plus this one)
            assert len(pulled) - len(completed) <= 2 * 3 + 1
            pulled.append(i)
            yield task(100 + i), entry(100 + i, score=i / 100, cluster=i % 3 or None)

    with PredictionServer(delay=0.05) as stub:
        original = LabelStudioClient.request

        def counting(self, *args, **kwargs):
            answer = original(self, *args, **kwargs)
            completed.append(args)
            return answer

        ls = client(stub.url)
        ls.request = counting.__get__(ls)
        report = deliver_predictions(ls, 3, VERSION, entries(), concurrency=3)
    assert (report.pushed, report.skipped) == (24, 0)
    assert stub.most_in_flight == 3
    posts = sorted((body for method, _, body in stub.requests if method == "POST"), key=lambda b: b["task"])
    assert len(posts) == 24 and {body["project"] for body in posts} == {3}
    note = posts[4]["result"][0]["meta"]["text"][0]
    assert re.fullmatch(r"vidseg, delivered \d{4}-\d\d-\d\d \d\d:\d\d UTC", note)  # no round given
    assert posts[4] == {"task": 104, "result": with_note(RESULT, note), "score": 0.04, "model_version": VERSION,
                        "cluster": 1, "project": 3}
    assert "cluster" not in posts[3]  # None: no cluster


def test_unchanged_frames_send_nothing_and_changed_ones_are_recreated_with_the_round():
    previous = {1: entry(1, 0.2, 4), 2: entry(2, 0.3), 3: entry(3, 0.4), 4: entry(4, 0.5), 5: entry(99, 0.6)}
    tasks_and_entries = [
        (task(1, own(1, 0.2, 4)), entry(1, 0.2, 4, result=json.loads(json.dumps(RESULT)))),  # same: skipped
        (task(2, own(2, 0.3)), entry(2, 0.35)),  # score changed: PATCH
        (task(3, own(3, 0.4)), entry(3, 0.4, cluster=0)),  # cluster changed: PATCH
        (task(4), entry(4, 0.5)),  # Label Studio lost it: POST
        (task(5, own(5, 0.6)), entry(5, 0.6)),  # previous entry was another task's: PATCH
    ]
    seen = []
    with PredictionServer() as stub:
        report = deliver_predictions(
            client(stub.url), 3, VERSION, tasks_and_entries, concurrency=2,
            previous=lambda t: seen.append(("previous", t["id"])) or previous[t["id"]],
            record=lambda t, e: seen.append(("record", t["id"])), round_number=7)
    assert (report.pushed, report.skipped) == (4, 1)
    by_task: dict[int, list] = {}
    for method, path, body in stub.requests:
        by_task.setdefault(body.get("task") or int(path.split("/")[-2]) // 10, []).append((method, path))
    # a new prediction first (the task never lacks one), then the old one goes: a fresh created_at
    assert by_task == {2: [("POST", "/api/predictions/"), ("DELETE", "/api/predictions/20/")],
                       3: [("POST", "/api/predictions/"), ("DELETE", "/api/predictions/30/")],
                       4: [("POST", "/api/predictions/")],
                       5: [("POST", "/api/predictions/"), ("DELETE", "/api/predictions/50/")]}
    posts = {body["task"]: body for method, _, body in stub.requests if method == "POST"}
    assert posts[2]["score"] == 0.35 and posts[3]["cluster"] == 0 and {b["project"] for b in posts.values()} == {3}
    assert {region["meta"]["text"][0].split(", delivered ")[0] for body in posts.values()
            for region in body["result"]} == {"vidseg round 7"}
    assert seen == [(kind, i) for i in range(1, 6) for kind in ("previous", "record")]


def test_the_note_is_only_sent_and_keeps_other_meta():
    when = datetime(2025, 6, 1, 12, 34, 56, tzinfo=timezone(timedelta(hours=2)))
    assert round_note("vidseg", 3, when) == "vidseg round 3, delivered 2025-06-01 10:34 UTC"
    relation = {"type": "relation", "from_id": "a", "to_id": "b"}
    region = {**RESULT[0], "meta": {"lead_time": 2, "text": ["old"]}}
    assert with_note([region, relation], "n") == [{**RESULT[0], "meta": {"lead_time": 2, "text": ["n"]}}, relation]
    assert "meta" not in region or region["meta"]["text"] == ["old"]  # not changed in place
    recorded = {}
    with PredictionServer() as stub:
        deliver_predictions(client(stub.url), 3, VERSION, [(task(1), entry(1))], round_number=2,
                            record=lambda t, e: recorded.update(e))
    assert recorded["result"] == RESULT  # the store keeps the plain result: the next round compares that
    assert stub.requests[0][2]["result"][0]["meta"]["text"][0].startswith("vidseg round 2, delivered ")


def test_a_task_holding_two_of_our_predictions_is_never_skipped():
    doubled = task(1, own(1, 0.2), own(1, 0.2, index=1))
    assert not unchanged(doubled, entry(1, 0.2), entry(1, 0.2), VERSION)
    assert not unchanged(task(1, own(1, 0.9)), entry(1, 0.2), entry(1, 0.2), VERSION)  # edited in Label Studio
    assert unchanged(task(1, own(1, 0.2)), entry(1, 0.2), entry(1, 0.2), VERSION)
    with PredictionServer() as stub:
        deliver_predictions(client(stub.url), 3, VERSION, [(doubled, entry(1, 0.2))], previous=lambda t: entry(1, 0.2))
    assert [(method, path) for method, path, _ in stub.requests] == [
        ("POST", "/api/predictions/"), ("DELETE", "/api/predictions/10/"), ("DELETE", "/api/predictions/11/")]


def test_an_old_prediction_already_gone_is_not_an_error_but_a_failed_delete_is():
    with PredictionServer(fail_deletes={10: (404, "Not found.")}) as stub:
        report = deliver_predictions(client(stub.url), 3, VERSION, [(task(1, own(1)), entry(1))])
    assert report.pushed == 1 and [method for method, _, _ in stub.requests] == ["POST", "DELETE"]
    with PredictionServer(fail_deletes={10: (403, "forbidden")}) as stub:
        with pytest.raises(DeliveryError) as raised:
            deliver_predictions(client(stub.url), 3, VERSION, [(task(1, own(1)), entry(1))])
    assert (raised.value.task_id, raised.value.status) == (1, 403) and "DELETE" in str(raised.value)


def test_a_failed_push_fails_the_delivery_with_task_and_status_and_stops_it():
    def entries():
        for i in range(1, 41):
            yield task(i), entry(i)

    with PredictionServer(delay=0.02, fail={3: (500, "database is locked")}) as stub:
        with pytest.raises(DeliveryError) as raised:
            deliver_predictions(client(stub.url), 3, VERSION, entries(), concurrency=2)
    error = raised.value
    assert (error.task_id, error.status) == (3, 500)
    assert str(error).startswith("prediction of task 3: HTTP 500: POST ") and "database is locked" in str(error)
    assert len(stub.requests) < 40  # the rest were never sent


def test_transient_answers_are_retried_by_the_client():
    with PredictionServer(fail={2: (502, "bad gateway")}) as stub:
        with pytest.raises(DeliveryError) as raised:
            deliver_predictions(client(stub.url, retries=2), 3, VERSION, [(task(2), entry(2))])
    assert raised.value.status == 502 and len(stub.requests) == 3  # one try and two retries


def test_an_error_while_making_entries_waits_for_the_requests_in_flight():
    def entries():
        yield task(1), entry(1)
        raise RuntimeError("frame 2 could not be encoded")

    with PredictionServer(delay=0.1) as stub:
        with pytest.raises(RuntimeError, match="frame 2"):
            deliver_predictions(client(stub.url), 3, VERSION, entries())
        assert len(stub.requests) == 1 and stub.in_flight == 0
