"""The web's /metrics (Prometheus, through prometheus_client) and its log line for every failed request.

Under gunicorn each worker process counts its own requests: with PROMETHEUS_MULTIPROC_DIR set
(``vidseg.gunicorn_config`` makes a fresh one per server start) they write to files there, and
whichever process answers /metrics sums them all. Without it (Flask's test client, ``python
_wsgi.py``) one process holds the numbers in its own registry, one per app.

Queue depth, workers and the worker's job metrics (``vidseg.job_metrics``) are read from Redis at
scrape time, so every process and every machine sees the same values.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from vidseg.job_metrics import read_job_metrics

disable_created_metrics()  # no *_created series: one process shows what multiprocess mode shows
log = logging.getLogger("vidseg.web")
access_log = logging.getLogger("vidseg.access")

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf"))
"""Seconds: /webhook has Label Studio's 1 s budget, /predict of a large page a few seconds."""
LABEL_STUDIO_ACTIONS = frozenset({
    "PROJECT_CREATED", "PROJECT_UPDATED", "PROJECT_DELETED", "TASKS_CREATED", "TASKS_DELETED",
    "ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "ANNOTATION_DELETED",
    "LABEL_LINK_CREATED", "LABEL_LINK_UPDATED", "LABEL_LINK_DELETED", "REVIEW_CREATED", "REVIEW_UPDATED",
    "REVIEWS_DELETED", "START_TRAINING",
})
"""Webhook actions Label Studio sends: the only ones a metrics label names (anything else is "other")."""


class WebMetrics:
    """The web's counters and histograms; ``render()`` is the /metrics answer."""

    def __init__(self, redis: Callable[[], Redis], queue_name: str):
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if self.multiprocess_dir:
            os.makedirs(self.multiprocess_dir, exist_ok=True)
        elif os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            log.warning("PROMETHEUS_MULTIPROC_DIR is unset: each gunicorn process answers /metrics with its own "
                        "numbers; start gunicorn with --config python:vidseg.gunicorn_config")
        # Multiprocess values live in files, not in a registry: the scrape collects them afresh.
        self._registry = None if self.multiprocess_dir else CollectorRegistry()
        self.from_redis = RedisCollector(redis, queue_name)
        metric = {"registry": self._registry}
        self.requests = Counter("vidseg_http_requests", "HTTP requests answered, by route and status",
                                ["endpoint", "status"], **metric)
        self.latency = Histogram("vidseg_http_request_duration_seconds", "Seconds to answer, by route",
                                 ["endpoint"], buckets=REQUEST_BUCKETS, **metric)
        self.events = Counter("vidseg_events", "Webhook actions and enqueue outcomes", ["event", "detail"], **metric)
        self.predict_seconds = Counter("vidseg_predict_seconds", "Seconds /predict spent building answers", **metric)
        self.predict_tasks = Counter("vidseg_predict_tasks", "Tasks /predict answered", **metric)
        if self._registry is not None:
            self._registry.register(self.from_redis)

    def event(self, name: str, detail: str) -> None:
        self.events.labels(name, detail).inc()

    def action_label(self, action) -> str:
        """A label for a webhook action: Label Studio's names as they are, anything a caller makes up "other"."""
        return action if isinstance(action, str) and action in LABEL_STUDIO_ACTIONS else "other"

    def predicted(self, seconds: float, tasks: int) -> None:
        self.predict_seconds.inc(seconds)
        self.predict_tasks.inc(tasks)

    def answered(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> Response:
        registry = self._registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            registry.register(self.from_redis)
        return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)


