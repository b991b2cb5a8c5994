"""A small webhook storm against gunicorn + a real RQ worker + Redis (benchmarks/bench_webhook_storm.py
runs the full 1,000 events in 10 s and documents what is real and what is substituted)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from hardening_support import REPO

spec = importlib.util.spec_from_file_location("bench_webhook_storm", REPO / "benchmarks" / "bench_webhook_storm.py")
storm = sys.modules["bench_webhook_storm"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(storm)


@pytest.mark.slow
def test_storm_is_coalesced_fast_and_loses_nothing():
    figures = storm.run_storm(events=150, seconds=1.5, videos=3, job_seconds=0.05, workers=1, web_workers=1,
                              drain_timeout=60)
    assert figures["statuses"] == {200: 150}
    assert figures["p99_ms"] < 500, figures  # the 100 ms target is measured by the benchmark on a quiet machine
    for video, row in figures["videos"].items():
        assert row["lost"] == 0 and row["job_after_last_event"], (video, row)
        assert row["jobs"] == row["answered_queued"], "every queued job ran"
        assert row["jobs"] < row["events"] / 2, "events were not coalesced"
