"""Fuzz the web API (/setup, /predict, /webhook, /status, plus unknown routes and methods) with hypothesis.

Run: ``.venv/bin/python benchmarks/fuzz_http.py [--examples 5000] [--seed 0]``.

What is real: the Flask app from ``_wsgi.create_app`` (basic auth on, MAX_REQUEST_BYTES = 1 MiB so
huge bodies stay cheap), driven through Flask's test client (the full WSGI stack: routing, auth,
JSON parsing, error handlers), a real redis-server behind the queue (webhooks really enqueue RQ
jobs; nobody runs them), and a store under a temporary MODEL_DIR holding predictions for one
video so /predict also answers from stored data. Nothing is mocked.

Inputs: malformed JSON and non-JSON bodies, every JSON type in every field, huge numbers, NaN and
Infinity, Unicode digits ("²"), odd URLs ("http://[::1", "fileuri=" base64, "//evil"), missing and
unknown fields, lists where objects belong, label configs built from random tags and attributes,
bodies over MAX_REQUEST_BYTES, malformed Authorization headers, status paths with "..", NUL and
long ids.

Every answer is checked: no 5xx, no exception escaping the app (a crash), every 4xx a JSON object
with a non-empty ``error`` text, every 2xx on a JSON route a JSON object. The script prints
requests tried, 5xx answers, crashes, other violations, and one example of each kind of failure.
``tests/hardening/test_fuzz_http.py`` runs the same generator with fewer examples in CI.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # _wsgi, model: the web app at the repo root

USER, PASSWORD = "ls", "s3cret-fuzz-pass"
GOOD_AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
MAX_REQUEST_BYTES = 1 << 20
PROJECT, VIDEO = 7, "clip-1"

GOOD_CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
               '<Label value="Road"/><Label value="Car"/></BrushLabels></View>')
ACTIONS = ["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
           "ANNOTATION_DELETED", "TASKS_DELETED", "START_TRAINING", "PROJECT_UPDATED", "TASKS_CREATED"]

# --- JSON values -------------------------------------------------------------------------------

odd_numbers = st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**300, -10**300, 1.5, -0.0, 1e308,
                               float("inf"), float("-inf"), float("nan"), True, False])
odd_text = st.sampled_from(["", " ", "7", "7.1700000000", "\u00b2", "\u0663", "0x10", "1e3", "-3", "..", "../../x",
                            "a/b", "\x00", "\u202e", "x" * 5000, "9" * 400, "7." + "9" * 400, "null", "[]", "{}"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    odd_numbers, odd_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)

# --- URLs and tasks ----------------------------------------------------------------------------

image_urls = st.one_of(
    st.sampled_from([
        "/data/upload/7/1a2b3c4d-clip-1_3.png", "/data/local-files/?d=clips/clip-1_0001.jpg",
        "/data/local-files/?d=clip-1/12.png", "s3://bucket/clip-1/frame_f01080.png", "http://[::1/x_1.png",
        "http://[::1]:80/clip_2.png", "//evil.example/clip_1.png", "file:///etc/passwd", "clip-1_\u00b2.png",
        "/tasks/1/resolve/?fileuri=" + base64.urlsafe_b64encode(b"s3://b/clips/v_9.png").decode(),
        "/tasks/1/resolve/?fileuri=!!!notbase64", "/tasks/1/resolve/?fileuri=" + base64.b64encode(b"\xff\xfe").decode(),
        "/x/v_" + "1" * 5000 + ".png", "/data/local-files/?d=&d=a_1.png", "?d=", "%", "http://a:notaport/v_1.png",
    ]),
    st.builds(lambda video, frame, ext: f"/data/upload/7/{video}_{frame}.{ext}",
              st.text(min_size=1, max_size=12), st.integers(-5, 10**25), st.sampled_from(["png", "jpg", ""])),
    st.text(max_size=40),
    json_values,
)


def _without(body: dict, drop: list[str]) -> dict:
    return {k: v for k, v in body.items() if k not in drop}


@st.composite
def tasks(draw):
    data = {"image": draw(image_urls)}
    if draw(st.booleans()):
        data["video"] = draw(st.one_of(st.just(VIDEO), st.text(max_size=20), json_values))
    if draw(st.booleans()):
        data["frame"] = draw(st.one_of(st.integers(0, 5), scalars))
    data.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))  # unknown fields
    task = {"id": draw(st.one_of(st.integers(0, 10**6), scalars)), "data": draw(st.one_of(st.just(data), json_values))}
    if draw(st.booleans()):
        task["project"] = draw(st.one_of(st.just(PROJECT), scalars))
    task.update(draw(st.dictionaries(st.sampled_from(["annotations", "predictions", "meta", "x"]), json_values,
                                      max_size=2)))
    return draw(st.one_of(st.just(task), st.just(task), json_values))


projects = st.one_of(st.just(PROJECT), st.just(f"{PROJECT}.1700000000"), st.just({"id": PROJECT}),
                     st.builds(lambda v: {"id": v}, scalars), scalars)

# --- label configs -----------------------------------------------------------------------------

TAGS = ["View", "Image", "BrushLabels", "Label", "RectangleLabels", "KeyPointLabels", "Choices", "Header", "image",
        "brushlabels", "Video"]


@st.composite
def xml_elements(draw, depth=0):
    tag = draw(st.sampled_from(TAGS))
    attributes = draw(st.dictionaries(
        st.sampled_from(["name", "toName", "value", "alias", "background", "zoom", "strokeWidth"]),
        st.one_of(st.sampled_from(["image", "tag", "focus", "points", "$image", "$", "Road", "Car", "Selected",
                                   "image,other", "", "&amp;", "&lt;x&gt;"]), st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters='"<&'), max_size=8)),
        max_size=4))
    attrs = "".join(f' {k}="{v}"' for k, v in attributes.items())
    children = draw(st.lists(xml_elements(depth + 1), max_size=3 - depth)) if depth < 3 else []
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>" if children else f"<{tag}{attrs}/>"


label_configs = st.one_of(
    st.just(GOOD_CONFIG),
    st.builds(lambda parts: f"<View>{''.join(parts)}</View>", st.lists(xml_elements(), max_size=5)),
    st.builds(lambda cut: GOOD_CONFIG[:cut], st.integers(0, len(GOOD_CONFIG))),  # truncated XML
    st.sampled_from([
        "", "   ", "<View>", "not xml at all", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><View>&a;</View>",
        "<!DOCTYPE r [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><View>&e;</View>",
        "<!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
        "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]><View>&d;</View>",
        "<View>" + "<View>" * 3000 + "</View>" * 3000 + "</View>",
        GOOD_CONFIG.replace("$image", "image"), GOOD_CONFIG.replace('<Label value="Car"/>', '<Label value="Road"/>'),
        GOOD_CONFIG.replace("tag", "focus"), "<View><Image/><BrushLabels toName=''/></View>",
    ]),
    json_values,
)

# --- bodies per route --------------------------------------------------------------------------


@st.composite
def setup_bodies(draw):
    body = {"project": draw(projects), "schema": draw(label_configs), "hostname": draw(scalars),
            "access_token": draw(scalars), "extra_params": draw(json_values)}
    return _without(body, draw(st.lists(st.sampled_from(list(body)), max_size=2)))


@st.composite
def predict_bodies(draw):
    body = {"tasks": draw(st.one_of(st.lists(tasks(), max_size=4), json_values)), "project": draw(projects),
            "label_config": draw(label_configs),
            "params": draw(st.one_of(st.just({"login": None, "password": None, "context": None}), json_values))}
    return _without(body, draw(st.lists(st.sampled_from(list(body)), max_size=2)))


@st.composite
def webhook_bodies(draw):
    annotation = draw(st.one_of(
        st.builds(lambda i, t: {"id": i, "task": t, "result": []}, st.one_of(st.integers(1, 99), scalars),
                  st.one_of(st.integers(1, 99), json_values)),
        st.lists(st.builds(lambda i, t: {"id": i, "task": t}, scalars, json_values), max_size=3),
        json_values))
    body = {"action": draw(st.one_of(st.sampled_from(ACTIONS), json_values)), "project": draw(projects),
            "annotation": annotation, "annotations": draw(st.one_of(st.lists(st.builds(
                lambda i: {"id": i}, scalars), max_size=3), json_values)),
            "task": draw(st.one_of(tasks(), st.lists(tasks(), max_size=3)))}
    return _without(body, draw(st.lists(st.sampled_from(list(body)), max_size=3)))


@dataclass
class Call:
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict = field(default_factory=dict)

    def describe(self) -> str:
        shown = self.body[:300] + (b"..." if len(self.body) > 300 else b"")
        return f"{self.method} {self.path[:120]} [{self.content_type}] {self.headers} body={shown!r}"


def _dump(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


huge_bodies = st.one_of(
    st.builds(lambda n: b'{"tasks": [' + b'{"id": 1, "data": {"video": "v", "frame": 1}},' * n + b'{"id": 2, '
              b'"data": {"video": "v", "frame": 2}}], "project": 7}', st.integers(1000, 40_000)),
    st.builds(lambda n: b'{"action": "ANNOTATION_CREATED", "project": 7, "pad": "' + b"x" * n + b'"}',
              st.sampled_from([MAX_REQUEST_BYTES - 200, MAX_REQUEST_BYTES + 1, 3 * MAX_REQUEST_BYTES])),
    st.builds(lambda n: b"[" * n + b"]" * n, st.sampled_from([10, 1000, 100_000, 400_000])),
    st.builds(lambda n: b'{"a": ' + b"1" * n + b"}", st.sampled_from([4300, 4301, 100_000])),
)
malformed = st.one_of(st.binary(max_size=64), st.sampled_from([
    b"", b"{", b"{not json", b"null", b"[1, 2]", b'"text"', b"\xff\xfe\x00", b'{"a": NaN}', b"{'single': 1}",
    b'{"a": 1}{"b": 2}', "{\"\u00e9\": 1}".encode("latin-1"), b'{"tasks": [' * 50,
]))
auth_headers = st.integers(0, 9).flatmap(lambda i: st.just({"Authorization": GOOD_AUTH}) if i < 8 else (
    # mostly past the auth check, so that the routes get fuzzed; else a malformed or wrong header
    st.sampled_from([{}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic"}, {"Authorization": "Bearer x"},
                     {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode()},
                     {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}x".encode()).decode()},
                     {"Authorization": "Basic " + base64.b64encode(f"{USER}{PASSWORD}".encode()).decode()}])))
content_types = st.sampled_from(["application/json", "application/json", "application/json", "text/plain", None,
                                 "application/json; charset=latin-1", "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencoded"])


@st.composite
def calls(draw) -> Call:
    kind = draw(st.sampled_from(["setup", "predict", "webhook", "status", "raw", "huge", "other"]))
    headers = draw(auth_headers)
    if kind in ("setup", "predict", "webhook"):
        body = draw({"setup": setup_bodies(), "predict": predict_bodies(), "webhook": webhook_bodies()}[kind])
        if draw(st.integers(0, 9)) == 0:
            body = draw(json_values)  # any JSON at all
        return Call("POST", f"/{kind}", _dump(body), draw(content_types), headers)
    if kind == "status":
        project = draw(st.one_of(st.integers(0, 10**6), st.just(10**40), st.text(max_size=6)))
        video = draw(st.one_of(st.none(), st.just(VIDEO), st.text(max_size=30), st.sampled_from(
            ["..", "../..", "..%2f..%2fetc", "%00", "a" * 400, "x/../../y", "frames", "\u202e"])))
        path = f"/status/{quote(str(project), safe='')}" + ("" if video is None else "/" + quote(video, safe="/%"))
        return Call("GET", path, b"", None, headers)
    if kind == "raw":
        route = draw(st.sampled_from(["/setup", "/predict", "/webhook"]))
        return Call("POST", route, draw(malformed), draw(content_types), headers)
    if kind == "huge":
        route = draw(st.sampled_from(["/setup", "/predict", "/webhook"]))
        return Call("POST", route, draw(huge_bodies), "application/json", headers)
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    path = draw(st.sampled_from(["/", "/health", "/metrics", "/setup", "/predict", "/webhook", "/status", "/status/",
                                 "/nope", "/health/", "//health", "/status/1/", "/%ff", "/predict?x=1"]))
    return Call(method, path, draw(st.one_of(st.just(b""), malformed)), draw(content_types), headers)


# --- checking ----------------------------------------------------------------------------------

JSON_ROUTES = ("/setup", "/predict", "/webhook", "/status", "/health")


def violation(call: Call, response) -> str | None:
    """What is wrong with the answer to `call`, or None."""
    status = response.status_code
    text = response.get_data()
    if status >= 500:
        try:
            return f"5xx ({status}): {json.loads(text)['error']}"
        except (ValueError, KeyError, TypeError):
            return f"5xx ({status})"
    if call.method == "HEAD":  # an answer to HEAD has no body by definition
        return None
    if 400 <= status < 500:
        try:
            body = json.loads(text)
        except ValueError:
            return f"{status} answer is not JSON"
        if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"].strip():
            return f"{status} answer has no 'error' message"
        return None
    if 200 <= status < 300 and call.method in ("GET", "POST") and call.path.startswith(JSON_ROUTES):
        try:
            body = json.loads(text)
        except ValueError:
            return f"{status} answer on a JSON route is not JSON"
        if not isinstance(body, dict):
            return f"{status} answer on a JSON route is not an object"
    return None


@dataclass
class Tally:
    tried: int = 0
    status: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(count for code, count in self.status.items() if isinstance(code, int) and code >= 500)

    @property
    def crashes(self) -> int:
        return self.kinds["crash"]


def make_app(model_dir: Path, redis_url: str):
    """The app under test: basic auth on, 1 MiB request limit, predictions stored for one video."""
    from _wsgi import create_app
    from vidseg.settings import Settings
    from vidseg.store import Store

    settings = Settings(model_dir=model_dir, redis_url=redis_url, basic_auth_user=USER, basic_auth_pass=PASSWORD,
                        max_request_bytes=MAX_REQUEST_BYTES)
    result = [{"from_name": "tag", "to_name": "image", "type": "brushlabels",
               "value": {"format": "rle", "rle": [0, 1, 2], "brushlabels": ["Car"]}}]
    Store(model_dir).video(PROJECT, VIDEO).write_predictions(
        {"round": 1, "model_version": "vidseg",
         "frames": {str(f): {"task_id": f, "result": result, "score": 0.1 * f, "cluster": f} for f in range(4)}})
    Store(model_dir).video(PROJECT, VIDEO).update_status(state="idle", round=1)
    return create_app(settings)


def fuzz(app, examples: int, tally: Tally, random_seed: int | None = None) -> Tally:
    """Send `examples` generated requests to `app`; record every answer in `tally` (never raises)."""
    client = app.test_client()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=random_seed is None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(calls())
    def one(call: Call) -> None:
        tally.tried += 1
        try:
            response = client.open(call.path, method=call.method, data=call.body, headers=call.headers,
                                   content_type=call.content_type)
        except Exception as error:  # an exception escaping the WSGI app: the server would drop the request
            tally.kinds["crash"] += 1
            tally.examples.setdefault("crash", f"{type(error).__name__}: {error} <- {call.describe()}")
            return
        tally.status[response.status_code] += 1
        problem = violation(call, response)
        if problem:
            tally.kinds[problem] += 1
            tally.examples.setdefault(problem, f"{response.get_data()[:200]!r} <- {call.describe()}")

    if random_seed is not None:
        one = seed(random_seed)(one)
    one()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: derandomized)")
    args = parser.parse_args()
    import logging

    from vidseg.redis_server import start_private_redis

    logging.disable(logging.CRITICAL)  # the app logs every 500 with a traceback; the tally counts them
    with tempfile.TemporaryDirectory() as root:
        server = start_private_redis(Path(root) / "redis")
        try:
            started = time.perf_counter()
            tally = fuzz(make_app(Path(root) / "models", server.url), args.examples, Tally(), args.seed)
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    print(f"requests tried: {tally.tried} in {elapsed:.1f} s")
    print(f"answers by status: {dict(sorted(tally.status.items()))}")
    print(f"5xx answers: {tally.server_errors} {({k: v for k, v in tally.kinds.items() if k.startswith('5xx')})}")
    print(f"crashes: {tally.crashes}")
    others = {k: v for k, v in tally.kinds.items() if k != "crash" and not k.startswith("5xx")}
    print(f"other violations (4xx without a JSON error, non-JSON 2xx): {sum(others.values())} {others or ''}")
    for kind, example in tally.examples.items():
        print(f"  {kind}: {example[:600]}")


if __name__ == "__main__":
    main()