class RedisCollector:
    """Queue depth, workers and job metrics, read from Redis at each scrape (one round trip each)."""

    def __init__(self, redis: Callable[[], Redis], queue_name: str):
        self._redis, self._queue_name = redis, queue_name

    def describe(self):
        return []  # registering the collector must not read Redis

    def collect(self):
        up = GaugeMetricFamily("vidseg_redis_up", "1 when /metrics could read Redis, else 0 (no queue or job metrics)")
        try:
            connection = self._redis()
            families = [*self._queue(connection), *self._jobs(connection)]
        except (RedisError, RuntimeError) as error:  # RuntimeError: the backend's "REDIS_URL is not set"
            log.debug("metrics: Redis unreadable (%s)", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _queue(self, connection: Redis):
        name = self._queue_name
        registries = {"started": StartedJobRegistry, "scheduled": ScheduledJobRegistry,
                      "deferred": DeferredJobRegistry, "failed": FailedJobRegistry}
        with connection.pipeline(transaction=False) as pipe:
            pipe.llen(Queue(name, connection=connection).key)
            for registry in registries.values():  # zcard, not .count: a scrape must not clean registries up
                pipe.zcard(registry(name, connection=connection).key)
            pipe.scard(f"rq:workers:{name}")
            queued, *in_registries, workers = pipe.execute()
        jobs = GaugeMetricFamily("vidseg_queue_jobs", "RQ jobs by state (queued: the queue's depth)",
                                 labels=["queue", "state"])
        jobs.add_metric([name, "queued"], queued)
        for state, count in zip(registries, in_registries, strict=True):
            jobs.add_metric([name, state], count)
        alive = GaugeMetricFamily("vidseg_workers", "RQ workers listening on the queue", labels=["queue"])
        alive.add_metric([name], workers)
        return [jobs, alive]

    def _jobs(self, connection: Redis):
        stored = read_job_metrics(connection)
        total = HistogramMetricFamily("vidseg_job_duration_seconds", "Seconds a retrain job took, lock wait "
                                      "included, by outcome (succeeded, failed)", labels=["job", "outcome"])
        for outcome, histogram in sorted(stored.durations.items()):
            total.add_metric(["retrain", outcome], histogram.buckets, histogram.sum)
        stages = HistogramMetricFamily("vidseg_job_stage_duration_seconds", "Seconds of each stage of a retrain "
                                       "job (lock_wait, prepare, flow, finetune, predict, publish)", labels=["stage"])
        for stage, histogram in sorted(stored.stages.items()):
            stages.add_metric([stage], histogram.buckets, histogram.sum)
        failures = CounterMetricFamily("vidseg_job_failures", "Failed retrain jobs by exception type and the stage "
                                       "it ended", labels=["reason", "stage"])
        for (reason, stage), count in sorted(stored.failures.items()):
            failures.add_metric([reason, stage], count)
        return [total, stages, failures]


def observe_requests(app: Flask, metrics: WebMetrics) -> None:
    """Time and count every request; log each 4xx/5xx answer with the reason the client got.
    Register it before any other before_request hook (basic auth), so their answers are timed too."""

    @app.before_request
    def start_clock():
        g.vidseg_started = time.perf_counter()

    @app.after_request
    def observe(response):
        seconds = time.perf_counter() - g.get("vidseg_started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"  # a bounded label
        metrics.answered(endpoint, response.status_code, seconds)
        if response.status_code >= 400:
            log_failed_request(response, seconds)
        return response


def log_failed_request(response, seconds: float) -> None:
    """``POST /predict 400 2.1 ms: the request body must be JSON ...``: no query string (where tokens
    travel), no headers (credentials), control characters escaped so a line cannot forge another."""
    answer = response.get_json(silent=True) if response.is_json else None
    reason = answer.get("error") if isinstance(answer, dict) else None
    access_log.log(logging.ERROR if response.status_code >= 500 else logging.WARNING, "%s %s %d %.1f ms: %s",
                   _one_line(request.method, 16), _one_line(request.path, 300), response.status_code,
                   seconds * 1000, _one_line(str(reason or response.status), 500))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str, limit: int) -> str:
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text if len(text) <= limit else text[:limit] + " [...]"
