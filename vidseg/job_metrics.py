"""Metrics of the worker's jobs, kept in Redis so the web's /metrics exports them from any machine.

A job runs in an RQ work horse (a process forked per job, maybe on another machine): it adds its
numbers to a few Redis hashes when it ends, and every web process reads the same hashes at scrape
time (``vidseg.web_metrics``). Nothing here imports prometheus_client: the worker does not need it.

    clock = StageClock(store, first_stage="lock_wait")  # the store train_and_publish reports progress to
    ...  clock.enter("prepare") ... train_and_publish(..., clock, ...)
    record_job(redis, "succeeded", clock.finish())       # or "failed", reason=failure_label(error)

Labels stay few: the outcome, the stage names the code reports, and the exception type of a
failure (at most MAX_REASONS distinct ones, then "other"). Never a project, video or task.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("vidseg.worker")

KEY_PREFIX = "vidseg:metrics"
DURATION_KEY = f"{KEY_PREFIX}:job_duration_seconds"    # field "<outcome>\t<le|sum|count>"
STAGE_KEY = f"{KEY_PREFIX}:job_stage_duration_seconds"  # field "<stage>\t<le|sum|count>"
FAILURES_KEY = f"{KEY_PREFIX}:job_failures"             # field "<reason>\t<stage>"

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, float("inf"))
"""Seconds: a small video's stage takes a second, a long video's round an hour or more."""
MAX_REASONS = 50
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class StageClock:
    """The store a job reports its progress to, timing the stages as status.json sees them.

    train_and_publish writes ``progress={"stage": ...}`` through ``store.update_status`` (every 10th
    step and the last): a stage starts at its first report, so up to 9 of its first steps count to
    the stage before. Everything else is the wrapped store's own."""

    def __init__(self, store, first_stage: str):
        self._store = store
        self._stage, self._since = first_stage, time.perf_counter()
        self._seconds: dict[str, float] = {}

    @property
    def stage(self) -> str:
        return self._stage

    def enter(self, stage: str) -> None:
        now = time.perf_counter()
        self._seconds[self._stage] = self._seconds.get(self._stage, 0.0) + now - self._since
        self._stage, self._since = stage, now

    def finish(self) -> dict[str, float]:
        """Seconds per stage, the running one included."""
        self.enter(self._stage)
        return dict(self._seconds)

    def update_status(self, **fields) -> dict:
        progress = fields.get("progress")
        if isinstance(progress, dict) and isinstance(progress.get("stage"), str) and progress["stage"] != self._stage:
            self.enter(progress["stage"])
        return self._store.update_status(**fields)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def failure_label(error: BaseException) -> str:
    """The reason label of a failed job: the exception's type name."""
    name = type(error).__name__
    return name if _LABEL.fullmatch(name) else "other"


def record_job(redis: Redis, outcome: str, stages: dict[str, float], reason: str | None = None,
               failed_stage: str | None = None) -> None:
    """Add one finished job: its total duration by outcome, each stage's duration, and why it failed.
    A Redis error is logged, not raised: metrics never fail a job (nor hide the job's own error)."""
    try:
        _record(redis, outcome, stages, reason, failed_stage)
    except RedisError as error:
        log.warning("job metrics not recorded: Redis error %s", type(error).__name__)


def _record(redis: Redis, outcome: str, stages: dict[str, float], reason: str | None, failed_stage: str | None) -> None:
    if reason is not None and not redis.hexists(FAILURES_KEY, f"{reason}\t{failed_stage}") \
            and redis.hlen(FAILURES_KEY) >= MAX_REASONS:
        reason = "other"  # a bound on the series, whatever exceptions a library raises
    with redis.pipeline(transaction=True) as pipe:  # a scrape sees all of a job or none of it
        _observe(pipe, DURATION_KEY, outcome, sum(stages.values()))
        for stage, seconds in stages.items():
            _observe(pipe, STAGE_KEY, stage, seconds)
        if reason is not None:
            pipe.hincrby(FAILURES_KEY, f"{reason}\t{failed_stage}", 1)
        pipe.execute()


def _observe(pipe, key: str, label: str, seconds: float) -> None:
    """A histogram observation, with cumulative buckets as Prometheus exposes them."""
    for bound in BUCKETS:
        if seconds <= bound:
            pipe.hincrby(key, f"{label}\t{_bound_text(bound)}", 1)
    pipe.hincrbyfloat(key, f"{label}\tsum", seconds)
    pipe.hincrby(key, f"{label}\tcount", 1)


@dataclass
class StoredHistogram:
    buckets: list[tuple[str, int]]  # (le, cumulative count), as BUCKETS orders them
    sum: float
    count: int


@dataclass
class JobMetrics:
    durations: dict[str, StoredHistogram]  # by outcome
    stages: dict[str, StoredHistogram]     # by stage
    failures: dict[tuple[str, str], int]   # (reason, stage) -> count


def read_job_metrics(redis: Redis) -> JobMetrics:
    """Everything record_job added, in one round trip."""
    with redis.pipeline(transaction=True) as pipe:
        durations, stages, failures = pipe.hgetall(DURATION_KEY).hgetall(STAGE_KEY).hgetall(FAILURES_KEY).execute()
    counts = {}
    for field, value in failures.items():
        reason, _, stage = field.decode().partition("\t")
        counts[reason, stage] = int(value)
    return JobMetrics(_histograms(durations), _histograms(stages), counts)


def _histograms(fields: dict[bytes, bytes]) -> dict[str, StoredHistogram]:
    values: dict[str, dict[str, bytes]] = {}
    for field, value in fields.items():
        label, _, part = field.decode().partition("\t")
        values.setdefault(label, {})[part] = value
    return {
        label: StoredHistogram(
            buckets=[(_bound_text(bound), int(parts.get(_bound_text(bound), 0))) for bound in BUCKETS],
            sum=float(parts.get("sum", 0)), count=int(parts.get("count", 0)))
        for label, parts in values.items()
    }


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
