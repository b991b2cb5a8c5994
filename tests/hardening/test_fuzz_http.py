"""Fuzzing the HTTP API (the generator lives in benchmarks/fuzz_http.py, which runs it longer),
plus the inputs that answered 5xx before they were fixed, as plain regression cases."""

from __future__ import annotations

import importlib.util
import logging
import sys

import pytest
from hardening_support import REPO

spec = importlib.util.spec_from_file_location("fuzz_http", REPO / "benchmarks" / "fuzz_http.py")
fuzz_http = sys.modules["fuzz_http"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fuzz_http)


@pytest.fixture
def app(tmp_path, redis_url, redis):
    return fuzz_http.make_app(tmp_path / "models", redis_url)


def test_generated_requests_never_get_a_5xx_or_a_non_json_error(app, caplog):
    caplog.set_level(logging.ERROR, logger="vidseg.web")
    tally = fuzz_http.fuzz(app, examples=200, tally=fuzz_http.Tally())
    print(f"fuzz: {tally.tried} requests, status {dict(tally.status)}, violations {dict(tally.kinds)}")
    assert tally.tried >= 200
    assert tally.crashes == 0 and tally.server_errors == 0, tally.examples
    assert not tally.kinds, tally.examples
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]


def _task(data, **extra):
    return {"id": 1, "data": data, **extra}


# Each of these answered HTTP 500 before the fix noted beside it.
REGRESSIONS = [
    # parse_webhook: `action in frozenset` with an unhashable action -> TypeError
    ("/webhook", {"action": [], "project": 7}),
    ("/webhook", {"action": {"x": 1}, "project": 7}),
    # parse_webhook: annotation.task used as a set member -> TypeError when it is a list
    ("/webhook", {"action": "ANNOTATION_CREATED", "project": 7, "annotation": {"id": 1, "task": [1]}}),
    # _frame_source: urlsplit raises ValueError on unbalanced IPv6 brackets
    ("/predict", {"tasks": [_task({"image": "http://[::1/clip_1.png"})], "project": 7}),
    # int() of more than 4300 digits -> ValueError
    ("/predict", {"tasks": [_task({"image": "/x/v_" + "1" * 5000 + ".png"})], "project": 7}),
    # str.isdigit() accepts "²", int() refuses it -> ValueError (file name, frame field, project)
    ("/predict", {"tasks": [_task({"image": "/clip/\u00b2.png"})], "project": 7}),
    ("/predict", {"tasks": [_task({"video": "a", "frame": "\u00b2"})], "project": 7}),
    ("/predict", {"tasks": [_task({"video": "a", "frame": 1})], "project": "\u00b2.1"}),
    # project ids longer than a file name -> OSError (ENAMETOOLONG) in the store
    ("/predict", {"tasks": [_task({"video": "a", "frame": 1})], "project": "9" * 300}),
    ("/predict", {"tasks": [_task({"video": "a", "frame": 1}, project=int("9" * 300))]}),
]


@pytest.mark.parametrize("path, body", REGRESSIONS)
def test_former_5xx_inputs_get_a_4xx_or_2xx(app, path, body):
    answer = app.test_client().post(path, json=body, headers={"Authorization": fuzz_http.GOOD_AUTH})
    assert answer.status_code < 500, answer.get_data()
    if answer.status_code >= 400:
        assert answer.json["error"]


@pytest.mark.parametrize("path", ["/status/" + "9" * 300, "/status/" + "9" * 300 + "/clip-1"])
def test_status_of_an_impossible_project_is_400(app, path):
    answer = app.test_client().get(path, headers={"Authorization": fuzz_http.GOOD_AUTH})
    assert answer.status_code == 400 and "project ids" in answer.json["error"]


def test_deeply_nested_json_is_400_not_recursion_error(app):
    # json.loads raises RecursionError (not ValueError) on deep nesting, which Flask does not catch
    answer = app.test_client().post("/predict", data=b"[" * 100_000 + b"]" * 100_000,
                                    content_type="application/json", headers={"Authorization": fuzz_http.GOOD_AUTH})
    assert answer.status_code == 400 and "must be JSON" in answer.json["error"]


def test_ignored_actions_cannot_inject_or_grow_the_metrics(app):
    client = app.test_client()
    auth = {"Authorization": fuzz_http.GOOD_AUTH}
    for i in range(200):
        client.post("/webhook", json={"action": f"CUSTOM_{i}", "project": 7}, headers=auth)
    client.post("/webhook", json={"action": 'X"} 1\nvidseg_fake 1', "project": 7}, headers=auth)
    text = client.get("/metrics", headers=auth).text
    ignored = [line for line in text.splitlines() if 'event="webhook_ignored"' in line]
    assert len(ignored) <= 65, "one metrics series per distinct action sent: unbounded memory"
    assert 'detail="other"' in text
    assert not [line for line in text.splitlines() if line.startswith("vidseg_fake")]


def test_huge_error_echo_is_cut(app):
    answer = app.test_client().post("/predict", json={"tasks": [], "project": "x" * 200_000},
                                    headers={"Authorization": fuzz_http.GOOD_AUTH})
    assert answer.status_code == 400 and len(answer.json["error"]) < 2100
